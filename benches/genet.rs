//! Forward + backward of the default GEBLNet (153,217 parameters) on 5x5 plaquettes, batch 32,
//! for n = 1, 2 and 4 filled bands, with glibc keeping freed memory as `genet` does
//! (`CHERNET_MALLOC=system` measures the C library's defaults).
use criterion::{Criterion, criterion_group, criterion_main};
use gauge_nn::data::{GeneralConfig, HaarSource, SampleSource};
use gauge_nn::loss::LossConfig;
use gauge_nn::model::{NetConfig, gauge_net};
use tch::{Device, nn};

fn geblnet(c: &mut Criterion) {
    gauge_nn::allocator::keep_freed_memory();
    let mut group = c.benchmark_group("geblnet_forward_backward_5x5_b32");
    group.sample_size(10);
    for n in [1usize, 2, 4] {
        let mut source = HaarSource::new(GeneralConfig {
            extents: vec![5, 5],
            n,
            seed: 3,
            ..Default::default()
        })
        .expect("valid source");
        let batch = source.sample(32).expect("samples");
        let _seed = gauge_nn::model::seed_libtorch(0);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = gauge_net(vs.root(), 2, &NetConfig::default()).expect("valid net");
        group.bench_function(format!("n{n}"), |b| {
            b.iter(|| {
                let f = net.forward(&batch.plaquettes, None);
                let loss = LossConfig::Local
                    .loss(&f, &batch.site_labels, &batch.chern, &batch.plaquettes)
                    .expect("a loss");
                loss.backward();
                loss.double_value(&[])
            })
        });
    }
    group.finish();
}

criterion_group!(benches, geblnet);
criterion_main!(benches);

//! A trained ensemble read back from its directory: the calibrated outputs $y_m=k_mF_m$ of every
//! member, in one batched pass (LoRA) or one network after another (explicit, or LoRA members
//! merged into the base one at a time, as the reference code evaluates).
use std::path::{Path, PathBuf};

use lora_ensemble::{LoraConfig, LoraEnsemble, TargetModules};
use ndarray::Array2;
use tch::{Device, Kind, nn};

use super::finetune::scale_rows;
use super::{EnsembleKind, EnsembleManifest};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::eval::predict;
use crate::lora_net::LoraGaugeNet;
use crate::model::GaugeNet;
use crate::train::{Checkpoint, TrainConfig};

/// Unscaled sums $F_m$ of every member of `net` on `data` `(M, N)`, in passes of `chunk`
/// samples (all members at once), without gradients; a non-finite output is an error naming the
/// sample. Where libtorch runs out of memory in a pass, the pass is halved and tried again (as
/// [`crate::eval::predict`] does), down to one sample; beyond that, or on any other libtorch
/// failure, it is an [`Error::Libtorch`] naming the device, the grid and the samples per pass.
pub(crate) fn lora_outputs(net: &LoraGaugeNet, data: &Batch, chunk: usize) -> Result<Array2<f64>> {
    let m = net.members();
    let n = data.len();
    let device = net.base().device();
    let mut out = Array2::zeros((m, n));
    let mut pass = chunk.max(1);
    crate::eval::in_passes(
        "ensemble evaluation",
        data,
        device,
        &mut pass,
        chunk.max(1),
        |start, end| {
            let part = data.slice(start, end).to_device(device);
            let links = match net.base().needs_links() {
                true => Some(part.links()?),
                false => None,
            };
            let sums = net
                .predict(&part.plaquettes, links)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu);
            let values = Vec::<f64>::try_from(sums.flatten(0, -1))?;
            for i in 0..m {
                for j in start..end {
                    let v = values[i * (end - start) + (j - start)];
                    if !v.is_finite() {
                        return Err(Error::NonFiniteOutput {
                            sample: j,
                            value: v,
                        });
                    }
                    out[[i, j]] = v;
                }
            }
            Ok(())
        },
    )?;
    Ok(out)
}

struct LoraMembers {
    _base_vs: nn::VarStore,
    ensemble: LoraEnsemble,
    net: LoraGaugeNet,
}

enum Members {
    Lora(Box<LoraMembers>),
    Explicit {
        nets: Vec<(nn::VarStore, GaugeNet)>,
        base: Box<(nn::VarStore, GaugeNet)>,
    },
}

/// A complete ensemble directory, loaded (see [`crate::ensemble`]).
pub struct TrainedEnsemble {
    dir: PathBuf,
    manifest: EnsembleManifest,
    base_config: TrainConfig,
    base_rescale: f64,
    members: Members,
}

impl std::fmt::Debug for TrainedEnsemble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainedEnsemble")
            .field("dir", &self.dir)
            .field("manifest", &self.manifest)
            .finish()
    }
}

impl TrainedEnsemble {
    /// Reads the ensemble in `dir` onto `device`: its manifest, the base checkpoint (refused if
    /// its SHA-256 changed), and every member (a missing or damaged member is an error naming
    /// its file).
    pub fn open(dir: &Path, device: Device) -> Result<TrainedEnsemble> {
        let manifest = EnsembleManifest::read(dir)?;
        manifest.base.verify()?;
        let base = Checkpoint::read(&manifest.base.path)?;
        for m in 0..manifest.members {
            let member = lora_ensemble::member_dir(dir, m);
            if !member.is_dir() {
                return Err(Error::Corrupt {
                    path: member,
                    reason: format!(
                        "member {m} of {} is missing: the ensemble is incomplete",
                        manifest.members
                    ),
                });
            }
        }
        let base_config = base.config.clone();
        let base_rescale = base.state.rescale;
        let members = match manifest.kind {
            EnsembleKind::Lora => {
                let ft = manifest.finetune.as_ref().expect("checked by read");
                let (mut vs, net) = base.network(device)?;
                vs.freeze();
                let targets = match &ft.targets {
                    Some(t) => TargetModules::names(t),
                    None => TargetModules::names(&net.adapter_modules()),
                };
                let lora = LoraConfig::new(ft.rank, ft.alpha, targets);
                let ensemble = LoraEnsemble::new(lora, manifest.seeds.clone(), device)?;
                let net = LoraGaugeNet::new(net, &ensemble)?;
                ensemble.load(dir, &manifest.base.path)?;
                Members::Lora(Box::new(LoraMembers {
                    _base_vs: vs,
                    ensemble,
                    net,
                }))
            }
            EnsembleKind::Explicit => {
                let nets = (0..manifest.members)
                    .map(|m| {
                        let run = lora_ensemble::member_dir(dir, m);
                        let file = run.join(crate::train::CHECKPOINT);
                        if !file.is_file() {
                            return Err(Error::Corrupt {
                                path: file,
                                reason: format!(
                                    "member {m} of {} is missing: the ensemble is incomplete",
                                    manifest.members
                                ),
                            });
                        }
                        let c = Checkpoint::read(&run)?;
                        if c.config.bands != base_config.bands
                            || c.config.grid.len() != base_config.grid.len()
                        {
                            return Err(Error::BadField {
                                path: file,
                                field: "__metadata__.config.bands".into(),
                                expected: format!("{} bands", base_config.bands),
                                found: format!("{} bands", c.config.bands),
                            });
                        }
                        c.network(device)
                    })
                    .collect::<Result<Vec<_>>>()?;
                Members::Explicit {
                    nets,
                    base: Box::new(base.network(device)?),
                }
            }
        };
        Ok(TrainedEnsemble {
            dir: dir.to_path_buf(),
            manifest,
            base_config,
            base_rescale,
            members,
        })
    }

    /// The manifest.
    pub fn manifest(&self) -> &EnsembleManifest {
        &self.manifest
    }

    /// The base run's configuration (bands, training grid, ...).
    pub fn base_config(&self) -> &TrainConfig {
        &self.base_config
    }

    /// Number of members $M$.
    pub fn members(&self) -> usize {
        self.manifest.members
    }

    /// Whether the networks read the links.
    pub fn needs_links(&self) -> bool {
        self.base().needs_links()
    }

    /// The base network (for LoRA: with every adapter unmerged).
    pub fn base(&self) -> &GaugeNet {
        match &self.members {
            Members::Lora(l) => l.net.base(),
            Members::Explicit { base, .. } => &base.1,
        }
    }

    /// Calibrated outputs $y_m=k_mF_m$ of every member, `(M, N)`: all members in one batched
    /// pass for LoRA, one network after another for an explicit ensemble.
    pub fn outputs(&self, data: &Batch, chunk: usize) -> Result<Array2<f64>> {
        let raw = match &self.members {
            Members::Lora(l) => lora_outputs(&l.net, data, chunk)?,
            Members::Explicit { nets, .. } => {
                let mut out = Array2::zeros((nets.len(), data.len()));
                for (m, (_, net)) in nets.iter().enumerate() {
                    let f = predict(net, data, chunk)?;
                    out.row_mut(m).assign(&ndarray::ArrayView1::from(&f));
                }
                out
            }
        };
        Ok(scale_rows(raw, &self.manifest.rescales))
    }

    /// As [`TrainedEnsemble::outputs`], but one member after another: a LoRA member is merged
    /// into the base weights, evaluated and unmerged (what the reference code does by loading
    /// each member's state), for comparing speed with the batched pass.
    pub fn outputs_one_by_one(&self, data: &Batch, chunk: usize) -> Result<Array2<f64>> {
        match &self.members {
            Members::Explicit { .. } => self.outputs(data, chunk),
            Members::Lora(l) => {
                let (net, ensemble) = (&l.net, &l.ensemble);
                let mut out = Array2::zeros((self.members(), data.len()));
                for m in 0..self.members() {
                    ensemble.merge(m)?;
                    let f = predict(net.base(), data, chunk);
                    ensemble.unmerge()?;
                    out.row_mut(m).assign(&ndarray::ArrayView1::from(&f?));
                }
                Ok(scale_rows(out, &self.manifest.rescales))
            }
        }
    }

    /// Calibrated outputs $kF$ of the base network alone, `(N,)`.
    pub fn base_outputs(&self, data: &Batch, chunk: usize) -> Result<Vec<f64>> {
        let f = predict(self.base(), data, chunk)?;
        Ok(f.into_iter().map(|v| v * self.base_rescale).collect())
    }
}

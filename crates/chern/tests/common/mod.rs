//! Model files shared by the test binaries: QWZ as a hopping list, a 3D Weyl model as a
//! Wannier90 `_hr.dat` file, and a scratch folder for them.
#![allow(dead_code)]
use chern::C64;
use std::path::PathBuf;

/// QWZ at mass `m` as a PythTB-style hopping list.
pub const QWZ_TOML: &str = r#"
dim = 2
orbitals = 2
onsite = [M, -M]

[[hoppings]]  # cos k1, cos k2 in sigma_z
i = 0
j = 0
R = [1, 0]
t = 0.5
[[hoppings]]
i = 0
j = 0
R = [0, 1]
t = 0.5
[[hoppings]]
i = 1
j = 1
R = [1, 0]
t = -0.5
[[hoppings]]
i = 1
j = 1
R = [0, 1]
t = -0.5
[[hoppings]]  # sin k1 sigma_x
i = 0
j = 1
R = [1, 0]
t = [0.0, -0.5]
[[hoppings]]
i = 1
j = 0
R = [1, 0]
t = [0.0, -0.5]
[[hoppings]]  # sin k2 sigma_y
i = 0
j = 1
R = [0, 1]
t = -0.5
[[hoppings]]
i = 1
j = 0
R = [0, 1]
t = 0.5
"#;

pub fn qwz_toml(m: f64) -> String {
    QWZ_TOML.replace("[M, -M]", &format!("[{m}, {}]", -m))
}

pub fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("chern-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

/// A 3D model H(k) = QWZ(m + cos k3)(k1, k2) written as a Wannier90 `_hr.dat` file.
pub fn weyl_hr_dat(m: f64) -> String {
    use std::collections::BTreeMap;
    let mut blocks: BTreeMap<[i64; 3], [[C64; 2]; 2]> = BTreeMap::new();
    let mut add = |r: [i64; 3], a: usize, b: usize, t: C64| {
        blocks.entry(r).or_insert([[C64::new(0.0, 0.0); 2]; 2])[a][b] += t;
    };
    let h = |x: f64, y: f64| C64::new(x, y);
    add([0, 0, 0], 0, 0, h(m, 0.0));
    add([0, 0, 0], 1, 1, h(-m, 0.0));
    for r in [[1, 0, 0], [0, 1, 0], [0, 0, 1]] {
        let neg = [-r[0], -r[1], -r[2]];
        for rr in [r, neg] {
            add(rr, 0, 0, h(0.5, 0.0));
            add(rr, 1, 1, h(-0.5, 0.0));
        }
    }
    // sin k1 sigma_x: H01 = -i/2 e^{ik1} + i/2 e^{-ik1}, H10 the same.
    for (r, s) in [([1, 0, 0], -0.5), ([-1, 0, 0], 0.5)] {
        add(r, 0, 1, h(0.0, s));
        add(r, 1, 0, h(0.0, s));
    }
    // sin k2 sigma_y: H01 = -1/2 e^{ik2} + 1/2 e^{-ik2}, H10 = 1/2 e^{ik2} - 1/2 e^{-ik2}.
    for (r, s) in [([0, 1, 0], -0.5), ([0, -1, 0], 0.5)] {
        add(r, 0, 1, h(s, 0.0));
        add(r, 1, 0, h(-s, 0.0));
    }
    let mut out = String::from("written by chern's tests\n2\n");
    out += &format!("{}\n", blocks.len());
    let degs: Vec<String> = blocks.keys().map(|_| "1".to_string()).collect();
    for chunk in degs.chunks(15) {
        out += &format!("{}\n", chunk.join(" "));
    }
    for (r, b) in &blocks {
        // Wannier90 order: the row index m runs fastest.
        for (n, m) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
            let v = b[m][n];
            out += &format!(
                "{:5}{:5}{:5}{:5}{:5}{:12.6}{:12.6}\n",
                r[0],
                r[1],
                r[2],
                m + 1,
                n + 1,
                v.re,
                v.im
            );
        }
    }
    out
}

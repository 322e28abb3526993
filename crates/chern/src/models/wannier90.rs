//! Wannier90 `*_hr.dat` tight-binding Hamiltonians, as DFT codes write them.
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use crate::models::combine::Plane;
use num_complex::Complex64 as C64;
use std::path::{Path, PathBuf};

/// A 3D Hamiltonian from a Wannier90 `seedname_hr.dat` file:
/// $H_{mn}(k) = \sum_R e^{ik\cdot R}\,H_{mn}(R)/d_R$, with $k$ in reduced coordinates (radians)
/// and $d_R$ the Wigner–Seitz degeneracies of the file.
#[derive(Clone, Debug)]
pub struct Wannier90 {
    num_wann: usize,
    /// Lattice vectors $R$.
    vectors: Vec<[i64; 3]>,
    /// $H(R)/d_R$, row-major $N\times N$ per vector.
    blocks: Vec<Vec<C64>>,
}

struct Lines<'a> {
    file: &'a Path,
    it: std::iter::Peekable<std::iter::Enumerate<std::str::Lines<'a>>>,
}

impl<'a> Lines<'a> {
    fn err(&self, line: usize, field: &str, reason: String) -> Error {
        Error::ModelFile {
            file: PathBuf::from(self.file),
            line,
            column: None,
            field: field.into(),
            reason,
        }
    }
    /// Next non-empty line, with its 1-based number.
    fn next(&mut self, field: &str) -> Result<(usize, &'a str)> {
        for (n, l) in self.it.by_ref() {
            if !l.trim().is_empty() {
                return Ok((n + 1, l));
            }
        }
        Err(Error::ModelFile {
            file: PathBuf::from(self.file),
            line: 0,
            column: None,
            field: field.into(),
            reason: "unexpected end of file".into(),
        })
    }
}

fn parse_num<T: std::str::FromStr>(
    lines: &Lines<'_>,
    line: usize,
    field: &str,
    tok: &str,
) -> Result<T> {
    tok.parse()
        .map_err(|_| lines.err(line, field, format!("cannot parse `{tok}`")))
}

impl Wannier90 {
    /// Parses the text of a `_hr.dat` file; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Self> {
        let mut lines = Lines {
            file,
            it: text.lines().enumerate().peekable(),
        };
        lines.next("header")?;
        let (ln, l) = lines.next("num_wann")?;
        let num_wann: usize = parse_num(&lines, ln, "num_wann", l.trim())?;
        if num_wann == 0 {
            return Err(lines.err(ln, "num_wann", "must be at least 1".into()));
        }
        let (ln, l) = lines.next("nrpts")?;
        let nrpts: usize = parse_num(&lines, ln, "nrpts", l.trim())?;
        if nrpts == 0 {
            return Err(lines.err(ln, "nrpts", "must be at least 1".into()));
        }
        // Sizes declared by the header are checked against the lines that follow before anything
        // is allocated: nrpts degeneracies and num_wann^2 * nrpts hopping lines.
        let following = lines
            .it
            .clone()
            .filter(|(_, l)| !l.trim().is_empty())
            .count();
        let n2 = num_wann.checked_mul(num_wann);
        let hopping_lines = n2.and_then(|n2| n2.checked_mul(nrpts));
        match hopping_lines {
            None => {
                return Err(lines.err(
                    ln,
                    "nrpts",
                    format!(
                        "num_wann^2 * nrpts = {num_wann}^2 * {nrpts} hopping lines overflows: the header is corrupt"
                    ),
                ));
            }
            Some(needed) if needed > following => {
                return Err(lines.err(
                    ln,
                    "nrpts",
                    format!(
                        "num_wann = {num_wann} and nrpts = {nrpts} declare num_wann^2 * nrpts = {needed} hopping lines, but only {following} lines follow"
                    ),
                ));
            }
            Some(_) => {}
        }
        let n2 = num_wann * num_wann;
        let mut degeneracies = Vec::with_capacity(nrpts);
        while degeneracies.len() < nrpts {
            let (ln, l) = lines.next("degeneracies")?;
            for tok in l.split_whitespace() {
                let d: usize = parse_num(&lines, ln, "degeneracies", tok)?;
                if d == 0 {
                    return Err(lines.err(ln, "degeneracies", "a degeneracy of 0".into()));
                }
                degeneracies.push(d);
            }
            if degeneracies.len() > nrpts {
                return Err(lines.err(
                    ln,
                    "degeneracies",
                    format!("more than nrpts = {nrpts} values"),
                ));
            }
        }
        let mut vectors = Vec::with_capacity(nrpts);
        let mut blocks = Vec::with_capacity(nrpts);
        let mut seen = std::collections::HashMap::new();
        for &deg in &degeneracies {
            let mut block = vec![C64::new(0.0, 0.0); n2];
            let mut rvec = [0i64; 3];
            let mut filled = vec![false; n2];
            for entry in 0..n2 {
                let (ln, l) = lines.next("hopping")?;
                let toks: Vec<&str> = l.split_whitespace().collect();
                if toks.len() != 7 {
                    return Err(lines.err(
                        ln,
                        "hopping",
                        format!("expected `R1 R2 R3 m n Re Im`, found {} fields", toks.len()),
                    ));
                }
                let r = [
                    parse_num::<i64>(&lines, ln, "R1", toks[0])?,
                    parse_num::<i64>(&lines, ln, "R2", toks[1])?,
                    parse_num::<i64>(&lines, ln, "R3", toks[2])?,
                ];
                if entry == 0 {
                    rvec = r;
                    if let Some(prev) = seen.insert(r, ln) {
                        return Err(lines.err(
                            ln,
                            "R",
                            format!("lattice vector {r:?} repeated (first at line {prev})"),
                        ));
                    }
                } else if r != rvec {
                    return Err(lines.err(
                        ln,
                        "R",
                        format!("lattice vector {r:?} inside the block of {rvec:?}"),
                    ));
                }
                let m: usize = parse_num(&lines, ln, "m", toks[3])?;
                let n: usize = parse_num(&lines, ln, "n", toks[4])?;
                if m == 0 || m > num_wann {
                    return Err(lines.err(
                        ln,
                        "m",
                        format!("orbital {m} out of range 1..={num_wann}"),
                    ));
                }
                if n == 0 || n > num_wann {
                    return Err(lines.err(
                        ln,
                        "n",
                        format!("orbital {n} out of range 1..={num_wann}"),
                    ));
                }
                let re: f64 = parse_num(&lines, ln, "Re", toks[5])?;
                let im: f64 = parse_num(&lines, ln, "Im", toks[6])?;
                if !(re.is_finite() && im.is_finite()) {
                    return Err(lines.err(ln, "Re/Im", "non-finite matrix element".into()));
                }
                let idx = (m - 1) * num_wann + (n - 1);
                if filled[idx] {
                    return Err(lines.err(
                        ln,
                        "m/n",
                        format!("element ({m}, {n}) repeated for R = {rvec:?}"),
                    ));
                }
                filled[idx] = true;
                block[idx] = C64::new(re, im) / deg as f64;
            }
            vectors.push(rvec);
            blocks.push(block);
        }
        if let Ok((ln, _)) = lines.next("end") {
            return Err(lines.err(
                ln,
                "hopping",
                format!("more lines than num_wann^2 * nrpts = {}", n2 * nrpts),
            ));
        }
        Ok(Self {
            num_wann,
            vectors,
            blocks,
        })
    }

    /// Reads a `_hr.dat` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = super::read_model_file(path)?;
        Self::parse(&text, path)
    }

    /// Number of Wannier functions (bands).
    pub fn num_wann(&self) -> usize {
        self.num_wann
    }

    /// The 2D plane $k_3 = $ `k3` (radians) spanned by $k_1, k_2$: what a Chern number of a 3D
    /// model is computed on.
    pub fn plane_k3(self, k3: f64) -> Result<Plane<Self>> {
        Plane::new(self, (0, 1), k3)
    }
}

impl BlochHamiltonian for Wannier90 {
    fn dim(&self) -> usize {
        3
    }
    fn n_bands(&self) -> usize {
        self.num_wann
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        h.fill(C64::new(0.0, 0.0));
        for (r, block) in self.vectors.iter().zip(&self.blocks) {
            let phase = r[0] as f64 * k[0] + r[1] as f64 * k[1] + r[2] as f64 * k[2];
            let e = C64::from_polar(1.0, phase);
            for (hij, bij) in h.iter_mut().zip(block) {
                *hij += bij * e;
            }
        }
    }
}

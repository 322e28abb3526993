//! Tight-binding models from a hopping list (PythTB-like), read from JSON or TOML.
use crate::error::{Error, Result};
use crate::hamiltonian::BlochHamiltonian;
use num_complex::Complex64 as C64;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::{Path, PathBuf};

/// A complex amplitude written either as a number or as `[re, im]`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Amplitude {
    /// A real amplitude.
    Real(f64),
    /// A complex amplitude `[re, im]`.
    Complex([f64; 2]),
}

impl Amplitude {
    /// As a complex number.
    pub fn value(self) -> C64 {
        match self {
            Amplitude::Real(x) => C64::new(x, 0.0),
            Amplitude::Complex([re, im]) => C64::new(re, im),
        }
    }
}

/// One hopping term $t\,c_i^\dagger(0)\,c_j(R) + \text{h.c.}$, as PythTB's `set_hop(t, i, j, R)`:
/// it adds $t\,e^{ik\cdot R}$ to $H_{ij}(k)$ and the conjugate to $H_{ji}(k)$.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawHopping")]
pub struct Hopping {
    /// Orbital in the home cell.
    pub i: usize,
    /// Orbital in cell $R$.
    pub j: usize,
    /// Lattice vector $R$ in units of the lattice vectors.
    #[serde(rename = "R")]
    pub r: Vec<i64>,
    /// Amplitude $t$.
    pub t: Amplitude,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHopping {
    i: usize,
    j: usize,
    #[serde(rename = "R")]
    r: Vec<i64>,
    t: Amplitude,
}

thread_local! {
    /// (dimension, orbitals) of the file being read, for checks that need the header.
    static HEADER: Cell<Option<(usize, usize)>> = const { Cell::new(None) };
}

impl TryFrom<RawHopping> for Hopping {
    type Error = String;
    fn try_from(h: RawHopping) -> std::result::Result<Self, String> {
        if let Some((dim, orbitals)) = HEADER.with(Cell::get) {
            if h.i >= orbitals {
                return Err(format!(
                    "field `i`: orbital {} out of range 0..{orbitals}",
                    h.i
                ));
            }
            if h.j >= orbitals {
                return Err(format!(
                    "field `j`: orbital {} out of range 0..{orbitals}",
                    h.j
                ));
            }
            if h.r.len() != dim {
                return Err(format!(
                    "field `R`: {} components, expected {dim}",
                    h.r.len()
                ));
            }
        }
        let t = h.t.value();
        if !(t.re.is_finite() && t.im.is_finite()) {
            return Err(format!("field `t`: non-finite amplitude {t}"));
        }
        if h.i == h.j && h.r.iter().all(|&c| c == 0) {
            return Err("field `R`: a hopping from an orbital to itself in the home cell is an on-site term; use `onsite`".into());
        }
        Ok(Hopping {
            i: h.i,
            j: h.j,
            r: h.r,
            t: h.t,
        })
    }
}

/// A tight-binding model: $H(k) = \sum_i \varepsilon_i |i\rangle\langle i| + \sum_{\text{hops}}
/// \bigl(t\,e^{ik\cdot R}|i\rangle\langle j| + \text{h.c.}\bigr)$ (PythTB's convention II, no
/// orbital positions, so $H$ is periodic in $k$).
///
/// **Sign of Chern numbers.** Fed the same hoppings, PythTB's `berry_flux` reports the
/// opposite Chern number to this crate: it integrates the textbook connection $i\langle
/// u|\nabla_k u\rangle$, this crate uses Fukui–Hatsugai–Suzuki's sign. To compare with PythTB,
/// convert with [`crate::ChernNumber::with_sign`]`(`[`crate::SignConvention::Textbook`]`)` (the CLI's
/// `--sign textbook`). Spinful hopping lists get their time reversal from
/// [`crate::TimeReversal::spinful`] for $\mathbb Z_2$ invariants.
///
/// The file format (JSON or TOML) is this struct:
/// ```toml
/// dim = 2
/// orbitals = 2
/// onsite = [1.0, -1.0]
/// [[hoppings]]
/// i = 0
/// j = 1
/// R = [1, 0]
/// t = [0.0, -0.5]   # or a real number
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TightBindingSpec")]
pub struct TightBinding {
    dim: usize,
    orbitals: usize,
    onsite: Vec<f64>,
    hoppings: Vec<Hopping>,
    /// The distinct lattice vectors of the hoppings, in order of first appearance, and each
    /// hopping's as an index into them with its amplitude: $H(k)$ needs one phase
    /// $e^{ik\cdot R}$ per distinct $R$, not one per hopping.
    #[serde(skip)]
    terms: Terms,
}

/// The hoppings arranged for [`TightBinding::write_hamiltonian`].
#[derive(Clone, Debug, Default, PartialEq)]
struct Terms {
    vectors: Vec<Vec<i64>>,
    /// $(i, j, $ index of $R$, $t)$ per hopping, in the hoppings' order.
    hops: Vec<(usize, usize, usize, C64)>,
}

impl Terms {
    fn new(hoppings: &[Hopping]) -> Self {
        let mut vectors: Vec<Vec<i64>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let hops = hoppings
            .iter()
            .map(|h| {
                let at = *index.entry(h.r.clone()).or_insert_with(|| {
                    vectors.push(h.r.clone());
                    vectors.len() - 1
                });
                (h.i, h.j, at, h.t.value())
            })
            .collect();
        Self { vectors, hops }
    }
}

/// Up to this many distinct lattice vectors, their phases live on the stack.
const STACK_PHASES: usize = 64;

/// The file's fields before the whole-model checks.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TightBindingSpec {
    dim: usize,
    orbitals: usize,
    #[serde(default)]
    onsite: Vec<f64>,
    #[serde(default)]
    hoppings: Vec<Hopping>,
}

impl TryFrom<TightBindingSpec> for TightBinding {
    type Error = Error;
    fn try_from(s: TightBindingSpec) -> Result<Self> {
        TightBinding::new(s.dim, s.orbitals, s.onsite, s.hoppings)
    }
}

#[derive(Deserialize)]
struct Header {
    dim: usize,
    orbitals: usize,
}

/// Format of a model file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelFormat {
    /// JSON.
    Json,
    /// TOML.
    Toml,
}

impl ModelFormat {
    /// Guessed from the file extension (`.toml` is TOML, anything else JSON).
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("toml") => ModelFormat::Toml,
            _ => ModelFormat::Json,
        }
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

fn parse<'de, T: Deserialize<'de>>(text: &'de str, format: ModelFormat, file: &Path) -> Result<T> {
    let fail =
        |line: usize, column: Option<usize>, field: String, reason: String| Error::ModelFile {
            file: file.to_path_buf(),
            line,
            column,
            field,
            reason,
        };
    match format {
        ModelFormat::Json => {
            let mut de = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut de).map_err(|e| {
                let field = e.path().to_string();
                let inner = e.into_inner();
                let reason = strip_position(&inner.to_string());
                // A hopping's checks run once the whole element is read, when serde_json's
                // position is past it (on the next line when the element ends a line): name
                // the line of the offending key in that element instead.
                let (line, column) = json_hopping_field_position(text, &field, &reason)
                    .unwrap_or((inner.line(), inner.column()));
                fail(line, Some(column), field, reason)
            })
        }
        ModelFormat::Toml => {
            let de = toml::Deserializer::parse(text).map_err(|e| {
                let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
                fail(line, Some(col), ".".into(), e.message().to_string())
            })?;
            serde_path_to_error::deserialize(de).map_err(|e| {
                let field = e.path().to_string();
                let inner = e.into_inner();
                let (mut line, col) = inner.span().map_or((0, 0), |s| line_col(text, s.start));
                // toml spans a whole array of tables; point at the offending `[[hoppings]]` instead.
                if let Some(header) = hopping_header_line(text, &field) {
                    line = header;
                }
                fail(
                    line,
                    (col > 0).then_some(col),
                    field,
                    inner.message().to_string(),
                )
            })
        }
    }
}

/// Line and column of the offending key inside element `n` of the top-level `hoppings` array
/// of the JSON `text`, for the errors that serde_json only detects once it has read past the
/// value: `field` exactly `hoppings[n]` (the element-level checks; the key is named in `reason`,
/// ``field `j`: ...``, else the element's own position) or `hoppings[n].t` (the amplitude, an
/// untagged enum, is buffered before it is matched). `None` for every other error.
fn json_hopping_field_position(text: &str, field: &str, reason: &str) -> Option<(usize, usize)> {
    let (n, rest) = field.strip_prefix("hoppings[")?.split_once(']')?;
    let n: usize = n.parse().ok()?;
    let key = match rest {
        "" => reason
            .strip_prefix("field `")
            .and_then(|r| r.split_once('`'))
            .map(|(k, _)| k),
        ".t" => Some("t"),
        _ => return None,
    };
    let tokens = json_tokens(text);
    // The `[` of the top-level "hoppings": a key at depth 1 followed by `:` and `[`.
    let mut depth = 0usize;
    let mut start = None;
    for (t, w) in tokens.windows(3).enumerate() {
        if depth == 1
            && w[0].1 == JsonToken::String("hoppings")
            && w[1].1 == JsonToken::Colon
            && w[2].1 == JsonToken::Open
        {
            start = Some(t + 3);
            break;
        }
        depth = match w[0].1 {
            JsonToken::Open => depth + 1,
            JsonToken::Close => depth.saturating_sub(1),
            _ => depth,
        };
    }
    // Elements of the array (its contents are at relative depth 0).
    let mut depth = 0usize;
    let mut element = 0usize;
    let mut at_element_start = true;
    let mut found = None;
    let tokens = &tokens[start?..];
    for (t, &(offset, token)) in tokens.iter().enumerate() {
        if depth == 0 {
            match token {
                JsonToken::Close => return found,
                JsonToken::Comma => {
                    if found.is_some() {
                        return found;
                    }
                    element += 1;
                    at_element_start = true;
                    continue;
                }
                _ if at_element_start => {
                    at_element_start = false;
                    if element == n {
                        found = Some(line_col(text, offset));
                    }
                }
                _ => {}
            }
        } else if depth == 1
            && found.is_some()
            && key.is_some_and(|k| token == JsonToken::String(k))
            && tokens
                .get(t + 1)
                .is_some_and(|&(_, next)| next == JsonToken::Colon)
        {
            return Some(line_col(text, offset));
        }
        depth = match token {
            JsonToken::Open => depth + 1,
            JsonToken::Close => depth.saturating_sub(1),
            _ => depth,
        };
    }
    found
}

/// The structural tokens of a JSON text (strings with their raw contents, other scalars
/// lumped together), each with its byte offset.
#[derive(Clone, Copy, Debug, PartialEq)]
enum JsonToken<'a> {
    Open,
    Close,
    Comma,
    Colon,
    String(&'a str),
    Scalar,
}

fn json_tokens(text: &str) -> Vec<(usize, JsonToken<'_>)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let token = match b[i] {
            b'{' | b'[' => JsonToken::Open,
            b'}' | b']' => JsonToken::Close,
            b',' => JsonToken::Comma,
            b':' => JsonToken::Colon,
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                let end = i.min(b.len());
                out.push((start, JsonToken::String(&text[start + 1..end])));
                i = end + 1;
                continue;
            }
            _ => {
                let start = i;
                while i < b.len() && !b"{}[],:\" \t\r\n".contains(&b[i]) {
                    i += 1;
                }
                out.push((start, JsonToken::Scalar));
                continue;
            }
        };
        out.push((i, token));
        i += 1;
    }
    out
}

/// Line of the `[[hoppings]]` header of element `n` when `field` is `hoppings[n]...`.
fn hopping_header_line(text: &str, field: &str) -> Option<usize> {
    let rest = field.strip_prefix("hoppings[")?;
    let n: usize = rest[..rest.find(']')?].parse().ok()?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.trim_start().starts_with("[[hoppings]]"))
        .nth(n)
        .map(|(i, _)| i + 1)
}

fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(p) => message[..p].to_string(),
        None => message.to_string(),
    }
}

impl TightBinding {
    /// Parses a model from `text`; `file` names it in errors.
    pub fn parse(text: &str, format: ModelFormat, file: &Path) -> Result<Self> {
        let header: Header = parse(text, format, file)?;
        if header.dim == 0 {
            return Err(Error::ModelFile {
                file: file.into(),
                line: 0,
                column: None,
                field: "dim".into(),
                reason: "must be at least 1".into(),
            });
        }
        if header.orbitals == 0 {
            return Err(Error::ModelFile {
                file: file.into(),
                line: 0,
                column: None,
                field: "orbitals".into(),
                reason: "must be at least 1".into(),
            });
        }
        struct Reset;
        impl Drop for Reset {
            fn drop(&mut self) {
                HEADER.with(|h| h.set(None));
            }
        }
        HEADER.with(|h| h.set(Some((header.dim, header.orbitals))));
        let _reset = Reset;
        let spec: TightBindingSpec = parse(text, format, file)?;
        TightBinding::new(spec.dim, spec.orbitals, spec.onsite, spec.hoppings).map_err(
            |e| match e {
                Error::ModelFile {
                    line,
                    column,
                    field,
                    reason,
                    ..
                } => Error::ModelFile {
                    file: file.to_path_buf(),
                    line,
                    column,
                    field,
                    reason,
                },
                e => e,
            },
        )
    }

    /// Reads a model from a `.json` or `.toml` file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = super::read_model_file(path)?;
        Self::parse(&text, ModelFormat::from_path(path), path)
    }

    /// A model from its parts; errors (naming the field) if `dim` or `orbitals` is 0, `onsite` has
    /// the wrong length or a non-finite value, or a hopping names a missing orbital, has an $R$
    /// of the wrong length, a non-finite amplitude, or is an on-site term.
    pub fn new(
        dim: usize,
        orbitals: usize,
        onsite: Vec<f64>,
        hoppings: Vec<Hopping>,
    ) -> Result<Self> {
        let bad = |field: String, reason: String| Error::ModelFile {
            file: PathBuf::from("<model>"),
            line: 0,
            column: None,
            field,
            reason,
        };
        if dim == 0 || orbitals == 0 {
            return Err(bad("dim/orbitals".into(), "must be at least 1".into()));
        }
        if !onsite.is_empty() && onsite.len() != orbitals {
            return Err(bad(
                "onsite".into(),
                format!("{} values for {} orbitals", onsite.len(), orbitals),
            ));
        }
        if let Some(p) = onsite.iter().position(|e| !e.is_finite()) {
            return Err(bad(format!("onsite[{p}]"), "non-finite energy".into()));
        }
        for (n, h) in hoppings.iter().enumerate() {
            let t = h.t.value();
            if h.i >= orbitals || h.j >= orbitals {
                return Err(bad(
                    format!("hoppings[{n}]"),
                    format!("orbital out of range 0..{orbitals}"),
                ));
            }
            if h.r.len() != dim {
                return Err(bad(
                    format!("hoppings[{n}].R"),
                    format!("{} components, expected {dim}", h.r.len()),
                ));
            }
            if !(t.re.is_finite() && t.im.is_finite()) {
                return Err(bad(
                    format!("hoppings[{n}].t"),
                    "non-finite amplitude".into(),
                ));
            }
            if h.i == h.j && h.r.iter().all(|&c| c == 0) {
                return Err(bad(
                    format!("hoppings[{n}].R"),
                    "an on-site term; use `onsite`".into(),
                ));
            }
        }
        let terms = Terms::new(&hoppings);
        Ok(Self {
            dim,
            orbitals,
            onsite,
            hoppings,
            terms,
        })
    }

    /// On-site energies (empty when all zero).
    pub fn onsite(&self) -> &[f64] {
        &self.onsite
    }

    /// Hopping terms.
    pub fn hoppings(&self) -> &[Hopping] {
        &self.hoppings
    }
}

impl BlochHamiltonian for TightBinding {
    fn dim(&self) -> usize {
        self.dim
    }
    fn n_bands(&self) -> usize {
        self.orbitals
    }
    fn write_hamiltonian(&self, k: &[f64], h: &mut [C64]) {
        let n = self.orbitals;
        h.fill(C64::new(0.0, 0.0));
        for (i, e) in self.onsite.iter().enumerate() {
            h[i * n + i] = C64::new(*e, 0.0);
        }
        // e^{ik.R} once per distinct R (the same arithmetic as per hopping, so the same bits),
        // then the hoppings in their order.
        let phase = |r: &[i64]| {
            let phase: f64 = r.iter().zip(k).map(|(&r, &kj)| r as f64 * kj).sum();
            C64::from_polar(1.0, phase)
        };
        let vectors = &self.terms.vectors;
        let mut stack = [C64::new(0.0, 0.0); STACK_PHASES];
        let heap: Vec<C64>;
        let phases: &[C64] = if vectors.len() <= STACK_PHASES {
            for (p, r) in stack.iter_mut().zip(vectors) {
                *p = phase(r);
            }
            &stack[..vectors.len()]
        } else {
            heap = vectors.iter().map(|r| phase(r)).collect();
            &heap
        };
        for &(i, j, at, t) in &self.terms.hops {
            let t = t * phases[at];
            h[i * n + j] += t;
            h[j * n + i] += t.conj();
        }
    }
}

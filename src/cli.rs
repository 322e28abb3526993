//! Argument checks shared by the example binaries (`chern`, `genet`, `uq`, `lora`, ...).
//!
//! Every number a user types is checked here once, with a message that names the flag's value and
//! what was expected, so that the binaries refuse nonsense the same way: `--bins -1` says "must be a
//! positive integer" instead of clap's "unexpected argument", `--gap-tol nan` says "must be finite".
//! The functions have the signature clap's `value_parser` expects (`fn(&str) -> Result<T, String>`).
//!
//! Negative numbers reach a value parser only when clap is told that a leading `-` can start a
//! value: put `allow_negative_numbers = true` on the command (or `allow_hyphen_values = true` on the
//! argument).
//!
//! # One line per refusal
//!
//! [`parse_args`] and [`exit_on_error`] give every binary the same failure shape: one line
//! `<program>: error: <what is wrong>` on stderr and exit status 1, for a flag clap refuses
//! (clap's own usage errors are several lines and status 2) as for an error of the run itself
//! (each cause appended once).
//!
//! # Memory
//!
//! Work whose size comes from the user (a k-grid, a number of histogram bins, a number of samples)
//! is estimated before anything is allocated and refused when the estimate exceeds the memory
//! limit: [`memory_limit`] is the machine's physical memory, or the value of the environment
//! variable `CHERNET_MEMORY_LIMIT` (bytes, or a number with a unit: `512M`, `64G`, `1.5TiB`) where
//! it is set. [`check_memory`] turns an estimate into a clear refusal that says how to raise it.

use std::fmt::Display;
use std::str::FromStr;

/// Name of the environment variable that overrides the memory limit.
pub const MEMORY_LIMIT_VAR: &str = "CHERNET_MEMORY_LIMIT";

/// Fallback memory limit where the physical memory cannot be read (16 GiB).
pub const FALLBACK_MEMORY_LIMIT: u64 = 16 << 30;

fn parse_number<T: FromStr>(s: &str, expected: &str) -> Result<T, String>
where
    T::Err: Display,
{
    s.trim()
        .parse::<T>()
        .map_err(|e| format!("`{s}` is not {expected} ({e})"))
}

/// A finite real number (rejects `nan`, `inf`, `-inf`).
pub fn finite_f64(s: &str) -> Result<f64, String> {
    let x: f64 = parse_number(s, "a number")?;
    if x.is_finite() {
        Ok(x)
    } else {
        Err(format!("`{s}` must be a finite number"))
    }
}

/// A finite number `> 0`.
pub fn positive_f64(s: &str) -> Result<f64, String> {
    let x = finite_f64(s)?;
    if x > 0.0 {
        Ok(x)
    } else {
        Err(format!("`{s}` must be a positive number"))
    }
}

/// A finite number `>= 0`.
pub fn non_negative_f64(s: &str) -> Result<f64, String> {
    let x = finite_f64(s)?;
    if x >= 0.0 {
        Ok(x)
    } else {
        Err(format!("`{s}` must be zero or a positive number"))
    }
}

/// A probability-like number in `[0, 1]`.
pub fn unit_interval_f64(s: &str) -> Result<f64, String> {
    let x = finite_f64(s)?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(format!("`{s}` must lie in [0, 1]"))
    }
}

/// An integer `>= 1`. Negative input and zero get "must be a positive integer", not a parse error.
pub fn positive_usize(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i128>() {
        if v < 1 {
            return Err(format!("`{s}` must be a positive integer"));
        }
        return usize::try_from(v).map_err(|_| format!("`{s}` is too large"));
    }
    Err(format!("`{s}` is not an integer"))
}

/// An integer `>= 0`.
pub fn non_negative_usize(s: &str) -> Result<usize, String> {
    let t = s.trim();
    if let Ok(v) = t.parse::<i128>() {
        if v < 0 {
            return Err(format!("`{s}` must be zero or a positive integer"));
        }
        return usize::try_from(v).map_err(|_| format!("`{s}` is too large"));
    }
    Err(format!("`{s}` is not an integer"))
}

/// An integer `>= 1` that is at most `max`; the message names the bound.
pub fn bounded_usize(s: &str, max: usize) -> Result<usize, String> {
    let v = positive_usize(s)?;
    if v > max {
        Err(format!("`{s}` is above the largest accepted value {max}"))
    } else {
        Ok(v)
    }
}

/// Parses a byte count: a plain integer, or a number with one of the units `K`, `M`, `G`, `T`
/// (powers of 1024; `KiB`, `MB`, `GB`, ... are read the same way, `B` is optional).
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a byte count (examples: 1073741824, 512M, 64G)"))?;
    let unit = unit.trim().to_ascii_uppercase();
    let unit = unit.trim_end_matches('B').trim_end_matches('I');
    let scale: f64 = match unit {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "`{s}` has an unknown unit (use K, M, G or T, powers of 1024)"
            ));
        }
    };
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 {
        return Err(format!("`{s}` is not a usable byte count"));
    }
    Ok(bytes as u64)
}

/// Where a memory limit came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemoryLimitSource {
    /// The environment variable [`MEMORY_LIMIT_VAR`].
    Environment,
    /// The machine's physical memory (`MemTotal` of `/proc/meminfo`).
    PhysicalMemory,
    /// [`FALLBACK_MEMORY_LIMIT`], where the physical memory could not be read.
    Fallback,
}

/// The memory limit in bytes and where it came from: `CHERNET_MEMORY_LIMIT` where set (an invalid
/// value is an error naming it), else the physical memory, else [`FALLBACK_MEMORY_LIMIT`].
pub fn memory_limit() -> Result<(u64, MemoryLimitSource), String> {
    if let Ok(v) = std::env::var(MEMORY_LIMIT_VAR) {
        let bytes = parse_bytes(&v).map_err(|e| format!("{MEMORY_LIMIT_VAR}: {e}"))?;
        return Ok((bytes, MemoryLimitSource::Environment));
    }
    if let Some(bytes) = physical_memory() {
        return Ok((bytes, MemoryLimitSource::PhysicalMemory));
    }
    Ok((FALLBACK_MEMORY_LIMIT, MemoryLimitSource::Fallback))
}

fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// A byte count for people: `1.5 GiB`, `320.0 MiB`, `12 B`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Refuses work whose estimated memory (`bytes`, as `f64` so that estimates past `u64` are
/// representable) exceeds [`memory_limit`], with a message that names the work, the estimate, the
/// limit and how to raise it.
pub fn check_memory(what: &str, bytes: f64) -> Result<(), String> {
    let (limit, source) = memory_limit()?;
    if bytes.is_finite() && bytes <= limit as f64 {
        return Ok(());
    }
    let origin = match source {
        MemoryLimitSource::Environment => format!("set by {MEMORY_LIMIT_VAR}"),
        MemoryLimitSource::PhysicalMemory => "the physical memory".to_string(),
        MemoryLimitSource::Fallback => "a fallback where physical memory is unknown".to_string(),
    };
    Err(format!(
        "{what} needs about {} of memory, above the limit of {} ({origin}); set {MEMORY_LIMIT_VAR} (for example {MEMORY_LIMIT_VAR}=256G) to raise it",
        human_bytes(bytes),
        human_bytes(limit as f64)
    ))
}

/// The command line parsed into `P`; a usage error (an unknown flag, a value its parser refuses, a
/// missing argument) ends the process as [`exit_on_error`] does: one line
/// `<program>: error: ...` on stderr (clap's message up to its usage text, joined onto one line)
/// and exit status 1. `--help` and `--version` print as usual.
pub fn parse_args<P: clap::Parser>(program: &str) -> P {
    P::try_parse().unwrap_or_else(|e| {
        use clap::error::ErrorKind;
        if matches!(
            e.kind(),
            ErrorKind::DisplayHelp
                | ErrorKind::DisplayVersion
                | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
        ) {
            e.exit();
        }
        eprintln!("{program}: error: {}", usage_error_line(&e.to_string()));
        std::process::exit(1);
    })
}

/// clap's rendered error message on one line: the paragraph before the usage text, its lines
/// joined, without the leading `error: `.
fn usage_error_line(rendered: &str) -> String {
    let line = rendered
        .lines()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    line.strip_prefix("error: ").unwrap_or(&line).to_string()
}

/// `error` and those of its causes that the text before does not already say, joined by `: `.
pub fn error_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !line.contains(&text) {
            line = format!("{line}: {text}");
        }
        cause = c.source();
    }
    line
}

/// Ends the process on an error: one line `<program>: error: ...` ([`error_line`]) on stderr and
/// exit status 1. Does nothing on `Ok`.
pub fn exit_on_error<E: Into<Box<dyn std::error::Error + Send + Sync>>>(
    program: &str,
    result: Result<(), E>,
) {
    if let Err(e) = result {
        let e: Box<dyn std::error::Error + Send + Sync> = e.into();
        eprintln!("{program}: error: {}", error_line(&*e));
        std::process::exit(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_errors_and_error_chains_are_one_line() {
        assert_eq!(
            usage_error_line(
                "error: invalid value '-1' for '--bins <BINS>': `-1` must be a positive integer\n\nFor more information, try '--help'.\n"
            ),
            "invalid value '-1' for '--bins <BINS>': `-1` must be a positive integer"
        );
        assert_eq!(
            usage_error_line(
                "error: the following required arguments were not provided:\n  --labels <LABELS>\n\nUsage: uq --labels <LABELS>\n"
            ),
            "the following required arguments were not provided: --labels <LABELS>"
        );
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "reading data.npy")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(error_line(&e), "reading data.npy: disk on fire");
        // A cause the message already quotes is not repeated.
        let quoted = std::io::Error::other("data.npy: disk on fire");
        assert_eq!(error_line(&quoted), "data.npy: disk on fire");
    }

    #[test]
    fn numbers_are_checked_with_the_value_named() {
        assert_eq!(finite_f64("0.5"), Ok(0.5));
        assert!(finite_f64("nan").unwrap_err().contains("finite"));
        assert!(finite_f64("inf").unwrap_err().contains("`inf`"));
        assert!(positive_f64("-1").unwrap_err().contains("positive"));
        assert!(positive_f64("0").is_err());
        assert_eq!(non_negative_f64("0"), Ok(0.0));
        assert!(non_negative_f64("-0.1").is_err());
        assert!(unit_interval_f64("1.5").is_err());
        assert_eq!(unit_interval_f64("1"), Ok(1.0));
        assert_eq!(positive_usize("15"), Ok(15));
        assert!(
            positive_usize("-1")
                .unwrap_err()
                .contains("positive integer")
        );
        assert!(
            positive_usize("0")
                .unwrap_err()
                .contains("positive integer")
        );
        assert!(
            positive_usize("1e8")
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(
            positive_usize("99999999999999999999999")
                .unwrap_err()
                .contains("too large")
        );
        assert_eq!(non_negative_usize("0"), Ok(0));
        assert!(bounded_usize("11", 10).unwrap_err().contains("10"));
    }

    #[test]
    fn byte_counts_accept_units_and_reject_nonsense() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("2K"), Ok(2048));
        assert_eq!(parse_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(parse_bytes("64G"), Ok(64 << 30));
        assert_eq!(parse_bytes("1tb"), Ok(1 << 40));
        assert!(parse_bytes("12Q").is_err());
        assert!(parse_bytes("-5G").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("0").is_err());
    }

    #[test]
    fn memory_refusal_names_the_estimate_and_the_variable() {
        let err = check_memory("this grid", 1e30).unwrap_err();
        assert!(err.starts_with("this grid needs about"), "{err}");
        assert!(err.contains(MEMORY_LIMIT_VAR), "{err}");
        assert!(check_memory("a small grid", 1024.0).is_ok());
        assert!(check_memory("a NaN estimate", f64::NAN).is_err());
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(12.0), "12 B");
    }
}

//! Atomic claims on rows, so that shards sharing a directory never run the same row twice.
//!
//! A claim is the file `claim.lock` in the row's directory, created with `create_new` (atomic on
//! local and NFSv3+ filesystems): exactly one of several processes racing for a row gets it. The
//! file names the holder (host, process id, a per-claim token and the time) and is removed when
//! the [`Claim`] is dropped, also when the row fails. A process killed outright (a Slurm time
//! limit) leaves its claim behind; on the same host a claim whose process no longer exists is
//! taken over, one from another host is reported with the path to delete.
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The claim file's name inside a row directory.
pub const CLAIM_FILE: &str = "claim.lock";

/// Who holds a claim (the claim file's JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Host name.
    pub host: String,
    /// Process id on that host.
    pub pid: u32,
    /// Distinguishes claims of one process.
    pub token: u64,
    /// Seconds since the Unix epoch when the claim was made.
    pub since: u64,
}

impl Holder {
    fn me() -> Holder {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Holder {
            host: host_name(),
            pid: std::process::id(),
            token: NEXT.fetch_add(1, Ordering::Relaxed),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        }
    }

    /// Whether the holder is a process of this host that no longer runs.
    fn is_dead_here(&self) -> bool {
        self.host == host_name() && !Path::new(&format!("/proc/{}", self.pid)).exists()
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host {} pid {} since {} s after the Unix epoch",
            self.host, self.pid, self.since
        )
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, else `$HOSTNAME`, else `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// A held claim on a row directory; dropping it releases the row.
#[derive(Debug)]
pub struct Claim {
    path: PathBuf,
    holder: Holder,
}

/// The outcome of [`Claim::try_claim`].
#[derive(Debug)]
pub enum Claimed {
    /// This process now holds the row.
    Held(Claim),
    /// Another live process (or one on another host) holds it.
    Elsewhere {
        /// The claim file.
        path: PathBuf,
        /// Who holds it (`None` while its file is being written).
        holder: Option<Holder>,
    },
}

impl Claim {
    /// Tries to claim the row directory `dir` (created if missing). Takes over a claim of a
    /// process of this host that has exited.
    pub fn try_claim(dir: &Path) -> Result<Claimed> {
        std::fs::create_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(CLAIM_FILE);
        let holder = Holder::me();
        let io = |source| Error::Io {
            path: path.clone(),
            source,
        };
        // Two rounds: the second after removing a dead holder's claim.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut file) => {
                    let json = serde_json::to_string(&holder).expect("holder serialises");
                    file.write_all(json.as_bytes()).map_err(io)?;
                    file.sync_all().map_err(io)?;
                    return Ok(Claimed::Held(Claim { path, holder }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let current = read_holder(&path);
                    match current {
                        Some(h) if h.is_dead_here() => take_over_dead(&path, &h)?,
                        holder => return Ok(Claimed::Elsewhere { path, holder }),
                    }
                }
                Err(e) => return Err(io(e)),
            }
        }
        let holder = read_holder(&path);
        Ok(Claimed::Elsewhere { path, holder })
    }

    /// The claim file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        // Remove the file only while it is still ours.
        if read_holder(&self.path).as_ref() == Some(&self.holder) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read_holder(path: &Path) -> Option<Holder> {
    serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

/// Removes the claim of the exited process `dead`: renames it aside (atomic, one process wins),
/// and puts it back if what was renamed is not that claim (someone took over in between).
fn take_over_dead(path: &Path, dead: &Holder) -> Result<()> {
    let aside = path.with_extension(format!("stale.{}.{}", std::process::id(), dead.token));
    match std::fs::rename(path, &aside) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    }
    if read_holder(&aside).as_ref() != Some(dead) {
        // A live claim: restore it unless yet another claim exists by now.
        let _ = std::fs::hard_link(&aside, path);
    }
    let _ = std::fs::remove_file(&aside);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("gauge-nn-claim-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    #[test]
    fn one_of_many_concurrent_claimers_wins_and_release_frees_the_row() {
        let dir = tmp("race");
        for _round in 0..20 {
            let barrier = std::sync::Barrier::new(8);
            let won: Vec<bool> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..8)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            match Claim::try_claim(&dir).unwrap() {
                                Claimed::Held(c) => {
                                    // Hold it until every thread has tried.
                                    std::thread::sleep(std::time::Duration::from_millis(50));
                                    drop(c);
                                    true
                                }
                                Claimed::Elsewhere { .. } => false,
                            }
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            assert_eq!(won.iter().filter(|&&w| w).count(), 1, "{won:?}");
            assert!(!dir.join(CLAIM_FILE).exists(), "released on drop");
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_live_claim_is_reported_and_a_dead_one_is_taken_over() {
        let dir = tmp("stale");
        let first = match Claim::try_claim(&dir).unwrap() {
            Claimed::Held(c) => c,
            other => panic!("{other:?}"),
        };
        match Claim::try_claim(&dir).unwrap() {
            Claimed::Elsewhere { holder, path } => {
                assert_eq!(holder.as_ref(), Some(&first.holder));
                assert_eq!(path, dir.join(CLAIM_FILE));
            }
            other => panic!("{other:?}"),
        }
        drop(first);
        // A claim left by a process of this host that has exited (pid beyond pid_max).
        let dead = Holder {
            host: host_name(),
            pid: u32::MAX,
            token: 7,
            since: 0,
        };
        std::fs::write(dir.join(CLAIM_FILE), serde_json::to_string(&dead).unwrap()).unwrap();
        assert!(matches!(Claim::try_claim(&dir).unwrap(), Claimed::Held(_)));
        // One from another host is never taken over.
        let foreign = Holder {
            host: "elsewhere-node-17".into(),
            ..dead
        };
        std::fs::write(
            dir.join(CLAIM_FILE),
            serde_json::to_string(&foreign).unwrap(),
        )
        .unwrap();
        match Claim::try_claim(&dir).unwrap() {
            Claimed::Elsewhere { holder, .. } => assert_eq!(holder, Some(foreign)),
            other => panic!("{other:?}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}

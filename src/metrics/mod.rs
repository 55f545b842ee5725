//! Counters that outlive a process: probes, relay failovers and command re-runs
//! per proxy, in one small versioned JSON file in the cache dir (`metrics.json`).
//!
//! Like the health snapshot: readers never lock and treat anything unexpected
//! as "no counters yet"; writers read, add and replace the file atomically
//! under an exclusive flock, so concurrent shims never lose an increment.
//! Nothing is written on the hot path of a go call that saw no failure: only a
//! probe, a relay failover and a re-run count.

pub mod prometheus;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::health::Observation;
use crate::health::snapshot::now_secs;
use crate::log::debug;
use crate::settings::paths;
use crate::settings::vars::Env;
use crate::state_file::{self, Durability};

pub const VERSION: u32 = 1;
const FILE: &str = "metrics.json";
const LOCK: &str = "metrics.lock";
/// Proxies with no new count for this long are forgotten.
const FORGET_AFTER_SECS: u64 = 30 * 24 * 3600;

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub version: u32,
    /// Go commands goshim ran again after a transient proxy failure.
    pub reruns: u64,
    /// Per proxy, by redacted URL.
    pub proxies: BTreeMap<String, ProxyCounters>,
    /// What the relay fetched ahead of go's requests, and what go never used.
    #[serde(default)]
    pub prefetch: PrefetchCounters,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, Default, PartialEq)]
pub struct PrefetchCounters {
    pub fetched: u64,
    pub fetched_bytes: u64,
    /// Fetched ahead but never asked for by go: the waste.
    pub unused: u64,
    pub unused_bytes: u64,
    /// Zips whose fetch ahead started, and of those the ones go never asked
    /// for (a test-only module's, after `go build`).
    #[serde(default)]
    pub zips: u64,
    #[serde(default)]
    pub unused_zips: u64,
}

#[derive(Serialize, Deserialize, Debug, Clone, Default, PartialEq)]
pub struct ProxyCounters {
    /// Probes (`goshim probe`, background refresh, `goshim doctor`).
    pub probes: u64,
    /// Probes that found the proxy failing.
    pub probe_failures: u64,
    /// Requests the relay had to take elsewhere (or give up) after this proxy failed.
    pub failovers: u64,
    /// Re-runs of a go command after this proxy failed.
    pub retries: u64,
    /// When this proxy was last probed, Unix seconds.
    pub last_probe_at: Option<u64>,
    /// When a counter last changed, Unix seconds.
    pub updated_at: u64,
}

pub fn path(process: &Env) -> Option<PathBuf> {
    paths::cache_dir(process).map(|d| d.join(FILE))
}

impl Counters {
    /// The counters on disk, or None when there are none (or the file is unreadable).
    pub fn read(process: &Env) -> Option<Counters> {
        read_from(&path(process)?)
    }

    fn proxy(&mut self, url: &str, now: u64) -> &mut ProxyCounters {
        let p = self.proxies.entry(url.to_string()).or_default();
        p.updated_at = now;
        p
    }
}

fn read_from(path: &Path) -> Option<Counters> {
    let bytes = state_file::read(path)?;
    let counters: Counters = serde_json::from_slice(&bytes).ok()?;
    (counters.version == VERSION).then_some(counters)
}

/// Adds to the counters on disk under the lock.
fn update(process: &Env, change: impl FnOnce(&mut Counters, u64)) -> std::io::Result<()> {
    let path = path(process)
        .ok_or_else(|| std::io::Error::other("no cache dir (set HOME or GOSHIM_CACHE_DIR)"))?;
    update_at(&path, change)
}

fn update_at(path: &Path, change: impl FnOnce(&mut Counters, u64)) -> std::io::Result<()> {
    let lock_file = state_file::open_lock(&path.with_file_name(LOCK))?;
    lock_file.lock()?; // released when lock_file closes
    let mut counters = read_from(path).unwrap_or_default();
    counters.version = VERSION;
    let now = now_secs();
    change(&mut counters, now);
    counters
        .proxies
        .retain(|_, p| now.saturating_sub(p.updated_at) < FORGET_AFTER_SECS);
    let bytes = serde_json::to_vec_pretty(&counters).map_err(std::io::Error::other)?;
    state_file::write_atomic(path, &bytes, Durability::Cache)
}

fn report(result: std::io::Result<()>) {
    if let Err(e) = result {
        debug!("cannot update the metrics: {e}");
    }
}

/// One probe per observation.
pub fn count_probes(process: &Env, observations: &[Observation]) {
    if observations.is_empty() {
        return;
    }
    report(update(process, |c, now| {
        for obs in observations {
            let p = c.proxy(&obs.url, now);
            p.probes += 1;
            p.probe_failures += u64::from(obs.result.is_err());
            p.last_probe_at = Some(now);
        }
    }));
}

/// Relay failovers: (redacted URL, failed requests). Free when nothing failed.
pub fn count_failovers(process: &Env, failed: &[(String, u64)]) {
    if failed.iter().all(|(_, n)| *n == 0) {
        return;
    }
    report(update(process, |c, now| {
        for (url, n) in failed.iter().filter(|(_, n)| *n > 0) {
            c.proxy(url, now).failovers += n;
        }
    }));
}

/// One run's fetching ahead. Free when nothing was fetched ahead.
pub fn count_prefetch(process: &Env, run: PrefetchCounters) {
    if run.fetched == 0 && run.zips == 0 {
        return;
    }
    report(update(process, |c, _| {
        let p = &mut c.prefetch;
        p.fetched += run.fetched;
        p.fetched_bytes += run.fetched_bytes;
        p.unused += run.unused;
        p.unused_bytes += run.unused_bytes;
        p.zips += run.zips;
        p.unused_zips += run.unused_zips;
    }));
}

/// A go command is run again; `blamed`: the proxies whose failure caused it.
pub fn count_rerun<'a>(process: &Env, blamed: impl IntoIterator<Item = &'a str>) {
    let mut blamed: Vec<&str> = blamed.into_iter().collect();
    blamed.sort_unstable();
    blamed.dedup();
    report(update(process, |c, now| {
        c.reruns += 1;
        for url in blamed {
            c.proxy(url, now).retries += 1;
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_writers_lose_no_increment() {
        let dir = tempdir("concurrent");
        let path = dir.join(FILE);
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let path = path.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        update_at(&path, |c, now| {
                            c.reruns += 1;
                            c.proxy(&format!("https://p{}", t % 2), now).failovers += 1;
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let c = read_from(&path).unwrap();
        assert_eq!(c.reruns, 200);
        assert_eq!(c.proxies["https://p0"].failovers, 100);
        assert_eq!(c.proxies["https://p1"].failovers, 100);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn garbage_and_other_versions_start_from_zero() {
        let dir = tempdir("garbage");
        let path = dir.join(FILE);
        for bad in ["", "{", "[]", "{\"version\":7,\"reruns\":5,\"proxies\":{}}"] {
            std::fs::write(&path, bad).unwrap();
            assert!(read_from(&path).is_none(), "{bad:?}");
            update_at(&path, |c, _| c.reruns += 1).unwrap();
            assert_eq!(read_from(&path).unwrap().reruns, 1);
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("goshim-metrics-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}

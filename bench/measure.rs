//! What the fetch-ahead benchmarks share (bench/prefetch.rs, bench/real.rs):
//! the ways a command is run (plain go, the shim in its modes), exact timing
//! with a watchdog, the waste counters of `goshim status --json`, shuffled
//! rounds and medians. Each bench includes it with `#[path]`, next to
//! `mod common` (tests/common).
#![allow(dead_code)] // each bench uses a part

use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::World;
use crate::common::scenario::status_json;

/// How a command is run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Way {
    /// The real go, straight to GOPROXY.
    Plain,
    /// The real go through bench/prefetch.rs's minimal relay (GOPROXY is
    /// pointed at it by the bench).
    MinimalRelay,
    /// The shim's list mode (`GOSHIM_RELAY=0`).
    ShimList,
    /// The relay with `GOSHIM_PREFETCH=0`.
    ShimNoPrefetch,
    /// The relay fetching ahead.
    Shim,
}

impl Way {
    pub const ALL: [Way; 5] = [
        Way::Plain,
        Way::MinimalRelay,
        Way::ShimList,
        Way::ShimNoPrefetch,
        Way::Shim,
    ];

    /// Sets the world's environment for this way (before the project is
    /// written: [`Way::command`] comes after).
    pub fn configure(self, world: &mut World) {
        world.set_env("GOSHIM_TTL", "0");
        match self {
            Way::ShimList => world.set_env("GOSHIM_RELAY", "0"),
            Way::ShimNoPrefetch => world.set_env("GOSHIM_PREFETCH", "0"),
            Way::Plain | Way::MinimalRelay | Way::Shim => {}
        }
    }

    fn direct(self) -> bool {
        matches!(self, Way::Plain | Way::MinimalRelay)
    }

    /// `go args` run this way. For the shim, goshim has already run once in
    /// the world (its go env cache, as on a used machine).
    pub fn command(self, world: &World, args: &[&str]) -> Command {
        if self.direct() {
            return world.direct_cmd(args);
        }
        let _ = world.run(&mut world.goshim_cmd(["status"]));
        world.shim_cmd(args)
    }
}

/// What the shim fetched ahead and go never used (`goshim status --json`).
#[derive(Clone, Copy, Default)]
pub struct Waste {
    pub fetched: u64,
    pub fetched_bytes: u64,
    pub unused: u64,
    pub unused_bytes: u64,
    pub zips: u64,
    pub unused_zips: u64,
}

impl Waste {
    /// The counters of the world's goshim.
    pub fn of(world: &World) -> Waste {
        let p = &status_json(world)["prefetch"];
        let get = |k: &str| p[k].as_u64().unwrap_or(0);
        Waste {
            fetched: get("fetched"),
            fetched_bytes: get("fetched_bytes"),
            unused: get("unused"),
            unused_bytes: get("unused_bytes"),
            zips: get("zips"),
            unused_zips: get("unused_zips"),
        }
    }
}

/// Runs `cmd` to its end and times it exactly: `World::run` polls for the
/// exit every 10 ms, too coarse for the rows without added latency (about
/// 20 ms each). A watchdog kills the run's process group (go too, when the
/// shim started it) if it hangs.
pub fn timed(cmd: &mut Command) -> (Output, f64) {
    const LIMIT: Duration = Duration::from_secs(300);
    let start = Instant::now();
    let child = cmd
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start go");
    let group = child.id() as i32;
    let done = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            while !done.load(Ordering::Acquire) {
                if start.elapsed() > LIMIT {
                    // SAFETY: kill(2) only. `done` is still false: the child
                    // runs, or was reaped an instant ago (its group may still
                    // hold go), and a pid is not reused that fast.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let out = child.wait_with_output().expect("wait for go");
    let ms = start.elapsed().as_secs_f64() * 1000.0;
    done.store(true, Ordering::Release);
    let _ = watchdog.join();
    (out, ms)
}

/// Fisher-Yates with a xorshift: a fresh order each round, no dependency.
pub fn shuffle<T>(items: &mut [T], seed: &mut u64) {
    for i in (1..items.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        items.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

/// NaN for no runs.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// `PREFETCH_BENCH_RUNS` (rounds, default 3) and `PREFETCH_BENCH_DELAYS_MS`
/// (comma separated, default 50 and 150), which both benches read.
pub fn runs_and_delays() -> (usize, Vec<u64>) {
    let runs = std::env::var("PREFETCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let delays = std::env::var("PREFETCH_BENCH_DELAYS_MS")
        .unwrap_or_else(|_| "50,150".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    (runs, delays)
}

/// A median in seconds (milliseconds at `delay` 0), "–" for no runs.
pub fn shown(ms: f64, delay: u64) -> String {
    match ms {
        ms if ms.is_nan() => "–".to_string(),
        ms if delay == 0 => format!("{ms:.1} ms"),
        ms => format!("{:.2} s", ms / 1000.0),
    }
}

/// `a / b` as "0.42×", "–" when either is missing.
pub fn ratio(a: f64, b: f64) -> String {
    match a / b {
        r if r.is_nan() => "–".to_string(),
        r => format!("{r:.2}×"),
    }
}

//! Fetch-ahead benchmark (issue 11): a healthy but distant proxy (every
//! answer `delay` late), cold module cache, checksum verification on against
//! the tests' own database, the real go:
//!
//! - 40 flat modules: `go mod download` and `go build`;
//! - a module graph 4 levels deep and 5 wide (20 modules): `go mod download`,
//!   `go build`, `go list -m all`, `go mod tidy`;
//!
//! - 20 flat modules: `go mod download` (the relay's own cost, issue 8);
//!
//! each with plain go, the shim's list mode (`GOSHIM_RELAY=0`), the relay
//! with `GOSHIM_PREFETCH=0`, and the relay fetching ahead: rounds of one run
//! of each in a shuffled order, so that drift in the machine's speed hits all
//! alike (`PREFETCH_BENCH_RUNS` rounds, default 3, medians reported), at 50 ms
//! and 150 ms (`PREFETCH_BENCH_DELAYS_MS`, comma separated).
//! `PREFETCH_BENCH_ONLY=<text>` keeps the rows whose project or command
//! contains it. The worlds go to tmpfs (`PREFETCH_BENCH_TMPDIR`, else
//! /dev/shm). The waste (fetched ahead, never used) comes from
//! `goshim status --json`. Markdown to stdout and `target/bench/prefetch.md`.
//!
//! ```sh
//! GOSHIM_TEST_GO=/path/to/go/bin/go cargo bench --bench prefetch
//! # the relay's own cost against the list mode, with no added latency:
//! PREFETCH_BENCH_DELAYS_MS=0 PREFETCH_BENCH_RUNS=60 PREFETCH_BENCH_ONLY="20 modules" \
//!   cargo bench --bench prefetch
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::scenario::status_json;
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, show};

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Plain,
    ShimList,
    ShimNoPrefetch,
    Shim,
}

impl Way {
    const ALL: [Way; 4] = [Way::Plain, Way::ShimList, Way::ShimNoPrefetch, Way::Shim];
}

struct Cell {
    ms: Vec<f64>,
    waste: Option<(u64, u64, u64, u64)>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let worlds_in = common::world::place_worlds("PREFETCH_BENCH_TMPDIR");
    let only = std::env::var("PREFETCH_BENCH_ONLY").unwrap_or_default();
    let runs: usize = std::env::var("PREFETCH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let delays: Vec<u64> = std::env::var("PREFETCH_BENCH_DELAYS_MS")
        .unwrap_or_else(|_| "50,150".into())
        .split(',')
        .filter_map(|d| d.trim().parse().ok())
        .collect();
    let flat = ModTree::new(40);
    let graph = ModTree::layered(4, 5);
    let twenty = ModTree::new(20);
    let commands: [(&str, &ModTree, &[&str]); 7] = [
        ("40 modules", &flat, &["mod", "download"]),
        ("40 modules", &flat, &["build", "-o", "out/prog", "."]),
        ("graph 4x5", &graph, &["mod", "download"]),
        ("graph 4x5", &graph, &["build", "-o", "out/prog", "."]),
        ("graph 4x5", &graph, &["list", "-m", "all"]),
        ("graph 4x5", &graph, &["mod", "tidy"]),
        ("20 modules", &twenty, &["mod", "download"]),
    ];
    let mut md = format!("Worlds in {worlds_in}; {runs} rounds, medians.\n\n");
    let _ = writeln!(
        md,
        "| project | command | delay | plain go | shim, list mode | shim, prefetch off | shim | shim / plain | shim / list mode | fetched ahead | unused (requests, bytes) |\n|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut order = Way::ALL;
    let mut seed = std::process::id() as u64 | 1;
    for &delay in &delays {
        for (project, tree, args) in commands {
            if !format!("{project} go {}", args.join(" ")).contains(&only) {
                continue;
            }
            let db = SumDb::from_tree(SUMDB_NAME, tree);
            let proxy = TestProxy::builder().tree(tree).sumdb(&db).start();
            proxy.set_fault(Fault::Delay(Duration::from_millis(delay)));
            let mut cells: Vec<Cell> = Way::ALL
                .iter()
                .map(|_| Cell {
                    ms: Vec::new(),
                    waste: None,
                })
                .collect();
            for _ in 0..runs {
                shuffle(&mut order, &mut seed);
                for way in order {
                    let k = Way::ALL.iter().position(|w| *w == way).unwrap_or(0);
                    let (ms, waste) = run(&proxy, &db, tree, args, way);
                    cells[k].ms.push(ms);
                    cells[k].waste = waste.or(cells[k].waste);
                }
            }
            let med: Vec<f64> = cells.iter().map(|c| median(&c.ms)).collect();
            let (f, fb, u, ub) = cells[3].waste.unwrap_or_default();
            let seconds = |ms: f64| {
                if delay == 0 {
                    format!("{ms:.1} ms")
                } else {
                    format!("{:.2} s", ms / 1000.0)
                }
            };
            let line = format!(
                "| {project} | `go {}` | {delay} ms | {} | {} | {} | {} | {:.2}× | {:.2}× | {f} ({:.1} KiB) | {u}, {:.1} KiB ({:.1}% of bytes) |",
                args.join(" "),
                seconds(med[0]),
                seconds(med[1]),
                seconds(med[2]),
                seconds(med[3]),
                med[3] / med[0],
                med[3] / med[1],
                fb as f64 / 1024.0,
                ub as f64 / 1024.0,
                if fb > 0 {
                    100.0 * ub as f64 / fb as f64
                } else {
                    0.0
                },
            );
            eprintln!("{line}");
            md.push_str(&line);
            md.push('\n');
        }
    }
    println!("{md}");
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write("target/bench/prefetch.md", &md);
}

/// One cold run (fresh world); the waste counters for the shim.
fn run(
    proxy: &TestProxy,
    db: &SumDb,
    tree: &ModTree,
    args: &[&str],
    way: Way,
) -> (f64, Option<(u64, u64, u64, u64)>) {
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    world.set_env("GOSHIM_TTL", "0");
    world.verify_with(db);
    match way {
        Way::ShimList => world.set_env("GOSHIM_RELAY", "0"),
        Way::ShimNoPrefetch => world.set_env("GOSHIM_PREFETCH", "0"),
        Way::Plain | Way::Shim => {}
    }
    world.write_tree_main_module(tree);
    if way != Way::Plain {
        let _ = world.run(&mut world.goshim_cmd(["status"])); // go env cache, as on a used machine
    }
    let mut cmd = if way == Way::Plain {
        world.direct_cmd(args)
    } else {
        world.shim_cmd(args)
    };
    let (out, ms) = timed(&mut cmd);
    assert!(out.status.success(), "go {args:?}\n{}", show(&out));
    let waste = (way == Way::Shim).then(|| {
        let p = &status_json(&world)["prefetch"];
        let get = |k: &str| p[k].as_u64().unwrap_or(0);
        (
            get("fetched"),
            get("fetched_bytes"),
            get("unused"),
            get("unused_bytes"),
        )
    });
    (ms, waste)
}

/// Runs `cmd` to its end and times it exactly: `World::run` polls for the
/// exit every 10 ms, too coarse for the rows without added latency (about
/// 20 ms each). A watchdog kills the run's process group (go too, when the
/// shim started it) if it hangs.
fn timed(cmd: &mut Command) -> (Output, f64) {
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
fn shuffle(ways: &mut [Way], seed: &mut u64) {
    for i in (1..ways.len()).rev() {
        *seed ^= *seed << 13;
        *seed ^= *seed >> 7;
        *seed ^= *seed << 17;
        ways.swap(i, (*seed % (i as u64 + 1)) as usize);
    }
}

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

//! Fetch-ahead benchmark (issue 11): a healthy but distant proxy (every
//! answer `delay` late), cold module cache, checksum verification on against
//! the tests' own database, the real go:
//!
//! - 40 flat modules: `go mod download` and `go build`;
//! - a module graph 4 levels deep and 5 wide (20 modules): `go mod download`,
//!   `go build`, `go list -m all`, `go mod tidy`;
//!
//! each with plain go, the shim with `GOSHIM_PREFETCH=0`, and the shim
//! fetching ahead, one run of each in turn (`PREFETCH_BENCH_RUNS`, default 3,
//! medians reported), at 50 ms and 150 ms (`PREFETCH_BENCH_DELAYS_MS`, comma
//! separated). The waste (fetched ahead, never used) comes from
//! `goshim status --json`. Markdown to stdout and `target/bench/prefetch.md`.
//!
//! ```sh
//! GOSHIM_TEST_GO=/path/to/go/bin/go cargo bench --bench prefetch
//! ```

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use common::scenario::status_json;
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, show};

#[derive(Clone, Copy, PartialEq)]
enum Way {
    Plain,
    ShimNoPrefetch,
    Shim,
}

impl Way {
    const ALL: [Way; 3] = [Way::Plain, Way::ShimNoPrefetch, Way::Shim];
}

struct Cell {
    ms: Vec<f64>,
    waste: Option<(u64, u64, u64, u64)>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
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
    let commands: [(&str, &ModTree, &[&str]); 6] = [
        ("40 modules", &flat, &["mod", "download"]),
        ("40 modules", &flat, &["build", "-o", "out/prog", "."]),
        ("graph 4x5", &graph, &["mod", "download"]),
        ("graph 4x5", &graph, &["build", "-o", "out/prog", "."]),
        ("graph 4x5", &graph, &["list", "-m", "all"]),
        ("graph 4x5", &graph, &["mod", "tidy"]),
    ];
    let mut md = String::new();
    let _ = writeln!(
        md,
        "| project | command | delay | plain go | shim, prefetch off | shim | shim / plain | fetched ahead | unused (requests, bytes) |\n|---|---|---|---|---|---|---|---|---|"
    );
    for &delay in &delays {
        for (project, tree, args) in commands {
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
                for (k, way) in Way::ALL.iter().enumerate() {
                    let (ms, waste) = run(&proxy, &db, tree, args, *way);
                    cells[k].ms.push(ms);
                    cells[k].waste = waste.or(cells[k].waste);
                }
            }
            let med: Vec<f64> = cells.iter().map(|c| median(&c.ms)).collect();
            let (f, fb, u, ub) = cells[2].waste.unwrap_or_default();
            let line = format!(
                "| {project} | `go {}` | {delay} ms | {:.2} s | {:.2} s | {:.2} s | {:.2}× | {f} ({:.1} KiB) | {u}, {:.1} KiB ({:.1}% of bytes) |",
                args.join(" "),
                med[0] / 1000.0,
                med[1] / 1000.0,
                med[2] / 1000.0,
                med[2] / med[0],
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
    if way == Way::ShimNoPrefetch {
        world.set_env("GOSHIM_PREFETCH", "0");
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
    let start = Instant::now();
    let out = world.run(&mut cmd);
    let ms = start.elapsed().as_secs_f64() * 1000.0;
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

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

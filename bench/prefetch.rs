//! Fetch-ahead benchmark (issue 11): a healthy but distant proxy (every
//! answer `delay` late), cold module cache, checksum verification on against
//! the tests' own database, the real go:
//!
//! - 40 flat modules: `go mod download` and `go build`;
//! - a module graph 4 levels deep and 5 wide (20 modules): `go mod download`,
//!   `go build`, `go list -m all`, `go mod tidy`;
//!
//! - 20 flat modules: `go mod download` (the relay's own cost, issue 8);
//! - with a go.sum as `go mod tidy` writes it (issue 19: the zips it names
//!   are fetched ahead): the 40 modules' `go build` and `go test ./...`, the
//!   graph's `go build`;
//!
//! each with plain go, the shim's list mode (`GOSHIM_RELAY=0`), the relay
//! with `GOSHIM_PREFETCH=0`, and the relay fetching ahead; with no added
//! latency also plain go through a minimal relay (see [`minimal_relay`]), the
//! floor of what any relay's loopback hop costs: rounds of one run
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
#[path = "measure.rs"]
mod measure;

use std::fmt::Write as _;
use std::time::Duration;

use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, show};
use measure::{Waste, Way, median, ratio, shown, shuffle, timed};

struct Cell {
    ms: Vec<f64>,
    waste: Option<Waste>,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let worlds_in = common::world::place_worlds("PREFETCH_BENCH_TMPDIR");
    let only = std::env::var("PREFETCH_BENCH_ONLY").unwrap_or_default();
    let (runs, delays) = measure::runs_and_delays();
    let flat = ModTree::new(40);
    let graph = ModTree::layered(4, 5);
    let twenty = ModTree::new(20);
    let build: &[&str] = &["build", "-o", "out/prog", "."];
    let commands: [(&str, &ModTree, &[&str]); 10] = [
        ("40 modules", &flat, &["mod", "download"]),
        ("40 modules", &flat, build),
        ("40 modules, go.sum", &flat, build),
        ("40 modules, go.sum", &flat, &["test", "./..."]),
        ("graph 4x5", &graph, &["mod", "download"]),
        ("graph 4x5", &graph, build),
        ("graph 4x5, go.sum", &graph, build),
        ("graph 4x5", &graph, &["list", "-m", "all"]),
        ("graph 4x5", &graph, &["mod", "tidy"]),
        ("20 modules", &twenty, &["mod", "download"]),
    ];
    let mut md = format!("Worlds in {worlds_in}; {runs} rounds, medians.\n\n");
    let _ = writeln!(
        md,
        "| project | command | delay | plain go | minimal relay | shim, list mode | shim, prefetch off | shim | minimal relay / plain | shim / plain | shim / list mode | fetched ahead | unused (requests, bytes) | zips ahead, unused |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut seed = std::process::id() as u64 | 1;
    for &delay in &delays {
        for (project, tree, args) in commands {
            if !format!("{project} go {}", args.join(" ")).contains(&only) {
                continue;
            }
            let db = SumDb::from_tree(SUMDB_NAME, tree);
            let proxy = TestProxy::builder().tree(tree).sumdb(&db).start();
            proxy.set_fault(Fault::Delay(Duration::from_millis(delay)));
            // The floor only where it matters (and costs seconds elsewhere).
            let minimal = (delay == 0).then(|| minimal_relay::start(proxy.addr()));
            let mut order: Vec<Way> = Way::ALL
                .into_iter()
                .filter(|w| *w != Way::MinimalRelay || minimal.is_some())
                .collect();
            let mut cells: Vec<Cell> = Way::ALL
                .iter()
                .map(|_| Cell {
                    ms: Vec::new(),
                    waste: None,
                })
                .collect();
            for _ in 0..runs {
                shuffle(&mut order, &mut seed);
                for &way in &order {
                    let with_sum = project.ends_with("go.sum");
                    let (ms, waste) = run(&proxy, minimal, &db, (tree, with_sum), args, way);
                    let cell = &mut cells[way as usize];
                    cell.ms.push(ms);
                    cell.waste = waste.or(cell.waste);
                }
            }
            let med = |way: Way| median(&cells[way as usize].ms);
            let Waste {
                fetched: f,
                fetched_bytes: fb,
                unused: u,
                unused_bytes: ub,
                zips,
                unused_zips,
            } = cells[Way::Shim as usize].waste.unwrap_or_default();
            let shown = |way: Way| shown(med(way), delay);
            let ratio = |a: Way, b: Way| ratio(med(a), med(b));
            let line = format!(
                "| {project} | `go {}` | {delay} ms | {} | {} | {} | {} | {} | {} | {} | {} | {f} ({:.1} KiB) | {u}, {:.1} KiB ({:.1}% of bytes) | {zips}, {unused_zips} |",
                args.join(" "),
                shown(Way::Plain),
                shown(Way::MinimalRelay),
                shown(Way::ShimList),
                shown(Way::ShimNoPrefetch),
                shown(Way::Shim),
                ratio(Way::MinimalRelay, Way::Plain),
                ratio(Way::Shim, Way::Plain),
                ratio(Way::Shim, Way::ShimList),
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

/// One cold run (fresh world, with a tidy go.sum when `with_sum`); the waste
/// counters for the shim.
fn run(
    proxy: &TestProxy,
    minimal: Option<u16>,
    db: &SumDb,
    (tree, with_sum): (&ModTree, bool),
    args: &[&str],
    way: Way,
) -> (f64, Option<Waste>) {
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    if let (Way::MinimalRelay, Some(port)) = (way, minimal) {
        let url = proxy.url();
        let addr = proxy.addr().to_string();
        world.set_env("GOPROXY", url.replace(&addr, &format!("127.0.0.1:{port}")));
    }
    world.verify_with(db);
    way.configure(&mut world);
    world.write_tree_main_module(tree);
    if with_sum {
        common::scenario::write_tidy_go_sum(&world, db, tree, &[]);
    }
    let (out, ms) = timed(&mut way.command(&world, args));
    assert!(out.status.success(), "go {args:?}\n{}", show(&out));
    let waste = (way == Way::Shim).then(|| Waste::of(&world));
    (ms, waste)
}

/// The floor of what any relay's loopback hop costs go: plain blocking
/// copying, a thread per go connection with one upstream keep-alive
/// connection of its own; no failover, deadlines, fetching ahead or async
/// runtime. It understands only what the test proxy sends (Content-Length
/// bodies): a yardstick, not a relay.
mod minimal_relay {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};

    /// Starts it on 127.0.0.1; its port. It lives as long as the process.
    pub fn start(upstream: SocketAddr) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        std::thread::spawn(move || {
            for go in listener.incoming().flatten() {
                std::thread::spawn(move || relay(go, upstream));
            }
        });
        port
    }

    /// Request after request from go: forwarded as it is, answered whole.
    fn relay(mut go: TcpStream, upstream: SocketAddr) -> Option<()> {
        go.set_nodelay(true).ok()?;
        let mut up = TcpStream::connect(upstream).ok()?;
        up.set_nodelay(true).ok()?;
        let (mut from_go, mut from_up) = (Vec::new(), Vec::new());
        loop {
            let head = read_head(&mut go, &mut from_go)?;
            let path = head.split_whitespace().nth(1)?;
            let request = format!("GET {path} HTTP/1.1\r\nHost: {upstream}\r\n\r\n");
            up.write_all(request.as_bytes()).ok()?;
            let head = read_head(&mut up, &mut from_up)?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")?
                        .trim()
                        .parse()
                        .ok()
                })
                .unwrap_or(0);
            while from_up.len() < len {
                fill(&mut up, &mut from_up)?;
            }
            let mut answer = format!("{head}\r\n\r\n").into_bytes();
            answer.extend(from_up.drain(..len));
            go.write_all(&answer).ok()?;
        }
    }

    /// The next message head (without its blank line), taken from `buf`.
    fn read_head(from: &mut TcpStream, buf: &mut Vec<u8>) -> Option<String> {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                buf.drain(..end + 4);
                return Some(head);
            }
            fill(from, buf)?;
        }
    }

    fn fill(from: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
        let mut chunk = [0u8; 64 * 1024];
        match from.read(&mut chunk) {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }
}

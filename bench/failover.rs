//! Failover and relay benchmark: the real go, directly and through goshim,
//! against local test proxies (127.0.0.1 only) that are healthy, answer 502 or
//! accept and hang.
//!
//! Usage:
//!
//! ```sh
//! GOSHIM_TEST_GO=/path/to/go/bin/go cargo bench --bench failover
//! ```
//!
//! Without `GOSHIM_TEST_GO` the real go is `$(go env GOROOT)/bin/go` of the go
//! on PATH (as for the tests). `FAILOVER_BENCH_QUICK=1` skips the single run
//! with the default 15 s response deadline (B). The worlds (fresh module
//! caches) go to `FAILOVER_BENCH_TMPDIR` if set, else to /dev/shm when it is
//! writable, else the temp dir (see `common::world::place_worlds`). The Markdown tables go to
//! stdout and to `target/bench/failover.md`; progress goes to stderr. About
//! two minutes on 2 cores after the release build, most of it the deliberate
//! hangs and deadlines. Timings live here, never in the pass/fail tests:
//! nothing here fails on a slow number, only on a broken setup (a download
//! that should succeed and does not).
//!
//! - A. `go mod download` of 20 modules (fresh GOMODCACHE per run, the tests'
//!   warm GOCACHE): healthy proxy only; primary answers 502; primary hangs
//!   (with a fresh `goshim probe` snapshot). Plain go with `p,s` and `p|s`,
//!   the shim with its relay and with `GOSHIM_RELAY=0`.
//! - B. The hung primary with no snapshot, through the relay.
//! - C. A ~50 MB module zip through the relay vs straight from the proxy, and
//!   the shim's peak memory (VmHWM) while the relay serves it.
//! - D. Slow and cold: `go build` of 20 modules plus an 8 MB module with no
//!   snapshot and the default deadlines, per primary fault (hang, answers 3 s
//!   late, 20 KiB/s drip, stall, reset, truncated zip, 503, 429, every other
//!   request 503) with a healthy secondary, against the healthy-only build;
//!   and total outages (hung+503, hung+hung, stalled+refused).
//! - V. Checksum verification on (the tests' own checksum database, served
//!   by the proxy and reached through GOPROXY): (a) a toolchain-sized (~70 MB,
//!   incompressible) module zip, plain go straight from one healthy proxy vs
//!   through the relay, time and the shim's peak memory; (b) `go mod
//!   download` then `go build` of the 20-module project, plain go vs the
//!   relay, same proxy, same database.
//!
//! `FAILOVER_BENCH_ONLY=A` (or `D`, or `V`) runs that section alone.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::scenario::assert_go_sum_from;
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, Running, TestProxy, World, show};

/// Runs per measured cell, and for the slow (deadline-bound) ones.
const RUNS: usize = 5;
const SLOW_RUNS: usize = 3;
/// A run expected to hang is killed after this long (and run once).
const HANG_KILL: Duration = Duration::from_secs(10);
/// Bound for any other run; a run that hits it is reported as hanging.
const LIMIT: Duration = Duration::from_secs(90);
/// Modules in the A/B project.
const DEPS: usize = 20;
/// Size of the incompressible file in the big module (C).
const BIG_BYTES: usize = 50_000_000;
/// Deadline of the short-deadline B runs (GOSHIM_RESPONSE_TIMEOUT_MS).
const SHORT_DEADLINE_MS: u64 = 3000;
/// The relay's default response deadline.
const DEFAULT_DEADLINE_MS: u64 = 15000;
/// How often the started process's VmHWM is read during timed runs.
const MEM_POLL: Duration = Duration::from_millis(20);
/// The same for the tiny download, which may be over in less than 20 ms.
const TINY_MEM_POLL: Duration = Duration::from_millis(1);
/// How often a run is checked for having exited (the timing resolution).
const EXIT_POLL: Duration = Duration::from_millis(2);

/// How go is started.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Way {
    /// The real go with the user's `GOPROXY=p,s`.
    PlainComma,
    /// The real go with `GOPROXY=p|s` (go's own failover on any error).
    PlainPipe,
    /// The shim, relay on (the default), user's `GOPROXY=p,s`.
    ShimRelay,
    /// The shim with `GOSHIM_RELAY=0`, user's `GOPROXY=p,s`.
    ShimList,
}

impl Way {
    fn is_shim(self) -> bool {
        matches!(self, Way::ShimRelay | Way::ShimList)
    }

    fn name(self) -> &'static str {
        match self {
            Way::PlainComma => "plain go p,s",
            Way::PlainPipe => "plain go p|s",
            Way::ShimRelay => "shim relay",
            Way::ShimList => "shim GOSHIM_RELAY=0",
        }
    }
}

/// What the primary proxy does (the secondary is always healthy).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Primary {
    /// No primary at all: the healthy proxy only.
    Absent,
    Status502,
    Hang,
}

#[derive(Clone, Debug)]
enum Outcome {
    Ok,
    Failed(Option<i32>),
    Killed(Duration),
}

/// One measured run.
#[derive(Clone, Debug)]
struct Run {
    ms: f64,
    outcome: Outcome,
    /// Highest VmHWM of the started process seen while it ran, in kB.
    hwm_kb: Option<u64>,
    /// How many times VmHWM was read while the process was alive.
    mem_samples: usize,
}

impl Run {
    fn ok(&self) -> bool {
        matches!(self.outcome, Outcome::Ok)
    }
}

fn main() {
    let worlds_in = common::world::place_worlds("FAILOVER_BENCH_TMPDIR");
    let started = Instant::now();
    let load_start = loadavg();
    let quick = std::env::var("FAILOVER_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let only = std::env::var("FAILOVER_BENCH_ONLY").unwrap_or_default();
    progress(&format!(
        "real go {} ({}); goshim {}; load {load_start}",
        common::go::real_go().display(),
        common::go::go_version(),
        common::go::goshim_bin().display()
    ));

    let tree = ModTree::new(DEPS);
    // Untimed warm-up: page cache for go, goshim and the GOCACHE.
    for way in [Way::PlainComma, Way::ShimRelay] {
        let run = ab_run(&tree, Primary::Absent, way, false, &[], LIMIT, "warm-up");
        assert!(run.ok(), "warm-up run ({}) failed", way.name());
    }

    let mut other = Vec::new();
    if only == "A" || only == "D" || only == "V" {
        let meter = CpuMeter::start();
        let mut md = String::new();
        if only == "A" {
            let a = bench_a(&tree);
            let healthy = median(&ok_ms(&a[0].runs[&Way::ShimRelay])).unwrap_or(f64::NAN);
            render_a(&mut md, &a, healthy);
        } else if only == "V" {
            let v = bench_v(&tree);
            let _ = writeln!(
                md,
                "{}, {}, {} cores, goshim release build of {}; worlds in {worlds_in}; \
                 load average at the start {load_start}, at the end {}.\n",
                today(),
                common::go::go_version(),
                cores(),
                revision(),
                loadavg()
            );
            render_v(&mut md, &v);
        } else {
            render_d(&mut md, &bench_d());
        }
        let _ = writeln!(
            md,
            "Other work on the machine during {only}: {:.0}% of all cores.",
            meter.foreign_share() * 100.0
        );
        print!("{md}");
        return;
    }
    let meter = CpuMeter::start();
    let a = bench_a(&tree);
    other.push(("A", meter.foreign_share()));
    let healthy_ms = median(&ok_ms(&a[0].runs[&Way::ShimRelay])).expect("A(a) shim relay runs");
    let meter = CpuMeter::start();
    let b = bench_b(&tree, quick);
    other.push(("B", meter.foreign_share()));
    let meter = CpuMeter::start();
    let c = bench_c();
    other.push(("C", meter.foreign_share()));
    let meter = CpuMeter::start();
    let d = bench_d();
    other.push(("D", meter.foreign_share()));
    let meter = CpuMeter::start();
    let v = bench_v(&tree);
    other.push(("V", meter.foreign_share()));

    let mut md = String::new();
    let _ = writeln!(
        md,
        "# goshim failover benchmark\n\n{}, {}, {} cores, goshim release build of {}; \
         worlds (module caches, go's temp files) in {worlds_in}.  \n\
         Load average (1/5/15 min): {load_start} at the start, {} at the end; \
         the whole run took {:.0} s.  \n\
         CPU used by other processes (not this benchmark, its proxies, go or goshim), \
         as a share of all cores, from /proc/stat minus getrusage: {}.\n",
        today(),
        common::go::go_version(),
        cores(),
        revision(),
        loadavg(),
        started.elapsed().as_secs_f64(),
        other
            .iter()
            .map(|(section, share)| format!("{section} {:.0}%", share * 100.0))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if other.iter().any(|(_, share)| *share >= 0.1) {
        let _ = writeln!(
            md,
            "Note: other work used 10% or more of the CPU during a section: \
             its timings are slower and noisier than on an idle machine.\n"
        );
    }
    render_a(&mut md, &a, healthy_ms);
    render_b(&mut md, &b, &a);
    render_c(&mut md, &c, &a);
    render_d(&mut md, &d);
    render_v(&mut md, &v);

    print!("{md}");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target dir")
        .join("bench");
    fs::create_dir_all(&out).expect("create target/bench");
    let file = out.join("failover.md");
    fs::write(&file, &md).expect("write failover.md");
    progress(&format!("written to {}", file.display()));
}

// ---------------------------------------------------------------------------
// A. 20 modules, three scenarios, four ways.

struct Scenario {
    title: &'static str,
    primary: Primary,
    /// Run `goshim probe` before each shim run (a fresh snapshot).
    probe: bool,
    runs: std::collections::BTreeMap<Way, Vec<Run>>,
}

const WAYS: [Way; 4] = [
    Way::PlainComma,
    Way::PlainPipe,
    Way::ShimRelay,
    Way::ShimList,
];

fn bench_a(tree: &ModTree) -> [Scenario; 3] {
    let mut scenarios = [
        Scenario {
            title: "(a) healthy proxy only",
            primary: Primary::Absent,
            probe: false,
            runs: Default::default(),
        },
        Scenario {
            title: "(b) primary answers 502, healthy secondary",
            primary: Primary::Status502,
            probe: false,
            runs: Default::default(),
        },
        Scenario {
            title: "(c) primary accepts and hangs, healthy secondary, fresh snapshot",
            primary: Primary::Hang,
            probe: true,
            runs: Default::default(),
        },
    ];
    // Every (scenario, way) pair; `p|s` is the same as `p,s` with one proxy.
    let cells: Vec<(usize, Way)> = (0..scenarios.len())
        .flat_map(|i| WAYS.into_iter().map(move |w| (i, w)))
        .filter(|&(i, w)| !(scenarios[i].primary == Primary::Absent && w == Way::PlainPipe))
        .collect();
    // Plain go never gets past a hung proxy: one run, killed, after the rounds.
    let hangs = |i: usize, w: Way| scenarios[i].primary == Primary::Hang && !w.is_shim();
    let (hanging, timed): (Vec<_>, Vec<_>) = cells.into_iter().partition(|&(i, w)| hangs(i, w));
    // Rounds over every scenario and way, so that drift in the machine's speed
    // (this VM's host is shared) hits them all alike.
    let mut measured: Vec<(usize, Way, Run)> = Vec::new();
    for round in 0..RUNS {
        for &(i, way) in &timed {
            let sc = &scenarios[i];
            let what = format!(
                "A{} {} {}/{RUNS}",
                "abc".as_bytes()[i] as char,
                way.name(),
                round + 1
            );
            let run = ab_run(tree, sc.primary, way, sc.probe, &[], LIMIT, &what);
            // Plain go with `p,s` stops at the 502; every other run must download.
            let fails = sc.primary == Primary::Status502 && way == Way::PlainComma;
            assert!(fails || run.ok(), "{what}: expected success: {run:?}");
            measured.push((i, way, run));
        }
    }
    for &(i, way) in &hanging {
        let sc = &scenarios[i];
        let what = format!(
            "A{} {} (expected to hang)",
            "abc".as_bytes()[i] as char,
            way.name()
        );
        let run = ab_run(tree, sc.primary, way, sc.probe, &[], HANG_KILL, &what);
        measured.push((i, way, run));
    }
    for (i, way, run) in measured {
        scenarios[i].runs.entry(way).or_default().push(run);
    }
    scenarios
}

/// One `go mod download` of `tree` in a fresh world with fresh proxies: a
/// healthy secondary and, unless absent, a faulty primary. Shim runs first
/// warm goshim's go env cache (`goshim status`) and, with `probe`, take a
/// fresh snapshot (`goshim probe`); neither is timed.
fn ab_run(
    tree: &ModTree,
    primary: Primary,
    way: Way,
    probe: bool,
    env: &[(&str, String)],
    limit: Duration,
    what: &str,
) -> Run {
    let secondary = TestProxy::start(tree);
    let primary = match primary {
        Primary::Absent => None,
        Primary::Status502 => Some(TestProxy::faulty(tree, Fault::Status(502))),
        Primary::Hang => Some(TestProxy::faulty(tree, Fault::Hang)),
    };
    let sep = if way == Way::PlainPipe { "|" } else { "," };
    let goproxy = match &primary {
        Some(p) => format!("{}{sep}{}", p.url(), secondary.url()),
        None => secondary.url(),
    };
    let mut world = bench_world(&goproxy, way);
    for (k, v) in env {
        world.set_env(k, v);
    }
    world.write_tree_main_module(tree);
    prepare_shim(&world, way, probe);
    let probe_requests = primary.as_ref().map_or(0, TestProxy::request_count);
    let run = measure(&world, way, limit, MEM_POLL, what);
    if run.ok() {
        assert_eq!(
            zips_in_modcache(&world),
            tree.modules.len(),
            "{what}: not every zip is in the module cache"
        );
    }
    if let Some(p) = &primary {
        progress(&format!(
            "  primary got {} request(s) from go's run ({} before it)",
            p.request_count() - probe_requests,
            probe_requests
        ));
    }
    run
}

/// A fresh world (own HOME, GOMODCACHE, goshim cache; the shared GOCACHE),
/// GOSUMDB=off, GOFLAGS=-mod=mod, GOTOOLCHAIN=local (the world's defaults),
/// no background probes.
fn bench_world(goproxy: &str, way: Way) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSUMDB", "off");
    world.set_env("GOFLAGS", "-mod=mod");
    world.set_env("GOTOOLCHAIN", "local");
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOSHIM_PROBE_MODULE", "example.com/dep0");
    world.set_env("GOSHIM_PROBE_TIMEOUT_MS", "500");
    if way == Way::ShimList {
        world.set_env("GOSHIM_RELAY", "0");
    }
    world
}

/// Untimed set-up of a shim run: an optional fresh snapshot, and goshim's go
/// env cache filled (as on any machine where go ran before), so that the
/// timed run measures what a user's second call costs.
fn prepare_shim(world: &World, way: Way, probe: bool) {
    if !way.is_shim() {
        return;
    }
    if probe {
        let out = world.run(&mut world.goshim_cmd(["probe"]));
        assert!(out.status.success(), "goshim probe\n{}", show(&out));
    }
    let out = world.run(&mut world.goshim_cmd(["status"]));
    assert!(out.status.success(), "goshim status\n{}", show(&out));
    let snapshot = world.path("goshim-cache/health.json").exists();
    assert_eq!(snapshot, probe, "a snapshot exists iff goshim probe ran");
}

/// Times `go mod download` (through the shim or straight), polling the
/// started process's VmHWM. Exit is noticed within [`EXIT_POLL`].
fn measure(world: &World, way: Way, limit: Duration, mem_poll: Duration, what: &str) -> Run {
    measure_cmd(world, way, &["mod", "download"], limit, mem_poll, what)
}

/// Times `go <args>` like [`measure`].
fn measure_cmd(
    world: &World,
    way: Way,
    args: &[&str],
    limit: Duration,
    mem_poll: Duration,
    what: &str,
) -> Run {
    let mut cmd = if way.is_shim() {
        world.shim_cmd(args)
    } else {
        world.direct_cmd(args)
    };
    let run = time_process(&mut cmd, limit, mem_poll);
    let verdict = match &run.outcome {
        Outcome::Ok => "ok".to_string(),
        Outcome::Failed(code) => format!("failed (exit {code:?})"),
        Outcome::Killed(after) => format!("killed after {} s", after.as_secs()),
    };
    let mem = run
        .hwm_kb
        .map(|kb| {
            format!(
                ", VmHWM {:.1} MiB ({} samples)",
                kb as f64 / 1024.0,
                run.mem_samples
            )
        })
        .unwrap_or_default();
    progress(&format!("{what}: {:.0} ms, {verdict}{mem}", run.ms));
    run
}

fn time_process(cmd: &mut Command, limit: Duration, mem_poll: Duration) -> Run {
    let start = Instant::now();
    let running = Running::spawn(cmd);
    let pid = running.pid();
    let mut hwm: Option<u64> = None;
    let mut mem_samples = 0;
    let mut next_mem = start;
    let elapsed = loop {
        let now = Instant::now();
        if now >= next_mem {
            if let Some(kb) = vm_hwm_kb(pid) {
                hwm = Some(hwm.map_or(kb, |h| h.max(kb)));
                mem_samples += 1;
            }
            next_mem = now + mem_poll;
        }
        if running.has_exited() {
            break start.elapsed();
        }
        if start.elapsed() > limit {
            drop(running); // kills the process group
            return Run {
                ms: limit.as_secs_f64() * 1000.0,
                outcome: Outcome::Killed(limit),
                hwm_kb: hwm,
                mem_samples,
            };
        }
        thread::sleep(EXIT_POLL.min(mem_poll));
    };
    let out = running.wait(Duration::from_secs(30));
    let outcome = if out.status.success() {
        Outcome::Ok
    } else {
        Outcome::Failed(out.status.code())
    };
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err.lines().last().unwrap_or("");
        progress(&format!("  stderr ends: {last}"));
    }
    Run {
        ms: elapsed.as_secs_f64() * 1000.0,
        outcome,
        hwm_kb: hwm,
        mem_samples,
    }
}

/// `VmHWM` of a live process, in kB (None once it is a zombie or gone).
fn vm_hwm_kb(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Module zips in the world's module cache download folder.
fn zips_in_modcache(world: &World) -> usize {
    common::scenario::files_under(&world.path("gopath/pkg/mod/cache/download"))
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "zip"))
        .count()
}

fn render_a(md: &mut String, scenarios: &[Scenario], base: f64) {
    let _ = writeln!(
        md,
        "## A. `go mod download`, {DEPS} modules\n\n\
         Fresh GOMODCACHE (a fresh world and fresh proxies) per run, shared warm GOCACHE, \
         GOSUMDB=off, GOFLAGS=-mod=mod, GOTOOLCHAIN=local, GOSHIM_TTL=0. \
         Median of {RUNS} runs, ms; in brackets the ratio to (a)'s shim-with-relay median \
         ({base:.0} ms). The user's GOPROXY is `p,s` (primary, secondary) for plain go and \
         for the shim; `p|s` is go's own failover. In (c) each shim run follows a \
         `goshim probe` (GOSHIM_PROBE_MODULE=example.com/dep0, GOSHIM_PROBE_TIMEOUT_MS=500, untimed); \
         in (a) and (b) there is no snapshot. The {RUNS} rounds each run every scenario and way \
         in turn, so that drift in the machine's speed hits them alike; a run that hangs is run \
         once, after the rounds.\n"
    );
    let _ = writeln!(
        md,
        "| scenario | plain go `GOPROXY=p,s` | plain go `GOPROXY=p\\|s` | shim, relay (default) | shim, `GOSHIM_RELAY=0` |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: |");
    for sc in scenarios {
        let cells: Vec<String> = WAYS
            .iter()
            .map(|w| match sc.runs.get(w) {
                Some(runs) => cell(runs, Some(base)),
                None => "— (one proxy)".to_string(),
            })
            .collect();
        let _ = writeln!(md, "| {} | {} |", sc.title, cells.join(" | "));
    }
    let _ = writeln!(md, "\nAll runs (ms):\n");
    for sc in scenarios {
        for (way, runs) in &sc.runs {
            let _ = writeln!(md, "- {} — {}: {}", sc.title, way.name(), all_ms(runs));
        }
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------------------
// B. The hung primary with no snapshot, through the relay.

struct BRow {
    deadline_ms: Option<u64>,
    runs: Vec<Run>,
}

struct BResult {
    rows: Vec<BRow>,
    /// Healthy-only shim runs interleaved with the hung ones: the reference
    /// taken under the same machine load.
    healthy: Vec<Run>,
}

fn bench_b(tree: &ModTree, quick: bool) -> BResult {
    let mut rows = Vec::new();
    let mut healthy = Vec::new();
    let mut deadlines = vec![(Some(SHORT_DEADLINE_MS), SLOW_RUNS)];
    if !quick {
        deadlines.push((None, 1));
    }
    for (deadline, n) in deadlines {
        let env: Vec<(&str, String)> = deadline
            .map(|ms| ("GOSHIM_RESPONSE_TIMEOUT_MS", ms.to_string()))
            .into_iter()
            .collect();
        let mut runs = Vec::new();
        for i in 0..n {
            let what = format!("B healthy reference {}", healthy.len() + 1);
            let run = ab_run(
                tree,
                Primary::Absent,
                Way::ShimRelay,
                false,
                &[],
                LIMIT,
                &what,
            );
            assert!(run.ok(), "{what}: failed");
            healthy.push(run);
            let what = format!(
                "B deadline {} ms {}/{n}",
                deadline.unwrap_or(DEFAULT_DEADLINE_MS),
                i + 1
            );
            let run = ab_run(
                tree,
                Primary::Hang,
                Way::ShimRelay,
                false,
                &env,
                LIMIT,
                &what,
            );
            runs.push(run);
        }
        rows.push(BRow {
            deadline_ms: deadline,
            runs,
        });
    }
    BResult { rows, healthy }
}

fn render_b(md: &mut String, b: &BResult, a: &[Scenario]) {
    let a_healthy = median(&ok_ms(&a[0].runs[&Way::ShimRelay])).unwrap_or(f64::NAN);
    let healthy = median(&ok_ms(&b.healthy)).unwrap_or(f64::NAN);
    let _ = writeln!(
        md,
        "## B. Hung primary, no snapshot, through the relay\n\n\
         `GOPROXY=p,s`, p accepts and never answers, no health snapshot (so the relay asks p first), \
         default connect and stall deadlines. Healthy-only reference: the shim with its relay and \
         only the healthy proxy, run just before each hung run (median of {} runs: {healthy:.0} ms; \
         {}; A(a) gave {a_healthy:.0} ms). Bound: 1.5 × healthy + one response deadline. \
         \"Beyond deadline\" is median − healthy − deadline: what the failover costs besides the wait.\n",
        b.healthy.len(),
        all_ms(&b.healthy)
    );
    let _ = writeln!(
        md,
        "| run | runs | median | vs healthy | beyond deadline | bound | within bound | all runs (ms) |"
    );
    let _ = writeln!(
        md,
        "| --- | ---: | ---: | ---: | ---: | ---: | :---: | --- |"
    );
    for row in &b.rows {
        let deadline = row.deadline_ms.unwrap_or(DEFAULT_DEADLINE_MS) as f64;
        let label = match row.deadline_ms {
            Some(ms) => format!("shim, relay, `GOSHIM_RESPONSE_TIMEOUT_MS={ms}`"),
            None => format!("shim, relay, default response deadline ({deadline:.0} ms)"),
        };
        let bound = 1.5 * healthy + deadline;
        let ok = ok_ms(&row.runs);
        let (med, vs, beyond, within) = match median(&ok) {
            Some(m) if ok.len() == row.runs.len() => (
                format!("{m:.0} ms"),
                format!("{:+.0} ms ({:.1}×)", m - healthy, m / healthy),
                format!("{:+.0} ms", m - healthy - deadline),
                if m <= bound { "yes" } else { "no" },
            ),
            _ => (cell(&row.runs, None), "—".into(), "—".into(), "no"),
        };
        let _ = writeln!(
            md,
            "| {label} | {} | {med} | {vs} | {beyond} | {bound:.0} ms | {within} | {} |",
            row.runs.len(),
            all_ms(&row.runs)
        );
    }
    // Plain go against the same hung primary is the A(c) plain go run: go has
    // no snapshot to use and no deadline of its own.
    if let Some(runs) = a[2].runs.get(&Way::PlainComma) {
        let _ = writeln!(
            md,
            "| plain go `GOPROXY=p,s` (the A(c) run; go uses no snapshot) | {} | {} | — | — | — | no | {} |",
            runs.len(),
            cell(runs, None),
            all_ms(runs)
        );
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------------------
// C. Throughput and memory.

struct CResult {
    zip_bytes: usize,
    direct: Vec<Run>,
    relay: Vec<Run>,
    tiny: Vec<Run>,
}

fn bench_c() -> CResult {
    let t = Instant::now();
    let (tree, zip) = common::modtree::big_module(BIG_BYTES);
    progress(&format!(
        "C: built a {:.1} MB module zip in {:.1} s",
        zip.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    ));
    let proxy = TestProxy::start(&tree);
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", zip.clone());
    let mut direct = Vec::new();
    let mut relay = Vec::new();
    for round in 0..SLOW_RUNS {
        for way in [Way::PlainComma, Way::ShimRelay] {
            let world = bench_world(&proxy.url(), way);
            world.write_tree_main_module(&tree);
            prepare_shim(&world, way, false);
            let what = format!("C 50 MB {} {}/{SLOW_RUNS}", way.name(), round + 1);
            let run = measure_big(&world, way, &zip, &what);
            if way == Way::ShimRelay {
                relay.push(run);
            } else {
                direct.push(run);
            }
        }
    }
    drop(proxy);

    let small = ModTree::new(1);
    let proxy = TestProxy::start(&small);
    let mut tiny = Vec::new();
    for i in 0..SLOW_RUNS {
        let world = bench_world(&proxy.url(), Way::ShimRelay);
        world.write_tree_main_module(&small);
        prepare_shim(&world, Way::ShimRelay, false);
        let what = format!("C tiny (1 module) shim relay {}/{SLOW_RUNS}", i + 1);
        let run = measure(&world, Way::ShimRelay, LIMIT, TINY_MEM_POLL, &what);
        assert!(run.ok(), "{what}: failed");
        tiny.push(run);
    }
    CResult {
        zip_bytes: zip.len(),
        direct,
        relay,
        tiny,
    }
}

/// A table row of median times, plain go vs the relay, and when `mb` (the
/// megabytes moved) is given a second row of throughputs.
fn relay_vs_direct_row(md: &mut String, label: &str, d: &[Run], r: &[Run], mb: Option<f64>) {
    let dm = median(&ok_ms(d)).unwrap_or(f64::NAN);
    let rm = median(&ok_ms(r)).unwrap_or(f64::NAN);
    let _ = writeln!(
        md,
        "| {label} | {dm:.0} ms | {rm:.0} ms | {:.2}× |",
        rm / dm
    );
    if let Some(mb) = mb {
        let _ = writeln!(
            md,
            "| {label}: throughput | {:.1} MB/s | {:.1} MB/s | {:.2}× |",
            mb / (dm / 1000.0),
            mb / (rm / 1000.0),
            dm / rm
        );
    }
}

fn render_c(md: &mut String, c: &CResult, a: &[Scenario]) {
    let mb = c.zip_bytes as f64 / 1e6;
    let _ = writeln!(
        md,
        "## C. Throughput: one {mb:.1} MB module zip\n\n\
         `go mod download` of a module whose zip holds {:.0} MB of xorshift bytes (stored, \
         incompressible), from one healthy TestProxy: plain go straight from it vs go through \
         the shim's relay. Median of {SLOW_RUNS} runs, fresh module cache each; the time includes \
         go's start, zip verification and extraction. MB = 10^6 bytes.\n",
        BIG_BYTES as f64 / 1e6
    );
    let _ = writeln!(
        md,
        "| | plain go, direct | go via shim relay | relay / direct |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: |");
    relay_vs_direct_row(md, "median", &c.direct, &c.relay, Some(mb));
    let _ = writeln!(
        md,
        "| all runs (ms) | {} | {} | |\n",
        all_ms(&c.direct),
        all_ms(&c.relay)
    );

    let _ = writeln!(
        md,
        "### Shim peak memory\n\n\
         VmHWM (peak resident set) of the shim process, which holds the relay; go is its child, \
         a separate process, and not counted. Read from /proc/<pid>/status every {} ms while the \
         process lives ({} ms for the tiny download, which can be over in under 20 ms); \
         samples = reads per run (median). MiB = 2^20 bytes.\n",
        MEM_POLL.as_millis(),
        TINY_MEM_POLL.as_millis()
    );
    let _ = writeln!(
        md,
        "| process | runs | samples | VmHWM max | VmHWM median |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: | ---: |");
    let rows: [(&str, &[Run]); 4] = [
        ("shim relaying the 50 MB zip", &c.relay),
        ("shim, tiny healthy download (1 module)", &c.tiny),
        (
            "shim, A(a): 20 modules, healthy",
            &a[0].runs[&Way::ShimRelay],
        ),
        ("for reference: plain go itself, 50 MB direct", &c.direct),
    ];
    for (label, runs) in rows {
        let kbs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.hwm_kb)
            .map(|k| k as f64)
            .collect();
        let samples: Vec<f64> = runs.iter().map(|r| r.mem_samples as f64).collect();
        let max = kbs.iter().copied().fold(f64::NAN, f64::max);
        let _ = writeln!(
            md,
            "| {label} | {} | {:.0} | {:.1} MiB | {:.1} MiB |",
            runs.len(),
            median(&samples).unwrap_or(f64::NAN),
            max / 1024.0,
            median(&kbs).unwrap_or(f64::NAN) / 1024.0
        );
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------------------
// D. Slow and cold.

/// Size of the big module's data file in D.
const D_BIG_BYTES: usize = 8_000_000;

/// A primary fault of D: (label, fault, only for paths ending with).
type DFault = (&'static str, Fault, Option<&'static str>);

fn d_faults() -> Vec<DFault> {
    vec![
        ("accepts, never answers", Fault::Hang, None),
        (
            "answers 3 s late",
            Fault::Delay(Duration::from_secs(3)),
            None,
        ),
        (
            "zips at 20 KiB/s",
            Fault::SlowDrip {
                bytes_per_chunk: 2048,
                delay: Duration::from_millis(100),
            },
            Some(".zip"),
        ),
        (
            "half a zip, then nothing",
            Fault::StallMidBody,
            Some(".zip"),
        ),
        ("reset mid-zip", Fault::ResetMidBody, Some(".zip")),
        ("truncated zip", Fault::TruncatedZip, None),
        ("503", Fault::Status(503), None),
        (
            "429",
            Fault::Status429 {
                retry_after_secs: 30,
            },
            None,
        ),
        (
            "every other request 503",
            Fault::EveryNth { n: 2, status: 503 },
            None,
        ),
    ]
}

struct DResult {
    healthy_plain: Vec<Run>,
    healthy_shim: Vec<Run>,
    faults: Vec<(&'static str, Vec<Run>)>,
    outages: Vec<(&'static str, Run)>,
}

/// The 20-module tree plus the big module, and the big module's zip.
fn d_tree() -> (ModTree, Vec<u8>) {
    let mut tree = ModTree::new(DEPS);
    let (big, zip) = common::modtree::big_module(D_BIG_BYTES);
    tree.modules.extend(big.modules);
    (tree, zip)
}

fn d_proxy(tree: &ModTree, zip: &[u8], fault: Option<&DFault>) -> TestProxy {
    let proxy = TestProxy::start(tree);
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", zip.to_vec());
    if let Some((_, f, suffix)) = fault {
        proxy.add_fault(*suffix, f.clone());
    }
    proxy
}

/// One cold `go build` with `GOPROXY=<primary>,<secondary>` (or the healthy
/// proxy alone), fresh world, no snapshot, goshim's default deadlines.
fn d_run(tree: &ModTree, zip: &[u8], fault: Option<&DFault>, way: Way, what: &str) -> Run {
    let secondary = d_proxy(tree, zip, None);
    let primary = fault.map(|f| d_proxy(tree, zip, Some(f)));
    let goproxy = match &primary {
        Some(p) => format!("{},{}", p.url(), secondary.url()),
        None => secondary.url(),
    };
    let world = bench_world(&goproxy, way);
    world.write_tree_main_module(tree);
    prepare_shim(&world, way, false);
    let run = measure_cmd(
        &world,
        way,
        &["build", "-o", "out/app", "."],
        LIMIT,
        MEM_POLL,
        what,
    );
    assert!(run.ok(), "{what}: the build failed");
    run
}

fn bench_d() -> DResult {
    let (tree, zip) = d_tree();
    let faults = d_faults();
    let mut result = DResult {
        healthy_plain: Vec::new(),
        healthy_shim: Vec::new(),
        faults: faults.iter().map(|f| (f.0, Vec::new())).collect(),
        outages: Vec::new(),
    };
    for round in 0..SLOW_RUNS {
        let n = format!("{}/{SLOW_RUNS}", round + 1);
        let what = format!("D healthy only, plain go {n}");
        result
            .healthy_plain
            .push(d_run(&tree, &zip, None, Way::PlainComma, &what));
        let what = format!("D healthy only, shim {n}");
        result
            .healthy_shim
            .push(d_run(&tree, &zip, None, Way::ShimRelay, &what));
        for (k, f) in faults.iter().enumerate() {
            let what = format!("D primary {}, shim {n}", f.0);
            result.faults[k]
                .1
                .push(d_run(&tree, &zip, Some(f), Way::ShimRelay, &what));
        }
    }
    let small = ModTree::new(DEPS);
    let outages: [(&'static str, Fault, Option<Fault>); 3] = [
        ("hung + 503", Fault::Hang, Some(Fault::Status(503))),
        ("hung + hung", Fault::Hang, Some(Fault::Hang)),
        ("stalled + refused", Fault::StallMidBody, None),
    ];
    for (label, first, second) in outages {
        let a = TestProxy::faulty(&small, first);
        let b = second.map(|f| TestProxy::faulty(&small, f));
        let b_url = b.as_ref().map_or_else(common::refused_url, TestProxy::url);
        let world = bench_world(&format!("{},{b_url}", a.url()), Way::ShimRelay);
        world.write_tree_main_module(&small);
        prepare_shim(&world, Way::ShimRelay, false);
        let what = format!("D outage {label}");
        let run = measure(&world, Way::ShimRelay, LIMIT, MEM_POLL, &what);
        assert!(
            matches!(run.outcome, Outcome::Failed(_)),
            "{what}: expected a failure, got {run:?}"
        );
        result.outages.push((label, run));
    }
    result
}

fn render_d(md: &mut String, d: &DResult) {
    let plain = median(&ok_ms(&d.healthy_plain)).unwrap_or(f64::NAN);
    let healthy = median(&ok_ms(&d.healthy_shim)).unwrap_or(f64::NAN);
    let _ = writeln!(
        md,
        "## D. Slow and cold: `go build`, no snapshot, default deadlines\n\n\
         {DEPS} modules plus one {:.0} MB module, fresh module cache and no health snapshot \
         each run, `GOPROXY=p,s` with s healthy, goshim's defaults (hedge 1 s cold, response and \
         stall deadlines 15 s). Healthy only: plain go {plain:.0} ms ({}), through the shim \
         {healthy:.0} ms ({}). Median of {SLOW_RUNS} runs per row; \"over healthy\" is the \
         median minus the shim's healthy-only median. Targets: hang and late answers ≤ +1.5 s, \
         drip and stall ≤ +3 s.\n",
        D_BIG_BYTES as f64 / 1e6,
        all_ms(&d.healthy_plain),
        all_ms(&d.healthy_shim),
    );
    let _ = writeln!(
        md,
        "| primary does | median | over healthy | all runs (ms) |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | --- |");
    for (label, runs) in &d.faults {
        let m = median(&ok_ms(runs)).unwrap_or(f64::NAN);
        let _ = writeln!(
            md,
            "| {label} | {} | {:+.0} ms | {} |",
            cell(runs, None),
            m - healthy,
            all_ms(runs)
        );
    }
    let _ = writeln!(
        md,
        "\nTotal outages (`go mod download` of {DEPS} modules, cold, defaults; the command \
         must fail, target ≤ 20 s):\n\n| upstreams | ended after | exit |\n| --- | ---: | --- |"
    );
    for (label, run) in &d.outages {
        let exit = match run.outcome {
            Outcome::Failed(code) => format!("{code:?}"),
            Outcome::Ok => "0 (unexpected)".into(),
            Outcome::Killed(_) => "killed (hangs)".into(),
        };
        let _ = writeln!(md, "| {label} | {:.1} s | {exit} |", run.ms / 1000.0);
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------------------
// V. Checksum verification on.

/// Size of the incompressible file in V's toolchain-sized module.
const V_BIG_BYTES: usize = 70_000_000;
/// Runs per cell in V: its runs are short, and more of them steady the medians.
const V_RUNS: usize = 9;

struct VResult {
    zip_bytes: usize,
    /// V(a): `go mod download` of the big module, plain go and via the relay.
    big_direct: Vec<Run>,
    big_relay: Vec<Run>,
    /// V(b): `go mod download`, then `go build`, of the 20-module project.
    dl_direct: Vec<Run>,
    dl_relay: Vec<Run>,
    build_direct: Vec<Run>,
    build_relay: Vec<Run>,
}

/// [`bench_world`] with verification on against `db`: GOSUMDB is the
/// database's key alone, so go reaches it through GOPROXY (the proxy, or
/// the relay in front of it).
fn verified_world(goproxy: &str, way: Way, db: &SumDb) -> World {
    let mut world = bench_world(goproxy, way);
    world.verify_with(db);
    world
}

/// One timed `go mod download` of the big module, checked: go succeeded and
/// cached exactly the served `zip`.
fn measure_big(world: &World, way: Way, zip: &[u8], what: &str) -> Run {
    let run = measure(world, way, LIMIT, MEM_POLL, what);
    assert!(run.ok(), "{what}: the big download failed");
    let cached = world.path("gopath/pkg/mod/cache/download/example.com/big/@v/v1.0.0.zip");
    assert!(
        fs::read(&cached).is_ok_and(|b| b == zip),
        "{what}: the cached zip differs from the served one"
    );
    run
}

fn bench_v(tree: &ModTree) -> VResult {
    let t = Instant::now();
    let (big, zip, db) = common::sumdb::big_module_with_db(V_BIG_BYTES);
    progress(&format!(
        "V: built a {:.1} MB module zip and its checksum database in {:.1} s",
        zip.len() as f64 / 1e6,
        t.elapsed().as_secs_f64()
    ));
    let proxy = TestProxy::builder().tree(&big).sumdb(&db).start();
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", zip.clone());
    let (mut big_direct, mut big_relay) = (Vec::new(), Vec::new());
    for round in 0..V_RUNS {
        for way in [Way::PlainComma, Way::ShimRelay] {
            let world = verified_world(&proxy.url(), way, &db);
            world.write_tree_main_module(&big);
            prepare_shim(&world, way, false);
            let what = format!("V(a) 70 MB verified {} {}/{V_RUNS}", way.name(), round + 1);
            let run = measure_big(&world, way, &zip, &what);
            assert_go_sum_from(&world, &big, &db, false, &what);
            if way == Way::ShimRelay {
                big_relay.push(run);
            } else {
                big_direct.push(run);
            }
        }
    }
    let lookups = proxy
        .request_paths()
        .iter()
        .filter(|p| p.contains("/sumdb/") && p.contains("/lookup/"))
        .count();
    assert!(
        lookups >= 2 * V_RUNS,
        "V(a): {lookups} database lookups in {} runs",
        2 * V_RUNS
    );
    drop(proxy);

    let db = SumDb::from_tree(SUMDB_NAME, tree);
    let proxy = TestProxy::builder().tree(tree).sumdb(&db).start();
    let (mut dl_direct, mut dl_relay, mut build_direct, mut build_relay) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..V_RUNS {
        for way in [Way::PlainComma, Way::ShimRelay] {
            let world = verified_world(&proxy.url(), way, &db);
            world.write_tree_main_module(tree);
            prepare_shim(&world, way, false);
            let what = format!(
                "V(b) {DEPS} modules verified, download, {} {}/{V_RUNS}",
                way.name(),
                round + 1
            );
            let dl = measure(&world, way, LIMIT, MEM_POLL, &what);
            assert!(dl.ok(), "{what}: failed");
            assert_go_sum_from(&world, tree, &db, false, &what);
            // The build in a second fresh world: it downloads and verifies too.
            let world = verified_world(&proxy.url(), way, &db);
            world.write_tree_main_module(tree);
            prepare_shim(&world, way, false);
            let what = format!(
                "V(b) {DEPS} modules verified, build, {} {}/{V_RUNS}",
                way.name(),
                round + 1
            );
            let build = measure_cmd(
                &world,
                way,
                &["build", "-o", "out/prog", "."],
                LIMIT,
                MEM_POLL,
                &what,
            );
            assert!(build.ok(), "{what}: failed");
            assert_go_sum_from(&world, tree, &db, true, &what);
            if way == Way::ShimRelay {
                dl_relay.push(dl);
                build_relay.push(build);
            } else {
                dl_direct.push(dl);
                build_direct.push(build);
            }
        }
    }
    VResult {
        zip_bytes: zip.len(),
        big_direct,
        big_relay,
        dl_direct,
        dl_relay,
        build_direct,
        build_relay,
    }
}

fn render_v(md: &mut String, v: &VResult) {
    let mb = v.zip_bytes as f64 / 1e6;
    let _ = writeln!(
        md,
        "## V. Checksum verification on\n\n\
         GOSUMDB = the key of the tests' own checksum database (tests/common/sumdb.rs), which \
         the one healthy TestProxy serves under `/sumdb/`: go reaches it through GOPROXY, i.e. \
         the proxy itself for plain go and the relay for the shim. Fresh world (module cache, \
         checksum cache) per run, shared warm GOCACHE; plain go and the shim alternate over \
         {V_RUNS} rounds. Every run's go.sum is checked against the database. MB = 10^6 bytes, \
         MiB = 2^20.\n"
    );
    let _ = writeln!(
        md,
        "| median of {V_RUNS} | plain go, direct | go via shim relay | relay / direct |"
    );
    let _ = writeln!(md, "| --- | ---: | ---: | ---: |");
    relay_vs_direct_row(
        md,
        &format!("(a) `go mod download`, one {mb:.1} MB zip"),
        &v.big_direct,
        &v.big_relay,
        Some(mb),
    );
    relay_vs_direct_row(
        md,
        &format!("(b) `go mod download`, {DEPS} modules"),
        &v.dl_direct,
        &v.dl_relay,
        None,
    );
    relay_vs_direct_row(
        md,
        &format!("(b) `go build`, {DEPS} modules, fresh module cache"),
        &v.build_direct,
        &v.build_relay,
        None,
    );
    let hwm = |runs: &[Run]| -> (f64, f64) {
        let kbs: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.hwm_kb)
            .map(|k| k as f64)
            .collect();
        (
            median(&kbs).unwrap_or(f64::NAN) / 1024.0,
            kbs.iter().copied().fold(f64::NAN, f64::max) / 1024.0,
        )
    };
    let (relay_med, relay_max) = hwm(&v.big_relay);
    let (go_med, go_max) = hwm(&v.big_direct);
    let _ = writeln!(
        md,
        "\nPeak memory (VmHWM, read every {} ms) of the shim process relaying the {mb:.1} MB \
         zip: median {relay_med:.1} MiB, max {relay_max:.1} MiB (go is its child and not \
         counted; plain go itself: median {go_med:.1} MiB, max {go_max:.1} MiB).\n",
        MEM_POLL.as_millis()
    );
    let _ = writeln!(md, "All runs (ms):\n");
    for (label, runs) in [
        ("(a) plain go", &v.big_direct),
        ("(a) relay", &v.big_relay),
        ("(b) download, plain go", &v.dl_direct),
        ("(b) download, relay", &v.dl_relay),
        ("(b) build, plain go", &v.build_direct),
        ("(b) build, relay", &v.build_relay),
    ] {
        let _ = writeln!(md, "- {label}: {}", all_ms(runs));
    }
    let _ = writeln!(md);
}

// ---------------------------------------------------------------------------
// Small helpers.

fn ok_ms(runs: &[Run]) -> Vec<f64> {
    runs.iter().filter(|r| r.ok()).map(|r| r.ms).collect()
}

fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

/// A table cell: the median and ratio when every run succeeded, else what happened.
fn cell(runs: &[Run], base: Option<f64>) -> String {
    let ok = ok_ms(runs);
    if ok.len() == runs.len() {
        let m = median(&ok).expect("runs");
        return match base {
            Some(b) => format!("{m:.0} ({:.2}×)", m / b),
            None => format!("{m:.0} ms"),
        };
    }
    if let Some(Run {
        outcome: Outcome::Killed(after),
        ..
    }) = runs
        .iter()
        .find(|r| matches!(r.outcome, Outcome::Killed(_)))
    {
        return format!("hangs (killed after {} s)", after.as_secs());
    }
    let failed: Vec<f64> = runs
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
        .map(|r| r.ms)
        .collect();
    let m = median(&failed).unwrap_or(f64::NAN);
    if ok.is_empty() {
        format!("fails (after {m:.0} ms)")
    } else {
        format!("{} of {} runs fail", failed.len(), runs.len())
    }
}

fn all_ms(runs: &[Run]) -> String {
    runs.iter()
        .map(|r| match r.outcome {
            Outcome::Ok => format!("{:.0}", r.ms),
            Outcome::Failed(_) => format!("{:.0} (failed)", r.ms),
            Outcome::Killed(_) => format!("{:.0} (killed)", r.ms),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn progress(line: &str) {
    eprintln!("bench failover: {line}");
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// CPU time used on the whole machine vs by this process and its reaped
/// descendants (the proxies are threads here; go and goshim are reaped).
struct CpuMeter {
    at: Instant,
    machine: f64,
    own: f64,
}

impl CpuMeter {
    fn start() -> CpuMeter {
        CpuMeter {
            at: Instant::now(),
            machine: machine_busy_secs(),
            own: own_cpu_secs(),
        }
    }

    /// Share of all cores' time since `start` used by other processes.
    fn foreign_share(&self) -> f64 {
        let wall = self.at.elapsed().as_secs_f64() * cores().max(1) as f64;
        let machine = machine_busy_secs() - self.machine;
        let own = own_cpu_secs() - self.own;
        ((machine - own) / wall).max(0.0)
    }
}

/// Busy CPU seconds of all cores since boot (`cpu` line of /proc/stat, without idle and iowait).
fn machine_busy_secs() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|t| t.parse().ok())
        .collect();
    if ticks.len() < 5 {
        return 0.0;
    }
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    (ticks.iter().sum::<f64>() - ticks[3] - ticks[4]) / hz
}

/// User + system CPU seconds of this process and its waited-for descendants.
fn own_cpu_secs() -> f64 {
    let mut total = 0.0;
    for who in [libc::RUSAGE_SELF, libc::RUSAGE_CHILDREN] {
        // SAFETY: getrusage fills a plain struct we own.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(who, &mut usage) } == 0 {
            for tv in [usage.ru_utime, usage.ru_stime] {
                total += tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
            }
        }
    }
    total
}

/// `git describe`-like revision of the tree the benchmark was built from.
fn revision() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let Some(head) = git(&["rev-parse", "--short", "HEAD"]) else {
        return "an unknown revision".into();
    };
    match git(&[
        "status",
        "--porcelain",
        "--",
        "src",
        "Cargo.toml",
        "Cargo.lock",
    ]) {
        Some(dirty) if !dirty.is_empty() => format!("{head} + uncommitted changes"),
        _ => head,
    }
}

fn cores() -> usize {
    thread::available_parallelism().map_or(0, usize::from)
}

fn today() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "date unknown".into())
}

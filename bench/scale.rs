//! Scale benchmark (issue 16, "bounded at any size"): `go mod download` of
//! many modules with 64 KiB zips behind a proxy whose every answer comes
//! 20 ms late, cold module cache, checksum verification on, the real go:
//! plain go against goshim's relay, and what the relay held on the way,
//! sampled every 5 ms from /proc: its open files, resident memory (peak,
//! VmHWM) and the bytes of its unlinked temporary files (bodies fetched
//! ahead and spilled). One run per row.
//!
//! ```sh
//! GOSHIM_TEST_GO=/path/to/go/bin/go cargo bench --bench scale
//! SCALE_BENCH_MODULES=200,500 SCALE_BENCH_PLAIN=0 cargo bench --bench scale
//! ```
//! `SCALE_BENCH_PLAIN=0` skips plain go (about 110 s at 2,000 modules);
//! `SCALE_BENCH_ZIP_KIB` sets the zip size (default 64). Markdown to stdout
//! and `target/bench/scale.md`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World};

const DELAY: Duration = Duration::from_millis(20);

/// The most seen of each at any sample.
#[derive(Default, Debug, Clone, Copy)]
struct Peaks {
    open_files: usize,
    rss_kib: u64,
    temp_bytes: u64,
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let worlds_in = common::world::place_worlds("SCALE_BENCH_TMPDIR");
    let sizes: Vec<usize> = std::env::var("SCALE_BENCH_MODULES")
        .unwrap_or_else(|_| "200,500,2000".into())
        .split(',')
        .filter_map(|n| n.trim().parse().ok())
        .collect();
    let plain = std::env::var("SCALE_BENCH_PLAIN").map_or(true, |v| v != "0");
    let zip_kib: usize = std::env::var("SCALE_BENCH_ZIP_KIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64);
    let mut md = format!(
        "Worlds in {worlds_in}; {zip_kib} KiB zips, every answer 20 ms late, one run each.\n\n\
         | modules | plain go | goshim | goshim / plain | peak open files | peak resident memory | peak held temporary bytes |\n\
         |---|---|---|---|---|---|---|\n"
    );
    for n in sizes {
        let tree = ModTree::padded(n, zip_kib * 1024);
        let db = SumDb::from_tree(SUMDB_NAME, &tree);
        let proxy = TestProxy::builder().tree(&tree).sumdb(&db).start();
        proxy.set_fault(Fault::Delay(DELAY));
        let plain_s = plain.then(|| run(&proxy, &db, &tree, false).0);
        let (shim_s, peaks) = run(&proxy, &db, &tree, true);
        let shown = |s: Option<f64>| s.map_or("–".into(), |s| format!("{s:.1} s"));
        let line = format!(
            "| {n} | {} | {} | {} | {} | {:.1} MiB | {:.1} MiB |",
            shown(plain_s),
            shown(Some(shim_s)),
            plain_s.map_or("–".into(), |p| format!("{:.2}×", shim_s / p)),
            peaks.open_files,
            peaks.rss_kib as f64 / 1024.0,
            peaks.temp_bytes as f64 / (1024.0 * 1024.0),
        );
        eprintln!("{line}");
        let _ = writeln!(md, "{line}");
    }
    println!("{md}");
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write("target/bench/scale.md", &md);
}

/// One cold `go mod download`: seconds, and the shim's peaks (zero for plain go).
fn run(proxy: &TestProxy, db: &SumDb, tree: &ModTree, shim: bool) -> (f64, Peaks) {
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    world.set_env("GOSHIM_TTL", "0");
    world.verify_with(db);
    world.write_tree_main_module(tree);
    let mut cmd: Command = if shim {
        let _ = world.run(&mut world.goshim_cmd(["status"])); // go env cache, as on a used machine
        world.shim_cmd(["mod", "download"])
    } else {
        world.direct_cmd(["mod", "download"])
    };
    let start = Instant::now();
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start go");
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peaks = Peaks::default();
            while !done.load(Ordering::Relaxed) {
                sample(pid, &mut peaks);
                std::thread::sleep(Duration::from_millis(5));
            }
            peaks
        })
    };
    let status = child.wait().expect("wait for go");
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let peaks = sampler.join().unwrap_or_default();
    assert!(status.success(), "go mod download failed ({status})");
    (secs, if shim { peaks } else { Peaks::default() })
}

/// Reads the process's open files, peak resident memory and the sizes of its
/// unlinked `goshim-ahead-*` files into `peaks`.
fn sample(pid: u32, peaks: &mut Peaks) {
    let fd_dir = format!("/proc/{pid}/fd");
    let Ok(fds) = std::fs::read_dir(&fd_dir) else {
        return;
    };
    let mut open = 0;
    let mut temp = 0u64;
    for fd in fds.flatten() {
        open += 1;
        let is_spill = std::fs::read_link(fd.path())
            .is_ok_and(|t| t.to_string_lossy().contains("goshim-ahead-"));
        if is_spill && let Ok(meta) = std::fs::metadata(fd.path()) {
            temp += meta.len();
        }
    }
    peaks.open_files = peaks.open_files.max(open);
    peaks.temp_bytes = peaks.temp_bytes.max(temp);
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let hwm = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
        peaks.rss_kib = peaks.rss_kib.max(hwm.unwrap_or(0));
    }
}

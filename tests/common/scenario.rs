//! Building blocks shared by the proxy tests (failover, snapshot, relay,
//! transparency, signals): worlds set up for a mode, timed shim runs, goshim's
//! own stderr lines, `goshim status --json` and `health.json`, the files under
//! the cache dir, and the credential checks.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::assert::{show, stderr_text, stdout_text};
use super::modtree::ModTree;
use super::process::run_with_timeout;
use super::proxy::{Fault, TestProxy};
use super::sumdb::SumDb;
use super::world::World;

/// A world in the list mode: no relay, no background probe, no sumdb, quick probes.
pub fn list_world(goproxy: &str) -> World {
    let mut world = World::new();
    world.set_env("GOSHIM_RELAY", "0");
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOSUMDB", "off");
    world.set_env("GOSHIM_PROBE_MODULE", "example.com/dep0");
    world.set_env("GOSHIM_PROBE_TIMEOUT_MS", "500");
    world.set_env("GOPROXY", goproxy);
    world
}

/// Runs `check` once per GOPROXY setting: "off" (the shim execs go), then a
/// healthy test proxy (the shim may supervise go and stay its parent).
pub fn with_each_goproxy(world: &mut World, check: impl Fn(&World, &str)) {
    let proxy = TestProxy::empty();
    for goproxy in ["off".to_string(), proxy.url()] {
        world.set_env("GOPROXY", &goproxy);
        check(world, &goproxy);
    }
}

/// Runs `go args` through the shim, bounded by `limit`; returns the output and how long it took.
pub fn timed_shim(world: &World, args: &[&str], limit: Duration) -> (Output, Duration) {
    let start = Instant::now();
    let out = run_with_timeout(&mut world.shim_cmd(args), limit);
    (out, start.elapsed())
}

/// Runs the program a test built at `rel` (inside the world) and asserts its stdout.
pub fn assert_program_prints(world: &World, rel: &str, expected: &str) {
    let ran = world.run(&mut world.cmd(world.path(rel), [""; 0]));
    assert_eq!(stdout_text(&ran), expected, "{}", show(&ran));
}

/// stderr lines written by goshim itself (go never starts a line with "goshim:").
pub fn goshim_lines(out: &Output) -> Vec<String> {
    stderr_text(out)
        .lines()
        .filter(|l| l.starts_with("goshim:"))
        .map(str::to_string)
        .collect()
}

/// stderr lines written by go: everything but goshim's own lines.
pub fn go_lines(out: &Output) -> Vec<String> {
    stderr_text(out)
        .lines()
        .filter(|l| !l.starts_with("goshim:"))
        .map(str::to_string)
        .collect()
}

/// `goshim status --json`: asserts success; returns the output and the document.
fn run_status_json(world: &World) -> (Output, Value) {
    let out = world.run(&mut world.goshim_cmd(["status", "--json"]));
    assert!(out.status.success(), "goshim status --json\n{}", show(&out));
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e})\n{}", show(&out)));
    (out, doc)
}

/// The JSON of `goshim status --json` (which must succeed).
pub fn status_json(world: &World) -> Value {
    run_status_json(world).1
}

/// Like [`status_json`], and goshim must print nothing on stderr.
pub fn quiet_status_json(world: &World) -> Value {
    let (out, doc) = run_status_json(world);
    assert!(out.stderr.is_empty(), "{}", show(&out));
    doc
}

/// `<GOSHIM_CACHE_DIR>/health.json` of the world.
pub fn health_path(world: &World) -> PathBuf {
    world.path("goshim-cache/health.json")
}

/// The snapshot on disk, parsed; panics if it is missing or not JSON.
pub fn read_health(world: &World) -> Value {
    let path = health_path(world);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "health.json is not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    })
}

/// The entry for `url` in a document with a `proxies` array (the snapshot,
/// `goshim status --json`); panics if there is none.
pub fn entry<'a>(doc: &'a Value, url: &str) -> &'a Value {
    doc["proxies"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["url"] == url))
        .unwrap_or_else(|| panic!("{url} not in the document: {doc:#}"))
}

/// Every regular file under `dir`, recursively (none if `dir` cannot be read).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => stack.push(path),
                Ok(t) if t.is_file() => out.push(path),
                _ => {}
            }
        }
    }
    out
}

/// What is left in a home folder: every file and symlink under `home`,
/// relative to it, sorted; go's own `.config/go/` (telemetry) left out.
pub fn home_files(home: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk(root, &path, out);
            } else if let Ok(rel) = path.strip_prefix(root) {
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(home, home, &mut out);
    out.retain(|f| !f.starts_with(".config/go/"));
    out.sort();
    out
}

/// A query token the credential tests put on a proxy URL.
pub const TOKEN: &str = "s3cr3tTOKEN";
/// A password the credential tests put in a proxy URL's userinfo.
pub const PASSWORD: &str = "s3cr3tPASS";

/// Neither secret in the output, except in lines that go itself prints
/// (go shows a GOPROXY query string in its errors; `go_lines` is what the
/// real go printed for the same command).
pub fn assert_no_secret(what: &str, out: &Output, go_lines: &[String]) {
    for (stream, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
        for line in String::from_utf8_lossy(bytes).lines() {
            let secret = line.contains(TOKEN) || line.contains(PASSWORD);
            assert!(
                !secret || go_lines.iter().any(|g| g == line),
                "{what}: a secret on {stream}: {line}\n{}",
                show(out)
            );
            assert!(!(secret && line.starts_with("goshim:")), "{what}: {line}");
        }
    }
}

/// There are files under `cache`, and none holds either secret.
pub fn assert_cache_has_no_secret(cache: &Path) {
    let files = files_under(cache);
    assert!(!files.is_empty(), "nothing under {}", cache.display());
    for path in files {
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for secret in [TOKEN, PASSWORD] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in {}: {}",
                path.display(),
                String::from_utf8_lossy(&bytes)
            );
        }
    }
}

/// A proxy's log, one line per request, for assertion messages.
pub fn log_of(proxy: &TestProxy) -> String {
    proxy
        .requests()
        .iter()
        .map(|r| {
            let range = r
                .range_from
                .map(|n| format!(" Range:{n}-"))
                .unwrap_or_default();
            format!("  {} {:?}{range} {:?}\n", r.path, r.status, r.fault)
        })
        .collect()
}

/// The logs of several named proxies.
pub fn logs(proxies: &[(&str, &TestProxy)]) -> String {
    proxies
        .iter()
        .map(|(name, p)| format!("--- {name} ({}) ---\n{}", p.url(), log_of(p)))
        .collect()
}

/// A run's output followed by the named proxies' logs: the context for a
/// failed assertion.
pub fn with_logs(out: &Output, proxies: &[(&str, &TestProxy)]) -> String {
    format!("{}\n{}", show(out), logs(proxies))
}

/// How many times the shim ran go (with GOSHIM_LOG, one `goshim: run` line each).
pub fn go_runs(out: &Output) -> usize {
    stderr_text(out)
        .lines()
        .filter(|l| l.starts_with("goshim: run "))
        .count()
}

/// The test checksum database holding every module of `tree`.
pub fn db_of(tree: &ModTree) -> SumDb {
    SumDb::from_tree(super::sumdb::SUMDB_NAME, tree)
}

/// `proxy` answered go's database lookup of the first module of `tree` (200).
pub fn assert_lookup_served_by(proxy: &TestProxy, tree: &ModTree, ctx: &str) {
    let m = &tree.modules[0];
    let lookup = format!(
        "/sumdb/{}/lookup/{}@{}",
        super::sumdb::SUMDB_NAME,
        m.path,
        m.latest()
    );
    assert!(
        proxy
            .requests()
            .iter()
            .any(|r| r.path == lookup && r.status == Some(200)),
        "go's lookup {lookup} was not answered by {}\n{ctx}",
        proxy.url()
    );
}

/// The relay URLs in `text` (`http://127.0.0.1:<port>/<32 hex digits>`, as
/// go's errors show them), each once, sorted.
pub fn relay_urls_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("http://127.0.0.1:") {
        let rest = &text[i..];
        let end = rest
            .find(|c: char| c.is_whitespace() || c == '"')
            .unwrap_or(rest.len());
        let parts: Vec<&str> = rest[..end].splitn(5, '/').collect();
        if parts.len() >= 4
            && parts[3].len() == 32
            && parts[3].bytes().all(|b| b.is_ascii_hexdigit())
        {
            found.push(parts[..4].join("/"));
        }
    }
    found.sort();
    found.dedup();
    found
}

/// A proxy serving `tree` and `db`, with `fault` on every path (the
/// database's included) from the first request on.
pub fn db_proxy(tree: &ModTree, db: &SumDb, fault: Fault) -> TestProxy {
    TestProxy::builder()
        .tree(tree)
        .sumdb(db)
        .fault(fault)
        .start()
}

/// The world's go.sum (empty if there is none).
pub fn go_sum(world: &World) -> String {
    fs::read_to_string(world.work_dir().join("go.sum")).unwrap_or_default()
}

/// Writes go.sum as `go mod tidy` writes it for `tree`'s main module (both
/// lines of each module at the version go.mod selects, from `db`), plus both
/// lines of each `older` version (kept from before an upgrade); returns it.
pub fn write_tidy_go_sum(
    world: &World,
    db: &SumDb,
    tree: &ModTree,
    older: &[(&str, &str)],
) -> String {
    let mut lines: Vec<String> = tree
        .modules
        .iter()
        .flat_map(|m| db.go_sum_lines(&m.path, m.latest()))
        .chain(older.iter().flat_map(|(p, v)| db.go_sum_lines(p, v)))
        .collect();
    lines.sort();
    let text = lines.join("\n") + "\n";
    world.write_file("work/go.sum", &text);
    text
}

/// go.sum holds only `db`'s lines, among them the go.mod line of every
/// module of `tree` and, with `zips` (go built with them), the zip line too:
/// go verified them against the database. (`go mod download` records the
/// go.mod lines only.)
pub fn assert_go_sum_from(world: &World, tree: &ModTree, db: &SumDb, zips: bool, ctx: &str) {
    let sum = go_sum(world);
    let have: Vec<&str> = sum.lines().collect();
    for m in &tree.modules {
        let lines = db.go_sum_lines(&m.path, m.latest());
        assert_eq!(lines.len(), 2, "{} not in the database", m.path);
        for line in &lines {
            let needed = zips || line.contains("/go.mod ");
            assert!(
                !needed || have.contains(&line.as_str()),
                "go.sum lacks {line}\n{sum}\n{ctx}"
            );
        }
    }
    let known: Vec<String> = tree
        .modules
        .iter()
        .flat_map(|m| db.go_sum_lines(&m.path, m.latest()))
        .collect();
    for line in have {
        assert!(
            known.iter().any(|k| k == line),
            "go.sum line not from the database: {line}\n{ctx}"
        );
    }
}

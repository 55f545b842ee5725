//! The loopback relay, with the real go through the shim: per-request
//! failover with deadlines, streaming and Range resume, not-found and
//! all-down semantics, sumdb routing, private-path routing, credentials,
//! concurrency and passive health.
//!
//! Every world gets `GOSHIM_TTL=0` (no background probe: every upstream
//! request in a proxy's log comes from go through the relay) and 1 s relay
//! deadlines, so that a hung or stalled upstream costs about a second.
//!
//! Checksum verification is on wherever go fetches modules, as for users:
//! the proxies serve one test checksum database ([`SumDb`]) for the test's
//! modules, and go reaches it only through the relay (`verifying_world`).
//! Faults set for all paths apply to its `/sumdb/` requests too. The one
//! test left with `GOSUMDB=off` fetches nothing.

mod common;

use std::fs;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Output;
use std::thread;
use std::time::{Duration, Instant};

use common::assert::says_http_status;
use common::modtree::Module;
use common::process::assert_same_failure_code;
use common::programs::PRINT_ENV;
use common::proxy::Request;
use common::scenario::{
    PASSWORD, TOKEN, assert_cache_has_no_secret, assert_go_sum_from, assert_lookup_served_by,
    assert_no_secret, assert_program_prints, db_of, db_proxy, entry, files_under, go_lines,
    go_runs, goshim_lines, health_path, log_of, logs, read_health, relay_urls_in, status_json,
    timed_shim, with_logs,
};
use common::sumdb::{SUMDB_NAME, SumDb, big_module_with_db};
use common::{
    Fault, ModTree, Running, TestProxy, World, refused_url, run_with_timeout, show, stderr_text,
    stdout_text,
};
use serde_json::Value;

/// Bound for one go command whose upstream trouble the relay must absorb.
const BOUNDED: Duration = Duration::from_secs(30);
/// Relay deadlines used by every world here (connect, response headers, stall).
const DEADLINE_MS: &str = "1000";

/// A world whose go reaches `goproxy` through the relay, with short deadlines.
fn relay_world(goproxy: &str) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOSHIM_CONNECT_TIMEOUT_MS", DEADLINE_MS);
    world.set_env("GOSHIM_RESPONSE_TIMEOUT_MS", DEADLINE_MS);
    world.set_env("GOSHIM_STALL_TIMEOUT_MS", DEADLINE_MS);
    world
}

/// [`relay_world`] with checksum verification on against `db`, reached
/// through GOPROXY, i.e. through the relay.
fn verifying_world(goproxy: &str, db: &SumDb) -> World {
    let mut world = relay_world(goproxy);
    world.verify_with(db);
    world
}

fn assert_success(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: expected success\n{}",
        show(out)
    );
}

/// Requests whose path contains `needle`.
fn requests_with(proxy: &TestProxy, needle: &str) -> Vec<Request> {
    proxy
        .requests()
        .into_iter()
        .filter(|r| r.path.contains(needle))
        .collect()
}

/// The zip path of a module version, as a proxy log shows it.
fn zip_path(m: &Module) -> String {
    format!("/{}/@v/{}.zip", m.path, m.latest())
}

/// Whether `proxy` sent a module's whole zip (200) or the rest of it (206).
fn served_zip(proxy: &TestProxy, m: &Module) -> bool {
    proxy
        .requests_ending_with(&zip_path(m))
        .iter()
        .any(|r| matches!(r.status, Some(200 | 206)) && r.fault == Fault::Healthy)
}

/// The zip go stored in the world's module cache.
fn cached_zip(world: &World, m: &Module) -> Vec<u8> {
    let path = world.path(format!(
        "gopath/pkg/mod/cache/download/{}/@v/{}.zip",
        m.path,
        m.latest()
    ));
    fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every module of `tree` is in the module cache byte for byte as published.
fn assert_zips_intact(world: &World, tree: &ModTree) {
    for m in &tree.modules {
        assert!(
            cached_zip(world, m) == m.zip(m.latest()),
            "{}: the cached zip differs from the published one",
            m.path
        );
    }
}

/// The health snapshot's entry for `url`.
fn health_of(world: &World, url: &str) -> Value {
    entry(&read_health(world), url).clone()
}

// ---------------------------------------------------------------------------
// What go is given.

/// go's GOPROXY is the relay (loopback, random port, 128-bit token) followed by
/// the user's own `direct`/`off` tail with its separator; the relay lives only
/// as long as go. With GOSHIM_RELAY=0, go gets the proxy list itself.
/// (`GOSUMDB=off`: the program imports nothing, so go fetches and verifies
/// nothing either way.)
#[test]
fn go_gets_the_relay_plus_the_users_tail_and_the_relay_ends_with_go() {
    let proxy = TestProxy::empty();
    let p = proxy.url();
    let mut world = relay_world("off");
    world.write_main_module(PRINT_ENV);
    let child_goproxy = |world: &World| {
        let out = world.run_shim(&["run", ".", "GOPROXY"]);
        assert_success("go run printing GOPROXY", &out);
        let text = stdout_text(&out);
        text.trim_end()
            .strip_prefix("GOPROXY=")
            .unwrap_or_else(|| panic!("{}", show(&out)))
            .to_string()
    };
    for (user, tail) in [
        (p.clone(), ""),
        (format!("{p},direct"), ",direct"),
        (format!("{p}|direct"), "|direct"),
        (format!("{p},off"), ",off"),
    ] {
        world.set_env("GOPROXY", &user);
        let got = child_goproxy(&world);
        let relay = got
            .strip_suffix(tail)
            .unwrap_or_else(|| panic!("GOPROXY={user}: go got {got}, without the tail {tail:?}"));
        assert_eq!(
            relay_urls_in(relay),
            [relay.to_string()],
            "GOPROXY={user}: go got {got}, not the relay"
        );
        // The relay is gone once go and the shim have exited.
        let addr = relay
            .trim_start_matches("http://")
            .split('/')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_err(),
            "the relay at {addr} still accepts connections after go exited"
        );
    }
    world.set_env("GOPROXY", format!("{p},direct"));
    world.set_env("GOSHIM_RELAY", "0");
    assert_eq!(child_goproxy(&world), format!("{p},direct"));
}

// ---------------------------------------------------------------------------
// A primary that accepts and hangs.

/// go itself waits forever on a proxy that accepts and never answers; through
/// the relay, the first request to it costs one response deadline and the run
/// carries on with the healthy upstream. No health snapshot exists yet, so the
/// hung proxy is first in line when the run starts.
#[test]
fn hung_primary_without_a_snapshot_costs_a_deadline_not_the_build() {
    let tree = ModTree::new(20);
    let db = db_of(&tree);

    // go mod download, cold.
    let hung = db_proxy(&tree, &db, Fault::Hang);
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", hung.url(), good.url()), &db);
    world.write_tree_main_module(&tree);
    assert!(!world.path("goshim-cache/health.json").exists());
    let (out, took) = timed_shim(&world, &["mod", "download"], BOUNDED);
    eprintln!("go mod download, 20 modules, hung primary: {took:?}");
    assert_success("go mod download with a hung primary", &out);
    assert!(
        took < BOUNDED,
        "took {took:?}\n{}",
        logs(&[("hung", &hung), ("good", &good)])
    );
    assert!(hung.request_count() > 0, "the hung proxy was never tried");
    for m in &tree.modules {
        assert!(
            served_zip(&good, m),
            "{} not from the healthy proxy\n{}",
            m.path,
            logs(&[("hung", &hung), ("good", &good)])
        );
    }
    assert_zips_intact(&world, &tree);
    assert_go_sum_from(&world, &tree, &db, false, &logs(&[("good", &good)]));

    // go build, cold, in another world (no snapshot there either).
    let hung = db_proxy(&tree, &db, Fault::Hang);
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", hung.url(), good.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, took) = timed_shim(&world, &["build", "-o", "out/prog", "."], BOUNDED);
    eprintln!("go build, 20 modules, hung primary: {took:?}");
    assert_success("go build with a hung primary", &out);
    assert_program_prints(&world, "work/out/prog", &tree.expected_output());
    assert_go_sum_from(&world, &tree, &db, true, &logs(&[("good", &good)]));

    // Contrast: the real go with the same proxies (and `|`, which moves on
    // after any error) is still stuck on the hung one.
    let hung = db_proxy(&tree, &db, Fault::Hang);
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = verifying_world("off", &db);
    world.set_env("GOPROXY", format!("{}|{}", hung.url(), good.url()));
    world.write_tree_main_module(&tree);
    let direct = Running::spawn(&mut world.direct_cmd(["mod", "download"]));
    thread::sleep(Duration::from_secs(3));
    assert!(
        !direct.has_exited(),
        "direct go finished within 3 s despite the hung proxy: the contrast does not hold"
    );
    assert!(hung.request_count() > 0);
    assert_eq!(good.request_count(), 0, "{}", log_of(&good));
    drop(direct); // kills its process group
}

// ---------------------------------------------------------------------------
// Faults of the primary; the secondary is healthy.

struct Failover {
    tree: ModTree,
    db: SumDb,
    primary: TestProxy,
    secondary: TestProxy,
    world: World,
    out: Output,
    took: Duration,
}

impl Failover {
    /// `go mod download` of 3 modules, the primary faulty (set up by `fault`),
    /// the secondary healthy and honouring ranges or not.
    fn run(fault: impl FnOnce(&TestProxy), secondary_ranges: bool) -> Failover {
        let tree = ModTree::new(3);
        let db = db_of(&tree);
        let primary = db_proxy(&tree, &db, Fault::Healthy);
        fault(&primary);
        let secondary = TestProxy::builder()
            .tree(&tree)
            .sumdb(&db)
            .ranges(secondary_ranges)
            .start();
        let mut world = verifying_world(&format!("{},{}", primary.url(), secondary.url()), &db);
        world.set_env("GOSHIM_LOG", "1");
        world.write_tree_main_module(&tree);
        let (out, took) = timed_shim(&world, &["mod", "download"], BOUNDED);
        eprintln!("go mod download: {took:?}");
        Failover {
            tree,
            db,
            primary,
            secondary,
            world,
            out,
            took,
        }
    }

    fn logs(&self) -> String {
        with_logs(
            &self.out,
            &[("primary", &self.primary), ("secondary", &self.secondary)],
        )
    }

    /// go succeeded within the bound, every zip is intact and verified
    /// against the database, and the secondary served every zip.
    fn assert_secondary_served_the_zips(&self) {
        assert!(self.out.status.success(), "{}", self.logs());
        assert!(self.took < BOUNDED);
        assert_zips_intact(&self.world, &self.tree);
        assert_go_sum_from(&self.world, &self.tree, &self.db, false, &self.logs());
        for m in &self.tree.modules {
            assert!(
                served_zip(&self.secondary, m),
                "{}\n{}",
                m.path,
                self.logs()
            );
        }
    }

    /// How many times the shim ran go (GOSHIM_LOG=1 prints "run N:").
    fn go_runs(&self) -> usize {
        go_runs(&self.out)
    }
}

/// Makes `proxy` send each zip's headers at once, then 64 bytes every 2.5 s:
/// a stall longer than the relay's stall deadline.
fn drip_zips(proxy: &TestProxy) {
    proxy.set_fault_for(
        ".zip",
        Fault::SlowDrip {
            bytes_per_chunk: 64,
            delay: Duration::from_millis(2500),
        },
    );
}

/// Makes `proxy` send half of each zip, then a TCP reset.
fn reset_zips(proxy: &TestProxy) {
    proxy.set_fault_for(".zip", Fault::ResetMidBody);
}

/// The primary sends each zip's headers at once, then a trickle: the relay
/// races the secondary (throughput floor) and the zips come whole from it,
/// within the one go run, whether the secondary honours Range or not. (A small
/// zip is held back whole until it ends like a zip, so nothing of the
/// primary's copy ever reached go and the secondary's copy starts at byte 0.)
#[test]
fn slow_drip_zip_is_raced_and_served_by_the_secondary_in_one_run() {
    for ranges in [true, false] {
        let f = Failover::run(drip_zips, ranges);
        f.assert_secondary_served_the_zips();
        assert_eq!(f.go_runs(), 1, "ranges {ranges}: no re-run\n{}", f.logs());
    }
}

/// The primary sends half of every zip, then a TCP reset: the zips come whole
/// from the secondary within the same go run, with or without Range support.
#[test]
fn reset_mid_body_is_served_by_the_secondary_in_one_run() {
    for ranges in [true, false] {
        let f = Failover::run(reset_zips, ranges);
        f.assert_secondary_served_the_zips();
        assert_eq!(f.go_runs(), 1, "ranges {ranges}: no re-run\n{}", f.logs());
        assert!(
            !f.primary.requests_ending_with(".zip").is_empty(),
            "{}",
            f.logs()
        );
    }
}

/// A secondary that answers a Range request with the whole body (200) is
/// behaving legally (servers may ignore Range); it served nothing wrong, so
/// the run must not record it as a failed upstream.
#[test]
fn an_upstream_ignoring_range_is_not_recorded_as_failed() {
    let f = Failover::run(reset_zips, false);
    f.assert_secondary_served_the_zips();
    let secondary = health_of(&f.world, &f.secondary.url());
    assert!(
        secondary["last_failure_at"].is_null()
            && secondary["history"]
                .as_array()
                .is_some_and(|h| h.iter().all(|ok| ok == true)),
        "the healthy secondary was recorded with a failure: {secondary:#}\n{}",
        f.logs()
    );
    let primary = health_of(&f.world, &f.primary.url());
    assert_eq!(primary["state"], "down", "{primary:#}");
}

/// The primary sends half a zip with a matching Content-Length (a complete
/// HTTP response carrying a corrupt zip). The relay sees it does not end like
/// a zip, completes it from the secondary, and go never notices: one run, no
/// error on stderr, and the primary recorded as failed.
#[test]
fn truncated_zip_is_completed_from_the_secondary_and_blamed_on_the_primary() {
    let f = Failover::run(|p| p.set_fault(Fault::TruncatedZip), true);
    f.assert_secondary_served_the_zips();
    assert_eq!(f.go_runs(), 1, "{}", f.logs());
    assert!(go_lines(&f.out).is_empty(), "{}", f.logs());
    let primary = health_of(&f.world, &f.primary.url());
    assert_eq!(primary["state"], "down", "{primary:#}");
}

/// `GOSHIM_RESPONSE_TIMEOUT_MS=0` (or negative, or unreadable) is no
/// deadline of a millisecond, which every upstream answering a little late
/// would miss: the default stands, and goshim says so in one line.
#[test]
fn a_zero_response_timeout_means_the_default_with_one_warning() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let proxy = db_proxy(&tree, &db, Fault::Delay(Duration::from_millis(100)));
    for bad in ["0", "-1", "soon"] {
        let mut world = verifying_world(&proxy.url(), &db);
        world.set_env("GOSHIM_RESPONSE_TIMEOUT_MS", bad);
        world.write_tree_main_module(&tree);
        let out = world.run_shim(&["mod", "download"]);
        let ctx = with_logs(&out, &[("proxy", &proxy)]);
        assert_success(&ctx, &out);
        let warnings: Vec<String> = goshim_lines(&out)
            .into_iter()
            .filter(|l| l.contains("GOSHIM_RESPONSE_TIMEOUT_MS"))
            .collect();
        assert_eq!(
            warnings,
            [format!(
                "goshim: GOSHIM_RESPONSE_TIMEOUT_MS={bad} is not a positive whole number of milliseconds; using 15000 ms"
            )],
            "{ctx}"
        );
    }
}

/// The only upstream leaves one request unanswered (as a request does whose
/// fresh connection met a small server's full listen queue) while it
/// answers all others: the relay asks it once more before it gives go a
/// 502, so go succeeds in its one run (go alone would have waited
/// forever). Its later requests, in the 30 s the upstream looks down, are
/// still sent.
#[test]
fn the_only_upstream_is_asked_once_more_after_a_timeout_while_it_answers_others() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    proxy.set_fault_for("/dep0/@v/v1.0.0.info", Fault::HangFirst { n: 1 });
    let mut world = verifying_world(&proxy.url(), &db);
    world.set_env("GOSHIM_PREFETCH", "0");
    world.set_env("GOSHIM_LOG", "1");
    world.write_tree_main_module(&tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let ctx = with_logs(&out, &[("proxy", &proxy)]);
    assert_success(&ctx, &out);
    assert_eq!(go_runs(&out), 1, "{ctx}");
    assert_eq!(
        proxy.requests_ending_with("/dep0/@v/v1.0.0.info").len(),
        2,
        "{ctx}"
    );
    assert_zips_intact(&world, &tree);
}

/// A mirror whose `.info` files carry an `Origin` (longer than another
/// mirror's), and that sends the headers of every `.info` with its
/// Content-Length, then closes the connection before any body byte.
fn cut_mirror(tree: &ModTree, db: &SumDb) -> TestProxy {
    let proxy = db_proxy(tree, db, Fault::Healthy);
    for m in &tree.modules {
        let v = m.latest();
        let info = format!(
            "{{\"Version\":\"{v}\",\"Time\":\"2024-01-01T00:00:00Z\",\"Origin\":{{\"VCS\":\"git\",\"URL\":\"https://{}\"}}}}",
            m.path
        );
        proxy.insert_file(&format!("{}/@v/{v}.info", m.path), info.into_bytes());
    }
    proxy.set_fault_for(".info", Fault::CutBeforeBody);
    proxy
}

/// The primary answers `.info` with 200 and a Content-Length (its
/// `.info` longer than the secondary's), then drops the connection before
/// any byte: the length it announced goes with its body, and the
/// secondary's correct answer of another length is served, not refused as
/// "a different body". With `|`, as go alone; with `,` (where go alone
/// stops at the primary's EOF) too. The secondary is not blamed.
#[test]
fn a_length_announced_by_an_upstream_that_sent_no_body_is_forgotten_with_it() {
    let tree = ModTree::new(8);
    let db = db_of(&tree);
    for (sep, prefetch) in [("|", "off"), (",", "off"), ("|", "on")] {
        let primary = cut_mirror(&tree, &db);
        let secondary = db_proxy(&tree, &db, Fault::Healthy);
        let goproxy = format!("{}{sep}{}", primary.url(), secondary.url());
        let proxies = [("primary", &primary), ("secondary", &secondary)];
        if sep == "|" {
            let alone = verifying_world(&goproxy, &db);
            alone.write_tree_main_module(&tree);
            assert_success("go alone", &alone.run_direct(&["mod", "download"]));
        }
        let mut world = verifying_world(&goproxy, &db);
        world.set_env("GOSHIM_LOG", "1");
        world.set_env("GOSHIM_PREFETCH", prefetch);
        world.write_tree_main_module(&tree);
        let out = world.run_shim(&["mod", "download"]);
        let ctx = format!(
            "GOPROXY with {sep}, prefetch {prefetch}\n{}",
            with_logs(&out, &proxies)
        );
        assert_success(&ctx, &out);
        assert_eq!(go_runs(&out), 1, "no second run\n{ctx}");
        assert_go_sum_from(&world, &tree, &db, false, &ctx);
        let health = read_health(&world);
        let blamed = health["proxies"].as_array().is_some_and(|ps| {
            ps.iter()
                .any(|p| p["url"] == secondary.url() && !p["last_failure_at"].is_null())
        });
        assert!(!blamed, "the secondary was blamed: {health:#}\n{ctx}");
    }
}

/// Every third request to the primary gets 503: each of those goes to the
/// secondary, and go never sees an error.
#[test]
fn every_third_request_503_fails_over_per_request() {
    let f = Failover::run(
        |p| p.set_fault(Fault::EveryNth { n: 3, status: 503 }),
        false,
    );
    assert!(f.out.status.success(), "{}", f.logs());
    assert_zips_intact(&f.world, &f.tree);
    assert_go_sum_from(&f.world, &f.tree, &f.db, false, &f.logs());
    assert_eq!(f.go_runs(), 1, "{}", f.logs());
    let failed: Vec<Request> = f
        .primary
        .requests()
        .into_iter()
        .filter(|r| r.status == Some(503))
        .collect();
    assert!(!failed.is_empty(), "{}", f.logs());
    for r in &failed {
        assert!(
            f.secondary
                .requests()
                .iter()
                .any(|s| s.path == r.path && s.status == Some(200)),
            "{} got 503 from the primary and was not served by the secondary\n{}",
            r.path,
            f.logs()
        );
    }
    assert!(
        !says_http_status(&stderr_text(&f.out), 503),
        "go saw the 503\n{}",
        f.logs()
    );
}

/// 429 with a long Retry-After: the relay moves on to the secondary at once
/// rather than waiting (or failing the build).
#[test]
fn rate_limited_primary_fails_over_without_waiting_for_retry_after() {
    let f = Failover::run(
        |p| {
            p.set_fault(Fault::Status429 {
                retry_after_secs: 60,
            })
        },
        false,
    );
    f.assert_secondary_served_the_zips();
    assert_eq!(f.go_runs(), 1, "{}", f.logs());
    assert!(
        f.took < Duration::from_secs(15),
        "waited for Retry-After? {:?}",
        f.took
    );
    assert!(
        f.primary.requests().iter().all(|r| r.status == Some(429)),
        "{}",
        f.logs()
    );
    assert!(!says_http_status(&stderr_text(&f.out), 429), "{}", f.logs());
}

// ---------------------------------------------------------------------------
// Not found, direct, all down.

/// A module no upstream has: go ends as it does with the same GOPROXY and no
/// shim (same exit code, the module named in the error), and the shim does not
/// re-run go or print anything of its own.
#[test]
fn module_missing_everywhere_fails_like_direct_go() {
    let tree = ModTree::new(1);
    let db = db_of(&tree);
    let (a, b) = (
        db_proxy(&tree, &db, Fault::Healthy),
        db_proxy(&tree, &db, Fault::Healthy),
    );
    let world = verifying_world(&format!("{},{}", a.url(), b.url()), &db);
    world.write_tree_main_module(&tree);
    let args = ["mod", "download", "example.com/nowhere@v1.0.0"];
    let asked = |p: &TestProxy| requests_with(p, "example.com/nowhere").len();
    let (shim, _) = timed_shim(&world, &args, BOUNDED);
    let shim_asked = (asked(&a), asked(&b));
    let shim_logs = logs(&[("a", &a), ("b", &b)]);
    a.clear_log();
    b.clear_log();
    let direct = run_with_timeout(&mut world.direct_cmd(args), BOUNDED);
    let direct_asked = (asked(&a), asked(&b));
    assert_same_failure_code("a module missing everywhere", &shim, &direct);
    for out in [&shim, &direct] {
        let err = stderr_text(out);
        assert!(err.contains("example.com/nowhere"), "{}", show(out));
        assert!(err.contains("404 Not Found"), "{}", show(out));
    }
    assert!(goshim_lines(&shim).is_empty(), "{}", show(&shim));
    // No re-run: each upstream got what direct go asked of it.
    assert_eq!(
        shim_asked,
        direct_asked,
        "requests for the module (a, b), shim vs direct\nshim:\n{shim_logs}\ndirect:\n{}",
        logs(&[("a", &a), ("b", &b)])
    );
    assert!(shim_asked.0 > 0 && shim_asked.1 > 0, "{shim_logs}");
}

/// With a `,direct` tail, the relay's 404 lets go fall through to a direct
/// fetch, exactly as without goshim: both fail the same way, in the direct
/// fetch (no network here), not in the relay.
#[test]
fn not_found_everywhere_falls_through_to_direct_like_go() {
    let tree = ModTree::new(1);
    let db = db_of(&tree);
    let (a, b) = (
        db_proxy(&tree, &db, Fault::Healthy),
        db_proxy(&tree, &db, Fault::Healthy),
    );
    let world = verifying_world(&format!("{},{},direct", a.url(), b.url()), &db);
    world.write_tree_main_module(&tree);
    let args = ["mod", "download", "example.com/nowhere@v1.0.0"];
    let (shim, _) = timed_shim(&world, &args, BOUNDED);
    let direct = run_with_timeout(&mut world.direct_cmd(args), BOUNDED);
    assert_same_failure_code("not found, then direct", &shim, &direct);
    for out in [&shim, &direct] {
        let err = stderr_text(out);
        assert!(
            err.contains("unrecognized import path \"example.com/nowhere\"")
                && err.contains("https://example.com/nowhere?go-get=1"),
            "not the direct fetch's error:\n{}",
            show(out)
        );
    }
    assert!(
        relay_urls_in(&stderr_text(&shim)).is_empty(),
        "the error names the relay:\n{}",
        show(&shim)
    );
    assert!(goshim_lines(&shim).is_empty(), "{}", show(&shim));
    assert!(!requests_with(&a, "example.com/nowhere").is_empty());
    assert!(!requests_with(&b, "example.com/nowhere").is_empty());
}

/// One upstream refuses connections, the other answers 502: go fails in
/// bounded time, its error carries the relay's 502 text naming both, and
/// goshim's own line names both upstreams without the relay's token.
#[test]
fn all_upstreams_down_fails_fast_and_names_them() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let refused = refused_url();
    let bad = db_proxy(&tree, &db, Fault::Status(502));
    let world = verifying_world(&format!("{refused},{}", bad.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, took) = timed_shim(&world, &["mod", "download"], BOUNDED);
    eprintln!("all upstreams down: {took:?}");
    assert!(!out.status.success(), "{}", show(&out));
    assert!(took < Duration::from_secs(20), "took {took:?}");
    let lines = goshim_lines(&out);
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&refused) && l.contains(&bad.url())),
        "no goshim line names both upstreams:\n{}",
        show(&out)
    );
    // go shows the relay's text/plain 502 body ("server response: ...").
    let go_text = go_lines(&out).join("\n");
    assert!(
        go_text.contains(&format!("{refused} refused the connection"))
            && go_text.contains(&format!("{} answered 502 Bad Gateway", bad.url())),
        "the relay's 502 body should name each upstream and what it did:\n{}",
        show(&out)
    );
    let tokens: Vec<String> = relay_urls_in(&stderr_text(&out))
        .iter()
        .filter_map(|u| u.rsplit('/').next().map(String::from))
        .collect();
    assert!(
        !tokens.is_empty(),
        "go's error names the relay\n{}",
        show(&out)
    );
    for line in &lines {
        assert!(
            !tokens.iter().any(|t| line.contains(t.as_str())),
            "goshim's own line shows the relay's token: {line}\n{}",
            show(&out)
        );
    }
}

// ---------------------------------------------------------------------------
// Checksum database.

/// go can reach the checksum database only through the proxy path. The
/// relay answers `supported` from an upstream that serves the database, and
/// sends lookups and tiles only there, never to the upstream without it; go
/// verifies every module and writes the database's go.sum lines.
#[test]
fn sumdb_requests_go_only_to_the_upstream_that_serves_it() {
    let tree = ModTree::new(1);
    let db = db_of(&tree);
    let without = TestProxy::builder()
        .tree(&tree)
        .sumdb_supported(false)
        .start();
    let with = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", without.url(), with.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, took) = timed_shim(&world, &["mod", "download"], BOUNDED);
    eprintln!("sumdb run: {took:?}");
    let all = format!(
        "{}\n{}",
        show(&out),
        logs(&[("without", &without), ("with", &with)])
    );
    assert_success("verified download", &out);
    assert_go_sum_from(&world, &tree, &db, false, &all);
    let supported = format!("/sumdb/{SUMDB_NAME}/supported");
    assert!(
        with.request_paths().contains(&supported),
        "the supporting upstream was not asked for {supported}\n{all}"
    );
    let sumdb_data_requests: Vec<String> = requests_with(&without, "/sumdb/")
        .into_iter()
        .map(|r| r.path)
        .filter(|p| *p != supported)
        .collect();
    assert!(
        sumdb_data_requests.is_empty(),
        "checksum database requests reached the upstream without it: {sumdb_data_requests:?}\n{all}"
    );
    assert_lookup_served_by(&with, &tree, &all);
}

// ---------------------------------------------------------------------------
// Private paths.

/// A public module and a private one (`example.com/private/p1`), and the
/// checksum database, which holds the public one only.
fn public_and_private() -> (ModTree, Module, Module, SumDb) {
    let public = ModTree::new(1).modules.remove(0);
    let private = Module {
        path: "example.com/private/p1".into(),
        name: "p1".into(),
        versions: vec!["v1.0.0".into()],
        requires: Vec::new(),
        padding: 0,
    };
    let tree = ModTree {
        modules: vec![public.clone(), private.clone()],
    };
    let db = db_of(&tree_of(&[&public]));
    (tree, public, private, db)
}

fn tree_of(modules: &[&Module]) -> ModTree {
    ModTree {
        modules: modules.iter().map(|m| (*m).clone()).collect(),
    }
}

/// The user's GOPROXY=`a<sep>b`, GONOSUMDB=example.com/private and goshim's
/// extra upstream c; runs `go mod download` of a main module needing both.
/// Returns go's output and, for assertion messages, that output with the
/// three proxies' logs.
fn private_run(
    sep: char,
    a: &TestProxy,
    b: &TestProxy,
    c: &TestProxy,
    tree: &ModTree,
    db: &SumDb,
) -> (Output, String) {
    let mut world = verifying_world(&format!("{}{sep}{}", a.url(), b.url()), db);
    world.set_env("GONOSUMDB", "example.com/private");
    world.set_env("GOSHIM_PROXIES", c.url());
    world.write_tree_main_module(tree);
    let out = timed_shim(&world, &["mod", "download"], BOUNDED).0;
    let all = with_logs(&out, &[("a", a), ("b", b), ("c", c)]);
    (out, all)
}

/// `proxy` (called `name`) never got a request for the private module.
fn assert_private_never_reached(proxy: &TestProxy, name: &str, private: &Module, all: &str) {
    assert!(
        requests_with(proxy, &private.path).is_empty(),
        "private path reached {name}\n{all}"
    );
}

/// GOPROXY=A,B: A's 502 ends go's walk for a private path (`,` moves on only
/// after 404/410), so the private module reaches neither B nor goshim's extra
/// upstream C. The public module may go anywhere, C included.
#[test]
fn private_path_after_a_502_reaches_neither_b_nor_the_extra_upstream() {
    let (tree, public, private, db) = public_and_private();
    let a = db_proxy(&tree, &db, Fault::Status(502));
    let b = db_proxy(&tree_of(&[&private]), &db, Fault::Healthy); // no public module: 404
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let (out, all) = private_run(',', &a, &b, &c, &tree, &db);
    assert!(!out.status.success(), "{all}");
    assert!(!requests_with(&a, &private.path).is_empty(), "{all}");
    assert_private_never_reached(&b, "B", &private, &all);
    assert_private_never_reached(&c, "C", &private, &all);
    assert!(
        !requests_with(&c, &public.path).is_empty(),
        "the public module should have been served by C\n{all}"
    );
    // What go prints says why B was not asked, and how to let it be.
    let err = stderr_text(&out);
    assert!(
        err.contains(&format!("{} is a private path", private.path))
            && err.contains("'|' after it lets both move on"),
        "{all}"
    );
}

/// GOPROXY=A,B with A answering 404 for the private module: go's `,` allows
/// moving on to B, which serves it; goshim's extra upstream C never sees it.
#[test]
fn private_path_404_falls_through_to_b_but_never_the_extra_upstream() {
    let (tree, public, private, db) = public_and_private();
    let a = db_proxy(&tree_of(&[&public]), &db, Fault::Healthy); // 404 for the private module
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let (out, all) = private_run(',', &a, &b, &c, &tree, &db);
    assert!(out.status.success(), "{all}");
    assert!(!requests_with(&a, &private.path).is_empty(), "{all}");
    assert!(served_zip(&b, &private), "{all}");
    assert_private_never_reached(&c, "C", &private, &all);
}

/// GOPROXY=A|B: `|` moves on after any error, so after A's 502 the private
/// module comes from B; still never from C.
#[test]
fn private_path_with_pipe_moves_on_to_b_but_never_the_extra_upstream() {
    let (tree, _public, private, db) = public_and_private();
    let a = db_proxy(&tree, &db, Fault::Status(502));
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let (out, all) = private_run('|', &a, &b, &c, &tree, &db);
    assert!(out.status.success(), "{all}");
    assert!(served_zip(&b, &private), "{all}");
    assert_private_never_reached(&c, "C", &private, &all);
}

/// A failover that worked, then a compile error: go fails for a reason of its
/// own, so goshim says nothing about proxies (and does not re-run go).
#[test]
fn a_compile_error_after_a_failover_gets_no_proxy_line() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let bad = db_proxy(&tree, &db, Fault::Status(503));
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", bad.url(), good.url()), &db);
    world.write_tree_main_module(&tree);
    let main = world.path("work/main.go");
    let broken = fs::read_to_string(&main).unwrap() + "\nfunc broken() { undefined() }\n";
    fs::write(&main, broken).unwrap();
    let (out, _) = timed_shim(&world, &["build", "-o", "out/prog", "."], BOUNDED);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(stderr_text(&out).contains("undefined"), "{}", show(&out));
    assert!(!bad.requests().is_empty(), "the primary was tried first");
    assert!(goshim_lines(&out).is_empty(), "{}", show(&out));
}

/// GOPROXY=A|B for a private path, A answering 503 and B 404: go's own walk
/// moves past A (`|`) and B, and reports A's failure, the last error that
/// was no 404 (cmd/go's TryProxies); the relay gives go a 502 naming A's
/// 503, not B's "not found".
#[test]
fn private_path_503_then_404_with_pipe_fails_with_the_503_like_go() {
    let (tree, public, private, db) = public_and_private();
    let a = db_proxy(&tree, &db, Fault::Status(503));
    let b = db_proxy(&tree_of(&[&public]), &db, Fault::Healthy); // 404 for the private module
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let (out, all) = private_run('|', &a, &b, &c, &tree, &db);
    assert!(!out.status.success(), "{all}");
    let private_lines: Vec<String> = go_lines(&out)
        .into_iter()
        .filter(|l| l.contains(&private.path))
        .collect();
    assert!(
        private_lines.iter().any(|l| says_http_status(l, 502))
            && !private_lines.iter().any(|l| says_http_status(l, 404)),
        "{all}"
    );
    assert!(stderr_text(&out).contains("answered 503"), "{all}");
    assert_private_never_reached(&c, "C", &private, &all);
}

/// GOPROXY=A,off with A down (nothing listens) and goshim's extra upstream X
/// a partial mirror, missing dep1: go alone fails on A's refused
/// connection. Through goshim dep0 comes from X (better), but X's 404 for
/// dep1 must not stand for A, which was never asked (skipped as down) or
/// refused: go gets a failure naming A, not a "not found" that walks it on
/// to `off`.
#[test]
fn a_404_from_an_extra_never_stands_for_the_users_proxy_that_was_down() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let a = refused_url();
    let x = db_proxy(&tree_of(&[&tree.modules[0]]), &db, Fault::Healthy);
    let mut world = verifying_world(&format!("{a},off"), &db);
    world.set_env("GOSHIM_PROXIES", x.url());
    world.write_tree_main_module(&tree);
    let direct = world.run_direct(&["mod", "download"]);
    assert!(!direct.status.success(), "{}", show(&direct));
    assert!(
        stderr_text(&direct).contains("connection refused"),
        "{}",
        show(&direct)
    );
    let (shim, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let all = with_logs(&shim, &[("x", &x)]);
    assert_same_failure_code("A down, X partial", &shim, &direct);
    let dep1: Vec<String> = go_lines(&shim)
        .into_iter()
        .filter(|l| l.contains("example.com/dep1"))
        .collect();
    assert!(
        dep1.iter().any(|l| says_http_status(l, 502)),
        "go should see A's failure\n{all}"
    );
    let err = stderr_text(&shim);
    assert!(
        err.contains(&format!("{a} refused the connection")) && !err.contains("GOPROXY=off"),
        "{all}"
    );
}

/// An extra candidate (GOSHIM_PROXIES) that refuses with 403 never hides the
/// "not found" of the user's own proxy: go sees the 404, as it would without
/// goshim (and would fall through to `direct` on it), not a 403.
#[test]
fn an_extra_candidates_403_never_hides_the_users_404() {
    let tree = ModTree::new(1);
    let db = db_of(&tree);
    let a = db_proxy(&tree, &db, Fault::Healthy);
    let x = db_proxy(&tree, &db, Fault::Status(403));
    let mut world = verifying_world(&a.url(), &db);
    world.set_env("GOSHIM_PROXIES", x.url());
    world.write_tree_main_module(&tree);
    let args = ["mod", "download", "example.com/nowhere@v1.0.0"];
    let (shim, _) = timed_shim(&world, &args, BOUNDED);
    let direct = run_with_timeout(&mut world.direct_cmd(args), BOUNDED);
    assert_same_failure_code("404 from the user, 403 from an extra", &shim, &direct);
    let err = stderr_text(&shim);
    assert!(
        says_http_status(&err, 404) && !says_http_status(&err, 403),
        "{}",
        show(&shim)
    );
    assert!(
        !requests_with(&x, "example.com/nowhere").is_empty(),
        "the extra candidate was asked too\n{}",
        show(&shim)
    );
}

// ---------------------------------------------------------------------------
// Credentials.

/// Userinfo on a plain-http extra upstream is not sent (as go: credentials only
/// over https); a query token on a GOPROXY entry is forwarded to that upstream.
/// Neither secret appears in goshim's or go's output, even with GOSHIM_LOG=1 in
/// a failing run, nor in any file goshim writes.
#[test]
fn credentials_reach_only_their_upstream_and_never_output_or_files() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let q = db_proxy(&tree, &db, Fault::Healthy);
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = verifying_world(&format!("{}?token={TOKEN}", q.url()), &db);
    world.set_env(
        "GOSHIM_PROXIES",
        format!("http://user:{PASSWORD}@{}", c.addr()),
    );
    world.set_env("GOSHIM_LOG", "1");
    world.write_tree_main_module(&tree);

    let ok = run_with_timeout(
        &mut world.shim_cmd(["mod", "download", "example.com/dep0@v1.0.0"]),
        BOUNDED,
    );
    assert_success("download with a token upstream", &ok);
    assert!(q.request_count() > 0);
    for r in q.requests() {
        assert_eq!(
            r.query.as_deref(),
            Some(format!("token={TOKEN}").as_str()),
            "{}: the query was not forwarded\n{}",
            r.path,
            log_of(&q)
        );
    }

    q.set_fault(Fault::Status(502));
    c.set_fault(Fault::Status(503));
    let failing = run_with_timeout(
        &mut world.shim_cmd(["mod", "download", "example.com/dep1@v1.0.0"]),
        BOUNDED,
    );
    assert!(!failing.status.success(), "{}", show(&failing));
    assert!(c.request_count() > 0, "the extra upstream was never asked");
    for r in c.requests() {
        assert_eq!(
            r.authorization, None,
            "credentials were sent over plain http to {}",
            r.path
        );
    }
    for r in q.requests() {
        assert_eq!(r.query.as_deref(), Some(format!("token={TOKEN}").as_str()));
    }
    assert_no_secret("successful run", &ok, &[]);
    assert_no_secret("failing run", &failing, &[]);
    let status = world.run(&mut world.goshim_cmd(["status", "--json"]));
    assert_no_secret("goshim status", &status, &[]);
    let cache = world.path("goshim-cache");
    let files = files_under(&cache);
    assert!(
        files.iter().any(|f| f.ends_with("health.json")),
        "{files:?}"
    );
    assert_cache_has_no_secret(&cache);
}

// ---------------------------------------------------------------------------
// Concurrency and passive health.

/// 20 `go mod download` at once through the shim, sharing one goshim cache dir
/// (one health.json, written by each run as it ends), with a primary that
/// fails every third request. Each process has its own GOMODCACHE, so each
/// downloads every module through its own relay: a shared module cache would
/// let most of them find the modules already there and barely use the relay.
#[test]
fn twenty_parallel_downloads_with_a_flaky_primary_all_succeed() {
    let tree = ModTree::new(4);
    let db = db_of(&tree);
    let flaky = db_proxy(&tree, &db, Fault::EveryNth { n: 3, status: 503 });
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", flaky.url(), good.url()), &db);
    world.write_tree_main_module(&tree);
    let started = Instant::now();
    let running: Vec<Running> = (0..20)
        .map(|i| {
            let mut cmd = world.shim_cmd(["mod", "download"]);
            cmd.env("GOMODCACHE", world.path(format!("modcache/{i}")));
            Running::spawn(&mut cmd)
        })
        .collect();
    let outs: Vec<Output> = running
        .into_iter()
        .map(|r| r.wait(Duration::from_secs(120)))
        .collect();
    eprintln!("20 parallel go mod download: {:?}", started.elapsed());
    for (i, out) in outs.iter().enumerate() {
        assert_success(&format!("parallel download {i}"), out);
        for m in &tree.modules {
            let zip = world.path(format!(
                "modcache/{i}/cache/download/{}/@v/{}.zip",
                m.path,
                m.latest()
            ));
            assert!(
                fs::read(&zip).is_ok_and(|z| z == m.zip(m.latest())),
                "{}",
                zip.display()
            );
        }
    }
    assert!(
        flaky.requests().iter().any(|r| r.status == Some(503)),
        "the primary never failed"
    );
    let doc = read_health(&world);
    for url in [flaky.url(), good.url()] {
        assert!(
            doc["proxies"]
                .as_array()
                .is_some_and(|a| a.iter().any(|p| p["url"] == url.as_str())),
            "{url} missing from health.json: {doc:#}"
        );
    }
    let leftovers: Vec<PathBuf> = files_under(&world.path("goshim-cache"))
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// Once the snapshot knows an upstream as up, a smooth run adds nothing to
/// it: the second download (fresh module cache, same healthy proxy) leaves
/// health.json byte for byte as it was, so smooth runs write no state file.
#[test]
fn a_smooth_run_leaves_the_snapshot_alone() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = verifying_world(&good.url(), &db);
    world.write_tree_main_module(&tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    assert_success("first download", &out);
    let before = fs::read(health_path(&world)).expect("the first run records the upstream");
    assert_eq!(entry(&read_health(&world), &good.url())["state"], "up");
    world.set_env("GOMODCACHE", world.path("gopath2/pkg/mod"));
    let served = good.request_count();
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    assert_success("second download", &out);
    assert!(
        good.request_count() > served,
        "the second run fetched again"
    );
    let after = fs::read(health_path(&world)).unwrap();
    assert!(
        before == after,
        "health.json changed after a smooth run:\n{}",
        String::from_utf8_lossy(&after)
    );
}

/// What the relay saw during a run feeds the snapshot: after a run where the
/// primary hung, `goshim status --json` shows it down with its error, though
/// nothing was ever probed.
#[test]
fn a_hung_primary_shows_down_in_status_without_a_probe() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let hung = db_proxy(&tree, &db, Fault::Hang);
    let good = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&format!("{},{}", hung.url(), good.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    assert_success("download with a hung primary", &out);

    let doc = status_json(&world);
    let primary = entry(&doc, &hung.url());
    assert_eq!(primary["state"], "down", "{doc:#}");
    assert!(
        primary["last_error"]
            .as_str()
            .is_some_and(|e| !e.is_empty()),
        "{doc:#}"
    );
    assert_eq!(entry(&doc, &good.url())["state"], "up", "{doc:#}");
    assert_eq!(doc["snapshot"]["present"], true, "{doc:#}");
    assert!(
        doc["snapshot"]["age_seconds"].is_null(),
        "never probed: {doc:#}"
    );
    for p in [&hung, &good] {
        assert!(
            requests_with(p, "golang.org/x/text").is_empty(),
            "a probe ran: {}",
            log_of(p)
        );
    }
}

// ---------------------------------------------------------------------------
// Large bodies.

fn big_proxy(tree: &ModTree, zip: &[u8], db: &SumDb, ranges: bool) -> TestProxy {
    let proxy = TestProxy::builder()
        .tree(tree)
        .sumdb(db)
        .ranges(ranges)
        .start();
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", zip.to_vec());
    proxy
}

/// An 8 MB zip (far more than the relay's channel holds) reaches go intact:
/// straight through, and when the primary resets half way and the secondary
/// serves the rest from a Range request. go verifies the zip against the
/// checksum database and builds.
#[test]
fn a_large_zip_passes_intact_straight_and_resumed() {
    let (tree, zip, db) = big_module_with_db(8 * 1024 * 1024);
    let m = &tree.modules[0];

    let only = big_proxy(&tree, &zip, &db, false);
    let world = verifying_world(&only.url(), &db);
    world.write_tree_main_module(&tree);
    let (out, took) = timed_shim(&world, &["build", "-o", "out/prog", "."], BOUNDED);
    eprintln!("8 MB zip, straight: {took:?}");
    assert_success("build with an 8 MB module", &out);
    assert!(cached_zip(&world, m) == zip, "the cached zip differs");
    assert_go_sum_from(&world, &tree, &db, true, &logs(&[("only", &only)]));
    assert_program_prints(&world, "work/out/prog", "big v1.0.0\n");

    let primary = big_proxy(&tree, &zip, &db, false);
    primary.set_fault_for(".zip", Fault::ResetMidBody);
    let secondary = big_proxy(&tree, &zip, &db, true);
    let world = verifying_world(&format!("{},{}", primary.url(), secondary.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, took) = timed_shim(&world, &["build", "-o", "out/prog", "."], BOUNDED);
    eprintln!("8 MB zip, resumed: {took:?}");
    let all = format!(
        "{}\n{}",
        show(&out),
        logs(&[("primary", &primary), ("secondary", &secondary)])
    );
    assert!(out.status.success(), "{all}");
    assert!(cached_zip(&world, m) == zip, "the cached zip differs");
    assert_go_sum_from(&world, &tree, &db, true, &all);
    // The reset may discard part of the half the primary wrote: the resume
    // starts somewhere after the beginning and at most half way.
    let half = (zip.len() / 2) as u64;
    assert!(
        secondary
            .requests_ending_with(".zip")
            .iter()
            .any(|r| { r.status == Some(206) && r.range_from.is_some_and(|n| n > 0 && n <= half) }),
        "no resume from a byte in 1..={half}\n{all}"
    );
}

//! "Slow is the new down" (issue 8): slow, stalled and hung upstreams with a
//! COLD relay: no health snapshot yet (a fresh world, `GOSHIM_TTL=0` so no
//! background probe either) and the relay's DEFAULT deadlines (connect 5 s,
//! response 15 s, stall 15 s). Nothing here shortens `GOSHIM_*_TIMEOUT_MS`:
//! what must get go past a slow upstream is hedging (`GOSHIM_HEDGE_DELAY_MS`,
//! left at its default except in one test) and the throughput floor, not short
//! deadlines.
//!
//! - Failover go never notices: one test per fault of the primary (each run
//!   with and without Range support), a healthy secondary; `go build` of 20
//!   small modules plus a ~2 MB one must look to go exactly like a build
//!   against the healthy proxy alone.
//! - Total outages: go fails, goshim gives one account naming every upstream,
//!   the command is not re-run, and a second run in the same world ends too.
//! - Nested go: a `go run` program that runs `go mod download` works through
//!   the outer relay, and no relay URL ends up in goshim's cache files.
//! - Fallback when the relay cannot work (`GOSHIM_FAULT_INJECT`).
//!
//! Time limits only catch hangs; no pass/fail assertion is about timing.
//! Checksum verification is on wherever go fetches modules, as for users:
//! every proxy serves the same test checksum database ([`SumDb`]) and go
//! reaches it only through the relay, so a primary's fault meets the
//! database's requests too (`supported`, lookups, tiles).

mod common;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::panic::{self, AssertUnwindSafe};
use std::process::Output;
use std::time::Duration;

use common::modtree::{Module, big_module};
use common::programs::PRINT_ENV;
use common::proxy::Request;
use common::scenario::{
    assert_go_sum_from, assert_lookup_served_by, assert_program_prints, db_proxy, files_under,
    go_lines, goshim_lines, logs, relay_urls_in, status_json, timed_shim, with_logs,
};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, refused_url, show, stdout_text};
use serde_json::Value;

/// Bound for one go command: only there to turn a hang into a failure.
const LIMIT: Duration = Duration::from_secs(90);
/// Size of the big module's zip.
const BIG_ZIP_BYTES: usize = 2 * 1024 * 1024;
/// The command of the failover tests.
const BUILD: &[&str] = &["build", "-o", "out/prog", "."];

/// A cold world: GOPROXY as given, no snapshot, no background probe, the
/// relay's default deadlines and hedging, and checksum verification on
/// against `db` (reached through GOPROXY).
fn cold_world(goproxy: &str, db: &SumDb) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSHIM_TTL", "0");
    world.verify_with(db);
    world
}

fn assert_cold(world: &World) {
    assert!(
        !world.path("goshim-cache/health.json").exists(),
        "the world is not cold: a health snapshot exists"
    );
}

/// `host:port` of an `http://host:port[/...]` URL.
fn host_port(url: &str) -> &str {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}

/// [`timed_shim`] bounded by [`LIMIT`]; if go has to be killed, the proxies'
/// logs go with the failure (they show where it was stuck).
fn bounded_shim(
    world: &World,
    args: &[&str],
    proxies: &[(&str, &TestProxy)],
) -> (Output, Duration) {
    panic::catch_unwind(AssertUnwindSafe(|| timed_shim(world, args, LIMIT))).unwrap_or_else(|e| {
        eprintln!("{}", logs(proxies));
        panic::resume_unwind(e)
    })
}

fn sorted(mut lines: Vec<String>) -> Vec<String> {
    lines.sort();
    lines
}

// ---------------------------------------------------------------------------
// The test proxy's new fault.

/// `StallMidBody` sends the headers with the full Content-Length and half the
/// body, then nothing, with the connection left open until the proxy is dropped.
#[test]
fn test_proxy_stall_mid_body_sends_half_and_holds_the_connection() {
    let tree = ModTree::new(1);
    let zip = tree.modules[0].zip("v1.0.0");
    let proxy = TestProxy::builder().tree(&tree).start();
    proxy.set_fault_for(".zip", Fault::StallMidBody);
    let mut s = TcpStream::connect(proxy.addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    write!(
        s,
        "GET /example.com/dep0/@v/v1.0.0.zip HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    let err = loop {
        match s.read(&mut chunk) {
            Ok(0) => panic!("connection closed after {} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "{err:?}"
    );
    let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&got[..end]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("Content-Length: {}\r\n", zip.len())),
        "{head}"
    );
    assert_eq!(&got[end..], &zip[..zip.len() / 2]);
    let logged = proxy.requests();
    assert_eq!(logged.len(), 1);
    assert_eq!(
        (logged[0].status, &logged[0].fault),
        (Some(200), &Fault::StallMidBody)
    );
    drop(proxy);
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    match s.read(&mut chunk) {
        Ok(0) => {}
        Ok(n) => panic!("{n} more bytes after the proxy was dropped"),
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset, "{e:?}"),
    }
}

// ---------------------------------------------------------------------------
// Failover go never notices.

/// `n` small modules and `example.com/big` (~2 MB zip); the main module needs
/// them all. Returns the tree, the big zip and the checksum database of them all.
fn project(n: usize) -> (ModTree, Vec<u8>, SumDb) {
    let mut tree = ModTree::new(n);
    let mut db = SumDb::from_tree(SUMDB_NAME, &tree);
    let (big, zip) = big_module(BIG_ZIP_BYTES);
    let m = &big.modules[0];
    db.add(&m.path, m.latest(), &zip, &m.go_mod());
    tree.modules.extend(big.modules);
    (tree, zip, db)
}

/// The zip published for `m`.
fn published_zip(m: &Module, big_zip: &[u8]) -> Vec<u8> {
    if m.path == "example.com/big" {
        big_zip.to_vec()
    } else {
        m.zip(m.latest())
    }
}

/// A healthy proxy serving the project (its big zip included) and its database.
fn project_proxy(tree: &ModTree, big_zip: &[u8], db: &SumDb, ranges: bool) -> TestProxy {
    let proxy = TestProxy::builder()
        .tree(tree)
        .sumdb(db)
        .ranges(ranges)
        .start();
    proxy.insert_file("example.com/big/@v/v1.0.0.zip", big_zip.to_vec());
    proxy
}

/// Every zip of the project is in the module cache byte for byte as published.
fn assert_zips_intact(world: &World, tree: &ModTree, big_zip: &[u8], ctx: &str) {
    for m in &tree.modules {
        let path = world.path(format!(
            "gopath/pkg/mod/cache/download/{}/@v/{}.zip",
            m.path,
            m.latest()
        ));
        let cached = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}\n{ctx}", path.display()));
        assert!(
            cached == published_zip(m, big_zip),
            "{}: the cached zip differs from the published one\n{ctx}",
            m.path
        );
    }
}

/// go's stderr lines (sorted) for [`BUILD`] in a fresh world whose GOPROXY is
/// one healthy proxy: what go must see whatever the primary does.
fn reference_lines(tree: &ModTree, big_zip: &[u8], db: &SumDb) -> Vec<String> {
    let healthy = project_proxy(tree, big_zip, db, false);
    let world = cold_world(&healthy.url(), db);
    world.write_tree_main_module(tree);
    let (out, _) = timed_shim(&world, BUILD, LIMIT);
    assert!(
        out.status.success() && goshim_lines(&out).is_empty(),
        "reference build against the healthy proxy alone\n{}",
        show(&out)
    );
    let lines = sorted(go_lines(&out));
    assert!(
        lines.iter().any(|l| l.contains("example.com/big")),
        "the reference shows no download: {lines:?}"
    );
    assert_go_sum_from(&world, tree, db, true, &show(&out));
    lines
}

/// One failover run: GOPROXY=<primary, faulty>,<secondary, healthy>, both
/// with or without Range support; `extra_env` on top of the cold world.
/// go's build succeeds, every module verified against the database and,
/// as far as go can tell, nothing happened. Returns the primary's log.
fn assert_go_never_notices(
    fault: &dyn Fn(&TestProxy),
    ranges: bool,
    extra_env: &[(&str, &str)],
    (tree, big_zip, db): (&ModTree, &[u8], &SumDb),
    reference: &[String],
) -> Vec<Request> {
    let primary = project_proxy(tree, big_zip, db, ranges);
    fault(&primary);
    let secondary = project_proxy(tree, big_zip, db, ranges);
    let mut world = cold_world(&format!("{},{}", primary.url(), secondary.url()), db);
    for (k, v) in extra_env {
        world.set_env(k, v);
    }
    world.write_tree_main_module(tree);
    assert_cold(&world);
    let (out, took) = bounded_shim(
        &world,
        BUILD,
        &[("primary", &primary), ("secondary", &secondary)],
    );
    eprintln!("ranges={ranges}: go build took {took:?}");
    let ctx = format!(
        "ranges={ranges} {extra_env:?}\n{}\n{}",
        show(&out),
        logs(&[("primary", &primary), ("secondary", &secondary)])
    );
    assert!(out.status.success(), "go build failed\n{ctx}");
    assert!(goshim_lines(&out).is_empty(), "goshim spoke\n{ctx}");
    assert_eq!(
        sorted(go_lines(&out)),
        reference,
        "go's stderr differs from a build against the healthy proxy alone\n{ctx}"
    );
    assert_zips_intact(&world, tree, big_zip, &ctx);
    assert_go_sum_from(&world, tree, db, true, &ctx);
    assert_program_prints(&world, "work/out/prog", &tree.expected_output());
    // The fault was really exercised.
    assert!(
        primary.requests().iter().any(|r| r.fault != Fault::Healthy),
        "the primary's fault never applied\n{ctx}"
    );
    primary.requests()
}

/// [`assert_go_never_notices`] with both proxies honouring Range, then neither.
/// Returns the primary's log of each run.
fn go_never_notices(fault: impl Fn(&TestProxy)) -> Vec<Vec<Request>> {
    let (tree, big_zip, db) = project(20);
    let reference = reference_lines(&tree, &big_zip, &db);
    [true, false]
        .into_iter()
        .map(|ranges| {
            assert_go_never_notices(&fault, ranges, &[], (&tree, &big_zip, &db), &reference)
        })
        .collect()
}

/// [`go_never_notices`] with `fault` on the primary's big zip only: the
/// body-level faults are about it (2 MB at 20 KiB/s would take 100 s). On
/// every zip, a small zip's fault could demote the primary before go asks for
/// the big one, and the fault would never meet the big body (the small-zip
/// cases are in tests/relay.rs). The big zip must have been asked of the
/// primary, and got the fault.
fn go_never_notices_zip_fault(fault: Fault) {
    let logs = go_never_notices(|p| p.set_fault_for("/big/@v/v1.0.0.zip", fault.clone()));
    for (ranges, log) in [true, false].iter().zip(&logs) {
        assert!(
            log.iter()
                .any(|r| r.path == "/example.com/big/@v/v1.0.0.zip" && r.fault == fault),
            "ranges={ranges}: the big zip was never asked of the faulty primary: {log:#?}"
        );
    }
}

#[test]
fn go_never_notices_a_hung_primary() {
    go_never_notices(|p| p.set_fault(Fault::Hang));
}

#[test]
fn go_never_notices_a_primary_answering_after_3s() {
    go_never_notices(|p| p.set_fault(Fault::Delay(Duration::from_secs(3))));
}

/// ~20 KiB/s: never a stall, but the 2 MB zip would take about 100 s.
#[test]
fn go_never_notices_a_primary_dripping_zips_at_20_kib_per_s() {
    go_never_notices_zip_fault(Fault::SlowDrip {
        bytes_per_chunk: 2048,
        delay: Duration::from_millis(100),
    });
}

#[test]
fn go_never_notices_a_primary_stalling_mid_zip() {
    go_never_notices_zip_fault(Fault::StallMidBody);
}

#[test]
fn go_never_notices_a_primary_resetting_mid_zip() {
    go_never_notices_zip_fault(Fault::ResetMidBody);
}

#[test]
fn go_never_notices_a_primary_truncating_zips() {
    // TruncatedZip only ever applies to zips.
    go_never_notices_zip_fault(Fault::TruncatedZip);
}

#[test]
fn go_never_notices_a_primary_answering_502() {
    go_never_notices(|p| p.set_fault(Fault::Status(502)));
}

#[test]
fn go_never_notices_a_primary_answering_503() {
    go_never_notices(|p| p.set_fault(Fault::Status(503)));
}

#[test]
fn go_never_notices_a_rate_limited_primary() {
    go_never_notices(|p| {
        p.set_fault(Fault::Status429 {
            retry_after_secs: 60,
        })
    });
}

#[test]
fn go_never_notices_a_primary_failing_every_second_request() {
    go_never_notices(|p| p.set_fault(Fault::EveryNth { n: 2, status: 503 }));
}

/// Hedging off: a primary answering after 3 s is simply waited for (it is
/// well within the response deadline); the build still succeeds and go still
/// sees nothing. No timing assertion: it is only slower. A smaller project
/// (3 modules and the big one): without hedging, each request costs 3 s and
/// go has only a few requests in flight at a time (on 2 cores the 21-module
/// build takes about 90 s even with plain go).
#[test]
fn with_hedging_off_a_3s_primary_is_waited_for() {
    let (tree, big_zip, db) = project(3);
    let reference = reference_lines(&tree, &big_zip, &db);
    assert_go_never_notices(
        &|p: &TestProxy| p.set_fault(Fault::Delay(Duration::from_secs(3))),
        true,
        &[("GOSHIM_HEDGE_DELAY_MS", "0")],
        (&tree, &big_zip, &db),
        &reference,
    );
}

/// A primary that lost its races (it answers every request 3 s late) is
/// recorded as slow, not down, and the next run starts with the faster
/// upstream: `goshim status --json` lists it first.
#[test]
fn a_primary_that_lost_races_comes_second_in_the_next_run() {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let slow = db_proxy(&tree, &db, Fault::Delay(Duration::from_secs(3)));
    let fast = db_proxy(&tree, &db, Fault::Healthy);
    let world = cold_world(&format!("{},{}", slow.url(), fast.url()), &db);
    world.write_tree_main_module(&tree);
    let (out, _) = bounded_shim(
        &world,
        &["mod", "download"],
        &[("slow", &slow), ("fast", &fast)],
    );
    assert!(out.status.success(), "{}", show(&out));
    let status = status_json(&world);
    let order: Vec<&str> = status["proxies"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["url"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(order, [fast.url(), slow.url()], "{status:#}");
    let slow_entry = &status["proxies"][1];
    assert_ne!(slow_entry["state"], "down", "slow is not down: {status:#}");
}

/// With checksum verification on, go's first question to the database is
/// `/sumdb/<name>/supported`: it is hedged like any request. The primary
/// hangs on it, with a response deadline of an hour, so only hedging can get
/// past it within the hang-catching bound; the secondary, serving the same
/// database, is asked for `supported` and then for go's lookups, and go
/// verifies the module.
#[test]
fn sumdb_supported_is_hedged_past_a_hung_primary() {
    let tree = ModTree::new(1);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let supported = format!("/sumdb/{SUMDB_NAME}/supported");
    // Healthy for modules (so nothing else demotes it first), hung on `supported`.
    let hung = db_proxy(&tree, &db, Fault::Healthy);
    hung.set_fault_for(&supported, Fault::Hang);
    let with = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = cold_world(&format!("{},{}", hung.url(), with.url()), &db);
    world.set_env("GOSHIM_RESPONSE_TIMEOUT_MS", "3600000");
    world.write_tree_main_module(&tree);
    let proxies = [("hung", &hung), ("with", &with)];
    let (out, _) = bounded_shim(&world, &["mod", "download"], &proxies);
    let all = with_logs(&out, &proxies);
    assert!(out.status.success(), "{all}");
    assert_go_sum_from(&world, &tree, &db, false, &all);
    assert!(
        hung.request_paths().contains(&supported),
        "the hung primary was asked first\n{all}"
    );
    assert!(with.request_paths().contains(&supported), "{all}");
    assert_lookup_served_by(&with, &tree, &all);
}

// ---------------------------------------------------------------------------
// Total outages.

/// `go mod download` of 20 modules, twice in the same cold world, with every
/// upstream in `goproxy` out of order (`upstreams`: their URLs). Each run must
/// end (within [`LIMIT`]) with a failure, and goshim's stderr must give one
/// account naming every upstream.
///
/// No re-run: `go mod download` stops at the first module it cannot load
/// and prints one `go: <module>@<version>: reading <relay URL>/...` line (the
/// only line of its error block that names the relay). A re-run prints
/// another such line, naming the same relay or a new one, for the same or
/// another module: so exactly one line naming a relay means one run. (The proxies' logs are no good for this: with hedging an upstream
/// may be asked for a path more than once in one run, and a refused
/// upstream logs nothing.)
fn assert_outage_ends(goproxy: &str, upstreams: &[String], proxies: &[(&str, &TestProxy)]) {
    let tree = ModTree::new(20);
    let world = cold_world(goproxy, &SumDb::from_tree(SUMDB_NAME, &tree));
    world.write_tree_main_module(&tree);
    assert_cold(&world);
    for run in 1..=2 {
        let (out, took) = bounded_shim(&world, &["mod", "download"], proxies);
        eprintln!("outage, run {run}: {took:?}");
        let ctx = format!("run {run} of GOPROXY={goproxy}\n{}", show(&out));
        assert!(!out.status.success(), "go succeeded\n{ctx}");
        let account = goshim_lines(&out);
        assert!(
            account
                .iter()
                .any(|l| upstreams.iter().all(|u| l.contains(host_port(u)))),
            "no goshim line names every upstream ({upstreams:?})\n{ctx}"
        );
        let mut distinct = account.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            account.len(),
            "goshim repeats itself\n{ctx}"
        );
        let relay_lines: Vec<String> = go_lines(&out)
            .into_iter()
            .filter(|l| !relay_urls_in(l).is_empty())
            .collect();
        assert_eq!(
            relay_lines.len(),
            1,
            "expected go's error naming the relay exactly once (more: the command was re-run)\n{ctx}"
        );
    }
}

#[test]
fn outage_hung_then_503_fails_once_and_names_both() {
    let tree = ModTree::new(20);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let hung = db_proxy(&tree, &db, Fault::Hang);
    let bad = db_proxy(&tree, &db, Fault::Status(503));
    assert_outage_ends(
        &format!("{},{}", hung.url(), bad.url()),
        &[hung.url(), bad.url()],
        &[("hung", &hung), ("503", &bad)],
    );
}

#[test]
fn outage_two_hung_upstreams_fails_once_and_names_both() {
    let tree = ModTree::new(20);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let a = db_proxy(&tree, &db, Fault::Hang);
    let b = db_proxy(&tree, &db, Fault::Hang);
    assert_outage_ends(
        &format!("{},{}", a.url(), b.url()),
        &[a.url(), b.url()],
        &[("hung a", &a), ("hung b", &b)],
    );
}

#[test]
fn outage_stalled_mid_body_then_refused_fails_once_and_names_both() {
    let tree = ModTree::new(20);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let stalled = db_proxy(&tree, &db, Fault::StallMidBody);
    let refused = refused_url();
    assert_outage_ends(
        &format!("{},{refused}", stalled.url()),
        &[stalled.url(), refused.clone()],
        &[("stalled", &stalled)],
    );
}

// ---------------------------------------------------------------------------
// Nested go.

/// Runs `<arg 1> mod download -json <arg 2>` and then of `<arg 3>` (a module
/// no proxy has), printing its GOPROXY and what the inner commands printed.
const NESTED: &str = r#"package main

import (
	"fmt"
	"os"
	"os/exec"
)

func download(what string) (string, error) {
	cmd := exec.Command(os.Args[1], "mod", "download", "-json", what)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	return string(out), err
}

func main() {
	fmt.Printf("GOPROXY=%s\n", os.Getenv("GOPROXY"))
	out, err := download(os.Args[2])
	fmt.Printf("=== found\n%s", out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "inner go mod download %s: %v\n", os.Args[2], err)
		os.Exit(1)
	}
	out, _ = download(os.Args[3])
	fmt.Printf("=== missing\n%s", out)
}
"#;

/// The text after `=== <name>\n` up to the next `===` line.
fn section<'a>(text: &'a str, name: &str) -> &'a str {
    let start = text
        .find(&format!("=== {name}\n"))
        .map(|i| i + name.len() + 5)
        .unwrap_or_else(|| panic!("no section {name} in:\n{text}"));
    let rest = &text[start..];
    &rest[..rest.find("\n===").map_or(rest.len(), |i| i + 1)]
}

/// `go run` of a program that itself runs `go mod download` through the shim.
/// The inner download goes through the outer relay to the proxy, the inner go
/// sees the same GOPROXY as the outer one, and no relay URL (they hold a
/// token and die with their run) is left in any file of goshim's cache dir.
///
/// The program calls the shim by its path: `go run` puts `$GOROOT/bin` first
/// on its program's PATH, so `go` by name would be the real go.
#[test]
fn nested_go_downloads_through_the_outer_relay_and_leaves_no_relay_url() {
    let tree = ModTree::new(1);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    let world = cold_world(&proxy.url(), &db);
    world.write_main_module(NESTED);
    let m = &tree.modules[0];
    let wanted = format!("{}@{}", m.path, m.latest());
    let shim = world.shim();
    let args = [
        "run",
        ".",
        shim.to_str().unwrap(),
        &wanted,
        "example.com/nowhere@v1.0.0",
    ];
    let (out, took) = bounded_shim(&world, &args, &[("proxy", &proxy)]);
    eprintln!("nested go: {took:?}");
    let ctx = with_logs(&out, &[("proxy", &proxy)]);
    assert!(out.status.success(), "go run failed\n{ctx}");
    let text = stdout_text(&out);
    let outer_goproxy = text
        .lines()
        .find_map(|l| l.strip_prefix("GOPROXY="))
        .unwrap_or_else(|| panic!("no GOPROXY line\n{ctx}"));
    let outer_relay = relay_urls_in(outer_goproxy);
    assert_eq!(
        outer_relay,
        [outer_goproxy],
        "go run did not get the relay\n{ctx}"
    );

    let found: Value = serde_json::from_str(section(&text, "found"))
        .unwrap_or_else(|e| panic!("inner -json output: {e}\n{ctx}"));
    assert_eq!(found["Path"], m.path.as_str(), "{ctx}");
    assert_eq!(found["Version"], m.latest(), "{ctx}");
    assert!(found["Error"].is_null(), "{ctx}");
    let zip = found["Zip"].as_str().unwrap_or_else(|| panic!("{ctx}"));
    assert!(
        fs::read(zip).is_ok_and(|z| z == m.zip(m.latest())),
        "{zip}\n{ctx}"
    );
    assert!(
        proxy
            .requests_ending_with(&format!("/{}/@v/{}.zip", m.path, m.latest()))
            .iter()
            .any(|r| r.status == Some(200)),
        "the proxy never served the zip\n{ctx}"
    );
    // The inner go verified it through the outer relay.
    let lookup = format!("/sumdb/{SUMDB_NAME}/lookup/{wanted}");
    assert!(
        proxy.request_paths().contains(&lookup),
        "no {lookup}\n{ctx}"
    );

    let token = outer_goproxy.rsplit('/').next().unwrap().to_string();
    let files = files_under(&world.path("goshim-cache"));
    for f in &files {
        let content = String::from_utf8_lossy(&fs::read(f).unwrap()).into_owned();
        assert!(
            !content.contains(&token) && relay_urls_in(&content).is_empty(),
            "{} holds a relay URL:\n{content}\n{ctx}",
            f.display()
        );
    }

    // The inner go names the GOPROXY it was given in its error: the outer relay.
    let missing: Value = serde_json::from_str(section(&text, "missing"))
        .unwrap_or_else(|e| panic!("inner -json output: {e}\n{ctx}"));
    let error = missing["Error"].as_str().unwrap_or_else(|| panic!("{ctx}"));
    assert_eq!(
        relay_urls_in(error),
        outer_relay,
        "the inner go's GOPROXY differs from the outer go's\n{ctx}"
    );
}

// ---------------------------------------------------------------------------
// Fallback when the relay cannot work.

/// With `GOSHIM_FAULT_INJECT=<inject>`, `go mod download` against a healthy
/// proxy still succeeds, silently; with `GOSHIM_LOG=debug` goshim mentions
/// the relay (the fallback); and go gets the user's own GOPROXY (seen by a
/// `go run` program).
fn assert_falls_back(inject: &str) {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = cold_world(&proxy.url(), &db);
    world.set_env("GOSHIM_FAULT_INJECT", inject);
    world.write_tree_main_module(&tree);
    let (out, _) = bounded_shim(&world, &["mod", "download"], &[("proxy", &proxy)]);
    let ctx = with_logs(&out, &[("proxy", &proxy)]);
    assert!(out.status.success(), "go mod download failed\n{ctx}");
    assert!(goshim_lines(&out).is_empty(), "goshim spoke\n{ctx}");
    for m in &tree.modules {
        let cached = world.path(format!(
            "gopath/pkg/mod/cache/download/{}/@v/{}.zip",
            m.path,
            m.latest()
        ));
        assert!(
            fs::read(&cached).is_ok_and(|z| z == m.zip(m.latest())),
            "{}\n{ctx}",
            cached.display()
        );
    }
    assert_go_sum_from(&world, &tree, &db, false, &ctx);

    // Again with diagnostics, into an empty module cache (so go fetches again).
    let mut cmd = world.shim_cmd(["mod", "download"]);
    cmd.env("GOSHIM_LOG", "debug")
        .env("GOMODCACHE", world.path("modcache2"));
    let out = common::run_with_timeout(&mut cmd, LIMIT);
    assert!(
        out.status.success(),
        "with GOSHIM_LOG=debug\n{}",
        show(&out)
    );
    // "<loopback relay>" is the routine line saying go was given the relay:
    // not an account of the fallback.
    assert!(
        goshim_lines(&out)
            .iter()
            .any(|l| l.contains("relay") && !l.contains("<loopback relay>")),
        "no goshim line mentions the relay's fallback\n{}",
        show(&out)
    );

    world.write_module("printenv", "example.com/printenv", PRINT_ENV);
    let mut cmd = world.shim_cmd(["run", ".", "GOPROXY"]);
    cmd.current_dir(world.path("printenv"));
    let out = common::run_with_timeout(&mut cmd, LIMIT);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        stdout_text(&out),
        format!("GOPROXY={}\n", proxy.url()),
        "go did not get the user's GOPROXY\n{}",
        show(&out)
    );
}

/// Binding the relay fails.
#[test]
fn relay_start_failure_falls_back_to_the_users_goproxy() {
    assert_falls_back("relay_start");
}

/// The relay's async runtime cannot be built.
#[test]
fn relay_runtime_failure_falls_back_to_the_users_goproxy() {
    assert_falls_back("runtime");
}

//! The real go through the shim with checksum verification on, against a
//! checksum database of the test's own ([`common::sumdb::SumDb`]) served by
//! the test proxies under `/sumdb/<name>/`. GOSUMDB is the database's key
//! alone, so go reaches it only through GOPROXY, i.e. through the relay; its
//! direct address (`https://sum.goshim.test`) leads nowhere.
//!
//! What goshim owes go here: sumdb requests are raced and hedged like all
//! others, so a sick primary costs nothing; and a checksum failure is go's to
//! report: goshim neither retries it nor hides it, nor touches GOSUMDB,
//! GONOSUMDB or GOFLAGS. Where two upstreams take part they serve the same
//! database, as mirrors of one database do: a tree head from one and tiles
//! from the other must agree.
//!
//! Every world gets `GOSHIM_TTL=0` (no background probe), 1 s relay deadlines
//! and `GOSHIM_LOG=1` (goshim prints one `goshim: run` line per go run).

mod common;

use std::process::Output;
use std::time::Duration;

use common::programs::PRINT_ENV;
use common::scenario::{
    assert_go_sum_from, db_proxy, go_lines, go_runs, go_sum, logs, timed_shim, with_logs,
};
use common::sumdb::{Lie, SUMDB_NAME, SumDb};
use common::{Fault, ModTree, TestProxy, World, show, stderr_text, stdout_text};

/// Bound for one go command whose upstream trouble the relay must absorb.
const BOUNDED: Duration = Duration::from_secs(60);
/// Relay deadlines (connect, response headers, stall).
const DEADLINE_MS: &str = "1000";

/// A world whose go verifies against `db` through the relay in front of `goproxy`.
fn verifying_world(goproxy: &str, db: &SumDb, tree: &ModTree) -> World {
    let mut world = World::new();
    world.set_env("GOPROXY", goproxy);
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOSHIM_LOG", "1");
    world.set_env("GOSHIM_CONNECT_TIMEOUT_MS", DEADLINE_MS);
    world.set_env("GOSHIM_RESPONSE_TIMEOUT_MS", DEADLINE_MS);
    world.set_env("GOSHIM_STALL_TIMEOUT_MS", DEADLINE_MS);
    world.verify_with(db);
    world.write_tree_main_module(tree);
    world
}

/// Paths in `proxy`'s log under `/sumdb/<name>/<kind>`.
fn sumdb_paths(proxy: &TestProxy, kind: &str) -> Vec<String> {
    let prefix = format!("/sumdb/{SUMDB_NAME}/{kind}");
    proxy
        .request_paths()
        .into_iter()
        .filter(|p| p.starts_with(&prefix))
        .collect()
}

fn assert_success(what: &str, out: &Output, context: &str) {
    assert!(
        out.status.success(),
        "{what}: expected success\n{}{context}",
        show(out)
    );
}

/// The only proxy fails `sumdb/<name>/supported` (503, a 403, or no answer
/// at all): go alone calls the checksum database unavailable and names
/// the proxy's answer; it never goes around the proxy to the database
/// (behind a firewall that fails, naming sum.golang.org). Through goshim
/// the same: go is told of the failure, never "not found".
#[test]
fn a_failing_supported_is_no_404_that_sends_go_to_the_database_directly() {
    let tree = ModTree::new(1);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    for (fault, code) in [
        (Fault::Status(503), 503),
        (Fault::Status(403), 403),
        (Fault::Hang, 0),
    ] {
        let proxy = db_proxy(&tree, &db, Fault::Healthy);
        proxy.set_fault_containing("/supported", fault.clone());
        let world = verifying_world(&proxy.url(), &db, &tree);
        let direct_address = format!("https://{SUMDB_NAME}");
        if code != 0 {
            // (go alone waits forever on a proxy that never answers.)
            let direct = world.run_direct(&["mod", "download"]);
            assert!(!direct.status.success(), "{}", show(&direct));
            let err = stderr_text(&direct);
            assert!(
                err.contains(&code.to_string()) && !err.contains(&direct_address),
                "go alone: {}",
                show(&direct)
            );
        }
        let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
        let ctx = with_logs(&out, &[("proxy", &proxy)]);
        assert!(!out.status.success(), "{fault:?}\n{ctx}");
        let err = go_lines(&out).join("\n");
        assert!(
            err.contains(&format!("/sumdb/{SUMDB_NAME}/supported"))
                && !err.contains(&direct_address)
                && !err.contains("404 Not Found"),
            "{fault:?}: go must see the proxy's failure\n{ctx}"
        );
        if code == 403 {
            assert!(err.contains("403 Forbidden"), "{ctx}");
        }
    }
}

/// Runs `<shim> mod download -json <what>` with GOSUMDB set to `os.Args[2]`
/// (which may fail: its database is served nowhere), then with the
/// inherited GOSUMDB for `os.Args[4]`, which must succeed.
const TWO_DATABASES: &str = r#"package main

import (
	"fmt"
	"os"
	"os/exec"
)

func download(gosumdb, what string) error {
	cmd := exec.Command(os.Args[1], "mod", "download", "-json", what)
	if gosumdb != "" {
		cmd.Env = append(os.Environ(), "GOSUMDB="+gosumdb)
	}
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	fmt.Printf("%s", out)
	return err
}

func main() {
	_ = download(os.Args[2], os.Args[3])
	if err := download("", os.Args[4]); err != nil {
		fmt.Fprintf(os.Stderr, "inner go mod download %s: %v\n", os.Args[4], err)
		os.Exit(1)
	}
}
"#;

/// A nested go with another GOSUMDB, whose database the only proxy does
/// not serve (404 to its `supported`), says nothing about the outer
/// database: the next go with the outer GOSUMDB still has its `supported`
/// answered 200 by the proxy and verifies through it, and the health
/// snapshot keeps `sumdb: true` for the database it records (GOSUMDB's).
#[test]
fn another_database_s_404_leaves_the_outer_database_s_routing_alone() {
    let tree = ModTree::new(2);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let other = SumDb::new("sum2.goshim.test");
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    proxy.set_fault_containing("/sumdb/sum2.goshim.test/", Fault::Status(404));
    let world = verifying_world(&proxy.url(), &db, &tree);
    world.write_main_module(TWO_DATABASES);
    let shim = world.shim();
    let (out, _) = timed_shim(
        &world,
        &[
            "run",
            ".",
            shim.to_str().unwrap(),
            &other.verifier_key(),
            "example.com/dep1@v1.0.0",
            "example.com/dep0@v1.0.0",
        ],
        BOUNDED,
    );
    let ctx = with_logs(&out, &[("proxy", &proxy)]);
    assert_success("go run", &out, &ctx);
    let supported = format!("/sumdb/{SUMDB_NAME}/supported");
    assert!(proxy.request_paths().contains(&supported), "{ctx}");
    let lookup = format!("/sumdb/{SUMDB_NAME}/lookup/example.com/dep0@v1.0.0");
    assert!(proxy.request_paths().contains(&lookup), "{ctx}");
    let health = common::scenario::read_health(&world);
    let entry = common::scenario::entry(&health, &proxy.url());
    assert_ne!(entry["sumdb"], false, "{health:#}\n{ctx}");
}

// ---------------------------------------------------------------------------
// A healthy database.

/// `go mod download` and `go build` verify every module against the database
/// through the relay: go.sum gets the database's lines, and the proxy's log
/// shows the lookups and the tiles that proved them. The direct go, given the
/// proxy itself, writes the same go.sum.
#[test]
fn verified_download_and_build_through_the_relay() {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&proxy.url(), &db, &tree);
    let context = logs(&[("proxy", &proxy)]);

    let (download, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    assert_success("go mod download", &download, &context);
    let (build, _) = timed_shim(&world, &["build", "-o", "app", "."], BOUNDED);
    let context = logs(&[("proxy", &proxy)]);
    assert_success("go build", &build, &context);
    assert_go_sum_from(&world, &tree, &db, true, "");
    let ran = world.run(&mut world.cmd(world.work_dir().join("app"), [""; 0]));
    assert_eq!(stdout_text(&ran), tree.expected_output(), "{}", show(&ran));

    for m in &tree.modules {
        let lookup = format!("/sumdb/{SUMDB_NAME}/lookup/{}@{}", m.path, m.latest());
        assert!(
            proxy.request_paths().contains(&lookup),
            "no {lookup}\n{context}"
        );
    }
    assert!(
        !sumdb_paths(&proxy, "tile/8/0/").is_empty(),
        "no hash tile\n{context}"
    );

    // The arbiter: the real go on its own, same database, same go.sum.
    let direct = verifying_world(&proxy.url(), &db, &tree);
    let out = direct.run_direct(&["mod", "download"]);
    assert_success("direct go mod download", &out, "");
    let out = direct.run_direct(&["build", "-o", "app", "."]);
    assert_success("direct go build", &out, "");
    assert_eq!(go_sum(&direct), go_sum(&world), "go.sum, direct vs shim");
}

/// 280 records: go's proofs now need a full tile (`tile/8/0/000`), a partial
/// one after it and a level-1 tile, so those formats are checked by go too.
/// (28 versions a module: the `.info` times are days of one month.)
#[test]
fn verified_in_a_log_larger_than_a_tile() {
    let versions: Vec<String> = (0..28).map(|i| format!("v1.0.{i}")).collect();
    let versions: Vec<&str> = versions.iter().map(String::as_str).collect();
    let tree = ModTree::with_versions(10, &versions);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&proxy.url(), &db, &tree);
    let (out, _) = timed_shim(&world, &["build", "-o", "app", "."], BOUNDED);
    let context = logs(&[("proxy", &proxy)]);
    assert_success("go build", &out, &context);
    assert_go_sum_from(&world, &tree, &db, true, "");
    let tiles = sumdb_paths(&proxy, "tile/");
    for tile in ["tile/8/0/000", "tile/8/0/001.p/24", "tile/8/1/000.p/1"] {
        let path = format!("/sumdb/{SUMDB_NAME}/{tile}");
        assert!(tiles.contains(&path), "no {path}\n{context}");
    }
}

// ---------------------------------------------------------------------------
// A sick primary: the relay absorbs it.

/// Primary (made sick by `fault`) and secondary serve the same modules and
/// database; go builds the tree's main module through the shim.
struct Pair {
    tree: ModTree,
    db: SumDb,
    primary: TestProxy,
    secondary: TestProxy,
    world: World,
    out: Output,
}

impl Pair {
    fn run(fault: impl FnOnce(&TestProxy)) -> Pair {
        let tree = ModTree::new(3);
        let db = SumDb::from_tree(SUMDB_NAME, &tree);
        let primary = db_proxy(&tree, &db, Fault::Healthy);
        fault(&primary);
        let secondary = db_proxy(&tree, &db, Fault::Healthy);
        let goproxy = format!("{},{}", primary.url(), secondary.url());
        let world = verifying_world(&goproxy, &db, &tree);
        let (out, took) = timed_shim(&world, &["build", "-o", "app", "."], BOUNDED);
        eprintln!("go build: {took:?}");
        Pair {
            tree,
            db,
            primary,
            secondary,
            world,
            out,
        }
    }

    fn logs(&self) -> String {
        with_logs(
            &self.out,
            &[("primary", &self.primary), ("secondary", &self.secondary)],
        )
    }

    /// go verified and built in one run, with the database's go.sum lines,
    /// and the secondary answered `kind` requests (e.g. "lookup/", "tile/").
    fn assert_verified_via_secondary(&self, kind: &str) {
        assert_success("go build", &self.out, &self.logs());
        assert_eq!(go_runs(&self.out), 1, "{}", self.logs());
        assert_go_sum_from(&self.world, &self.tree, &self.db, true, &self.logs());
        let served = self.secondary.requests().into_iter().any(|r| {
            r.path.contains(&format!("/sumdb/{SUMDB_NAME}/{kind}")) && r.status == Some(200)
        });
        assert!(served, "the secondary served no {kind}\n{}", self.logs());
    }
}

/// The primary never answers a sumdb request: each is hedged to the secondary.
#[test]
fn hung_primary_sumdb_is_hedged_to_the_secondary() {
    let p = Pair::run(|p| p.set_fault_containing("/sumdb/", Fault::Hang));
    p.assert_verified_via_secondary("lookup/");
    p.assert_verified_via_secondary("tile/");
}

/// The primary answers 503 to every sumdb request.
#[test]
fn primary_sumdb_503_fails_over_to_the_secondary() {
    let p = Pair::run(|p| p.set_fault_containing("/sumdb/", Fault::Status(503)));
    p.assert_verified_via_secondary("lookup/");
    p.assert_verified_via_secondary("tile/");
}

/// The primary cuts every lookup and tile off halfway (then a reset): the
/// relay completes each from the secondary.
#[test]
fn sumdb_bodies_cut_off_by_the_primary_are_completed_from_the_secondary() {
    let p = Pair::run(|p| p.set_fault_containing("/sumdb/", Fault::ResetMidBody));
    p.assert_verified_via_secondary("lookup/");
    p.assert_verified_via_secondary("tile/");
}

/// The primary sends half of each tile with a matching Content-Length: a
/// complete HTTP answer, but a tile's length is fixed by its path, so the
/// relay takes the tile from the secondary instead.
#[test]
fn short_tiles_from_the_primary_are_replaced_from_the_secondary() {
    let p = Pair::run(|p| p.set_fault_containing("/tile/", Fault::Truncated));
    p.assert_verified_via_secondary("tile/");
}

/// The primary sends each tile chunked (no Content-Length) with 32 bytes
/// too many: its length is checked at the end of the body too, and the
/// tile taken from the secondary.
#[test]
fn long_chunked_tiles_from_the_primary_are_replaced_from_the_secondary() {
    let p = Pair::run(|p| p.set_fault_containing("/tile/", Fault::LongChunked));
    p.assert_verified_via_secondary("tile/");
}

// ---------------------------------------------------------------------------
// A proxy that lies: go refuses, and goshim lets it.

/// What the go command (run through the shim from a module without
/// dependencies) passes on to a program: the checksum settings are the
/// world's, exactly as the direct go passes them.
fn assert_checksum_settings_untouched(world: &World) {
    let dir = world.write_module("envdump", "example.com/envdump", PRINT_ENV);
    let args = [
        "run",
        ".",
        "GOSUMDB",
        "GONOSUMDB",
        "GONOPROXY",
        "GOPRIVATE",
        "GOFLAGS",
        "GOINSECURE",
    ];
    let shim = world.run(world.shim_cmd(args).current_dir(&dir));
    let direct = world.run(world.direct_cmd(args).current_dir(&dir));
    assert_success("go run (env dump) through the shim", &shim, "");
    assert_eq!(stdout_text(&shim), stdout_text(&direct), "{}", show(&shim));
    let want = format!("GOSUMDB={}\n", world.env_value("GOSUMDB").unwrap());
    assert!(stdout_text(&shim).contains(&want), "{}", show(&shim));
}

/// go failed in its one run, saying `what` itself (not goshim), and no zip
/// made it into go.sum or the module cache.
fn assert_go_refused(world: &World, tree: &ModTree, out: &Output, what: &str, context: &str) {
    let all = format!("{}{context}", show(out));
    assert!(!out.status.success(), "expected failure\n{all}");
    assert_eq!(go_runs(out), 1, "go ran again\n{all}");
    assert!(
        go_lines(out).iter().any(|l| l.contains(what)),
        "go did not say {what:?}\n{all}"
    );
    for m in &tree.modules {
        // The go.mod line may be there (the .mod files are honest); the zip's is not.
        let zip_line = format!("{} {} h1:", m.path, m.latest());
        assert!(
            !go_sum(world).contains(&zip_line),
            "{zip_line} in go.sum\n{all}"
        );
        let extracted = world.path(format!("gopath/pkg/mod/{}@{}", m.path, m.latest()));
        assert!(
            !extracted.exists(),
            "{} extracted\n{all}",
            extracted.display()
        );
    }
}

/// The only upstream serves valid zips with other contents than the
/// database recorded: go prints its SECURITY ERROR and fails, once.
#[test]
fn tampered_zip_from_the_only_upstream_is_a_security_error() {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    proxy.serve_tampered_zips(&tree);
    let world = verifying_world(&proxy.url(), &db, &tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let context = logs(&[("proxy", &proxy)]);
    assert_go_refused(&world, &tree, &out, "SECURITY ERROR", &context);
    assert!(
        stderr_text(&out).contains("checksum mismatch"),
        "{}{context}",
        show(&out)
    );
    assert_checksum_settings_untouched(&world);
}

/// The primary serves tampered zips, the secondary the published ones (but
/// slowly, so every zip comes from the primary): the relay cannot tell, go
/// can, and nothing retries past go's verdict.
#[test]
fn tampered_zip_from_the_primary_is_a_security_error() {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let primary = db_proxy(&tree, &db, Fault::Healthy);
    primary.serve_tampered_zips(&tree);
    let secondary = db_proxy(&tree, &db, Fault::Healthy);
    secondary.set_fault_for(".zip", Fault::Delay(Duration::from_secs(30)));
    let goproxy = format!("{},{}", primary.url(), secondary.url());
    let world = verifying_world(&goproxy, &db, &tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let context = logs(&[("primary", &primary), ("secondary", &secondary)]);
    assert_go_refused(&world, &tree, &out, "SECURITY ERROR", &context);
    assert_checksum_settings_untouched(&world);
}

/// The only upstream's database misbehaves as `lie` says (or, with `fault`,
/// its answers do): go refuses to verify, saying `what`.
fn assert_lie_refused(lie: Option<Lie>, fault: Option<(&str, Fault)>, what: &str) {
    let tree = ModTree::new(2);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let served = lie.map_or_else(|| db.clone(), |lie| db.lying(lie));
    let proxy = db_proxy(&tree, &served, Fault::Healthy);
    if let Some((needle, fault)) = fault {
        proxy.set_fault_containing(needle, fault);
    }
    let world = verifying_world(&proxy.url(), &db, &tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let context = logs(&[("proxy", &proxy)]);
    assert_go_refused(&world, &tree, &out, what, &context);
    assert_checksum_settings_untouched(&world);
}

#[test]
fn unsigned_tree_head_is_refused() {
    assert_lie_refused(Some(Lie::UnsignedHead), None, "malformed note");
}

#[test]
fn tree_head_signed_by_another_key_is_refused() {
    assert_lie_refused(Some(Lie::ForeignKey), None, "no verifiable signatures");
}

#[test]
fn wrong_tiles_are_refused() {
    assert_lie_refused(Some(Lie::WrongTiles), None, "inconsistent tile");
}

/// A short tile from the only upstream (with a matching Content-Length): the
/// relay knows a hash tile's length from its path and has nothing to complete
/// it with, so go gets the relay's 502 for it, not a short tile.
#[test]
fn short_tiles_from_the_only_upstream_are_refused() {
    assert_lie_refused(None, Some(("/tile/", Fault::Truncated)), "502 Bad Gateway");
}

/// go keeps the last tree head it verified. A database that then shows a
/// tree not containing it (same key, another history: a fork) is caught by
/// go as a SECURITY ERROR, which goshim leaves alone.
#[test]
fn forked_database_is_a_security_error() {
    let tree = ModTree::new(2);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    let world = verifying_world(&proxy.url(), &db, &tree);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    assert_success("go mod download", &out, &logs(&[("proxy", &proxy)]));

    // One more module, and the old records in another order.
    let grown = ModTree::new(3);
    let mut fork = SumDb::new(SUMDB_NAME);
    for m in grown.modules.iter().rev() {
        fork.add(&m.path, m.latest(), &m.zip(m.latest()), &m.go_mod());
    }
    proxy.set_tree(&grown);
    proxy.set_sumdb(Some(&fork));
    world.write_tree_main_module(&grown);
    let (out, _) = timed_shim(&world, &["mod", "download"], BOUNDED);
    let all = with_logs(&out, &[("proxy", &proxy)]);
    assert!(!out.status.success(), "expected failure\n{all}");
    assert_eq!(go_runs(&out), 1, "go ran again\n{all}");
    for what in ["SECURITY ERROR", "misbehavior detected"] {
        assert!(
            go_lines(&out).iter().any(|l| l.contains(what)),
            "go did not say {what:?}\n{all}"
        );
    }
    assert!(
        !go_sum(&world).contains("example.com/dep2 v1.0.0 h1:"),
        "{all}"
    );
    assert_checksum_settings_untouched(&world);
}

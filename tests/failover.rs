//! Proxy failover without the loopback relay (`GOSHIM_RELAY=0`): the shim hands
//! go the health-ordered candidates joined with `|`, and re-runs a retryable
//! command after a transient proxy failure. Every test drives the real go
//! through the shim against `TestProxy`s on 127.0.0.1, and most compare with
//! the real go run directly with the same (comma-separated) GOPROXY.
//!
//! Checksum verification is on wherever it can be, as for users: the proxies
//! serve one test checksum database ([`SumDb`]) and go reaches it through
//! GOPROXY (`verified_world`). go's checksum client asks each proxy in turn
//! for `/sumdb/<name>/supported` and then sends its lookups and tiles only
//! to the one that said yes: it has no failover of its own for those. The
//! tests that follow one module's exact request sequence keep `GOSUMDB=off`
//! (say why).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::process::Output;
use std::time::{Duration, Instant};

use common::modtree::Module;
use common::process::{assert_same_failure_code, assert_same_status_and_stdout, run_with_timeout};
use common::programs::PRINT_ENV;
use common::scenario::{
    assert_program_prints, db_of, db_proxy, go_lines, goshim_lines, list_world, status_json,
    timed_shim,
};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::{
    Fault, ModTree, TestProxy, World, assert_same_outcome, refused_url, show, stderr_text,
    stdout_text,
};

/// stderr without goshim's own lines, sorted (go prints "go: downloading"
/// lines in the order its parallel fetches start).
fn go_stderr_sorted(out: &Output) -> Vec<String> {
    let mut lines = go_lines(out);
    lines.sort();
    lines
}

/// `url` without the scheme: how go's error lines name a proxy.
fn host_of(url: &str) -> &str {
    url.trim_start_matches("http://")
}

fn paths_of(proxy: &TestProxy) -> Vec<String> {
    proxy.request_paths()
}

/// [`list_world`] with checksum verification on against `db`.
fn verified_world(goproxy: &str, db: &SumDb) -> World {
    let mut world = list_world(goproxy);
    world.verify_with(db);
    world
}

/// `/sumdb/<name>/supported`: the one database request go sends to each
/// proxy in turn.
fn supported_path() -> String {
    format!("/sumdb/{SUMDB_NAME}/supported")
}

// ---------------------------------------------------------------------------
// Failover to the second proxy when the first one fails.
// ---------------------------------------------------------------------------

/// How the first proxy of the list fails.
#[derive(Clone, Copy, Debug)]
enum Primary {
    Status(u16),
    Refused,
    ResetMidBody,
}

impl Primary {
    /// The fault of a listening primary (None: nothing listens).
    fn fault(self) -> Option<Fault> {
        match self {
            Primary::Refused => None,
            Primary::Status(429) => Some(Fault::Status429 {
                retry_after_secs: 1,
            }),
            Primary::Status(code) => Some(Fault::Status(code)),
            Primary::ResetMidBody => Some(Fault::ResetMidBody),
        }
    }

    /// The proxy (None: nothing listens) and its URL.
    fn start(self, tree: &ModTree, db: &SumDb) -> (Option<TestProxy>, String) {
        match self.fault() {
            None => (None, refused_url()),
            Some(fault) => {
                let proxy = db_proxy(tree, db, fault);
                let url = proxy.url();
                (Some(proxy), url)
            }
        }
    }

    /// How many times the shim must re-run go. go's own `|` failover gets
    /// every module request past the primary, but its checksum client picks
    /// one proxy for the database (the first that answers
    /// `/sumdb/<name>/supported`) and has no failover from it. A primary
    /// resetting mid-body gets its empty `supported` answer through whole,
    /// then resets go's lookups: go fails, and the shim runs it again with
    /// the primary demoted.
    fn reruns(self) -> usize {
        match self {
            Primary::ResetMidBody => 1,
            _ => 0,
        }
    }

    /// What go's error line says about the primary.
    fn error_text(self) -> &'static str {
        match self {
            Primary::Status(429) => "429 Too Many Requests",
            Primary::Status(500) => "500 Internal Server Error",
            Primary::Status(502) => "502 Bad Gateway",
            Primary::Status(503) => "503 Service Unavailable",
            Primary::Status(504) => "504 Gateway Timeout",
            Primary::Status(_) => unreachable!("only 429 and 5xx are used"),
            Primary::Refused => "connection refused",
            Primary::ResetMidBody => "connection reset by peer",
        }
    }
}

/// The commands checked for each kind of primary failure.
#[derive(Clone, Copy, Debug)]
enum Fetch {
    ModDownload,
    Build,
    Get,
}

impl Fetch {
    const ALL: [Fetch; 3] = [Fetch::ModDownload, Fetch::Build, Fetch::Get];

    fn args(self) -> &'static [&'static str] {
        match self {
            Fetch::ModDownload => &["mod", "download"],
            Fetch::Build => &["build", "-o", "out/prog", "."],
            Fetch::Get => &["get", "example.com/dep1@v1.0.0"],
        }
    }

    fn prepare(self, world: &World, tree: &ModTree) {
        match self {
            Fetch::ModDownload | Fetch::Build => {
                world.write_tree_main_module(tree);
            }
            Fetch::Get => {
                world.write_main_module("package main\n\nfunc main() {}\n");
            }
        }
    }

    /// The zips the command must have fetched.
    fn zips(self, tree: &ModTree) -> Vec<String> {
        match self {
            Fetch::ModDownload | Fetch::Build => tree
                .modules
                .iter()
                .map(|m| format!("/{}/@v/v1.0.0.zip", m.path))
                .collect(),
            Fetch::Get => vec!["/example.com/dep1/@v/v1.0.0.zip".to_string()],
        }
    }

    /// Checks what the successful command left behind.
    fn check_result(self, world: &World, tree: &ModTree) {
        match self {
            Fetch::ModDownload => {
                for m in &tree.modules {
                    let zip = world.path(format!(
                        "gopath/pkg/mod/cache/download/{}/@v/v1.0.0.zip",
                        m.path
                    ));
                    assert!(zip.is_file(), "{} not downloaded", zip.display());
                }
            }
            Fetch::Build => {
                assert_program_prints(world, "work/out/prog", &tree.expected_output());
            }
            Fetch::Get => {
                let go_mod = fs::read_to_string(world.path("work/go.mod")).unwrap();
                assert!(
                    go_mod.contains("example.com/dep1 v1.0.0"),
                    "go get did not add the requirement:\n{go_mod}"
                );
            }
        }
    }
}

/// With GOPROXY=<primary>,<secondary>: direct go stops at the failing primary
/// (a comma only falls back on 404/410); through the shim go gets
/// `<primary>|<secondary>` and completes via the secondary, in one run
/// unless the primary takes go's checksum database ([`Primary::reruns`]);
/// a success needs no other goshim line.
fn fails_over(primary: Primary) {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    for fetch in Fetch::ALL {
        let what = format!("{primary:?} primary, go {}", fetch.args().join(" "));
        let (a, a_url) = primary.start(&tree, &db);
        let b = db_proxy(&tree, &db, Fault::Healthy);
        let world = verified_world(&format!("{a_url},{}", b.url()), &db);
        fetch.prepare(&world, &tree);

        let direct = world.run_direct(fetch.args());
        assert!(
            !direct.status.success(),
            "{what}: direct go\n{}",
            show(&direct)
        );
        let err = stderr_text(&direct);
        assert!(
            err.contains(host_of(&a_url)) && err.contains(primary.error_text()),
            "{what}: direct go should fail on the primary\n{}",
            show(&direct)
        );
        assert_eq!(
            b.request_count(),
            0,
            "{what}: direct go must not reach the secondary: {:?}",
            paths_of(&b)
        );
        if let Some(a) = &a {
            a.clear_log();
        }

        let (shim, took) = timed_shim(&world, fetch.args(), Duration::from_secs(60));
        assert!(
            shim.status.success(),
            "{what}: through the shim\n{}",
            show(&shim)
        );
        assert_reruns_announced(&what, &goshim_lines(&shim), primary.reruns(), &shim);
        assert!(took < Duration::from_secs(30), "{what}: took {took:?}");
        fetch.check_result(&world, &tree);

        // The secondary served every download, once a run at most (a run
        // that failed verifying may have fetched a zip it did not keep).
        for zip in fetch.zips(&tree) {
            let served: Vec<_> = b
                .requests()
                .into_iter()
                .filter(|r| r.path == zip)
                .map(|r| r.status)
                .collect();
            assert!(
                !served.is_empty()
                    && served.len() <= 1 + primary.reruns()
                    && served.iter().all(|s| *s == Some(200)),
                "{what}: {zip} from the secondary: {served:?}; its log: {:?}",
                paths_of(&b)
            );
        }
        if let Some(a) = &a {
            // The primary was asked first, once per path (one run), and failed each time.
            let log = a.requests();
            assert!(!log.is_empty(), "{what}: the primary was never asked");
            let asked: BTreeSet<String> = log.iter().map(|r| r.path.clone()).collect();
            assert_eq!(
                asked.len(),
                log.len(),
                "{what}: the primary got a path twice (a re-run?): {:?}",
                paths_of(a)
            );
            let expected_fault = primary.fault().expect("a listening primary has a fault");
            assert!(
                log.iter().all(|r| r.fault == expected_fault),
                "{what}: {log:?}"
            );
            // go sends its database lookups and tiles only to the proxy that
            // answered `supported`: the primary was asked that first. (A
            // re-run asks the secondary first: the primary is demoted.)
            let sumdb = format!("/sumdb/{SUMDB_NAME}/");
            let first_run_only = primary.reruns() == 0;
            for r in b.requests().into_iter().filter(|_| first_run_only) {
                let first_asked = if r.path.starts_with(&sumdb) {
                    supported_path()
                } else {
                    r.path.clone()
                };
                assert!(
                    asked.contains(&first_asked),
                    "{what}: {} went to the secondary without the primary being asked first",
                    r.path
                );
            }
            assert!(
                b.request_paths()
                    .iter()
                    .any(|p| p.starts_with(&format!("/sumdb/{SUMDB_NAME}/lookup/"))),
                "{what}: go verified nothing against the database: {:?}",
                paths_of(&b)
            );
        }
    }
}

#[test]
fn fails_over_when_the_primary_answers_429() {
    fails_over(Primary::Status(429));
}

#[test]
fn fails_over_when_the_primary_answers_500() {
    fails_over(Primary::Status(500));
}

#[test]
fn fails_over_when_the_primary_answers_502() {
    fails_over(Primary::Status(502));
}

#[test]
fn fails_over_when_the_primary_answers_503() {
    fails_over(Primary::Status(503));
}

#[test]
fn fails_over_when_the_primary_answers_504() {
    fails_over(Primary::Status(504));
}

#[test]
fn fails_over_when_the_primary_refuses_connections() {
    fails_over(Primary::Refused);
}

#[test]
fn fails_over_when_the_primary_resets_mid_body() {
    fails_over(Primary::ResetMidBody);
}

// ---------------------------------------------------------------------------
// A hung proxy, once probed down, is no longer asked first.
// ---------------------------------------------------------------------------

#[test]
fn hung_primary_probed_down_is_asked_last_and_build_is_quick() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let a = db_proxy(&tree, &db, Fault::Hang);
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let world = verified_world(&format!("{},{}", a.url(), b.url()), &db);
    world.write_tree_main_module(&tree);

    let start = Instant::now();
    let probe = run_with_timeout(&mut world.goshim_cmd(["probe"]), Duration::from_secs(20));
    let probe_took = start.elapsed();
    assert!(probe.status.success(), "goshim probe\n{}", show(&probe));
    assert!(
        probe_took < Duration::from_secs(10),
        "probe took {probe_took:?} with a 500 ms deadline"
    );
    // The ranking table: the healthy proxy first.
    let table = stdout_text(&probe);
    let (pos_a, pos_b) = (table.find(&a.url()), table.find(&b.url()));
    assert!(
        pos_b.is_some() && pos_a.is_some() && pos_b < pos_a,
        "ranking should list {} before {}\n{}",
        b.url(),
        a.url(),
        show(&probe)
    );

    // The probe asked the hung proxy for the probe module's list and for
    // checksum database support; go must ask it nothing.
    let mut probed = paths_of(&a);
    probed.sort();
    assert_eq!(
        probed,
        ["/example.com/dep0/@v/list".to_string(), supported_path()],
        "the probe's requests"
    );
    a.clear_log();

    let status = status_json(&world);
    let proxies = status["proxies"].as_array().expect("proxies array");
    assert_eq!(proxies.len(), 2, "{status:#}");
    assert_eq!(proxies[0]["url"], b.url(), "{status:#}");
    assert_eq!(proxies[0]["state"], "up", "{status:#}");
    assert_eq!(proxies[1]["url"], a.url(), "{status:#}");
    assert_eq!(proxies[1]["state"], "down", "{status:#}");
    assert!(
        proxies[1]["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("timeout")),
        "{status:#}"
    );
    assert_eq!(
        status["goproxy"],
        format!("{}|{}", b.url(), a.url()),
        "{status:#}"
    );
    assert_eq!(status["goproxy_unchanged_reason"], serde_json::Value::Null);

    // With the fresh snapshot, go asks the healthy proxy first: no hang.
    let (build, took) = timed_shim(
        &world,
        &["build", "-o", "out/prog", "."],
        Duration::from_secs(60),
    );
    assert!(build.status.success(), "{}", show(&build));
    assert!(goshim_lines(&build).is_empty(), "{}", show(&build));
    assert!(took < Duration::from_secs(30), "build took {took:?}");
    assert!(
        paths_of(&a).is_empty(),
        "go reached the hung proxy: {:?}",
        paths_of(&a)
    );
    assert_eq!(
        b.requests_ending_with(".zip").len(),
        2,
        "{:?}",
        paths_of(&b)
    );
    assert_program_prints(&world, "work/out/prog", &tree.expected_output());
}

// ---------------------------------------------------------------------------
// Intermittent failures of the only proxy: re-runs.
// ---------------------------------------------------------------------------

/// `(path, status)` of every request, in order.
fn log_of(proxy: &TestProxy) -> Vec<(String, Option<u16>)> {
    proxy
        .requests()
        .into_iter()
        .map(|r| (r.path, r.status))
        .collect()
}

/// The request sequence of `go mod download` for one module when every second
/// request fails with 503, one line per request (go fetches .mod, .info,
/// .zip one after the other, and keeps what it got in its module cache).
///
/// The tests built on it keep `GOSUMDB=off` (list_world's): this exact
/// sequence is their point, and with verification on the database's requests
/// would take their turns in the fault's every-second count, and a failed one
/// ends go's run outright (its checksum client has no failover), so that the
/// runs no longer get one file further each.
fn intermittent_sequence(requests: usize) -> Vec<(String, Option<u16>)> {
    let base = "/example.com/dep0/@v/v1.0.0";
    [
        ("mod", 200),
        ("info", 503),
        ("info", 200),
        ("zip", 503),
        ("zip", 200),
    ]
    .iter()
    .take(requests)
    .map(|(ext, status)| (format!("{base}.{ext}"), Some(*status)))
    .collect()
}

/// Every second request to the only proxy fails with 503: each run gets one
/// file further, so the default three runs complete `go mod download`, where
/// go alone fails.
#[test]
fn intermittent_only_proxy_succeeds_after_reruns() {
    let tree = ModTree::new(1);
    let flaky = Fault::EveryNth { n: 2, status: 503 };

    let direct_proxy = TestProxy::faulty(&tree, flaky.clone());
    let direct_world = list_world(&direct_proxy.url());
    direct_world.write_tree_main_module(&tree);
    let direct = direct_world.run_direct(&["mod", "download"]);
    assert_eq!(direct.status.code(), Some(1), "{}", show(&direct));
    assert_eq!(log_of(&direct_proxy), intermittent_sequence(2));

    let proxy = TestProxy::faulty(&tree, flaky);
    let world = list_world(&proxy.url());
    world.write_tree_main_module(&tree);
    let (shim, took) = timed_shim(&world, &["mod", "download"], Duration::from_secs(60));
    assert!(shim.status.success(), "{}", show(&shim));
    assert!(took < Duration::from_secs(30), "took {took:?}");
    assert_eq!(
        log_of(&proxy),
        intermittent_sequence(5),
        "three runs, each one file further\n{}",
        show(&shim)
    );
    // go's two failures are shown as they happened, each followed by one
    // goshim line saying go runs again; nothing else on success.
    let err = stderr_text(&shim);
    assert_eq!(
        err.matches("503 Service Unavailable").count(),
        2,
        "{}",
        show(&shim)
    );
    assert_reruns_announced("intermittent", &goshim_lines(&shim), 2, &shim);
    assert!(
        world
            .path("gopath/pkg/mod/cache/download/example.com/dep0/@v/v1.0.0.zip")
            .is_file()
    );
    // The failures were recorded.
    let status = status_json(&world);
    assert_eq!(status["proxies"][0]["state"], "down", "{status:#}");
    assert_eq!(status["proxies"][0]["last_error"], "http_503", "{status:#}");
}

/// The same with GOSHIM_ATTEMPTS=2: exactly two runs, go's failure, and one
/// goshim line naming the proxy.
#[test]
fn intermittent_only_proxy_stops_after_goshim_attempts() {
    let tree = ModTree::new(1);
    let proxy = TestProxy::faulty(&tree, Fault::EveryNth { n: 2, status: 503 });
    let mut world = list_world(&proxy.url());
    world.set_env("GOSHIM_ATTEMPTS", "2");
    world.write_tree_main_module(&tree);
    let (shim, _) = timed_shim(&world, &["mod", "download"], Duration::from_secs(60));
    assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
    assert_eq!(log_of(&proxy), intermittent_sequence(4), "{}", show(&shim));
    let lines = goshim_lines(&shim);
    let (last, reruns) = lines.split_last().expect("goshim lines");
    assert_reruns_announced("GOSHIM_ATTEMPTS=2", reruns, 1, &shim);
    assert_eq!(
        last,
        &format!(
            "goshim: proxies failed in 2 run(s): {} (http_503); see 'goshim status'",
            proxy.url()
        ),
        "{}",
        show(&shim)
    );
    // That line is the last one.
    assert!(
        stderr_text(&shim).trim_end().ends_with(last.as_str()),
        "{}",
        show(&shim)
    );
}

/// `lines` are `n` one-line notices that go runs again, naming no relay token.
fn assert_reruns_announced(what: &str, lines: &[String], n: usize, out: &Output) {
    assert_eq!(lines.len(), n, "{what}: {n} re-run notices\n{}", show(out));
    for (k, line) in lines.iter().enumerate() {
        assert!(
            line.starts_with("goshim: go failed on proxy errors (")
                && line.contains(&format!("running it again (run {} of ", k + 2)),
            "{what}: {line}\n{}",
            show(out)
        );
    }
}

/// GOSHIM_ATTEMPTS=1: go runs once and the shim adds nothing.
#[test]
fn goshim_attempts_1_runs_go_once_like_go() {
    let mut twins = Twins::new(&ModTree::new(1), Fault::Status(503));
    twins.shim_world.set_env("GOSHIM_ATTEMPTS", "1");
    let (shim, direct) = twins.run(&["mod", "download"]);
    assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
    assert_same_outcome("GOSHIM_ATTEMPTS=1", &shim, &direct);
    assert_eq!(
        twins.shim_proxy.request_paths(),
        twins.direct_proxy.request_paths()
    );
}

/// Rate limiting (429) is transient too. (`GOSUMDB=off`: the exact status
/// sequence is the point, as in [`intermittent_sequence`].)
#[test]
fn intermittent_429_is_rerun_as_well() {
    let tree = ModTree::new(1);
    let proxy = TestProxy::faulty(&tree, Fault::EveryNth { n: 2, status: 429 });
    let world = list_world(&proxy.url());
    world.write_tree_main_module(&tree);
    let (shim, _) = timed_shim(&world, &["mod", "download"], Duration::from_secs(60));
    assert!(shim.status.success(), "{}", show(&shim));
    let statuses: Vec<Option<u16>> = proxy.requests().iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [Some(200), Some(429), Some(200), Some(429), Some(200)],
        "{:?}",
        paths_of(&proxy)
    );
    let status = status_json(&world);
    assert_eq!(status["proxies"][0]["last_error"], "http_429", "{status:#}");
}

/// The primary serves a corrupt zip (a valid HTTP answer). go does not move
/// on to the next proxy for that (its message names no proxy: "zip: not a
/// valid zip file"), so the download fails; a corrupt download is one of the
/// transient failures the shim re-runs after, with the primary demoted.
#[test]
fn corrupt_zip_from_the_primary_is_rerun_from_the_secondary() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let a = db_proxy(&tree, &db, Fault::TruncatedZip);
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let world = verified_world(&format!("{},{}", a.url(), b.url()), &db);
    world.write_tree_main_module(&tree);

    let direct = world.run_direct(&["mod", "download"]);
    assert!(!direct.status.success(), "{}", show(&direct));
    assert!(
        stderr_text(&direct).contains("not a valid zip file"),
        "{}",
        show(&direct)
    );
    assert_eq!(b.request_count(), 0, "{:?}", paths_of(&b));
    a.clear_log();

    let (shim, _) = timed_shim(&world, &["mod", "download"], Duration::from_secs(60));
    assert!(
        shim.status.success(),
        "a corrupt zip from the primary should be re-run with the primary demoted\n{}\nprimary: {:?}\nsecondary: {:?}",
        show(&shim),
        paths_of(&a),
        paths_of(&b)
    );
    assert_eq!(
        a.requests_ending_with(".zip").len(),
        2,
        "{:?}",
        paths_of(&a)
    );
    assert_eq!(
        b.requests_ending_with(".zip").len(),
        2,
        "{:?}",
        paths_of(&b)
    );
    let status = status_json(&world);
    assert_eq!(status["proxies"][0]["url"], b.url(), "{status:#}");
    assert_eq!(status["proxies"][1]["state"], "down", "{status:#}");
}

// ---------------------------------------------------------------------------
// Exec'd commands: the ordered GOPROXY, one run.
// ---------------------------------------------------------------------------

/// `go run`, `go list` and friends are exec'd with the health-ordered GOPROXY
/// (the user's tail kept) and are never re-run.
#[test]
fn exec_commands_get_the_ordered_goproxy_and_run_once() {
    let tree = ModTree::new(1);
    let db = db_of(&tree);
    let a = db_proxy(&tree, &db, Fault::Status(502));
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let world = verified_world(&format!("{},{}|off", a.url(), b.url()), &db);
    world.write_main_module(PRINT_ENV);

    // No snapshot yet: the user's order, joined with '|', tail kept.
    let ran = world.run_shim(&["run", ".", "GOPROXY"]);
    assert!(ran.status.success(), "{}", show(&ran));
    assert_eq!(
        stdout_text(&ran),
        format!("GOPROXY={}|{}|off\n", a.url(), b.url())
    );

    let probe = world.run(&mut world.goshim_cmd(["probe"]));
    assert!(probe.status.success(), "{}", show(&probe));
    let ran = world.run_shim(&["run", ".", "GOPROXY"]);
    assert_eq!(
        stdout_text(&ran),
        format!("GOPROXY={}|{}|off\n", b.url(), a.url()),
        "{}",
        show(&ran)
    );

    // A failing exec'd fetch runs once and ends like go.
    let lone = db_proxy(&tree, &db, Fault::Status(503));
    let mut world = verified_world(&lone.url(), &db);
    world.set_env("GOFLAGS", "-mod=mod");
    world.write_main_module(PRINT_ENV);
    let args = ["list", "-m", "example.com/dep0@v1.0.0"];
    let shim = world.run_shim(&args);
    let shim_requests = lone.request_count();
    let direct = world.run_direct(&args);
    assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
    assert_same_outcome("go list -m (503)", &shim, &direct);
    assert_eq!(
        shim_requests,
        lone.request_count() - shim_requests,
        "one run each"
    );
}

// ---------------------------------------------------------------------------
// Never re-run: 403, checksum mismatch.
// ---------------------------------------------------------------------------

/// Each path requested exactly once.
fn assert_each_path_once(what: &str, proxy: &TestProxy) {
    let paths = paths_of(proxy);
    let unique: BTreeSet<&String> = paths.iter().collect();
    assert_eq!(unique.len(), paths.len(), "{what}: a re-run? {paths:?}");
}

/// The only proxy answers 403: no re-run, and the shim looks exactly like go.
/// (One module: go prints the "downloading" lines of parallel fetches in any order.)
#[test]
fn forbidden_is_not_rerun_and_looks_like_go() {
    let twins = Twins::new(&ModTree::new(1), Fault::Status(403));
    let (shim_proxy, direct_proxy) = (&twins.shim_proxy, &twins.direct_proxy);
    for args in [&["mod", "download"][..], &["build", "-o", "out/prog", "."]] {
        shim_proxy.clear_log();
        direct_proxy.clear_log();
        let (shim, direct) = twins.run(args);
        let what = format!("403, go {}", args.join(" "));
        assert_eq!(shim.status.code(), Some(1), "{what}\n{}", show(&shim));
        assert_same_outcome(&what, &shim, &direct);
        assert_each_path_once(&what, shim_proxy);
        let mut shim_paths = paths_of(shim_proxy);
        let mut direct_paths = paths_of(direct_proxy);
        shim_paths.sort();
        direct_paths.sort();
        assert_eq!(
            shim_paths, direct_paths,
            "{what}: same requests as go alone"
        );
    }
}

/// A 403 and a 502 in the same run: the 403 makes it final (one run only).
#[test]
fn forbidden_next_to_a_transient_failure_is_not_rerun() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let proxy = db_proxy(&tree, &db, Fault::Healthy);
    proxy.set_fault_for("/example.com/dep0/@v/v1.0.0.zip", Fault::Status(403));
    proxy.add_fault(Some("/example.com/dep1/@v/v1.0.0.zip"), Fault::Status(502));
    let world = verified_world(&proxy.url(), &db);
    world.write_tree_main_module(&tree);
    let shim = world.run_shim(&["build", "-o", "out/prog", "."]);
    assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
    let err = stderr_text(&shim);
    assert!(
        err.contains("403 Forbidden") && err.contains("502 Bad Gateway"),
        "{}",
        show(&shim)
    );
    assert_each_path_once("403 + 502", &proxy);
    assert_eq!(
        proxy.requests_ending_with(".zip").len(),
        2,
        "{:?}",
        paths_of(&proxy)
    );
    for line in goshim_lines(&shim) {
        assert!(
            line.starts_with("goshim: proxies failed in 1 run(s)"),
            "{}",
            show(&shim)
        );
    }
}

/// The main module's go.sum disagrees with the zip the proxy serves.
#[test]
fn checksum_mismatch_is_not_rerun() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let bad_sum = "example.com/dep0 v1.0.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
    let mut outputs = Vec::new();
    for through_shim in [true, false] {
        let proxy = db_proxy(&tree, &db, Fault::Healthy);
        // A transient failure in the same run must not make it retryable either.
        proxy.set_fault_for("/example.com/dep1/@v/v1.0.0.zip", Fault::Status(502));
        let mut world = verified_world(&proxy.url(), &db);
        world.set_env("GOFLAGS", "-mod=mod");
        world.write_tree_main_module(&tree);
        world.write_file("work/go.sum", bad_sum);
        let args = ["build", "-o", "out/prog", "."];
        let out = if through_shim {
            world.run_shim(&args)
        } else {
            world.run_direct(&args)
        };
        let what = format!("checksum mismatch (shim: {through_shim})");
        let err = stderr_text(&out);
        assert!(
            err.contains("verifying example.com/dep0@v1.0.0: checksum mismatch")
                && err.contains("SECURITY ERROR"),
            "{what}\n{}",
            show(&out)
        );
        assert_eq!(
            proxy
                .requests_ending_with("/example.com/dep0/@v/v1.0.0.zip")
                .len(),
            1,
            "{what}: {:?}",
            paths_of(&proxy)
        );
        assert_each_path_once(&what, &proxy);
        outputs.push(out);
    }
    let (shim, direct) = (&outputs[0], &outputs[1]);
    assert_same_status_and_stdout("checksum mismatch", shim, direct);
    assert!(goshim_lines(shim).is_empty(), "{}", show(shim));
    assert_eq!(go_stderr_sorted(shim), go_stderr_sorted(direct));
}

/// Twin worlds, each naming its own proxy (same tree, same database, same
/// fault) with the tree's main module and verification on: one for the
/// shim, one for direct go.
struct Twins {
    shim_proxy: TestProxy,
    shim_world: World,
    direct_proxy: TestProxy,
    direct_world: World,
}

impl Twins {
    fn new(tree: &ModTree, fault: Fault) -> Twins {
        let db = db_of(tree);
        let shim_proxy = db_proxy(tree, &db, fault.clone());
        let direct_proxy = db_proxy(tree, &db, fault);
        let (shim_world, direct_world) = (
            verified_world(&shim_proxy.url(), &db),
            verified_world(&direct_proxy.url(), &db),
        );
        for w in [&shim_world, &direct_world] {
            w.write_tree_main_module(tree);
        }
        Twins {
            shim_proxy,
            shim_world,
            direct_proxy,
            direct_world,
        }
    }

    /// `go args` through the shim in one world and directly in the other,
    /// each output with its proxy's port masked, so that they compare.
    fn run(&self, args: &[&str]) -> (Output, Output) {
        (
            mask_port(&self.shim_world.run_shim(args), &self.shim_proxy),
            mask_port(&self.direct_world.run_direct(args), &self.direct_proxy),
        )
    }
}

/// Replaces the proxy's port in stdout/stderr with "PORT".
fn mask_port(out: &Output, proxy: &TestProxy) -> Output {
    let port = proxy.addr().port().to_string();
    let mask = |b: &[u8]| {
        String::from_utf8_lossy(b)
            .replace(&format!("127.0.0.1:{port}"), "127.0.0.1:PORT")
            .into_bytes()
    };
    Output {
        status: out.status,
        stdout: mask(&out.stdout),
        stderr: mask(&out.stderr),
    }
}

// ---------------------------------------------------------------------------
// Every proxy down.
// ---------------------------------------------------------------------------

/// Checks a run where every candidate failed: go's exit code, a bounded time,
/// exactly one goshim line (the last), naming every proxy go named.
fn assert_all_down(what: &str, shim: &Output, direct: &Output, took: Duration, urls: &[String]) {
    assert_same_failure_code(what, shim, direct);
    assert!(took < Duration::from_secs(30), "{what}: took {took:?}");
    let lines = goshim_lines(shim);
    let (line, reruns) = lines.split_last().expect("a goshim line");
    assert_reruns_announced(what, reruns, 2, shim);
    assert!(
        line.starts_with("goshim: proxies failed in 3 run(s): ")
            && line.ends_with("; see 'goshim status'"),
        "{what}: {line}"
    );
    assert!(
        stderr_text(shim).trim_end().ends_with(line.as_str()),
        "{what}: the goshim line comes last\n{}",
        show(shim)
    );
    let go_err = go_lines(shim).join("\n");
    let named: Vec<&String> = urls
        .iter()
        .filter(|u| go_err.contains(host_of(u)))
        .collect();
    assert!(
        !named.is_empty(),
        "{what}: go named no proxy\n{}",
        show(shim)
    );
    for url in named {
        assert!(
            line.contains(url.as_str()),
            "{what}: {line} should name {url}"
        );
    }
}

#[test]
fn all_proxies_refusing_fails_like_go_with_one_goshim_line() {
    let tree = ModTree::new(2);
    let urls = [refused_url(), refused_url()];
    let world = verified_world(&urls.join(","), &db_of(&tree));
    world.write_tree_main_module(&tree);
    let direct = world.run_direct(&["build", "-o", "out/prog", "."]);
    let (shim, took) = timed_shim(
        &world,
        &["build", "-o", "out/prog", "."],
        Duration::from_secs(60),
    );
    assert_all_down("two refusing proxies", &shim, &direct, took, &urls);
    assert!(
        stderr_text(&shim).contains("connection refused"),
        "{}",
        show(&shim)
    );
}

#[test]
fn all_proxies_502_fails_like_go_with_one_goshim_line() {
    let tree = ModTree::new(2);
    let db = db_of(&tree);
    let a = db_proxy(&tree, &db, Fault::Status(502));
    let b = db_proxy(&tree, &db, Fault::Status(502));
    let urls = [a.url(), b.url()];
    let world = verified_world(&urls.join(","), &db);
    world.write_tree_main_module(&tree);
    let direct = world.run_direct(&["mod", "download"]);
    assert_eq!(b.request_count(), 0, "direct go stops at the first proxy");
    a.clear_log();
    let (shim, took) = timed_shim(&world, &["mod", "download"], Duration::from_secs(60));
    assert_all_down("two 502 proxies", &shim, &direct, took, &urls);
    assert!(
        stderr_text(&shim).contains("502 Bad Gateway"),
        "{}",
        show(&shim)
    );
    // GOSHIM_ATTEMPTS (3) runs, each asking both proxies.
    for (name, proxy) in [("first", &a), ("second", &b)] {
        let asked = proxy
            .requests_ending_with("/example.com/dep0/@v/v1.0.0.mod")
            .len();
        assert_eq!(asked, 3, "{name} proxy: {:?}", paths_of(proxy));
    }
}

// ---------------------------------------------------------------------------
// Privacy lock: private paths that reach the proxies keep the user's GOPROXY.
// ---------------------------------------------------------------------------

#[test]
fn private_paths_keep_the_users_goproxy_and_never_reach_extra_proxies() {
    private_paths_stay_with_the_users_list(&[("GONOSUMDB", "example.com/private")]);
}

/// GONOPROXY=none sends GOPRIVATE paths through the proxies too.
#[test]
fn private_paths_with_gonoproxy_none_keep_the_users_goproxy() {
    private_paths_stay_with_the_users_list(&[
        ("GOPRIVATE", "example.com/private"),
        ("GONOPROXY", "none"),
    ]);
}

fn private_paths_stay_with_the_users_list(private: &[(&str, &str)]) {
    let mut tree = ModTree::new(1);
    // The database knows the public module only.
    let db = db_of(&tree);
    tree.modules.push(Module {
        path: "example.com/private/mod".to_string(),
        name: "mod".to_string(),
        versions: vec!["v1.0.0".to_string()],
        requires: Vec::new(),
        padding: 0,
    });
    let a = db_proxy(&tree, &db, Fault::Status(502));
    let b = db_proxy(&tree, &db, Fault::Healthy);
    let c = db_proxy(&tree, &db, Fault::Healthy);
    let user_goproxy = format!("{},{}", a.url(), b.url());
    // Verification on first: verify_with clears GONOSUMDB and GOPRIVATE.
    let mut world = verified_world(&user_goproxy, &db);
    for (key, value) in private {
        world.set_env(key, value);
    }
    world.set_env("GOSHIM_PROXIES", c.url());
    world.write_main_module(PRINT_ENV);

    let args = ["mod", "download", "example.com/private/mod@v1.0.0"];
    let shim = world.run_shim(&args);
    let direct = world.run_direct(&args);
    assert_eq!(shim.status.code(), Some(1), "{}", show(&shim));
    assert_same_outcome("private module download", &shim, &direct);
    assert!(
        stderr_text(&shim).contains("502 Bad Gateway"),
        "{}",
        show(&shim)
    );
    for (name, proxy) in [("second", &b), ("extra", &c)] {
        assert!(
            !paths_of(proxy)
                .iter()
                .any(|p| p.contains("example.com/private")),
            "the private module reached the {name} proxy: {:?}",
            paths_of(proxy)
        );
    }
    assert_eq!(
        paths_of(&a),
        [
            "/example.com/private/mod/@v/v1.0.0.info",
            "/example.com/private/mod/@v/v1.0.0.info"
        ],
        "one request per run, shim and direct"
    );

    // What go sees: the user's value, unchanged.
    let ran = world.run_shim(&["run", ".", "GOPROXY"]);
    assert!(ran.status.success(), "{}", show(&ran));
    assert_eq!(stdout_text(&ran), format!("GOPROXY={user_goproxy}\n"));
    let status = status_json(&world);
    assert!(status["goproxy_unchanged_reason"].is_string(), "{status:#}");
    assert_eq!(status["goproxy"], user_goproxy, "{status:#}");
    assert_eq!(status["relay"], false, "{status:#}");

    // Without the private patterns the same world gets the reordered list
    // (the lock above is what kept it).
    for (key, _) in private {
        world.remove_env(key);
    }
    let ran = world.run_shim(&["run", ".", "GOPROXY"]);
    assert_eq!(
        stdout_text(&ran),
        format!("GOPROXY={}|{}|{}\n", a.url(), b.url(), c.url()),
        "{}",
        show(&ran)
    );
    assert!(
        !paths_of(&c)
            .iter()
            .any(|p| p.contains("example.com/private")),
        "{:?}",
        paths_of(&c)
    );
}

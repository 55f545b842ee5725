//! The health snapshot (`<GOSHIM_CACHE_DIR>/health.json`), `goshim probe`,
//! `goshim status` and the background refresh, without the loopback relay
//! (`GOSHIM_RELAY=0`), with the real go through the shim.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Output;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::process::{assert_clean_success, assert_same_status_and_stdout, run_with_timeout};
use common::scenario::{
    PASSWORD, TOKEN, assert_cache_has_no_secret, assert_no_secret, entry, files_under, go_lines,
    goshim_lines, health_path, list_world, quiet_status_json as status_json, read_health,
};
use common::tls::{TestCa, TlsProxy};
use common::{
    DEFAULT_TIMEOUT, Fault, ModTree, Running, TestProxy, World, assert_same_outcome, show,
    stderr_text, stdout_text,
};
use serde_json::Value;

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A well-formed snapshot file of `version`, probed at `probed_at`, with one
/// entry per `(url, state)`.
fn snapshot_text(version: u32, probed_at: u64, entries: &[(&str, &str)]) -> String {
    let proxies: Vec<Value> = entries
        .iter()
        .map(|(url, state)| {
            let up = *state == "up";
            serde_json::json!({
                "url": url,
                "state": state,
                "score": if up { 1.0 } else { 0.0 },
                "latency": null,
                "last_error": if up { Value::Null } else { "http_502".into() },
                "checked_at": probed_at,
                "last_failure_at": if up { Value::Null } else { probed_at.into() },
                "sumdb": null,
                "history": [up],
            })
        })
        .collect();
    let doc = serde_json::json!({
        "version": version,
        "probed_at": probed_at,
        "proxies": proxies,
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

/// Polls `cond` every 50 ms until it holds; panics with `what` after `timeout`.
fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "not {what} within {timeout:?}");
        thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------
// A broken snapshot or cache dir never gets in go's way.
// ---------------------------------------------------------------------------

/// How the snapshot (or its folder) is broken.
#[derive(Clone, Copy, Debug)]
enum Broken {
    Empty,
    Garbage,
    Truncated,
    OtherVersion,
    Directory,
    /// GOSHIM_CACHE_DIR lies under a regular file: nothing can be read or created.
    CacheDirUnderAFile,
    /// GOSHIM_CACHE_DIR has mode 000 (root can still read it).
    CacheDirMode000,
}

impl Broken {
    /// Breaks the snapshot of `world`, whose proxies are `urls`.
    fn apply(self, world: &mut World, urls: &[String]) {
        let entries: Vec<(&str, &str)> = urls.iter().map(|u| (u.as_str(), "down")).collect();
        let valid = snapshot_text(1, now_secs(), &entries);
        let path = health_path(world);
        match self {
            Broken::Empty => {
                fs::write(&path, "").unwrap();
            }
            Broken::Garbage => {
                let bytes: Vec<u8> = (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect();
                fs::write(&path, bytes).unwrap();
            }
            Broken::Truncated => {
                fs::write(&path, &valid[..valid.len() / 2]).unwrap();
            }
            Broken::OtherVersion => {
                fs::write(&path, snapshot_text(99, now_secs(), &entries)).unwrap();
            }
            Broken::Directory => {
                fs::create_dir(&path).unwrap();
                fs::write(path.join("x"), valid).unwrap();
            }
            Broken::CacheDirUnderAFile => {
                let file = world.write_file("not-a-dir", "a file");
                world.set_env("GOSHIM_CACHE_DIR", file.join("goshim"));
            }
            Broken::CacheDirMode000 => {
                let dir = world.path("goshim-cache");
                fs::set_permissions(&dir, fs::Permissions::from_mode(0o000)).unwrap();
            }
        }
    }

    /// Whether the shim can write a new snapshot after breaking it this way.
    fn writable(self) -> bool {
        match self {
            Broken::Directory | Broken::CacheDirUnderAFile => false,
            // Root ignores the mode.
            Broken::CacheDirMode000 => is_root(),
            _ => true,
        }
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// With the snapshot broken (snapshot marking the proxy down, when it is read):
/// a warm `go build` through the shim is byte-for-byte go's, `goshim status`
/// reports no snapshot, and a command that needs re-runs still gets them.
fn broken_snapshot_is_ignored(broken: Broken) {
    let tree = ModTree::new(2);
    let proxy = TestProxy::start(&tree);
    let mut world = list_world(&proxy.url());
    world.write_tree_main_module(&tree);
    broken.apply(&mut world, &[proxy.url()]);
    let what = format!("{broken:?}");

    let warm = world.run_direct(&["mod", "download"]);
    assert!(warm.status.success(), "{}", show(&warm));
    let shim = world.run_shim(&["build", "-o", "out/shim", "."]);
    let direct = world.run_direct(&["build", "-o", "out/direct", "."]);
    assert_same_outcome(&format!("{what}: warm go build"), &shim, &direct);
    assert_clean_success(&format!("{what}: warm go build"), &shim);
    let shim = world.run_shim(&["list", "-m", "all"]);
    let direct = world.run_direct(&["list", "-m", "all"]);
    assert_same_outcome(&format!("{what}: go list -m all"), &shim, &direct);

    let status = status_json(&world);
    assert_eq!(status["snapshot"]["present"], false, "{what}: {status:#}");
    assert_eq!(
        status["proxies"][0]["state"], "unknown",
        "{what}: {status:#}"
    );

    // Re-runs need no snapshot: the only proxy fails every second request.
    let small = ModTree::new(1);
    let flaky = TestProxy::faulty(&small, Fault::EveryNth { n: 2, status: 503 });
    let mut world = list_world(&flaky.url());
    world.write_tree_main_module(&small);
    broken.apply(&mut world, &[flaky.url()]);
    let out = run_with_timeout(
        &mut world.shim_cmd(["mod", "download"]),
        Duration::from_secs(60),
    );
    assert!(out.status.success(), "{what}: re-runs\n{}", show(&out));
    // Only the one-line notices that go runs again.
    assert!(
        goshim_lines(&out)
            .iter()
            .all(|l| l.starts_with("goshim: go failed on proxy errors")),
        "{what}\n{}",
        show(&out)
    );
    assert_eq!(
        flaky.request_count(),
        5,
        "{what}: three runs: {:?}",
        flaky.request_paths()
    );
    if broken.writable() {
        // The failures replaced the broken file with a good one.
        let snap = read_health(&world);
        assert_eq!(snap["version"], 1, "{what}: {snap:#}");
        let e = entry(&snap, &flaky.url());
        assert_eq!(e["state"], "down", "{what}: {snap:#}");
        assert_eq!(e["last_error"], "http_503", "{what}: {snap:#}");
    } else if matches!(broken, Broken::Directory) {
        assert!(health_path(&world).is_dir());
    }
    if matches!(broken, Broken::CacheDirMode000) {
        let dir = world.path("goshim-cache");
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    }
}

#[test]
fn empty_snapshot_is_ignored() {
    broken_snapshot_is_ignored(Broken::Empty);
}

#[test]
fn garbage_snapshot_is_ignored() {
    broken_snapshot_is_ignored(Broken::Garbage);
}

#[test]
fn truncated_snapshot_is_ignored() {
    broken_snapshot_is_ignored(Broken::Truncated);
}

#[test]
fn snapshot_of_another_version_is_ignored() {
    broken_snapshot_is_ignored(Broken::OtherVersion);
}

#[test]
fn snapshot_that_is_a_directory_is_ignored() {
    broken_snapshot_is_ignored(Broken::Directory);
}

#[test]
fn cache_dir_under_a_file_is_tolerated() {
    broken_snapshot_is_ignored(Broken::CacheDirUnderAFile);
}

#[test]
fn cache_dir_with_mode_000_is_tolerated() {
    broken_snapshot_is_ignored(Broken::CacheDirMode000);
}

// ---------------------------------------------------------------------------
// Concurrency.
// ---------------------------------------------------------------------------

/// 50 shims at once (exec'd `go list -m all` and supervised `go mod download`)
/// while `goshim probe` rewrites the snapshot in a loop: all succeed with go's
/// output, and the snapshot ends up whole and private.
#[test]
fn fifty_concurrent_shims_while_probe_rewrites_the_snapshot() {
    let tree = ModTree::new(2);
    let good = TestProxy::start(&tree);
    let bad = TestProxy::faulty(&tree, Fault::Status(502));
    let world = list_world(&format!("{},{}", bad.url(), good.url()));
    world.write_tree_main_module(&tree);
    // Download through the shim once (fails over to the good proxy).
    let first = world.run_shim(&["mod", "download"]);
    assert!(first.status.success(), "{}", show(&first));
    let expected_list = world.run_direct(&["list", "-m", "all"]);
    assert!(expected_list.status.success(), "{}", show(&expected_list));

    let world = Arc::new(world);
    let stop = Arc::new(AtomicBool::new(false));
    let prober = {
        let (world, stop) = (world.clone(), stop.clone());
        thread::spawn(move || {
            let mut probes = 0;
            while !stop.load(Ordering::SeqCst) {
                let out =
                    run_with_timeout(&mut world.goshim_cmd(["probe"]), Duration::from_secs(30));
                // The good proxy is usable, so every probe exits 0.
                assert!(out.status.success(), "goshim probe\n{}", show(&out));
                probes += 1;
            }
            probes
        })
    };
    // Let the first probe write before the crowd starts.
    wait_until("a first snapshot", Duration::from_secs(20), || {
        health_path(&world).is_file()
    });

    let runs: Vec<(&str, Running)> = (0..50)
        .map(|i| {
            let args: &[&str] = if i % 5 == 0 {
                &["mod", "download"]
            } else {
                &["list", "-m", "all"]
            };
            let what = if i % 5 == 0 { "mod download" } else { "list" };
            (what, Running::spawn(&mut world.shim_cmd(args)))
        })
        .collect();
    let outputs: Vec<(&str, Output)> = runs
        .into_iter()
        .map(|(what, r)| (what, r.wait(DEFAULT_TIMEOUT)))
        .collect();
    stop.store(true, Ordering::SeqCst);
    let probes = prober.join().expect("probe loop");
    assert!(probes >= 2, "only {probes} probe(s) ran");

    for (i, (what, out)) in outputs.iter().enumerate() {
        assert!(out.status.success(), "run {i} ({what})\n{}", show(out));
        assert!(out.stderr.is_empty(), "run {i} ({what})\n{}", show(out));
        if *what == "list" {
            assert_same_status_and_stdout(&format!("run {i}"), out, &expected_list);
        }
    }
    let snap = read_health(&world);
    assert_eq!(snap["version"], 1, "{snap:#}");
    assert_eq!(entry(&snap, &good.url())["state"], "up", "{snap:#}");
    assert_eq!(entry(&snap, &bad.url())["state"], "down", "{snap:#}");
    let mode = fs::metadata(health_path(&world))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "health.json mode {mode:o}");
    for path in files_under(&world.path("goshim-cache")) {
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    }
    let leftovers: Vec<_> = fs::read_dir(world.path("goshim-cache"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

// ---------------------------------------------------------------------------
// Credentials never show.
// ---------------------------------------------------------------------------

fn lines_of(out: &Output) -> Vec<String> {
    stderr_text(out)
        .lines()
        .chain(stdout_text(out).lines())
        .map(str::to_string)
        .collect()
}

/// A GOPROXY with a query token (from the environment, then from the go env
/// file) and an extra proxy with userinfo: probe, status and builds (good and
/// failing) show neither secret and store neither under the cache dir.
#[test]
fn credentials_never_show_in_output_or_cache_files() {
    let tree = ModTree::new(2);
    let with_token = TestProxy::start(&tree);
    let with_user = TestProxy::start(&tree);
    let token_url = format!("{}/?token={TOKEN}", with_token.url());
    let user_url = format!("http://user:{PASSWORD}@{}", with_user.addr());
    let mut world = list_world(&token_url);
    world.set_env("GOSHIM_PROXIES", &user_url);
    // goshim's diagnostics must be as discreet as its warnings.
    world.set_env("GOSHIM_LOG", "debug");
    world.write_tree_main_module(&tree);
    let cache = world.path("goshim-cache");

    for args in [
        &["probe"][..],
        &["probe", "--json"],
        &["status"],
        &["status", "--json"],
    ] {
        let out = world.run(&mut world.goshim_cmd(args));
        assert!(out.status.success(), "goshim {args:?}\n{}", show(&out));
        assert_no_secret(&format!("goshim {args:?}"), &out, &[]);
        let text = stdout_text(&out);
        assert!(
            text.contains(&with_token.url()) && text.contains(&with_user.url()),
            "goshim {args:?} should show both proxies, redacted\n{}",
            show(&out)
        );
    }
    // The probe keeps the query (as go does) and sends no Basic auth over http.
    let probed = with_token.requests_ending_with("/example.com/dep0/@v/list");
    assert!(!probed.is_empty());
    assert!(
        probed
            .iter()
            .all(|r| r.query.as_deref() == Some("token=s3cr3tTOKEN")),
        "{probed:?}"
    );
    let probed = with_user.requests_ending_with("/example.com/dep0/@v/list");
    assert!(!probed.is_empty());
    assert!(
        probed.iter().all(|r| r.authorization.is_none()),
        "{probed:?}"
    );

    // A good download through the shim: go keeps the token on every request.
    let out = world.run_shim(&["mod", "download"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_no_secret("go mod download", &out, &[]);
    let log = with_token.requests();
    assert!(log.iter().any(|r| r.path.ends_with(".zip")), "{log:?}");
    assert!(
        log.iter()
            .all(|r| r.query.as_deref() == Some("token=s3cr3tTOKEN")),
        "go dropped the token: {log:?}"
    );

    // A failing build: the token proxy answers 502 and go must not send the
    // userinfo over plain http; then with the token proxy alone (re-runs).
    with_token.set_fault(Fault::Status(502));
    let clean = world.run_direct(&["clean", "-modcache"]);
    assert!(clean.status.success(), "{}", show(&clean));
    let args = ["build", "-o", "out/prog", "."];
    let shim = world.run_shim(&args);
    let direct = world.run_direct(&args);
    assert!(!shim.status.success(), "{}", show(&shim));
    assert_no_secret("failing build with both", &shim, &lines_of(&direct));
    world.remove_env("GOSHIM_PROXIES");
    let shim = world.run_shim(&args);
    let direct = world.run_direct(&args);
    assert!(!shim.status.success(), "{}", show(&shim));
    let failed: Vec<String> = goshim_lines(&shim)
        .into_iter()
        .filter(|l| l.starts_with("goshim: proxies failed in"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", show(&shim));
    assert!(failed[0].contains(&with_token.url()), "{}", show(&shim));
    assert_no_secret("failing build with the token", &shim, &lines_of(&direct));
    let status = world.run(&mut world.goshim_cmd(["status"]));
    assert_no_secret("status after failures", &status, &[]);
    assert_cache_has_no_secret(&cache);
    let snap = read_health(&world);
    assert_eq!(entry(&snap, &with_token.url())["state"], "down", "{snap:#}");

    // The same token from the go env file instead of the environment.
    world.remove_env("GOPROXY");
    world.write_file("config/go/env", format!("GOPROXY={token_url}\n"));
    world.set_env("GOSHIM_PROXIES", &user_url);
    with_token.heal();
    for args in [&["probe"][..], &["status", "--json"]] {
        let out = world.run(&mut world.goshim_cmd(args));
        assert!(out.status.success(), "goshim {args:?}\n{}", show(&out));
        assert_no_secret(&format!("goshim {args:?} (go env file)"), &out, &[]);
    }
    let out = world.run_shim(&["build", "-o", "out/prog", "."]);
    assert!(out.status.success(), "{}", show(&out));
    assert_no_secret("build (go env file)", &out, &[]);
    with_token.set_fault(Fault::Status(502));
    let _ = world.run_direct(&["clean", "-modcache"]);
    let shim = world.run_shim(&["mod", "download"]);
    let direct = world.run_direct(&["mod", "download"]);
    assert!(!shim.status.success(), "{}", show(&shim));
    assert_no_secret("failing download (go env file)", &shim, &lines_of(&direct));
    assert_cache_has_no_secret(&cache);
}

/// The user name of the Basic-auth tests.
const USER: &str = "gopher";
/// `Basic base64("gopher:s3cr3tPASS")`: what the https proxy below requires.
const BASIC: &str = "Basic Z29waGVyOnMzY3IzdFBBU1M=";

/// Where the Basic credentials come from.
#[derive(Clone, Copy, Debug)]
enum CredsFrom {
    /// A `.netrc` file that NETRC points to.
    Netrc,
    /// The proxy URL's userinfo.
    Userinfo,
}

/// An https proxy that answers 401 without the right Basic credentials: the
/// probe sends them as the relay (and go) would, so `goshim probe`, `status`
/// and `doctor` see it up; a plain-http proxy on the same host gets none of
/// them; no credential shows in any output or under the cache dir.
fn probe_sends_basic_credentials(from: CredsFrom) {
    let tree = ModTree::new(2);
    let ca = TestCa::new("goshim test CA");
    let gated = TlsProxy::requiring(&ca.leaf((2020, 1, 1), (2040, 1, 1)), &tree, BASIC);
    let plain = TestProxy::start(&tree);
    let goproxy = match from {
        CredsFrom::Netrc => gated.url(),
        CredsFrom::Userinfo => format!("https://{USER}:{PASSWORD}@{}", gated.addr()),
    };
    let mut world = list_world(&format!("{goproxy}|{}", plain.url()));
    let bundle = world.write_file("ca.pem", &ca.pem);
    world.set_env("SSL_CERT_FILE", &bundle);
    // A login for each proxy's host:port (go matches the port too): only the
    // https one may get it.
    let login = format!("login {USER} password {PASSWORD}");
    let netrc = world.write_file(
        "netrc",
        format!(
            "machine {} {login}\nmachine {} {login}\n",
            gated.addr(),
            plain.addr()
        ),
    );
    if matches!(from, CredsFrom::Netrc) {
        world.set_env("NETRC", &netrc);
    }
    world.set_env("GOSHIM_LOG", "debug");
    let empty = world.write_file("presets-empty.toml", "");
    world.set_env("GOSHIM_PRESETS_FILE", &empty);
    let cache = world.path("goshim-cache");

    let no_secret = |what: &str, out: &Output| {
        assert_no_secret(what, out, &[]);
        let text = format!("{}{}", stdout_text(out), stderr_text(out));
        assert!(
            !text.contains(&BASIC[6..]),
            "{what}: the Basic value\n{}",
            show(out)
        );
    };
    for args in [&["probe"][..], &["probe", "--json"]] {
        let out = world.run(&mut world.goshim_cmd(args));
        assert!(out.status.success(), "goshim {args:?}\n{}", show(&out));
        no_secret(&format!("goshim {args:?}"), &out);
    }
    assert!(
        gated.served() > 0,
        "the probe never reached the https proxy"
    );
    assert_eq!(gated.rejected(), 0, "the probe was answered 401");
    let probed = plain.requests_ending_with("/example.com/dep0/@v/list");
    assert!(!probed.is_empty());
    assert!(
        probed.iter().all(|r| r.authorization.is_none()),
        "credentials over plain http: {probed:?}"
    );

    let status = status_json(&world);
    let up = entry(&status, &gated.url());
    assert_eq!(up["state"], "up", "{status:#}");
    assert_eq!(up["last_error"], Value::Null, "{status:#}");

    let out = run_with_timeout(&mut world.goshim_cmd(["doctor", "--json"]), DEFAULT_TIMEOUT);
    no_secret("goshim doctor --json", &out);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e})\n{}", show(&out)));
    let report = entry(&doc, &gated.url());
    assert_eq!(
        (report["state"].as_str(), &report["error"]),
        (Some("up"), &Value::Null),
        "{doc:#}"
    );
    assert_eq!(gated.rejected(), 0, "doctor was answered 401");

    assert_cache_has_no_secret(&cache);
    for path in files_under(&cache) {
        let bytes = fs::read(&path).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&BASIC[6..]), "{}: {text}", path.display());
    }
}

#[test]
fn probe_sends_netrc_credentials_to_an_https_proxy() {
    probe_sends_basic_credentials(CredsFrom::Netrc);
}

#[test]
fn probe_sends_userinfo_credentials_to_an_https_proxy() {
    probe_sends_basic_credentials(CredsFrom::Userinfo);
}

// ---------------------------------------------------------------------------
// goshim probe and goshim status.
// ---------------------------------------------------------------------------

/// A fast proxy, a slow one and a 500 one, listed worst first: the probe ranks
/// them fast, slow, broken; status --json shows the same with sane values.
#[test]
fn probe_ranks_fast_slow_and_broken_proxies_and_status_shows_them() {
    let tree = ModTree::new(1);
    let fast = TestProxy::start(&tree);
    let slow = TestProxy::builder()
        .tree(&tree)
        .fault(Fault::Delay(Duration::from_millis(700)))
        .sumdb_supported(false)
        .start();
    let broken = TestProxy::faulty(&tree, Fault::Status(500));
    let mut world = list_world(&format!("{},{},{}", broken.url(), slow.url(), fast.url()));
    world.set_env("GOSHIM_PROBE_TIMEOUT_MS", "5000");
    world.set_env("GOSUMDB", "sum.golang.org");

    let probe = run_with_timeout(&mut world.goshim_cmd(["probe"]), Duration::from_secs(30));
    assert!(probe.status.success(), "{}", show(&probe));
    assert!(probe.stderr.is_empty(), "{}", show(&probe));
    let table = stdout_text(&probe);
    // The table, then what was asked of every proxy.
    let rows: Vec<&str> = table
        .lines()
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert_eq!(rows.len(), 3, "{table}");
    assert!(
        table.contains("\nsample modules: example.com/dep0 (probe module)"),
        "{table}"
    );
    for (row, url) in rows.iter().zip([fast.url(), slow.url(), broken.url()]) {
        assert!(row.contains(&url), "ranking:\n{table}");
    }
    assert!(
        rows[2].contains("down") && rows[2].contains("http_500"),
        "{table}"
    );
    assert!(
        !fast
            .requests_ending_with("/sumdb/sum.golang.org/supported")
            .is_empty(),
        "the probe asks about the checksum database"
    );

    let status = status_json(&world);
    for key in [
        "real_go",
        "goproxy",
        "relay",
        "goproxy_unchanged_reason",
        "snapshot",
        "proxies",
    ] {
        assert!(status.get(key).is_some(), "no {key}: {status:#}");
    }
    assert_eq!(status["real_go"], world.real_go().display().to_string());
    assert_eq!(status["relay"], false);
    assert_eq!(status["goproxy_unchanged_reason"], Value::Null);
    assert_eq!(
        status["goproxy"],
        format!("{}|{}|{}", fast.url(), slow.url(), broken.url())
    );
    assert_eq!(status["snapshot"]["present"], true, "{status:#}");
    assert_eq!(status["snapshot"]["version"], 1, "{status:#}");
    let proxies = status["proxies"].as_array().expect("proxies array");
    let urls: Vec<&str> = proxies.iter().map(|p| p["url"].as_str().unwrap()).collect();
    assert_eq!(urls, [fast.url(), slow.url(), broken.url()], "{status:#}");
    for p in proxies {
        for key in ["url", "state", "score", "latency_ms", "last_error", "sumdb"] {
            assert!(p.get(key).is_some(), "no {key} in {p:#}");
        }
        let score = p["score"].as_f64().expect("a score");
        assert!((0.0..=1.0).contains(&score), "{p:#}");
    }
    let (f, s, b) = (&proxies[0], &proxies[1], &proxies[2]);
    assert_eq!(f["state"], "up", "{f:#}");
    assert_ne!(s["state"], "down", "{s:#}");
    assert_eq!(b["state"], "down", "{b:#}");
    assert_eq!(b["last_error"], "http_500", "{b:#}");
    let score = |p: &Value| p["score"].as_f64().unwrap();
    assert!(
        score(f) > score(s) && score(s) > score(b),
        "scores {} {} {}",
        score(f),
        score(s),
        score(b)
    );
    let latency = |p: &Value| p["latency_ms"].as_f64().unwrap();
    assert!(latency(s) >= 700.0, "{s:#}");
    assert!(latency(f) < latency(s), "{f:#} {s:#}");
    assert_eq!(f["sumdb"], true, "{f:#}");
    assert_eq!(s["sumdb"], false, "{s:#}");

    // probe --json: the same order, as an array of snapshot entries.
    let probe = run_with_timeout(
        &mut world.goshim_cmd(["probe", "--json"]),
        Duration::from_secs(30),
    );
    assert!(probe.status.success(), "{}", show(&probe));
    let doc: Value = serde_json::from_slice(&probe.stdout).expect("probe --json is JSON");
    let urls: Vec<&str> = doc
        .as_array()
        .expect("an array")
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, [fast.url(), slow.url(), broken.url()], "{doc:#}");

    // Nothing usable: exit 1.
    world.set_env("GOPROXY", broken.url());
    let probe = run_with_timeout(&mut world.goshim_cmd(["probe"]), Duration::from_secs(30));
    assert_eq!(probe.status.code(), Some(1), "{}", show(&probe));
}

/// A proxy that sends its headers at once but drips the body of
/// `/@v/list` (about 1 s for 7 bytes) is slower than a fast one: the probe's
/// `total_ms` covers the whole request, so it ranks second although listed first.
#[test]
fn probe_ranks_a_proxy_dripping_its_body_after_a_fast_one() {
    let tree = ModTree::new(1);
    let fast = TestProxy::start(&tree);
    let drip = TestProxy::faulty(
        &tree,
        Fault::SlowDrip {
            bytes_per_chunk: 1,
            delay: Duration::from_millis(150),
        },
    );
    let mut world = list_world(&format!("{},{}", drip.url(), fast.url()));
    world.set_env("GOSHIM_PROBE_TIMEOUT_MS", "5000");
    let probe = run_with_timeout(&mut world.goshim_cmd(["probe"]), Duration::from_secs(30));
    assert!(probe.status.success(), "{}", show(&probe));
    let status = status_json(&world);
    let proxies = status["proxies"].as_array().unwrap();
    let d = proxies
        .iter()
        .find(|p| p["url"] == drip.url())
        .expect("the dripping proxy");
    assert!(
        d["latency_ms"].as_f64().is_some_and(|ms| ms >= 900.0),
        "the body took about a second to arrive, yet the probe measured {}: {status:#}",
        d["latency_ms"]
    );
    assert_eq!(proxies[0]["url"], fast.url(), "{status:#}");
    assert_eq!(proxies[1]["url"], drip.url(), "{status:#}");
}

/// A proxy answering 404 for the probe module that another proxy has is
/// "gone" (down); when no proxy has it, a 404 only shows the proxy answers,
/// and that none serves modules.
#[test]
fn probe_marks_a_proxy_missing_a_module_others_have_as_gone() {
    let tree = ModTree::new(1);
    let full = TestProxy::start(&tree);
    let empty = TestProxy::empty();
    let mut world = list_world(&format!("{},{}", empty.url(), full.url()));
    let probe = world.run(&mut world.goshim_cmd(["probe"]));
    assert!(probe.status.success(), "{}", show(&probe));
    let status = status_json(&world);
    let proxies = status["proxies"].as_array().unwrap();
    assert_eq!(proxies[0]["url"], full.url(), "{status:#}");
    assert_eq!(proxies[0]["state"], "up", "{status:#}");
    assert_eq!(proxies[1]["url"], empty.url(), "{status:#}");
    assert_eq!(proxies[1]["state"], "down", "{status:#}");
    assert_eq!(proxies[1]["last_error"], "gone", "{status:#}");

    // Nobody has it: no proxy is gone, and none serves modules, which the
    // exit status and stderr say as goshim doctor does.
    world.set_env("GOSHIM_PROBE_MODULE", "example.com/nobody/has");
    world.set_env("GOSHIM_DOCTOR_MODULES", "example.com/nobody/either");
    let probe = world.run(&mut world.goshim_cmd(["probe"]));
    assert_eq!(probe.status.code(), Some(1), "{}", show(&probe));
    assert!(
        stderr_text(&probe).contains("no healthy proxy serves modules: those that answer list none of example.com/nobody/has (probe module), example.com/nobody/either (doctor_modules)"),
        "{}",
        show(&probe)
    );
    let snap = read_health(&world);
    assert_eq!(
        entry(&snap, &empty.url())["last_error"],
        Value::Null,
        "{snap:#}"
    );
    assert_ne!(entry(&snap, &empty.url())["state"], "down", "{snap:#}");
}

/// An invalid GOSHIM_PROXIES: the CLI refuses with one line naming it; the
/// shim warns once and runs go unchanged.
#[test]
fn bad_goshim_proxies_is_named_by_status_and_only_warned_by_the_shim() {
    let tree = ModTree::new(2);
    let proxy = TestProxy::start(&tree);
    let mut world = list_world(&proxy.url());
    world.write_tree_main_module(&tree);

    // A secret in the bad value is not repeated either.
    world.set_env(
        "GOSHIM_PROXIES",
        "ftp://user:s3cr3tPASS@x/?token=s3cr3tTOKEN",
    );
    let out = world.run(&mut world.goshim_cmd(["status"]));
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        stderr_text(&out).contains("GOSHIM_PROXIES"),
        "{}",
        show(&out)
    );
    assert_no_secret("goshim status with a bad value", &out, &[]);
    let shim = world.run_shim(&["list", "-m"]);
    assert!(shim.status.success(), "{}", show(&shim));
    assert_no_secret("go list -m with a bad value", &shim, &[]);

    world.set_env("GOSHIM_PROXIES", "ftp://x");
    for args in [&["status"][..], &["status", "--json"], &["probe"]] {
        let out = world.run(&mut world.goshim_cmd(args));
        assert!(!out.status.success(), "goshim {args:?}\n{}", show(&out));
        assert!(out.stdout.is_empty(), "goshim {args:?}\n{}", show(&out));
        let err = stderr_text(&out);
        assert_eq!(err.lines().count(), 1, "goshim {args:?}\n{}", show(&out));
        assert!(
            err.starts_with("goshim: ") && err.contains("GOSHIM_PROXIES"),
            "goshim {args:?}\n{}",
            show(&out)
        );
    }

    let warm = world.run_direct(&["mod", "download"]);
    assert!(warm.status.success(), "{}", show(&warm));
    for args in [
        &["build", "-o", "out/prog", "."][..],
        &["list", "-m", "all"],
    ] {
        let shim = world.run_shim(args);
        let direct = world.run_direct(args);
        assert_same_status_and_stdout(&format!("go {args:?}"), &shim, &direct);
        assert!(shim.status.success(), "{}", show(&shim));
        let lines = goshim_lines(&shim);
        assert_eq!(lines.len(), 1, "{}", show(&shim));
        assert!(lines[0].contains("GOSHIM_PROXIES"), "{}", show(&shim));
        let rest: String = go_lines(&shim).iter().map(|l| format!("{l}\n")).collect();
        assert_eq!(rest, stderr_text(&direct), "{}", show(&shim));
    }
    // Cold: the download works through the shim too.
    let clean = world.run_direct(&["clean", "-modcache"]);
    assert!(clean.status.success(), "{}", show(&clean));
    let shim = world.run_shim(&["mod", "download"]);
    assert!(shim.status.success(), "{}", show(&shim));
    assert_eq!(goshim_lines(&shim).len(), 1, "{}", show(&shim));
}

// ---------------------------------------------------------------------------
// Background refresh.
// ---------------------------------------------------------------------------

/// With GOSHIM_TTL=1, a missing or stale snapshot makes the shim start a
/// detached probe and run go without waiting for it; with GOSHIM_TTL=0 nothing
/// is probed.
#[test]
fn missing_or_stale_snapshot_is_refreshed_in_the_background() {
    let tree = ModTree::new(2);
    let proxy = TestProxy::start(&tree);
    // The probe of this proxy hangs until its deadline.
    proxy.set_fault_for("/example.com/dep0/@v/list", Fault::Hang);
    let mut world = list_world(&proxy.url());
    world.set_env("GOSHIM_PROBE_TIMEOUT_MS", "4000");
    world.write_tree_main_module(&tree);
    let warm = world.run_direct(&["mod", "download"]);
    assert!(warm.status.success(), "{}", show(&warm));
    proxy.clear_log();
    let args = ["build", "-o", "out/prog", "."];

    // GOSHIM_TTL=0: no probe.
    let out = world.run_shim(&args);
    assert_clean_success("build with GOSHIM_TTL=0", &out);
    thread::sleep(Duration::from_millis(300));
    assert!(!health_path(&world).exists());
    assert!(proxy.requests_ending_with("/@v/list").is_empty());

    // Missing snapshot: go runs at once, the probe finishes later.
    world.set_env("GOSHIM_TTL", "1");
    let start = Instant::now();
    let out = world.run_shim(&args);
    let took = start.elapsed();
    assert_clean_success("build with a missing snapshot", &out);
    assert!(
        !health_path(&world).exists(),
        "the build returned after {took:?} with the snapshot already written: it waited for the probe"
    );
    proxy.wait_for_requests(1, Duration::from_secs(10));
    assert_eq!(
        proxy.request_paths(),
        ["/example.com/dep0/@v/list"],
        "the background probe"
    );
    wait_until("health.json written", Duration::from_secs(20), || {
        health_path(&world).is_file()
    });
    let snap = read_health(&world);
    let e = entry(&snap, &proxy.url());
    assert_eq!(e["state"], "down", "{snap:#}");
    assert!(
        e["last_error"]
            .as_str()
            .is_some_and(|s| s.contains("timeout")),
        "{snap:#}"
    );
    let mode = fs::metadata(health_path(&world))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);

    // Stale snapshot (probed an hour ago): refreshed, the proxy is up again.
    proxy.heal();
    let old = now_secs() - 3600;
    fs::write(
        health_path(&world),
        snapshot_text(1, old, &[(proxy.url().as_str(), "down")]),
    )
    .unwrap();
    let out = world.run_shim(&args);
    assert_clean_success("build with a stale snapshot", &out);
    wait_until(
        "the stale snapshot refreshed",
        Duration::from_secs(20),
        || {
            fs::read(health_path(&world))
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .and_then(|s| s["probed_at"].as_u64())
                .is_some_and(|t| t > old)
        },
    );
    let snap = read_health(&world);
    assert_eq!(entry(&snap, &proxy.url())["state"], "up", "{snap:#}");
    wait_until("the probe lock free", Duration::from_secs(20), || {
        probe_lock_free(&world)
    });

    // Fresh snapshot (GOSHIM_TTL=600): no probe.
    world.set_env("GOSHIM_TTL", "600");
    proxy.clear_log();
    let before = fs::read(health_path(&world)).unwrap();
    let out = world.run_shim(&args);
    assert_clean_success("build with a fresh snapshot", &out);
    thread::sleep(Duration::from_millis(500));
    assert!(proxy.requests_ending_with("/@v/list").is_empty());
    assert_eq!(fs::read(health_path(&world)).unwrap(), before);
}

/// True when no probe holds `probe.lock` in the world's cache dir.
fn probe_lock_free(world: &World) -> bool {
    use std::os::fd::AsRawFd;
    let Ok(file) = fs::File::open(world.path("goshim-cache/probe.lock")) else {
        return true;
    };
    // SAFETY: flock on a descriptor we own; released when `file` is dropped.
    unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) == 0 }
}

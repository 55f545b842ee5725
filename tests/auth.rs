//! Credentials as go has them (issue 16): GOAUTH helpers, .netrc entries by
//! `host:port`, GOAUTH=off and go's second try after a 4xx. Each case runs the
//! real go alone and through goshim (whose relay talks to the https proxy in
//! go's place) and expects the same outcome; no credential shows in goshim's
//! output (GOSHIM_LOG=debug) or under its cache.

mod common;

use std::fs;
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::process::run_with_timeout;
use common::scenario::{
    PASSWORD, TOKEN, assert_cache_has_no_secret, assert_no_secret, db_proxy, entry, go_lines,
    status_json,
};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::tls::{TestCa, TlsProxy};
use common::{Fault, ModTree, TestProxy, World, show};
use serde_json::Value;

const USER: &str = "gopher";
const BOUNDED: Duration = Duration::from_secs(120);

fn bearer() -> String {
    format!("Bearer {TOKEN}")
}

/// `Basic base64("gopher:s3cr3tPASS")`.
const BASIC: &str = "Basic Z29waGVyOnMzY3IzdFBBU1M=";

/// An https proxy with a test CA that go and goshim trust, refusing (401)
/// any request without `authorization`, and a world whose GOPROXY is it;
/// checksums verified against the test database, served at its own URL.
struct Setup {
    tree: ModTree,
    proxy: TlsProxy,
    world: World,
    _db_server: TestProxy,
}

fn setup(authorization: &str) -> Setup {
    let tree = ModTree::new(2);
    let ca = TestCa::new("goshim auth test CA");
    let proxy = TlsProxy::requiring(&ca.leaf((2020, 1, 1), (2040, 1, 1)), &tree, authorization);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let db_server = db_proxy(&tree, &db, Fault::Healthy);
    let mut world = World::new();
    world.set_env(
        "GOSUMDB",
        format!(
            "{} {}/sumdb/{}",
            db.verifier_key(),
            db_server.url(),
            db.name()
        ),
    );
    for key in ["GONOSUMDB", "GOPRIVATE"] {
        world.remove_env(key);
    }
    world.set_env("GOPROXY", proxy.url());
    world.set_env("GOSHIM_TTL", "0");
    world.set_env("GOSHIM_LOG", "debug");
    let empty = world.write_file("presets-empty.toml", "");
    world.set_env("GOSHIM_PRESETS_FILE", &empty);
    let bundle = world.write_file("ca.pem", &ca.pem);
    world.set_env("SSL_CERT_FILE", &bundle);
    world.write_tree_main_module(&tree);
    Setup {
        tree,
        proxy,
        world,
        _db_server: db_server,
    }
}

/// A GOAUTH helper printing `authorization` for the proxy when run without
/// arguments, and `retried` when go (or goshim) runs it again with the URL
/// of a refused request and the refusal on stdin. It notes each run in `log`.
fn helper(world: &World, proxy: &TlsProxy, first: &str, retried: &str) -> String {
    let log = world.path("helper.log");
    let script = format!(
        "#!/bin/sh\n\
         if [ $# -eq 0 ]; then echo first >> '{log}'; value='{first}'\n\
         else head -n 1 | sed \"s|^|retry $1 |\" >> '{log}'; value='{retried}'; fi\n\
         printf '%s\\n\\nAuthorization: %s\\n\\n' '{url}' \"$value\"\n",
        log = log.display(),
        url = proxy.url(),
    );
    world
        .write_executable("helper.sh", script)
        .display()
        .to_string()
}

fn helper_log(world: &World) -> String {
    fs::read_to_string(world.path("helper.log")).unwrap_or_default()
}

fn gomodcache(world: &World) -> std::path::PathBuf {
    Path::new(&world.env_value("GOMODCACHE").unwrap()).join("cache/download")
}

/// `go mod download` by go alone, then (from an empty module cache) through
/// goshim: both succeed or both fail, and a success fills the module cache
/// and writes the same go.sum. Returns (direct, shim).
fn download_both(s: &Setup) -> (Output, Output) {
    let w = &s.world;
    let go_sum = w.work_dir().join("go.sum");
    let run = |shim: bool| {
        let _ = w.run_direct(&["clean", "-modcache"]);
        let _ = fs::remove_file(&go_sum);
        let mut cmd = if shim {
            w.shim_cmd(["mod", "download"])
        } else {
            w.direct_cmd(["mod", "download"])
        };
        let out = run_with_timeout(&mut cmd, BOUNDED);
        let zip = gomodcache(w).join("example.com/dep1/@v/v1.0.0.zip");
        (out, zip.exists(), fs::read_to_string(&go_sum).ok())
    };
    let (direct, direct_zip, direct_sum) = run(false);
    let (shim, shim_zip, shim_sum) = run(true);
    let context = format!(
        "go alone:\n{}\nthrough goshim:\n{}",
        show(&direct),
        show(&shim)
    );
    assert_eq!(direct.status.success(), shim.status.success(), "{context}");
    assert_eq!(direct_zip, direct.status.success(), "{context}");
    assert_eq!(shim_zip, shim.status.success(), "{context}");
    assert_eq!(direct_sum, shim_sum, "{context}");
    let stderr = String::from_utf8_lossy(&shim.stderr);
    assert!(
        stderr.contains("<loopback relay>"),
        "goshim did not use its relay\n{context}"
    );
    assert_no_secret("through goshim", &shim, &go_lines(&direct));
    assert_cache_has_no_secret(&w.path("goshim-cache"));
    assert!(!s.tree.modules.is_empty());
    (direct, shim)
}

/// A NETRC file with the login for the proxy's `host:port`, as go matches it.
fn netrc_for_the_proxy(s: &mut Setup) -> std::path::PathBuf {
    let machine = s.proxy.addr();
    let netrc = s.world.write_file(
        "netrc",
        format!("machine {machine} login {USER} password {PASSWORD}\n"),
    );
    s.world.set_env("NETRC", &netrc);
    netrc
}

#[test]
fn a_goauth_helper_token_reaches_the_proxy() {
    let mut s = setup(&bearer());
    let helper = helper(&s.world, &s.proxy, &bearer(), &bearer());
    s.world.set_env("GOAUTH", &helper);
    let (direct, _) = download_both(&s);
    assert!(direct.status.success(), "{}", show(&direct));
    assert!(s.proxy.served() > 0);
}

#[test]
fn netrc_machine_with_the_port_is_used_and_without_it_is_not() {
    let mut s = setup(BASIC);
    let netrc = netrc_for_the_proxy(&mut s);
    let (direct, _) = download_both(&s);
    assert!(direct.status.success(), "{}", show(&direct));

    // `machine 127.0.0.1` is a prefix that a URL with a port never matches.
    fs::write(
        &netrc,
        format!("machine 127.0.0.1 login {USER} password {PASSWORD}\n"),
    )
    .unwrap();
    let (direct, _) = download_both(&s);
    assert!(!direct.status.success(), "{}", show(&direct));
}

#[test]
fn a_refused_request_runs_the_helper_again_and_is_retried() {
    let mut s = setup(&bearer());
    let helper = helper(&s.world, &s.proxy, "Bearer wrong", &bearer());
    s.world.set_env("GOAUTH", &helper);
    let (direct, _) = download_both(&s);
    assert!(direct.status.success(), "{}", show(&direct));
    let log = helper_log(&s.world);
    // go alone, then goshim: each ran it first without arguments, then with
    // the URL of a refused request and the 401 on stdin.
    assert_eq!(log.matches("first").count(), 2, "{log}");
    let retry = format!("retry {}/", s.proxy.url());
    assert!(
        log.lines()
            .any(|l| l.starts_with(&retry) && l.contains("401 Unauthorized")),
        "{log}"
    );
}

#[test]
fn goauth_off_sends_nothing_even_with_a_matching_netrc() {
    let mut s = setup(BASIC);
    // Matching by host:port (go) and by host alone (goshim before GOAUTH).
    let login = format!("login {USER} password {PASSWORD}");
    let netrc = s.world.write_file(
        "netrc",
        format!(
            "machine {} {login}\nmachine 127.0.0.1 {login}\n",
            s.proxy.addr()
        ),
    );
    s.world.set_env("NETRC", &netrc);
    s.world.set_env("GOAUTH", "off");
    let (direct, _) = download_both(&s);
    assert!(!direct.status.success(), "{}", show(&direct));
    assert_eq!(s.proxy.served(), 0);
}

/// go refuses a GOAUTH with an empty entry at its first https fetch; through
/// goshim the relay would fetch in its place and go would never notice.
#[test]
fn a_goauth_go_refuses_fails_through_goshim_too() {
    let mut s = setup(BASIC);
    netrc_for_the_proxy(&mut s);
    s.world.set_env("GOAUTH", "netrc;");
    let w = &s.world;
    let _ = w.run_direct(&["clean", "-modcache"]);
    let direct = run_with_timeout(&mut w.direct_cmd(["mod", "download"]), BOUNDED);
    let _ = w.run_direct(&["clean", "-modcache"]);
    let shim = run_with_timeout(&mut w.shim_cmd(["mod", "download"]), BOUNDED);
    let context = format!(
        "go alone:\n{}\nthrough goshim:\n{}",
        show(&direct),
        show(&shim)
    );
    assert!(!direct.status.success(), "{context}");
    assert!(!shim.status.success(), "{context}");
    let said = |out: &Output| {
        String::from_utf8_lossy(&out.stderr).contains("GOAUTH encountered an empty command")
    };
    assert!(said(&direct) && said(&shim), "{context}");
}

/// `goshim probe` and `goshim doctor` send what the helper gives, and try
/// again as go does when it gives a wrong token first: the mirror is up.
#[test]
fn probe_and_doctor_measure_a_mirror_behind_a_goauth_helper() {
    let mut s = setup(&bearer());
    let helper = helper(&s.world, &s.proxy, "Bearer wrong", &bearer());
    s.world.set_env("GOAUTH", &helper);
    let w = &s.world;
    for args in [&["probe"][..], &["probe", "--json"]] {
        let out = run_with_timeout(&mut w.goshim_cmd(args), BOUNDED);
        assert!(out.status.success(), "goshim {args:?}\n{}", show(&out));
        assert_no_secret(&format!("goshim {args:?}"), &out, &[]);
    }
    let status = status_json(w);
    let up = entry(&status, &s.proxy.url());
    assert_eq!(up["state"], "up", "{status:#}");
    assert_eq!(up["last_error"], Value::Null, "{status:#}");

    let out = run_with_timeout(&mut w.goshim_cmd(["doctor", "--json"]), BOUNDED);
    assert_no_secret("goshim doctor --json", &out, &[]);
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e})\n{}", show(&out)));
    let report = entry(&doc, &s.proxy.url());
    assert_eq!(
        (report["state"].as_str(), &report["error"]),
        (Some("up"), &Value::Null),
        "{doc:#}"
    );
    assert!(s.proxy.served() > 0);
    assert!(helper_log(w).contains("retry "), "{}", helper_log(w));
    assert_cache_has_no_secret(&w.path("goshim-cache"));
}

/// `GOAUTH="git <dir>"`: after the proxy's 401, go (and goshim in its place)
/// asks `git credential fill` in that folder, whose credential helper
/// answers, and retries with that Basic login.
#[test]
fn goauth_git_fills_the_login_after_a_refusal() {
    let mut s = setup(BASIC);
    let repo = s.world.path("creds-repo");
    fs::create_dir_all(&repo).unwrap();
    let git = |args: &[&str]| {
        let out = s.world.run(s.world.cmd("git", args).current_dir(&repo));
        assert!(out.status.success(), "git {args:?}\n{}", show(&out));
    };
    git(&["init", "-q"]);
    let helper = format!("!f() {{ echo username={USER}; echo password={PASSWORD}; }}; f");
    git(&["config", "credential.helper", &helper]);
    s.world.set_env("GOAUTH", format!("git {}", repo.display()));
    let (direct, _) = download_both(&s);
    assert!(direct.status.success(), "{}", show(&direct));
    assert!(s.proxy.rejected() > 0 && s.proxy.served() > 0);
}

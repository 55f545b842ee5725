//! On a company network the relay and the probes, not go, talk to the
//! mirror, so they must trust and route exactly as go does: a company CA in
//! the system store or in SSL_CERT_DIR, a mirror reachable only through the
//! company's HTTPS_PROXY (CONNECT, with or without proxy credentials) or
//! HTTP_PROXY (forwarded plain http). Each case runs go alone first (it
//! succeeds), then through goshim with a fresh module cache: the same
//! outcome, verified against the test checksum database; then `goshim probe`
//! and `goshim doctor` measure the mirror as up.

mod common;

use std::fs;
use std::path::Path;
use std::process::Command;

use common::http_proxy::HttpProxy;
use common::scenario::{assert_go_sum_from, db_proxy, entry, status_json};
use common::sumdb::{SUMDB_NAME, SumDb};
use common::tls::{TestCa, TlsProxy};
use common::{Fault, ModTree, TestProxy, World, show};
use serde_json::Value;

/// A name no DNS server knows: only the company proxy resolves it.
const MIRROR: &str = "mirror.goshim.test";
const USER: &str = "corp-user";
const PASSWORD: &str = "corp-s3cret";
/// `Basic base64(corp-user:corp-s3cret)`.
const PROXY_BASIC: &str = "Basic Y29ycC11c2VyOmNvcnAtczNjcmV0";

/// A module tree, its checksum database and the server of that database
/// (on loopback, which go never sends through a proxy).
struct Modules {
    tree: ModTree,
    db: SumDb,
    db_server: TestProxy,
}

fn modules() -> Modules {
    let tree = ModTree::new(3);
    let db = SumDb::from_tree(SUMDB_NAME, &tree);
    let db_server = db_proxy(&tree, &db, Fault::Healthy);
    Modules {
        tree,
        db,
        db_server,
    }
}

/// A world fetching from `goproxy` alone (no `direct`), checksums verified
/// against the test database at its own URL, no background probes.
fn world(goproxy: &str, m: &Modules) -> World {
    let mut w = World::new();
    w.set_env("GOPROXY", goproxy);
    w.set_env("GOSHIM_TTL", "0");
    w.set_env("GOSHIM_PROBE_MODULE", "example.com/dep0");
    let no_presets = w.write_file("presets-empty.toml", "");
    w.set_env("GOSHIM_PRESETS_FILE", &no_presets);
    w.set_env(
        "GOSUMDB",
        format!(
            "{} {}/sumdb/{}",
            m.db.verifier_key(),
            m.db_server.url(),
            m.db.name()
        ),
    );
    for key in ["GONOSUMDB", "GOPRIVATE", "SSL_CERT_FILE", "SSL_CERT_DIR"] {
        w.remove_env(key);
    }
    w.write_tree_main_module(&m.tree);
    w
}

/// `go mod download` with go alone, then through goshim, each from an
/// empty module cache; `wrap` runs each command (e.g. in a mount namespace).
fn same_download(w: &World, m: &Modules, wrap: impl Fn(Command) -> Command) {
    for (who, cmd) in [
        ("go alone", w.direct_cmd(["mod", "download"])),
        ("through goshim", w.shim_cmd(["mod", "download"])),
    ] {
        let out = w.run(&mut wrap(cmd));
        assert!(
            out.status.success(),
            "{who}: go mod download\n{}",
            show(&out)
        );
        assert_go_sum_from(w, &m.tree, &m.db, false, who);
        let clean = w.run_direct(&["clean", "-modcache"]);
        assert!(clean.status.success(), "{}", show(&clean));
        let _ = fs::remove_file(w.work_dir().join("go.sum"));
    }
}

/// `goshim probe` and `goshim doctor` see the mirror up, with no error.
fn probe_and_doctor_see_it_up(w: &World, mirror: &str, wrap: impl Fn(Command) -> Command) {
    let out = w.run(&mut wrap(w.goshim_cmd(["probe"])));
    assert!(out.status.success(), "goshim probe\n{}", show(&out));
    let status = status_json(w);
    let probed = entry(&status, mirror);
    assert_eq!(
        (&probed["state"], &probed["last_error"]),
        (&Value::from("up"), &Value::Null),
        "{status:#}"
    );
    let out = w.run(&mut wrap(w.goshim_cmd(["doctor", "--json"])));
    assert!(out.status.success(), "goshim doctor\n{}", show(&out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e})\n{}", show(&out)));
    let report = entry(&doc, mirror);
    assert_eq!(
        (&report["state"], &report["error"]),
        (&Value::from("up"), &Value::Null),
        "{doc:#}"
    );
}

fn as_is(cmd: Command) -> Command {
    cmd
}

#[test]
fn a_company_ca_only_in_ssl_cert_dir_is_trusted() {
    let m = modules();
    let ca = TestCa::new("goshim company CA");
    let mirror = TlsProxy::start(&ca.leaf((2020, 1, 1), (2040, 1, 1)), &m.tree);
    let mut w = world(&mirror.url(), &m);
    // A readable file name, as a person drops it there (no `openssl rehash`),
    // in the second folder of the list.
    w.write_file("certs/company-ca.crt", &ca.pem);
    let list = std::env::join_paths([w.path("empty-certs"), w.path("certs")]).unwrap();
    fs::create_dir_all(w.path("empty-certs")).unwrap();
    w.set_env("SSL_CERT_DIR", list);
    same_download(&w, &m, as_is);
    probe_and_doctor_see_it_up(&w, &mirror.url(), as_is);
}

/// `cmd`, run in a private mount namespace where the system bundle
/// (`/etc/ssl/certs/ca-certificates.crt`, the first file go looks for) is
/// `bundle`: what `update-ca-certificates` leaves after a company CA is added.
fn with_system_bundle(bundle: &Path) -> impl Fn(Command) -> Command + '_ {
    move |cmd: Command| {
        let mut wrapped = Command::new("/usr/bin/unshare");
        wrapped
            .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
            .arg(r#"mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec "$@""#)
            .arg(bundle)
            .arg(cmd.get_program())
            .args(cmd.get_args())
            .env_clear();
        for (k, v) in cmd.get_envs() {
            if let Some(v) = v {
                wrapped.env(k, v);
            }
        }
        if let Some(dir) = cmd.get_current_dir() {
            wrapped.current_dir(dir);
        }
        wrapped
    }
}

/// Whether this process may make a mount namespace and bind-mount in it (root).
fn can_bind_mount() -> bool {
    Command::new("/usr/bin/unshare")
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg("mount --bind /etc/hostname /etc/hostname")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn a_company_ca_in_the_system_store_is_trusted() {
    if !Path::new("/etc/ssl/certs/ca-certificates.crt").exists() || !can_bind_mount() {
        eprintln!(
            "skipped: needs /etc/ssl/certs/ca-certificates.crt and a private mount namespace (root)"
        );
        return;
    }
    let m = modules();
    let ca = TestCa::new("goshim company CA");
    let mirror = TlsProxy::start(&ca.leaf((2020, 1, 1), (2040, 1, 1)), &m.tree);
    let w = world(&mirror.url(), &m);
    let system = fs::read_to_string("/etc/ssl/certs/ca-certificates.crt").unwrap();
    let bundle = w.write_file("ca-certificates.crt", format!("{system}{}", ca.pem));
    same_download(&w, &m, with_system_bundle(&bundle));
    probe_and_doctor_see_it_up(&w, &mirror.url(), with_system_bundle(&bundle));
    // Without the CA in the store, neither go nor goshim trusts the mirror.
    let out = w.run(&mut w.shim_cmd(["mod", "download"]));
    assert!(!out.status.success(), "{}", show(&out));
}

/// The mirror's name resolves only through the company proxy (CONNECT),
/// which wants credentials when `credentials` is set; `var` names the proxy.
fn through_https_proxy(var: &str, credentials: bool) {
    let m = modules();
    let ca = TestCa::new("goshim company CA");
    let mirror = TlsProxy::start(&ca.leaf_for(&[MIRROR]), &m.tree);
    let routes = [(MIRROR, mirror.addr())];
    let proxy = match credentials {
        true => HttpProxy::requiring(&routes, PROXY_BASIC),
        false => HttpProxy::start(&routes),
    };
    let mirror_url = format!("https://{MIRROR}:{}", mirror.addr().port());
    let mut w = world(&mirror_url, &m);
    let ca_file = w.write_file("company-ca.pem", &ca.pem);
    w.set_env("SSL_CERT_FILE", &ca_file);
    let proxy_url = match credentials {
        true => format!("http://{USER}:{PASSWORD}@{}", proxy.addr()),
        false => proxy.url(),
    };
    w.set_env(var, proxy_url);
    same_download(&w, &m, as_is);
    probe_and_doctor_see_it_up(&w, &mirror_url, as_is);
    assert!(proxy.carried_to(MIRROR) > 0, "{:?}", proxy.carried());
    assert!(
        proxy.carried().iter().all(|c| c.method == "CONNECT"),
        "{:?}",
        proxy.carried()
    );
}

#[test]
fn https_proxy_with_credentials_carries_the_relay_and_the_probes() {
    through_https_proxy("HTTPS_PROXY", true);
}

#[test]
fn lower_case_https_proxy_works_too() {
    through_https_proxy("https_proxy", false);
}

#[test]
fn http_proxy_forwards_a_plain_http_mirror() {
    let m = modules();
    let mirror = TestProxy::start(&m.tree);
    let proxy = HttpProxy::start(&[(MIRROR, mirror.addr())]);
    let mirror_url = format!("http://{MIRROR}:{}", mirror.addr().port());
    let mut w = world(&mirror_url, &m);
    w.set_env("HTTP_PROXY", proxy.url());
    same_download(&w, &m, as_is);
    probe_and_doctor_see_it_up(&w, &mirror_url, as_is);
    let carried = proxy.carried();
    assert!(
        carried
            .iter()
            .all(|c| c.method == "GET" && c.target.starts_with(&mirror_url)),
        "{carried:?}"
    );
    assert!(proxy.carried_to(MIRROR) > 0, "{carried:?}");
}

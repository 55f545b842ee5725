//! `goshim doctor`, presets (`goshim use`) and metrics (`goshim status
//! --format prometheus`), against local proxies on 127.0.0.1 only: healthy,
//! slow, 5xx, dead (410), lagging behind, and HTTPS ones with certificates the
//! test makes. The public mirror list is replaced with GOSHIM_PRESETS_FILE
//! wherever something would be probed, so nothing reaches the internet.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Output;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use common::tls::{TestCa, TlsProxy, self_signed};
use common::{Fault, ModTree, Running, TestProxy, World, refused_url, run_with_timeout, show};
use common::{stderr_text, stdout_text};

/// Bound for one goshim command (probes use a 5 s deadline).
const T: Duration = Duration::from_secs(30);

/// A world whose probes ask for the synthetic modules and never refresh in the background.
fn world() -> World {
    let mut w = World::new();
    w.set_env("GOSHIM_PROBE_MODULE", "example.com/dep0");
    w.set_env("GOSHIM_DOCTOR_MODULES", "example.com/dep1");
    w.set_env("GOSHIM_PROBE_TIMEOUT_MS", "5000");
    w.set_env("GOSHIM_TTL", "0");
    // Never the built-in public list: a presets file with nothing in it.
    let empty = w.write_file("presets-empty.toml", "");
    w.set_env("GOSHIM_PRESETS_FILE", &empty);
    w
}

fn goshim(w: &World, args: &[&str]) -> Output {
    run_with_timeout(&mut w.goshim_cmd(args), T)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", show(out)))
}

/// `goshim doctor --json [extra]`: the output and the document.
fn doctor_json(w: &World, extra: &[&str]) -> (Output, Value) {
    let mut args = vec!["doctor", "--json"];
    args.extend_from_slice(extra);
    let out = goshim(w, &args);
    let doc = json_of(&out);
    (out, doc)
}

fn proxy<'a>(doc: &'a Value, url: &str) -> &'a Value {
    doc["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["url"] == url)
        .unwrap_or_else(|| panic!("{url} not in the report: {doc:#}"))
}

fn urls(doc: &Value) -> Vec<String> {
    doc["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap().to_string())
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The documented keys of the JSON report, on every level.
fn assert_schema(doc: &Value) {
    assert_eq!(
        keys(doc),
        set(&[
            "schema",
            "goshim_version",
            "generated_at",
            "duration_ms",
            "probe_module",
            "sample_modules",
            "samples",
            "healthy",
            "proxies",
            "setup"
        ])
    );
    assert_eq!(doc["schema"], 1);
    for p in doc["proxies"].as_array().unwrap() {
        assert_eq!(
            keys(p),
            set(&[
                "rank",
                "url",
                "source",
                "in_use",
                "state",
                "score",
                "error",
                "error_detail",
                "latency",
                "sumdb",
                "sumdb_known",
                "serves_modules",
                "freshness",
                "tls"
            ]),
            "{p:#}"
        );
        assert!(["up", "degraded", "down"].contains(&p["state"].as_str().unwrap()));
        assert_eq!(
            keys(&p["freshness"]),
            set(&["modules_compared", "missing_versions", "modules"])
        );
        for m in p["freshness"]["modules"].as_array().unwrap() {
            assert_eq!(keys(m), set(&["module", "versions", "missing", "gone"]));
        }
        if let Some(l) = p["latency"].as_object() {
            let names: BTreeSet<String> = l.keys().cloned().collect();
            assert_eq!(
                names,
                set(&[
                    "dns_ms",
                    "connect_ms",
                    "tls_ms",
                    "first_byte_ms",
                    "total_ms"
                ])
            );
        }
        if p["tls"].is_object() {
            assert_eq!(
                keys(&p["tls"]),
                set(&[
                    "valid",
                    "error",
                    "reason",
                    "subject",
                    "issuer",
                    "names",
                    "not_after",
                    "days_to_expiry",
                    "self_signed",
                    "chain_length"
                ])
            );
        }
    }
    let checks: Vec<&str> = doc["setup"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(keys(c), set(&["name", "status", "message", "fix"]), "{c:#}");
            assert!(["ok", "info", "warn", "fail"].contains(&c["status"].as_str().unwrap()));
            c["name"].as_str().unwrap()
        })
        .collect();
    for name in [
        "real_go",
        "shim_on_path",
        "editor",
        "config",
        "goproxy",
        "gosumdb",
        "private_proxies",
        "goflags",
        "gotoolchain",
        "cache_dir",
        "snapshot",
    ] {
        assert!(checks.contains(&name), "no {name} check in {checks:?}");
    }
}

fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["setup"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} check"))
}

#[test]
fn ranks_healthy_slow_failing_and_dead_proxies() {
    let tree = ModTree::new(2);
    let healthy = TestProxy::start(&tree);
    let slow = TestProxy::start(&tree);
    slow.set_fault_for(
        "/@v/list",
        Fault::SlowDrip {
            bytes_per_chunk: 1,
            delay: Duration::from_millis(120),
        },
    );
    let failing = TestProxy::faulty(&tree, Fault::Status(503));
    let dead = TestProxy::faulty(&tree, Fault::Status(410));
    let mut w = world();
    // The worst first: the ranking, not the user's order, decides.
    let goproxy = [&dead, &failing, &slow, &healthy]
        .map(|p| p.url())
        .join(",");
    w.set_env("GOPROXY", format!("{goproxy},direct"));

    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        out.stderr.is_empty(),
        "no progress without a terminal: {}",
        show(&out)
    );
    assert_schema(&doc);
    assert_eq!(
        urls(&doc),
        [healthy.url(), slow.url(), failing.url(), dead.url()],
        "{doc:#}"
    );
    assert_eq!(doc["healthy"], true);
    assert_eq!(
        doc["sample_modules"],
        serde_json::json!(["example.com/dep0", "example.com/dep1"])
    );

    let h = proxy(&doc, &healthy.url());
    assert_eq!(
        (h["rank"].as_u64(), h["state"].as_str()),
        (Some(1), Some("up"))
    );
    assert_eq!(h["source"], "goproxy");
    assert_eq!(h["sumdb"], Value::Null, "GOSUMDB=off: not asked");
    let s = proxy(&doc, &slow.url());
    assert_ne!(s["state"], "down");
    assert!(s["score"].as_f64() < h["score"].as_f64(), "{s:#} vs {h:#}");
    assert!(s["latency"]["total_ms"].as_f64().unwrap() > 500.0, "{s:#}");
    let f = proxy(&doc, &failing.url());
    assert_eq!(
        (f["state"].as_str(), f["error"].as_str()),
        (Some("down"), Some("http_503"))
    );
    assert!(
        f["error_detail"].as_str().unwrap().contains("HTTP 503"),
        "{f:#}"
    );
    let d = proxy(&doc, &dead.url());
    assert_eq!(
        (d["state"].as_str(), d["error"].as_str()),
        (Some("down"), Some("gone"))
    );
    assert!(
        d["error_detail"].as_str().unwrap().contains("dead mirror"),
        "{d:#}"
    );
    assert_eq!(d["freshness"]["modules"][0]["gone"], true);

    // The verdicts are in the snapshot, as `goshim probe` would leave them.
    let status = json_of(&goshim(&w, &["status", "--json"]));
    let states: BTreeMap<String, String> = status["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["url"].as_str().unwrap().into(),
                p["state"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(states[&dead.url()], "down");
    assert_eq!(states[&healthy.url()], "up");
    assert_eq!(status["proxies"][0]["url"], healthy.url().as_str());

    // The text report: the same order, the latency bar, the problems, the setup.
    let out = goshim(&w, &["doctor"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout_text(&out);
    // The table comes first: a URL's first line is its row.
    let pos = |url: &str| {
        text.lines()
            .position(|l| l.contains(url))
            .unwrap_or_else(|| panic!("{url} missing from the table:\n{text}"))
    };
    assert!(pos(&healthy.url()) < pos(&slow.url()), "{text}");
    assert!(pos(&slow.url()) < pos(&failing.url()), "{text}");
    assert!(pos(&failing.url()) < pos(&dead.url()), "{text}");
    assert!(text.contains('█'), "latency bar:\n{text}");
    assert!(
        text.contains("problems:") && text.contains("setup:"),
        "{text}"
    );
    assert!(text.contains("GOSUMDB=off"), "{text}");
}

#[test]
fn reports_versions_a_lagging_mirror_lacks() {
    let full = ModTree::with_versions(2, &["v1.0.0", "v1.1.0", "v1.2.0"]);
    let old = ModTree::with_versions(2, &["v1.0.0"]);
    let fresh = TestProxy::start(&full);
    let behind = TestProxy::start(&old);
    let mut w = world();
    w.set_env("GOPROXY", format!("{}|{}", behind.url(), fresh.url()));

    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let f = proxy(&doc, &fresh.url());
    assert_eq!(f["freshness"]["missing_versions"], 0);
    assert_eq!(f["freshness"]["modules_compared"], 2);
    let b = proxy(&doc, &behind.url());
    assert_eq!(b["state"], "up", "lagging is not down: {b:#}");
    assert_eq!(b["freshness"]["missing_versions"], 4, "{b:#}");
    for (i, module) in ["example.com/dep0", "example.com/dep1"].iter().enumerate() {
        let m = &b["freshness"]["modules"][i];
        assert_eq!(m["module"], *module);
        assert_eq!(m["versions"], 1);
        assert_eq!(m["missing"], serde_json::json!(["v1.1.0", "v1.2.0"]));
        assert_eq!(m["gone"], false);
    }

    let text = stdout_text(&goshim(&w, &["doctor"]));
    assert!(
        text.contains("index behind for example.com/dep0: lacks v1.1.0, v1.2.0"),
        "{text}"
    );
    assert!(text.contains(" -4 "), "FRESH column:\n{text}");
}

/// Whole days from now until `year-01-01`.
fn days_until(year: i32) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let target = rcgen::date_time_ymd(year, 1, 1).unix_timestamp();
    (target - now).div_euclid(86_400)
}

#[test]
fn tls_verdicts_for_valid_expired_and_self_signed_certificates() {
    let tree = ModTree::new(2);
    let ca = TestCa::new("goshim test CA");
    let valid = TlsProxy::start(&ca.leaf((2020, 1, 1), (2040, 1, 1)), &tree);
    let expired = TlsProxy::start(&ca.leaf((2020, 1, 1), (2021, 1, 1)), &tree);
    let untrusted = TlsProxy::start(&self_signed((2020, 1, 1), (2040, 1, 1)), &tree);
    let mut w = world();
    let bundle = w.write_file("ca.pem", &ca.pem);
    w.set_env("SSL_CERT_FILE", &bundle);
    w.set_env(
        "GOPROXY",
        [&untrusted, &expired, &valid].map(|p| p.url()).join("|"),
    );

    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_schema(&doc);
    assert_eq!(urls(&doc)[0], valid.url(), "{doc:#}");

    let v = proxy(&doc, &valid.url());
    assert_eq!(v["state"], "up", "{v:#}");
    assert_eq!(v["tls"]["valid"], true);
    assert_eq!(v["tls"]["days_to_expiry"], days_until(2040), "{v:#}");
    assert!(
        v["tls"]["issuer"]
            .as_str()
            .unwrap()
            .contains("goshim test CA"),
        "{v:#}"
    );
    assert_eq!(v["tls"]["not_after"], "2040-01-01T00:00:00Z");
    assert!(v["latency"]["tls_ms"].is_number(), "{v:#}");

    let e = proxy(&doc, &expired.url());
    assert_eq!(
        (e["state"].as_str(), e["error"].as_str()),
        (Some("down"), Some("tls_cert_expired")),
        "{e:#}"
    );
    assert_eq!(e["tls"]["valid"], false);
    assert_eq!(e["tls"]["days_to_expiry"], days_until(2021));
    assert!(
        e["tls"]["issuer"]
            .as_str()
            .unwrap()
            .contains("goshim test CA"),
        "{e:#}"
    );
    assert!(
        e["error_detail"].as_str().unwrap().contains("expired"),
        "{e:#}"
    );

    let u = proxy(&doc, &untrusted.url());
    assert_eq!(
        (u["state"].as_str(), u["error"].as_str()),
        (Some("down"), Some("tls_cert_untrusted")),
        "{u:#}"
    );
    assert_eq!(u["tls"]["self_signed"], true);
    assert!(
        u["error_detail"].as_str().unwrap().contains("self-signed"),
        "{u:#}"
    );
    assert_eq!(u["tls"]["subject"], "goshim self-signed");

    let text = stdout_text(&goshim(&w, &["doctor"]));
    assert!(
        text.contains("EXPIRED") && text.contains("SELF-SIGNED"),
        "{text}"
    );
    assert!(
        text.contains(&format!("ok {}d", days_until(2040))),
        "{text}"
    );
}

#[test]
fn exit_status_says_whether_a_healthy_proxy_was_found() {
    let tree = ModTree::new(2);
    let failing = TestProxy::faulty(&tree, Fault::Status(502));
    let mut w = world();
    w.set_env("GOPROXY", format!("{}|{}", refused_url(), failing.url()));
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(doc["healthy"], false);
    assert_eq!(proxy(&doc, &failing.url())["error"], "http_502");
    assert!(
        doc["proxies"][0]["error_detail"]
            .as_str()
            .unwrap()
            .contains("refused"),
        "{doc:#}"
    );

    let out = goshim(&w, &["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout_text(&out);
    assert!(
        text.contains("no healthy proxy (exit status 1)\nnext: "),
        "{text}"
    );

    // Nothing to probe at all: exit 1, and the setup says why.
    w.set_env("GOPROXY", "off");
    let out = goshim(&w, &["doctor"]);
    assert!(
        stdout_text(&out).contains("no proxy to use (exit status 1)\nnext: set one"),
        "{}",
        show(&out)
    );
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(doc["proxies"], serde_json::json!([]));
    assert_eq!(check(&doc, "goproxy")["status"], "warn");
    assert_eq!(check(&doc, "gosumdb")["status"], "fail");
    assert_eq!(check(&doc, "shim_on_path")["status"], "ok", "{doc:#}");
    let out = goshim(&w, &["doctor", "--bogus"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// The row of `url` in doctor's text table (rank, then the URL).
fn row<'a>(text: &'a str, url: &str) -> &'a str {
    text.lines()
        .find(|l| l.split_whitespace().nth(1) == Some(url))
        .unwrap_or_else(|| panic!("no row for {url}:\n{text}"))
}

#[test]
fn proxies_that_answer_but_serve_no_module_fail_the_doctor() {
    let tree = ModTree::new(2);
    let failing = TestProxy::faulty(&tree, Fault::Status(502));
    let dead = TestProxy::faulty(&tree, Fault::Status(410));
    let mut w = world();
    w.set_env("GOPROXY", format!("{},{}", failing.url(), dead.url()));
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(doc["healthy"], false);
    // The 410 proxy is not down for the ranking: a private-only proxy looks
    // the same, and the shim must not demote it.
    assert_eq!(proxy(&doc, &dead.url())["state"], "up", "{doc:#}");
    let status = json_of(&goshim(&w, &["status", "--json"]));
    let states: Vec<(&str, &str)> = status["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["url"].as_str().unwrap(), p["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        states,
        [
            (dead.url().as_str(), "up"),
            (failing.url().as_str(), "down")
        ],
        "{status:#}"
    );

    // 'goshim status' shows no latency for the down one either.
    let text = stdout_text(&goshim(&w, &["status"]));
    let status_row: Vec<&str> = row(&text, &failing.url()).split_whitespace().collect();
    assert_eq!(status_row[2..5], ["down", "0.00", "-"], "{text}");

    let out = goshim(&w, &["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = stdout_text(&out);
    assert!(text.contains("no healthy proxy serves modules"), "{text}");
    assert!(
        text.contains("for a proxy of private modules only, set GOSHIM_PROBE_MODULE"),
        "{text}"
    );
    // The hint keeps the user's own proxies: nothing that replaces GOPROXY.
    assert!(text.contains("'goshim use global'"), "{text}");
    assert!(
        !text.contains("GOPROXY=https://proxy.golang.org"),
        "a hint that replaces GOPROXY: {text}"
    );
    assert!(
        text.contains(&format!(
            "{}: answers 404/410 for every sample module",
            dead.url()
        )),
        "{text}"
    );
    // The 502 proxy is down: its timings are not shown as a latency.
    let failing_row = row(&text, &failing.url());
    assert_eq!(
        failing_row.split_whitespace().nth(3),
        Some("down"),
        "{failing_row}"
    );
    let timings: Vec<&str> = failing_row.split_whitespace().skip(5).take(5).collect();
    assert_eq!(timings, ["-"; 5], "{failing_row}");
}

#[test]
fn a_private_proxy_that_lacks_the_probe_module_still_counts() {
    let tree = ModTree::new(2);
    // Serves example.com/dep1 (a sample module), 404 for the probe module dep0.
    let private = TestProxy::start(&tree);
    private.set_fault_for("dep0/@v/list", Fault::Status(404));
    let mut w = world();
    w.set_env("GOPROXY", private.url());
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(doc["healthy"], true);
    assert_eq!(proxy(&doc, &private.url())["state"], "up");

    // A redirect is not a "no": the proxy gets the benefit of the doubt.
    let redirecting = TestProxy::faulty(&tree, Fault::Status(302));
    w.set_env("GOPROXY", redirecting.url());
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(proxy(&doc, &redirecting.url())["state"], "up", "{doc:#}");

    // Before a public one: the doctor passes whatever the private one answers.
    let public = TestProxy::start(&tree);
    let dead = TestProxy::faulty(&tree, Fault::Status(404));
    w.set_env("GOPROXY", format!("{},{},direct", dead.url(), public.url()));
    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(doc["healthy"], true);
}

/// The first-hour finding: `goshim probe` said `up 1.00` where
/// `goshim doctor` said no proxy serves modules. Both now ask the same sample
/// modules (the probe module, go.mod's first requirements here, the doctor's
/// samples) and count a proxy as serving modules when it lists one of them.
#[test]
fn probe_and_doctor_agree_on_a_partial_mirror() {
    let all = ModTree::new(4);
    let subset = |r: std::ops::Range<usize>| ModTree {
        modules: all.modules[r].to_vec(),
    };
    // The company mirror has only its own modules (dep2, dep3), none of the
    // probe and doctor samples (dep0, dep1).
    let corp = TestProxy::start(&subset(2..4));
    let mut w = world();
    w.set_env("GOPROXY", corp.url());

    // Outside a module: nothing it has was asked, and both say so.
    let probe = goshim(&w, &["probe"]);
    assert_eq!(probe.status.code(), Some(1), "{}", show(&probe));
    let out = stdout_text(&probe);
    assert!(
        row(&out, &corp.url()).contains("404/410 for every sample module"),
        "{out}"
    );
    assert!(
        out.contains(
            "sample modules: example.com/dep0 (probe module), example.com/dep1 (doctor_modules)"
        ),
        "{out}"
    );
    assert!(
        stderr_text(&probe).contains("no healthy proxy serves modules"),
        "{}",
        show(&probe)
    );
    let (doctor, doc) = doctor_json(&w, &[]);
    assert_eq!(doctor.status.code(), Some(1), "{}", show(&doctor));
    assert_eq!(proxy(&doc, &corp.url())["serves_modules"], false, "{doc:#}");
    let text = stdout_text(&goshim(&w, &["doctor"]));
    assert_eq!(
        row(&text, &corp.url()).split_whitespace().nth(12),
        Some("none"),
        "{text}"
    );

    // Inside the user's module: its requirements are asked (not the one go
    // fetches directly, GONOPROXY), and both pass.
    w.set_env("GONOPROXY", "example.com/dep3");
    w.write_file(
        "work/go.mod",
        "module corp.example/app\n\ngo 1.21\n\nrequire (\n\texample.com/dep3 v1.0.0\n\texample.com/dep2 v1.0.0\n)\n",
    );
    corp.clear_log();
    let probe = goshim(&w, &["probe"]);
    assert_eq!(probe.status.code(), Some(0), "{}", show(&probe));
    assert!(
        stdout_text(&probe).contains(
            "example.com/dep0 (probe module), example.com/dep2 (go.mod), example.com/dep1"
        ),
        "{}",
        show(&probe)
    );
    assert!(
        corp.requests_ending_with("dep3/@v/list").is_empty(),
        "{:?}",
        corp.request_paths()
    );
    let status = json_of(&goshim(&w, &["status", "--json"]));
    assert_eq!(status["proxies"][0]["serves_modules"], true, "{status:#}");
    let (doctor, doc) = doctor_json(&w, &[]);
    assert_eq!(doctor.status.code(), Some(0), "{}", show(&doctor));
    assert_eq!(doc["samples"][1]["module"], "example.com/dep2", "{doc:#}");
    assert_eq!(doc["samples"][1]["source"], "go_mod", "{doc:#}");
    assert_eq!(proxy(&doc, &corp.url())["serves_modules"], true);

    // A public mirror without the company's module is not a dead mirror.
    let public = TestProxy::start(&subset(0..2));
    w.set_env("GOPROXY", format!("{},{}", corp.url(), public.url()));
    let (doctor, doc) = doctor_json(&w, &[]);
    assert_eq!(doctor.status.code(), Some(0), "{}", show(&doctor));
    assert_eq!(proxy(&doc, &public.url())["state"], "up", "{doc:#}");
    assert_eq!(proxy(&doc, &public.url())["serves_modules"], true);
}

#[test]
fn setup_checks_find_editor_and_path_pitfalls() {
    let mut w = world();
    // The real go's folder before the shims: go calls bypass goshim.
    w.set_path(&[w.real_go_dir().to_path_buf(), w.shims_dir()]);
    w.write_file(
        "config/Code/User/settings.json",
        "{\n  // the pitfall\n  \"go.goroot\": \"/usr/local/go\", // pinned\n}\n",
    );
    let (_, doc) = doctor_json(&w, &[]);
    let path = check(&doc, "shim_on_path");
    assert_eq!(path["status"], "warn", "{path:#}");
    assert!(
        path["fix"]
            .as_str()
            .unwrap()
            .contains(&w.shims_dir().display().to_string()),
        "{path:#}"
    );
    let editor = check(&doc, "editor");
    assert_eq!(editor["status"], "warn", "{editor:#}");
    assert!(
        editor["message"].as_str().unwrap().contains("go.goroot"),
        "{editor:#}"
    );
    assert!(
        editor["fix"]
            .as_str()
            .unwrap()
            .contains("go.alternateTools"),
        "{editor:#}"
    );

    // Fixed: shims first, the editor names the shim.
    w.set_path(&[w.shims_dir(), w.real_go_dir().to_path_buf()]);
    w.write_file(
        "config/Code/User/settings.json",
        format!(
            "{{ \"go.alternateTools\": {{ \"go\": \"{}\" }} }}",
            w.shim().display()
        ),
    );
    w.set_env("GOSUMDB", "sum.golang.org");
    w.set_env("GOPRIVATE", "corp.example");
    let (_, doc) = doctor_json(&w, &[]);
    for name in ["shim_on_path", "editor", "gosumdb"] {
        assert_eq!(check(&doc, name)["status"], "ok", "{:#}", check(&doc, name));
    }
}

#[test]
fn use_preset_writes_the_config_and_status_lists_the_mirrors() {
    let mut w = world();
    // The built-in list: status only reads it, nothing is probed.
    w.remove_env("GOSHIM_PRESETS_FILE");
    let config = w.write_file(
        "config/goshim/config.toml",
        "# mine\nattempts = 2  # keep\nproxies = [\"https://corp.example/goproxy\"]\n",
    );
    let out = goshim(&w, &["use", "cn"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(
        text,
        "# mine\nattempts = 2  # keep\nproxies = [\"https://corp.example/goproxy\"]\npreset = \"cn\"\n"
    );
    let status = json_of(&goshim(&w, &["status", "--json"]));
    assert_eq!(status["preset"], "cn");
    let listed: Vec<&str> = status["proxies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["url"].as_str().unwrap())
        .collect();
    assert_eq!(listed[0], "https://corp.example/goproxy", "{listed:?}");
    for mirror in [
        "https://goproxy.cn",
        "https://mirrors.aliyun.com/goproxy",
        "https://goproxy.io",
    ] {
        assert!(
            listed.contains(&mirror),
            "{mirror} not a candidate: {listed:?}"
        );
    }
    assert!(!listed.contains(&"https://proxy.golang.org"), "{listed:?}");
    // `--format json` is `--json`.
    let again = json_of(&goshim(&w, &["status", "--format", "json"]));
    assert_eq!(again["proxies"], status["proxies"]);

    // Unknown presets: one line naming the known ones, exit 2, file untouched.
    let out = goshim(&w, &["use", "mars"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let err = stderr_text(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("unknown preset 'mars'") && err.contains("cn, global"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), text);
    w.set_env("GOSHIM_PRESET", "mars");
    let out = goshim(&w, &["status"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(
        stderr_text(&out).contains("known presets"),
        "{}",
        show(&out)
    );
    w.remove_env("GOSHIM_PRESET");

    let out = goshim(&w, &["use", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(!std::fs::read_to_string(&config).unwrap().contains("preset"));
    let status = json_of(&goshim(&w, &["status", "--json"]));
    assert_eq!(status["preset"], Value::Null);
    assert_eq!(status["proxies"].as_array().unwrap().len(), 1);
}

#[test]
fn doctor_all_probes_the_public_list_without_using_it() {
    let tree = ModTree::new(2);
    let (mine, public_a, public_b) = (
        TestProxy::start(&tree),
        TestProxy::start(&tree),
        TestProxy::empty(),
    );
    let mut w = world();
    let presets = w.write_file(
        "presets.toml",
        format!(
            "[[mirror]]\nurl = \"{}\"\nsumdb = true\npresets = [\"cn\"]\n\n[[mirror]]\nurl = \"{}\"\n",
            public_a.url(),
            public_b.url()
        ),
    );
    w.set_env("GOSHIM_PRESETS_FILE", &presets);
    w.set_env("GOPROXY", mine.url());

    let (out, doc) = doctor_json(&w, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        urls(&doc),
        [mine.url()],
        "without --all only the candidates"
    );
    assert_eq!(public_a.request_count(), 0);

    let (out, doc) = doctor_json(&w, &["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_schema(&doc);
    let a = proxy(&doc, &public_a.url());
    assert_eq!(
        (a["source"].as_str(), a["in_use"].as_bool()),
        (Some("public"), Some(false))
    );
    assert_eq!(a["sumdb_known"], true);
    // GOSUMDB=off: not asked, so the list's claim shows as "yes?", explained.
    let text = stdout_text(&goshim(&w, &["doctor", "--all"]));
    assert!(text.contains(" yes? "), "{text}");
    assert!(
        text.contains("SUMDB yes?: not asked or no answer;"),
        "{text}"
    );
    // The empty mirror has none of the modules the others serve: dead.
    assert_eq!(proxy(&doc, &public_b.url())["error"], "gone");
    assert_eq!(proxy(&doc, &mine.url())["source"], "goproxy");
    assert!(public_a.request_count() > 0);

    // Probing them did not make them candidates; choosing the preset does.
    let status = json_of(&goshim(&w, &["status", "--json"]));
    assert_eq!(status["proxies"].as_array().unwrap().len(), 1);
    let out = goshim(&w, &["use", "cn"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let status = json_of(&goshim(&w, &["status", "--json"]));
    assert_eq!(
        status["proxies"][1]["url"],
        public_a.url().as_str(),
        "{status:#}"
    );
    let (_, doc) = doctor_json(&w, &[]);
    assert_eq!(proxy(&doc, &public_a.url())["source"], "preset");
}

/// One sample of the Prometheus text format.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_metric_name(s: &str) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || f == ':')
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
}

fn is_label_name(s: &str) -> bool {
    is_metric_name(s) && !s.contains(':')
}

/// A strict parser of the text exposition format 0.0.4: panics on any line
/// that is not a valid HELP, TYPE, comment or sample line, on a sample
/// before its family's TYPE, on a TYPE given twice, on a duplicate series.
fn parse_prometheus(text: &str) -> Vec<Sample> {
    let mut types: BTreeMap<String, String> = BTreeMap::new();
    let mut helps: BTreeSet<String> = BTreeSet::new();
    let mut series: BTreeSet<String> = BTreeSet::new();
    let mut samples = Vec::new();
    assert!(text.ends_with('\n'), "the text must end with a line feed");
    for (n, line) in text.lines().enumerate() {
        let at = format!("line {}: {line:?}", n + 1);
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            assert!(is_metric_name(name), "{at}");
            assert!(helps.insert(name.to_string()), "HELP twice, {at}");
            // Only \\ and \n escapes in HELP.
            let mut chars = help.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    assert!(matches!(chars.next(), Some('\\' | 'n')), "{at}");
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect(&at);
            assert!(is_metric_name(name), "{at}");
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{at}"
            );
            assert!(
                types.insert(name.to_string(), kind.to_string()).is_none(),
                "TYPE twice, {at}"
            );
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        // name, optional {labels}, value.
        let name_end = line.find(['{', ' ']).expect(&at);
        let name = &line[..name_end];
        assert!(is_metric_name(name), "{at}");
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(after) = rest.strip_prefix('{') {
            let mut s = after;
            loop {
                if let Some(r) = s.strip_prefix('}') {
                    rest = r;
                    break;
                }
                let (lname, r) = s.split_once("=\"").expect(&at);
                assert!(is_label_name(lname), "{at}");
                let mut value = String::new();
                let mut chars = r.char_indices();
                let end = loop {
                    let (i, c) = chars.next().expect(&at);
                    match c {
                        '"' => break i,
                        '\\' => match chars.next().expect(&at).1 {
                            '\\' => value.push('\\'),
                            '"' => value.push('"'),
                            'n' => value.push('\n'),
                            other => panic!("bad escape \\{other}, {at}"),
                        },
                        '\n' => panic!("{at}"),
                        c => value.push(c),
                    }
                };
                assert!(
                    labels.insert(lname.to_string(), value).is_none(),
                    "label twice, {at}"
                );
                s = &r[end + 1..];
                if let Some(r) = s.strip_prefix(',') {
                    s = r;
                }
            }
        }
        let mut fields = rest.split_whitespace();
        let value_text = fields.next().expect(&at);
        let value: f64 = match value_text {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value, {at}")),
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>().expect(&at);
        }
        assert!(fields.next().is_none(), "{at}");
        assert!(rest.starts_with(' '), "{at}");
        let kind = types
            .get(name)
            .unwrap_or_else(|| panic!("sample before its TYPE, {at}"));
        if kind == "counter" {
            assert!(name.ends_with("_total") && value >= 0.0, "{at}");
        }
        assert!(
            series.insert(format!("{name}{labels:?}")),
            "duplicate series, {at}"
        );
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value,
        });
    }
    assert!(!samples.is_empty());
    samples
}

fn value_of(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .map(|s| s.value)
}

#[test]
fn prometheus_output_parses_and_counts_probes() {
    let tree = ModTree::new(2);
    let good = TestProxy::start(&tree);
    let dead = TestProxy::faulty(&tree, Fault::Status(410));
    let mut w = world();
    // Credentials in a URL never reach a label.
    let with_secret = format!("http://user:s3cret@{}/", good.addr());
    w.set_env("GOPROXY", format!("{with_secret},{}", dead.url()));

    // Before any probe: valid, with no counts.
    let out = goshim(&w, &["status", "--format", "prometheus"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let samples = parse_prometheus(&stdout_text(&out));
    assert_eq!(
        value_of(&samples, "goshim_snapshot_present", &[]),
        Some(0.0)
    );

    // Four probes at once: no increment lost.
    let running: Vec<Running> = (0..4)
        .map(|_| Running::spawn(&mut w.goshim_cmd(["probe"])))
        .collect();
    for r in running {
        let out = r.wait(T);
        assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    }
    let out = goshim(&w, &["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    let out = goshim(&w, &["status", "--format=prometheus"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let text = stdout_text(&out);
    assert!(
        !text.contains("s3cret") && !text.contains("user:"),
        "{text}"
    );
    let samples = parse_prometheus(&text);
    let (g, d) = (good.url(), dead.url());
    assert_eq!(
        value_of(&samples, "goshim_probes_total", &[("proxy", &g)]),
        Some(5.0),
        "{text}"
    );
    assert_eq!(
        value_of(&samples, "goshim_probe_failures_total", &[("proxy", &g)]),
        Some(0.0)
    );
    assert_eq!(
        value_of(&samples, "goshim_probe_failures_total", &[("proxy", &d)]),
        Some(5.0)
    );
    assert_eq!(
        value_of(
            &samples,
            "goshim_proxy_state",
            &[("proxy", &d), ("state", "down")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value_of(
            &samples,
            "goshim_proxy_state",
            &[("proxy", &g), ("state", "up")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value_of(&samples, "goshim_proxy_rank", &[("proxy", &g)]),
        Some(1.0)
    );
    assert_eq!(
        value_of(&samples, "goshim_proxy_score", &[("proxy", &g)]),
        Some(1.0)
    );
    assert!(
        value_of(
            &samples,
            "goshim_proxy_latency_seconds",
            &[("proxy", &g), ("stage", "total")]
        )
        .is_some()
    );
    assert!(value_of(&samples, "goshim_snapshot_age_seconds", &[]).is_some_and(|a| a < 60.0));
    assert!(
        value_of(
            &samples,
            "goshim_proxy_last_probe_timestamp_seconds",
            &[("proxy", &g)]
        )
        .is_some()
    );
    assert_eq!(value_of(&samples, "goshim_reruns_total", &[]), Some(0.0));

    let out = goshim(&w, &["status", "--format", "yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

/// A request the relay had to take elsewhere counts as a failover of the proxy that failed.
#[test]
fn relay_failovers_are_counted() {
    let tree = ModTree::new(1);
    let failing = TestProxy::faulty(&tree, Fault::Status(503));
    let good = TestProxy::start(&tree);
    let mut w = world();
    w.set_env("GOPROXY", format!("{}|{}", failing.url(), good.url()));
    let out = w.run_shim(&["mod", "download", "example.com/dep0@v1.0.0"]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(
        failing.request_count() > 0,
        "the failing proxy was never asked"
    );

    let samples = parse_prometheus(&stdout_text(&goshim(
        &w,
        &["status", "--format", "prometheus"],
    )));
    let failovers = value_of(
        &samples,
        "goshim_failovers_total",
        &[("proxy", &failing.url())],
    );
    assert!(failovers.is_some_and(|n| n >= 1.0), "{samples:?}");
    assert_eq!(
        value_of(
            &samples,
            "goshim_failovers_total",
            &[("proxy", &good.url())]
        ),
        None,
        "a proxy that never failed has no count yet"
    );
}

/// A re-run counts against the upstreams that failed, never against the
/// loopback relay (whose URL holds its token). (b serves every other request,
/// so not every upstream failed and the shim does run go again.)
#[test]
fn reruns_count_the_failed_upstreams_not_the_relay() {
    let tree = ModTree::new(1);
    let a = TestProxy::faulty(&tree, Fault::Status(503));
    let b = TestProxy::faulty(&tree, Fault::EveryNth { n: 2, status: 502 });
    let mut w = world();
    w.set_env("GOPROXY", format!("{}|{}", a.url(), b.url()));
    w.set_env("GOSHIM_ATTEMPTS", "2");
    // Which of b's requests fail depends on their order: no fetching ahead.
    w.set_env("GOSHIM_PREFETCH", "0");
    let out = w.run_shim(&["mod", "download", "example.com/dep0@v1.0.0"]);
    assert!(!out.status.success(), "{}", show(&out));

    let text = stdout_text(&goshim(&w, &["status", "--format", "prometheus"]));
    let samples = parse_prometheus(&text);
    assert_eq!(
        value_of(&samples, "goshim_reruns_total", &[]),
        Some(1.0),
        "{text}"
    );
    for p in [&a, &b] {
        let url = p.url();
        assert_eq!(
            value_of(&samples, "goshim_retries_total", &[("proxy", &url)]),
            Some(1.0),
            "{text}"
        );
        assert!(
            value_of(&samples, "goshim_failovers_total", &[("proxy", &url)])
                .is_some_and(|n| n >= 1.0)
        );
    }
    for s in &samples {
        if let Some(proxy) = s.labels.get("proxy") {
            assert!(
                *proxy == a.url() || *proxy == b.url(),
                "unexpected proxy label {proxy}:\n{text}"
            );
        }
    }
}

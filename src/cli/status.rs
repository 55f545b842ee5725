//! `goshim status [--json | --format text|json|prometheus]`.

use crate::settings::vars::Env;
use serde_json::{Value, json};

use super::context::Context;
use crate::go::proxy_list::{Proxy, redact_list};
use crate::health::{ProxyHealth, Snapshot, State, snapshot};
use crate::shim::command::Kind;
use crate::shim::plan::{self, Action};

/// How `goshim status` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
    /// The Prometheus text format (see `metrics::prometheus`).
    Prometheus,
}

impl Format {
    /// `--json`, `--format X` or `--format=X`; the last one wins.
    pub fn parse(flags: &[String]) -> Result<Format, String> {
        let mut format = Format::Text;
        let mut it = flags.iter();
        while let Some(flag) = it.next() {
            let value = match flag.as_str() {
                "--json" => "json",
                "--format" => it
                    .next()
                    .map(String::as_str)
                    .ok_or("--format needs a value: text, json or prometheus")?,
                f => match f.strip_prefix("--format=") {
                    Some(v) => v,
                    None => return Err(format!("unknown flag '{f}' for 'goshim status'")),
                },
            };
            format = match value {
                "text" => Format::Text,
                "json" => Format::Json,
                "prometheus" => Format::Prometheus,
                other => {
                    return Err(format!(
                        "unknown format '{}' (text, json or prometheus)",
                        other.escape_debug()
                    ));
                }
            };
        }
        Ok(format)
    }
}

pub fn run(process: &Env, format: Format) -> i32 {
    let ctx = match Context::load(process) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let snap = Snapshot::read(process);
    // What a `go build` would get: the shim's own plan.
    let action = plan::decide(
        Kind::FetchRetryable,
        &ctx.config,
        &ctx.env,
        snap.as_ref(),
        ctx.config.relay,
    );
    let (goproxy, order, reason, relay) = match action {
        Action::Supervise { plan, relay, .. } => (plan.goproxy(), plan.order, None, relay),
        Action::ExecOrdered(plan) => (plan.goproxy(), plan.order, None, false),
        Action::Exec(why) => (
            ctx.env.get("GOPROXY").to_string(),
            ctx.candidates.clone(),
            Some(why),
            false,
        ),
    };
    let goproxy = redact_list(&goproxy);
    if format == Format::Prometheus {
        let counters = crate::metrics::Counters::read(process);
        super::doctor::print_out(&super::prometheus::render(
            &order,
            snap.as_ref(),
            counters.as_ref(),
            ctx.config.ttl,
        ));
        return 0;
    }
    if format == Format::Json {
        let doc = json!({
            "real_go": ctx.real_go.display().to_string(),
            "goproxy": goproxy,
            "goproxy_unchanged_reason": reason,
            "relay": relay,
            "preset": ctx.config.preset,
            "snapshot": snapshot_json(process, snap.as_ref(), ctx.config.ttl.as_secs()),
            "proxies": order.iter().map(|p| proxy_json(p, snap.as_ref())).collect::<Vec<_>>(),
            "prefetch": crate::metrics::Counters::read(process).map(|c| c.prefetch).unwrap_or_default(),
        });
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
        return 0;
    }
    println!("real go:   {}", ctx.real_go.display());
    println!(
        "snapshot:  {}",
        snapshot_line(process, snap.as_ref(), ctx.config.ttl.as_secs())
    );
    match reason {
        None if relay => println!("GOPROXY:   {}", relay_line(&goproxy)),
        None => println!("GOPROXY:   {goproxy}"),
        Some(why) => println!("GOPROXY:   {goproxy} (unchanged: {why})"),
    }
    if let Some(p) = crate::metrics::Counters::read(process)
        .map(|c| c.prefetch)
        .filter(|p| p.fetched > 0)
    {
        println!(
            "prefetch:  {} requests ({}) fetched ahead, {} ({}) never used; {} zips, {} never used",
            p.fetched,
            kib(p.fetched_bytes),
            p.unused,
            kib(p.unused_bytes),
            p.zips,
            p.unused_zips
        );
    }
    println!();
    print_table(&order, snap.as_ref());
    0
}

fn kib(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

fn snapshot_line(process: &Env, snap: Option<&Snapshot>, ttl: u64) -> String {
    let path = snapshot::path(process)
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    match snap.and_then(|s| s.age().map(|a| (s, a))) {
        None if snap.is_some() => {
            format!("{path}, never probed, passive observations only (run 'goshim probe')")
        }
        None => format!("none yet at {path} (run 'goshim probe')"),
        Some((s, age)) => {
            let freshness = if ttl == 0 {
                "background refresh off".to_string()
            } else if s.is_stale(std::time::Duration::from_secs(ttl)) {
                format!("stale, ttl {ttl}s")
            } else {
                format!("fresh, ttl {ttl}s")
            };
            format!("{path}, probed {}s ago ({freshness})", age.as_secs())
        }
    }
}

fn snapshot_json(process: &Env, snap: Option<&Snapshot>, ttl: u64) -> Value {
    let path = snapshot::path(process).map(|p| p.display().to_string());
    match snap {
        None => json!({ "path": path, "present": false }),
        Some(s) => json!({
            "path": path,
            "present": true,
            "version": s.version,
            "age_seconds": s.age().map(|a| a.as_secs()),
            "stale": s.is_stale(std::time::Duration::from_secs(ttl)),
        }),
    }
}

fn proxy_json(p: &Proxy, snap: Option<&Snapshot>) -> Value {
    let key = p.key();
    match snap.and_then(|s| s.get(&key)) {
        None => json!({ "url": key, "state": "unknown", "score": null }),
        Some(h) => json!({
            "url": key,
            "state": h.state.as_str(),
            "score": h.score,
            "latency_ms": h.latency.as_ref().map(|l| l.total_ms),
            "latency": h.latency,
            "last_error": h.last_error,
            "sumdb": h.sumdb,
            "serves_modules": h.serves_modules,
            "checked_at": h.checked_at,
        }),
    }
}

/// The proxies in preference order, one line each.
pub fn print_table(order: &[Proxy], snap: Option<&Snapshot>) {
    let width = order
        .iter()
        .map(|p| p.key().len())
        .max()
        .unwrap_or(3)
        .max(3);
    println!(
        "  #  {:width$}  STATE     SCORE  LATENCY     SUMDB  LAST ERROR",
        "URL"
    );
    for (i, p) in order.iter().enumerate() {
        let key = p.key();
        let h: Option<&ProxyHealth> = snap.and_then(|s| s.get(&key));
        let state = h.map_or("unknown", |h| h.state.as_str());
        let score = h.map_or("-".to_string(), |h| format!("{:.2}", h.score));
        // A down proxy's last timing (to a refusal, a 502) is no latency.
        let latency = h
            .filter(|h| h.state != State::Down)
            .and_then(|h| h.latency.as_ref())
            .map_or("-".to_string(), |l| format!("{:.1} ms", l.total_ms));
        let sumdb = match h.and_then(|h| h.sumdb) {
            Some(true) => "yes",
            Some(false) => "no",
            None => "-",
        };
        let err = match h {
            Some(h) if h.last_error.is_some() => h.last_error.as_deref().unwrap_or("-"),
            Some(h) if h.serves_modules == Some(false) => "404/410 for every sample module",
            _ => "-",
        };
        println!(
            "  {:<2} {key:width$}  {state:9} {score:6} {latency:11} {sumdb:6} {err}",
            i + 1
        );
    }
}

/// What go gets with the relay, said as it is: the upstreams the relay tries
/// (in health order), and go's own `direct`/`off` tail, which is no upstream.
fn relay_line(goproxy: &str) -> String {
    let list = crate::go::proxy_list::ProxyList::parse(goproxy);
    let upstreams: Vec<String> = list.proxies.iter().map(|p| p.key()).collect();
    let mut line = format!("loopback relay, upstreams {}", upstreams.join(", "));
    if let Some(tail) = list.tail {
        let when = match tail.sep {
            '|' => "when they all fail",
            _ => "when they all answer not found",
        };
        line.push_str(&format!("; then go itself goes {} {when}", tail.word));
    }
    line
}

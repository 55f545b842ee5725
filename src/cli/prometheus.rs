//! `goshim status --format prometheus`: the health snapshot as gauges and the
//! persistent counters, in the Prometheus text format. Proxy labels are
//! redacted URLs: never credentials.

use std::time::Duration;

use crate::go::proxy_list::{Proxy, redact};
use crate::health::{Snapshot, State};
use crate::metrics::Counters;
use crate::metrics::prometheus::{Exposition, Kind};

/// `order`: the candidates in the order the next go call tries them.
pub fn render(
    order: &[Proxy],
    snap: Option<&Snapshot>,
    counters: Option<&Counters>,
    ttl: Duration,
) -> String {
    let mut e = Exposition::default();
    e.family(
        "goshim_build_info",
        Kind::Gauge,
        "goshim version; the value is always 1.",
    )
    .sample(&[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    snapshot_gauges(&mut e, snap, ttl);
    proxy_gauges(&mut e, order, snap);
    counter_families(&mut e, counters);
    e.finish()
}

fn flag(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn snapshot_gauges(e: &mut Exposition, snap: Option<&Snapshot>, ttl: Duration) {
    e.family(
        "goshim_snapshot_present",
        Kind::Gauge,
        "1 when a health snapshot exists in the cache dir.",
    )
    .sample(&[], flag(snap.is_some()));
    let probed = snap.and_then(|s| s.probed_at.map(|t| (s, t)));
    let mut age = e.family(
        "goshim_snapshot_age_seconds",
        Kind::Gauge,
        "Seconds since the last full probe.",
    );
    if let Some((s, _)) = probed {
        age.sample(&[], s.age().map_or(0.0, |a| a.as_secs() as f64));
    }
    let mut stale = e.family(
        "goshim_snapshot_stale",
        Kind::Gauge,
        "1 when the last full probe is older than the ttl (or there was none).",
    );
    stale.sample(&[], flag(snap.is_none_or(|s| s.is_stale(ttl))));
    let mut last = e.family(
        "goshim_last_probe_timestamp_seconds",
        Kind::Gauge,
        "Unix time of the last full probe.",
    );
    if let Some((_, t)) = probed {
        last.sample(&[], t as f64);
    }
}

fn proxy_gauges(e: &mut Exposition, order: &[Proxy], snap: Option<&Snapshot>) {
    let keys: Vec<String> = order.iter().map(|p| redact(&p.key())).collect();
    let health = |key: &str| snap.and_then(|s| s.get(key));

    let mut rank = e.family(
        "goshim_proxy_rank",
        Kind::Gauge,
        "Position of the proxy in the order the next go call tries them (1 = first).",
    );
    for (i, key) in keys.iter().enumerate() {
        rank.sample(&[("proxy", key)], (i + 1) as f64);
    }
    let mut state = e.family(
        "goshim_proxy_state",
        Kind::Gauge,
        "Health state of the proxy: 1 for its current state, 0 for the others.",
    );
    for key in &keys {
        let current = health(key).map_or("unknown", |h| h.state.as_str());
        for name in [
            State::Up.as_str(),
            State::Degraded.as_str(),
            State::Down.as_str(),
            "unknown",
        ] {
            state.sample(&[("proxy", key), ("state", name)], flag(name == current));
        }
    }
    let mut score = e.family(
        "goshim_proxy_score",
        Kind::Gauge,
        "Health score of the proxy, 0 to 1 (availability, latency, recent failures).",
    );
    for key in &keys {
        if let Some(h) = health(key) {
            score.sample(&[("proxy", key)], h.score);
        }
    }
    let mut latency = e.family(
        "goshim_proxy_latency_seconds",
        Kind::Gauge,
        "Latency of the last measured request to the proxy, per stage.",
    );
    for key in &keys {
        let Some(l) = health(key).and_then(|h| h.latency.as_ref()) else {
            continue;
        };
        for (stage, value) in [
            ("dns", l.dns_ms),
            ("connect", l.connect_ms),
            ("tls", l.tls_ms),
            ("first_byte", l.first_byte_ms),
            ("total", Some(l.total_ms)),
        ] {
            if let Some(ms) = value {
                latency.sample(&[("proxy", key), ("stage", stage)], ms / 1000.0);
            }
        }
    }
    let mut sumdb = e.family(
        "goshim_proxy_sumdb",
        Kind::Gauge,
        "1 when the proxy serves the checksum database, 0 when it does not (absent: unknown).",
    );
    for key in &keys {
        if let Some(b) = health(key).and_then(|h| h.sumdb) {
            sumdb.sample(&[("proxy", key)], flag(b));
        }
    }
    let mut checked = e.family(
        "goshim_proxy_checked_timestamp_seconds",
        Kind::Gauge,
        "Unix time the proxy was last checked (probe or observed failure).",
    );
    for key in &keys {
        if let Some(h) = health(key) {
            checked.sample(&[("proxy", key)], h.checked_at as f64);
        }
    }
}

fn counter_families(e: &mut Exposition, counters: Option<&Counters>) {
    let proxies: Vec<(String, &crate::metrics::ProxyCounters)> = counters
        .map(|c| c.proxies.iter().map(|(k, v)| (redact(k), v)).collect())
        .unwrap_or_default();
    type Get = fn(&crate::metrics::ProxyCounters) -> u64;
    let families: [(&'static str, &str, Get); 4] = [
        (
            "goshim_probes_total",
            "Probes of the proxy (goshim probe, background refresh, goshim doctor).",
            |p| p.probes,
        ),
        (
            "goshim_probe_failures_total",
            "Probes that found the proxy failing.",
            |p| p.probe_failures,
        ),
        (
            "goshim_failovers_total",
            "Requests the relay took to another proxy (or gave up) after this proxy failed.",
            |p| p.failovers,
        ),
        (
            "goshim_retries_total",
            "Go commands run again after this proxy failed.",
            |p| p.retries,
        ),
    ];
    for (name, help, get) in families {
        let mut f = e.family(name, Kind::Counter, help);
        for (key, p) in &proxies {
            f.sample(&[("proxy", key)], get(p) as f64);
        }
    }
    e.family(
        "goshim_reruns_total",
        Kind::Counter,
        "Go commands goshim ran again after a transient proxy failure.",
    )
    .sample(&[], counters.map_or(0, |c| c.reruns) as f64);
    let prefetch = counters.map(|c| c.prefetch).unwrap_or_default();
    for (name, help, value) in [
        (
            "goshim_prefetch_requests_total",
            "Requests the relay fetched ahead of go.",
            prefetch.fetched,
        ),
        (
            "goshim_prefetch_bytes_total",
            "Bytes the relay fetched ahead of go.",
            prefetch.fetched_bytes,
        ),
        (
            "goshim_prefetch_unused_requests_total",
            "Requests fetched ahead that go never asked for.",
            prefetch.unused,
        ),
        (
            "goshim_prefetch_unused_bytes_total",
            "Bytes fetched ahead that go never asked for.",
            prefetch.unused_bytes,
        ),
        (
            "goshim_prefetch_zips_total",
            "Module zips the relay started fetching ahead of go.",
            prefetch.zips,
        ),
        (
            "goshim_prefetch_unused_zips_total",
            "Module zips fetched ahead that go never asked for.",
            prefetch.unused_zips,
        ),
    ] {
        e.family(name, Kind::Counter, help)
            .sample(&[], value as f64);
    }
    let mut last = e.family(
        "goshim_proxy_last_probe_timestamp_seconds",
        Kind::Gauge,
        "Unix time the proxy was last probed.",
    );
    for (key, p) in &proxies {
        if let Some(t) = p.last_probe_at {
            last.sample(&[("proxy", key)], t as f64);
        }
    }
}

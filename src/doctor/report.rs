//! From measurements to the doctor's report: verdicts (written to the health
//! snapshot like `goshim probe`), the ranking, and one record per proxy.

use std::cmp::Ordering;

use serde::Serialize;

use crate::error_class::ErrorClass;
use crate::health::snapshot::Latency;
use crate::health::{Observation, Snapshot, State, score};
use crate::probe::freshness::ModuleFreshness;
use crate::probe::measure::Measured;

/// Where a probed proxy comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The user's GOPROXY.
    Goproxy,
    /// goshim's `proxies` (config file or GOSHIM_PROXIES).
    Config,
    /// The chosen preset.
    Preset,
    /// A well-known public mirror not in use (`--all` only).
    Public,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Goproxy => "GOPROXY",
            Source::Config => "config",
            Source::Preset => "preset",
            Source::Public => "unused",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProxyReport {
    pub rank: usize,
    /// Without credentials.
    pub url: String,
    pub source: Source,
    /// Go calls through goshim use it.
    pub in_use: bool,
    pub state: &'static str,
    pub score: f64,
    /// Error class of the health verdict (its name, as stored in the snapshot).
    pub error: Option<ErrorClass>,
    /// The error in words.
    pub error_detail: Option<String>,
    /// The health check's timings in ms (the first sample module's `@v/list`, body included).
    pub latency: Option<Latency>,
    /// Serves the checksum database (None: unknown or GOSUMDB=off).
    pub sumdb: Option<bool>,
    /// The built-in list's claim for a public mirror (None: not in the list).
    pub sumdb_known: Option<bool>,
    /// Lists at least one sample module (false: 404/410 for all of them;
    /// None: no such answer). See probe::samples.
    pub serves_modules: Option<bool>,
    pub freshness: Freshness,
    /// https proxies only.
    pub tls: Option<TlsReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Freshness {
    /// Sample modules whose list could be compared.
    pub modules_compared: usize,
    /// Versions lacking across those modules.
    pub missing_versions: usize,
    pub modules: Vec<ModuleFreshness>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsReport {
    /// The chain verified against the web PKI roots and SSL_CERT_FILE.
    pub valid: bool,
    pub error: Option<ErrorClass>,
    /// Why it is not valid, or a warning (expires soon).
    pub reason: Option<String>,
    pub subject: Option<String>,
    pub issuer: Option<String>,
    pub names: Vec<String>,
    pub not_after: Option<String>,
    pub days_to_expiry: Option<i64>,
    pub self_signed: Option<bool>,
    pub chain_length: usize,
}

impl ProxyReport {
    /// Healthy and not 404/410 for every sample module (`goshim probe`'s
    /// rule too). A proxy that is "up" for the ranking (a private-only proxy
    /// answers 404 for public modules) may still be unable to serve the
    /// modules go needs. Other answers (a redirect) give it the benefit of
    /// the doubt.
    pub fn serves(&self) -> bool {
        crate::probe::samples::counts(self.state == "down", self.serves_modules)
    }

    /// 404/410 for every sample module it was asked for.
    pub fn lists_none(&self) -> bool {
        self.serves_modules == Some(false)
    }
}

/// A certificate expiring sooner than this is worth a warning.
pub const EXPIRY_WARNING_DAYS: i64 = 14;

/// State and score from the snapshot just written, or from this probe alone
/// when it could not be written.
pub fn state_and_score(obs: &Observation, snap: Option<&Snapshot>) -> (State, f64) {
    if let Some(h) = snap.and_then(|s| s.get(&obs.url)) {
        return (h.state, h.score);
    }
    match &obs.result {
        Err(_) => (State::Down, 0.0),
        Ok(()) => {
            let ms = obs.latency.as_ref().map(|l| l.total_ms);
            let s = score::score(&[true], ms, None);
            let state = if s >= score::UP_THRESHOLD {
                State::Up
            } else {
                State::Degraded
            };
            (state, s)
        }
    }
}

/// Best first: up, degraded, down (errors that may go away by themselves
/// before permanent ones),
/// then higher score, then lower latency, then input order.
pub fn rank(reports: &mut [ProxyReport]) {
    let state_rank = |r: &ProxyReport| match r.state {
        "up" => 0,
        "degraded" => 1,
        _ if r.error.is_some_and(ErrorClass::is_permanent) => 3,
        _ => 2,
    };
    let latency = |r: &ProxyReport| {
        r.latency
            .as_ref()
            .filter(|_| r.error.is_none())
            .map_or(f64::INFINITY, |l| l.total_ms)
    };
    reports.sort_by(|a, b| {
        state_rank(a)
            .cmp(&state_rank(b))
            .then(b.score.total_cmp(&a.score))
            .then(
                latency(a)
                    .partial_cmp(&latency(b))
                    .unwrap_or(Ordering::Equal),
            )
    });
    for (i, r) in reports.iter_mut().enumerate() {
        r.rank = i + 1;
    }
}

/// The error in words, for this probe (module, deadline, certificate).
pub fn describe(
    class: ErrorClass,
    m: &Measured,
    fresh: &[ModuleFreshness],
    modules: &[String],
    deadline_ms: u128,
    tls: Option<&TlsReport>,
) -> String {
    let first = modules.first().map_or("", String::as_str);
    if let Some(reason) = tls
        .and_then(|t| t.reason.as_ref())
        .filter(|_| class.is_tls())
    {
        return format!("TLS: {reason}");
    }
    let stage_timeout = |stage: &str| format!("no {stage} within {deadline_ms} ms");
    match class {
        ErrorClass::Gone => {
            let gone: Vec<&str> = fresh
                .iter()
                .filter(|f| f.gone)
                .map(|f| f.module.as_str())
                .collect();
            format!(
                "answers 404/410 for {}, which other proxies serve: dead mirror",
                gone.join(", ")
            )
        }
        ErrorClass::Http(code) => format!("HTTP {code} for {first}/@v/list"),
        ErrorClass::ProxyTunnel(code) => format!(
            "the HTTP proxy (HTTPS_PROXY) answered {code} to CONNECT{}",
            if code == 407 {
                ": it wants credentials (user:password@ in HTTPS_PROXY)"
            } else {
                ""
            }
        ),
        ErrorClass::Refused => "connection refused".into(),
        ErrorClass::Reset => "connection reset".into(),
        ErrorClass::Eof => "connection closed before an answer".into(),
        ErrorClass::Dns => "host name not found (DNS)".into(),
        ErrorClass::DnsTimeout => stage_timeout("DNS answer"),
        ErrorClass::ConnectTimeout => stage_timeout("connection"),
        ErrorClass::TlsTimeout => stage_timeout("TLS handshake"),
        ErrorClass::Timeout => stage_timeout("answer"),
        ErrorClass::Tls => "TLS handshake failed".into(),
        ErrorClass::BadUrl => format!("'{}' is not a URL goshim can probe", m.proxy.key()),
        ErrorClass::BadResponse => "the answer is not HTTP".into(),
        ErrorClass::ShortBody => "the answer was cut short".into(),
        ErrorClass::BadChunk => "broken chunked encoding".into(),
        ErrorClass::BodyTooLarge => format!("{first}/@v/list is larger than 1 MiB"),
        other => other.name(),
    }
}

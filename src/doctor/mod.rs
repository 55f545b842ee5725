//! `goshim doctor`: the seed article's mirror ranking, from the user's own
//! machine, plus a check of the setup.
//!
//! Every candidate proxy (and with `--all` every well-known public mirror) is
//! measured at once (`probe`): the probe module's `@v/list` timed stage by
//! stage, the other sample modules' lists for index freshness (`freshness`),
//! `/sumdb/<name>/supported`, and the TLS certificate (`cert`). The verdicts go
//! into the health snapshot as `goshim probe`'s do; the report ranks the proxies
//! (`report`) and lists the setup checks (`setup`); `render` prints it as text.

pub mod render;
pub mod report;
pub mod setup;

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error_class::ErrorClass;
use crate::go::proxy_list::Proxy;
use crate::health;
use crate::health::snapshot::now_secs;
use crate::probe::samples::Sample;
use crate::probe::{cert, freshness, measure as probe};
use crate::settings::vars::Env;
use crate::upstream::goauth::Auth;
use report::{Freshness, ProxyReport, Source, TlsReport};
use setup::Check;

/// Bumped when a key of the JSON document changes meaning or goes away.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Report {
    pub schema: u32,
    pub goshim_version: &'static str,
    /// Unix seconds.
    pub generated_at: u64,
    pub duration_ms: f64,
    /// The health check's module (also the first sample module).
    pub probe_module: String,
    /// Modules whose version lists were compared.
    pub sample_modules: Vec<String>,
    /// The same, with why each is asked (see probe::samples).
    pub samples: Vec<Sample>,
    /// At least one proxy in use (not `--all`'s extras) is up or degraded
    /// and does not answer 404/410 for every sample module (the exit status
    /// is 0 iff true).
    pub healthy: bool,
    /// Ranked, best first.
    pub proxies: Vec<ProxyReport>,
    pub setup: Vec<Check>,
}

/// One proxy to probe.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub proxy: Proxy,
    pub source: Source,
    /// The built-in list's sumdb claim, for public mirrors.
    pub sumdb_known: Option<bool>,
}

pub struct Settings<'a> {
    /// Where the snapshot and metrics are.
    pub process: &'a Env,
    /// The credentials go would send.
    pub credentials: &'a std::sync::Arc<Auth>,
    /// The probe module first.
    pub samples: &'a [Sample],
    pub sumdb: Option<&'a str>,
    pub deadline: Duration,
    pub progress: bool,
}

/// What the probing produced, before the setup checks are added.
pub struct Probed {
    pub proxies: Vec<ProxyReport>,
    /// The snapshot could not be written (why).
    pub snapshot_error: Option<String>,
    pub duration: Duration,
}

/// Probes the candidates, records the verdicts (snapshot and metrics), ranks.
pub fn probe(candidates: &[Candidate], settings: &Settings) -> Probed {
    let started = Instant::now();
    let proxies: Vec<Proxy> = candidates.iter().map(|c| c.proxy.clone()).collect();
    let modules = crate::probe::samples::modules(settings.samples);
    let measured = probe::measure_all(
        &proxies,
        &probe::Plan {
            modules: &modules,
            sumdb: settings.sumdb,
            deadline: settings.deadline,
            progress: settings.progress,
            credentials: settings.credentials,
        },
    );
    let listings: Vec<_> = measured.iter().map(|m| m.listings.clone()).collect();
    let fresh = freshness::compare(settings.samples, &listings);
    let observations: Vec<_> = measured
        .iter()
        .zip(&fresh)
        .map(|(m, f)| probe::observation(m, f))
        .collect();
    let (snap, snapshot_error) = if observations.is_empty() {
        (None, None)
    } else {
        crate::metrics::count_probes(settings.process, &observations);
        match health::snapshot::record(settings.process, &observations, true) {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        }
    };
    let now = now_secs() as i64;
    let deadline_ms = settings.deadline.as_millis();
    let mut reports: Vec<ProxyReport> = candidates
        .iter()
        .zip(&measured)
        .zip(fresh.iter().zip(&observations))
        .map(|((c, m), (f, obs))| {
            let (state, score) = report::state_and_score(obs, snap.as_ref());
            let tls = tls_report(m, now);
            let error = obs.result.err();
            let error_detail = error
                .map(|class| report::describe(class, m, f, &modules, deadline_ms, tls.as_ref()));
            let compared: Vec<_> = f.iter().filter(|x| x.missing.is_some()).collect();
            ProxyReport {
                rank: 0,
                url: c.proxy.key(),
                source: c.source,
                in_use: c.source != Source::Public,
                state: state.as_str(),
                score,
                error,
                error_detail,
                latency: m.latency.clone(),
                sumdb: m.sumdb,
                sumdb_known: c.sumdb_known,
                serves_modules: m.serves_modules(),
                freshness: Freshness {
                    modules_compared: compared.len(),
                    missing_versions: compared
                        .iter()
                        .map(|x| x.missing.as_ref().map_or(0, Vec::len))
                        .sum(),
                    modules: f.clone(),
                },
                tls,
            }
        })
        .collect();
    report::rank(&mut reports);
    Probed {
        proxies: reports,
        snapshot_error,
        duration: started.elapsed(),
    }
}

fn tls_report(m: &probe::Measured, now: i64) -> Option<TlsReport> {
    let seen = m.tls.as_ref()?;
    let leaf = seen.leaf.as_ref();
    let error = match (m.health, seen.verified) {
        (Err(class), false) => Some(class),
        _ => None,
    };
    let days = leaf.map(|l| l.days_to_expiry(now));
    let reason = match error {
        None => days
            .filter(|d| *d < report::EXPIRY_WARNING_DAYS)
            .map(|d| format!("certificate expires in {d} days")),
        Some(class) => Some(tls_reason(class, leaf, days, &m.proxy)),
    };
    Some(TlsReport {
        valid: seen.verified,
        error,
        reason,
        subject: leaf.map(|l| l.subject.clone()),
        issuer: leaf.map(|l| l.issuer.clone()),
        names: leaf.map(|l| l.names.clone()).unwrap_or_default(),
        not_after: leaf.map(|l| l.not_after.clone()),
        days_to_expiry: days,
        self_signed: leaf.map(|l| l.self_signed),
        chain_length: seen.chain_length,
    })
}

fn tls_reason(
    class: ErrorClass,
    leaf: Option<&cert::CertInfo>,
    days: Option<i64>,
    proxy: &Proxy,
) -> String {
    let issuer = leaf.map_or_else(|| "an unknown issuer".to_string(), |l| l.issuer.clone());
    match class {
        ErrorClass::TlsCertExpired => match (leaf, days) {
            (Some(l), Some(d)) => format!(
                "certificate expired {} day(s) ago ({}), issued by {issuer}",
                -d, l.not_after
            ),
            _ => "certificate expired".into(),
        },
        ErrorClass::TlsCertNotYetValid => {
            format!("certificate issued by {issuer} is not valid yet")
        }
        ErrorClass::TlsCertUntrusted if leaf.is_some_and(|l| l.self_signed) => {
            "self-signed certificate, not trusted (only if it is your own: add it to the system store, or SSL_CERT_FILE / SSL_CERT_DIR, as for go)"
                .into()
        }
        ErrorClass::TlsCertUntrusted => format!(
            "certificate issued by {issuer}, which is not a trusted CA (a company CA belongs in the system store, e.g. update-ca-certificates, or in SSL_CERT_FILE / SSL_CERT_DIR: goshim trusts what go trusts)"
        ),
        ErrorClass::TlsCertName => {
            let host = crate::go::proxy_list::redact(&proxy.url);
            let names = leaf.map(|l| l.names.join(", ")).unwrap_or_default();
            format!("certificate is for {names}, not for {host}")
        }
        ErrorClass::TlsCertificate if leaf.is_some_and(|l| l.self_signed) => {
            "self-signed certificate was rejected".into()
        }
        ErrorClass::TlsCertificate => format!("certificate issued by {issuer} was rejected"),
        _ => "TLS handshake failed".into(),
    }
}

/// The whole report.
pub fn assemble(probed: Probed, samples: &[Sample], setup: Vec<Check>) -> Report {
    let modules = crate::probe::samples::modules(samples);
    Report {
        schema: SCHEMA,
        goshim_version: env!("CARGO_PKG_VERSION"),
        generated_at: now_secs(),
        duration_ms: (probed.duration.as_secs_f64() * 100_000.0).round() / 100.0,
        probe_module: modules.first().cloned().unwrap_or_default(),
        sample_modules: modules,
        samples: samples.to_vec(),
        healthy: probed.proxies.iter().any(|p| p.in_use && p.serves()),
        proxies: probed.proxies,
        setup,
    }
}

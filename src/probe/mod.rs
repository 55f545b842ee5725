//! Probing candidate proxies concurrently, and the background refresh.

pub mod background;
pub mod cert;
pub mod freshness;
pub mod http;
pub mod measure;
pub mod samples;

use std::sync::Arc;
use std::time::Duration;

use crate::go::proxy_list::Proxy;
use crate::health::Observation;
use crate::upstream::goauth::Auth;

/// What to probe and how long to wait.
pub struct Request<'a> {
    pub proxies: &'a [Proxy],
    /// The probe module first (see samples).
    pub samples: &'a [samples::Sample],
    /// Name of the checksum database (e.g. sum.golang.org); None when GOSUMDB=off.
    pub sumdb: Option<&'a str>,
    pub deadline: Duration,
    /// Credentials for the proxies, as go would send them.
    pub credentials: &'a Arc<Auth>,
}

/// Probes every proxy at once: `<proxy>/<probe module>/@v/list` for health
/// and latency, the other samples' lists for whether it serves modules,
/// `<proxy>/sumdb/<name>/supported` for checksum-database support. A proxy
/// answering 404/410 for a module that every other proxy has is marked down
/// ("gone": the seed article's circuit breaker).
pub fn probe_all(req: &Request) -> Vec<Observation> {
    let modules = samples::modules(req.samples);
    let measured = measure::measure_all(
        req.proxies,
        &measure::Plan {
            modules: &modules,
            sumdb: req.sumdb,
            deadline: req.deadline,
            progress: false,
            credentials: req.credentials,
        },
    );
    let listings: Vec<_> = measured.iter().map(|m| m.listings.clone()).collect();
    let fresh = freshness::compare(req.samples, &listings);
    measured
        .iter()
        .zip(&fresh)
        .map(|(m, f)| measure::observation(m, f))
        .collect()
}

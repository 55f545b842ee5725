//! Measuring proxies (for `goshim probe` and `goshim doctor`), through the
//! prober's HTTP client (http): the sample modules' `@v/list` (timed, bodies read), the
//! checksum database, and the certificate chain of an https proxy.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use super::http::{self, Extras};
use crate::error_class::ErrorClass;
use crate::go::module_path;
use crate::go::proxy_list::Proxy;
use crate::health::Observation;
use crate::health::snapshot::Latency;
use crate::upstream::Endpoint;
use crate::upstream::goauth::{self, Auth};

use super::cert::{self, CertInfo};
use super::freshness::{self, Listing, ModuleFreshness};

/// Largest `@v/list` body read.
const LIST_LIMIT: usize = 1 << 20;

/// What to ask every proxy.
pub struct Plan<'a> {
    /// Sample modules; the first one is the probe module, whose request is
    /// the proxy's health check.
    pub modules: &'a [String],
    /// Checksum database name (None: GOSUMDB=off, not asked).
    pub sumdb: Option<&'a str>,
    pub deadline: Duration,
    /// Show progress on stderr.
    pub progress: bool,
    /// The same credentials the relay sends (userinfo, .netrc or GOAUTH,
    /// https only): without them a proxy that needs them would look down.
    pub credentials: &'a Arc<Auth>,
}

/// Everything measured about one proxy.
#[derive(Debug)]
pub struct Measured {
    pub proxy: Proxy,
    /// The health check (first module): status and timings, or the error class.
    pub health: Result<u16, ErrorClass>,
    pub latency: Option<Latency>,
    /// Per sample module, in plan order.
    pub listings: Vec<Listing>,
    pub sumdb: Option<bool>,
    pub tls: Option<TlsSeen>,
}

/// The certificate side of an https proxy.
#[derive(Debug, Clone)]
pub struct TlsSeen {
    /// Verified by rustls against the web PKI roots and SSL_CERT_FILE.
    pub verified: bool,
    /// The leaf certificate (from the verified handshake, or read separately
    /// after a failed one), when it could be parsed.
    pub leaf: Option<CertInfo>,
    pub chain_length: usize,
}

/// Measures every proxy at once; results in input order.
pub fn measure_all(proxies: &[Proxy], plan: &Plan) -> Vec<Measured> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return Vec::new();
    };
    runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, proxy) in proxies.iter().enumerate() {
            let endpoint = Endpoint::new(proxy, plan.credentials);
            let proxy = proxy.clone();
            let modules = plan.modules.to_vec();
            let sumdb = plan.sumdb.map(str::to_string);
            let deadline = plan.deadline;
            set.spawn(async move {
                let m = measure(proxy, &endpoint, &modules, sumdb, deadline).await;
                (i, m)
            });
        }
        let total = proxies.len();
        let mut out: Vec<(usize, Measured)> = Vec::with_capacity(total);
        progress(plan.progress, 0, total);
        while let Some(joined) = set.join_next().await {
            if let Ok(r) = joined {
                out.push(r);
            }
            progress(plan.progress, out.len(), total);
        }
        if plan.progress {
            eprint!("\r\x1b[K");
            let _ = std::io::stderr().flush();
        }
        out.sort_by_key(|(i, _)| *i);
        out.into_iter().map(|(_, m)| m).collect()
    })
}

fn progress(on: bool, done: usize, total: usize) {
    if on {
        eprint!(
            "\r\x1b[Kgoshim doctor: probing {}... {done}/{total} done",
            crate::log::count(total, "proxy", "proxies")
        );
        let _ = std::io::stderr().flush();
    }
}

async fn measure(
    proxy: Proxy,
    endpoint: &Endpoint,
    modules: &[String],
    sumdb: Option<String>,
    deadline: Duration,
) -> Measured {
    let mut m = Measured {
        proxy,
        health: Err(ErrorClass::BadUrl),
        latency: None,
        listings: vec![Listing::Unknown; modules.len()],
        sumdb: None,
        tls: None,
    };
    if endpoint.origin().is_none() {
        return m; // bad_url: nothing to ask
    }
    let list_path = |module: &str| format!("{}/@v/list", module_path::escape(module));
    let extras = Extras {
        body_limit: Some(LIST_LIMIT),
        peer_certs: true,
    };
    let Some(first) = modules.first() else {
        return m;
    };
    let first_path = list_path(first);
    let health = get_authed(endpoint, &first_path, deadline, extras);
    let sumdb_check = async {
        let path = format!("sumdb/{}/supported", sumdb?);
        let answer = get_authed(endpoint, &path, deadline, Extras::default())
            .await
            .ok()?;
        Some(answer.status == 200)
    };
    let (health, sumdb) = tokio::join!(health, sumdb_check);
    m.sumdb = sumdb;
    let answered = match health {
        Ok(answer) => {
            m.health = Ok(answer.status);
            m.latency = Some(answer.latency);
            m.listings[0] = listing(answer.status, answer.body.as_deref());
            if !answer.peer_certs.is_empty() {
                m.tls = Some(TlsSeen {
                    verified: true,
                    leaf: cert::parse(&answer.peer_certs[0]),
                    chain_length: answer.peer_certs.len(),
                });
            }
            true
        }
        Err(failure) => {
            if failure.class.is_tls() {
                // Say who issued the rejected chain and until when: read it
                // through a handshake that accepts it, sending nothing.
                let chain = http::peer_chain(endpoint, deadline).await;
                m.tls = Some(TlsSeen {
                    verified: false,
                    leaf: chain.first().and_then(|c| cert::parse(c)),
                    chain_length: chain.len(),
                });
            }
            m.health = Err(failure.class);
            m.latency = Some(failure.latency);
            false
        }
    };
    if answered && modules.len() > 1 {
        let mut set = tokio::task::JoinSet::new();
        for (i, module) in modules.iter().enumerate().skip(1) {
            let endpoint = endpoint.clone();
            let path = list_path(module);
            set.spawn(async move {
                let extras = Extras {
                    body_limit: Some(LIST_LIMIT),
                    peer_certs: false,
                };
                let l = match get_authed(&endpoint, &path, deadline, extras).await {
                    Ok(a) => listing(a.status, a.body.as_deref()),
                    Err(_) => Listing::Unknown,
                };
                (i, l)
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((i, l)) = joined {
                m.listings[i] = l;
            }
        }
    }
    m
}

/// One GET with the credentials go would send, and go's second try: after
/// a 4xx over https, the GOAUTH helpers run again with the URL (here with
/// the status line alone on stdin: the prober keeps no response headers),
/// and the request goes out again when that changed its credentials.
async fn get_authed(
    endpoint: &Endpoint,
    rel: &str,
    deadline: Duration,
    extras: Extras,
) -> Result<http::Answer, http::Failure> {
    let Some(url) = endpoint.credential_url(rel) else {
        return http::get_with(endpoint, rel, deadline, extras).await;
    };
    goauth::ensure_loaded(endpoint.credentials()).await;
    let sent = endpoint.headers_for(rel);
    let first = http::get_with(endpoint, rel, deadline, extras).await;
    let status = match &first {
        Ok(a) if (400..500).contains(&a.status) && endpoint.credentials().refreshes() => a.status,
        _ => return first,
    };
    let reason = hyper::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or_default();
    let response = goauth::helper::response_text("HTTP/1.1", status, reason, &[]);
    goauth::refresh(endpoint.credentials(), url, response).await;
    if endpoint.headers_for(rel) == sent {
        return first;
    }
    http::get_with(endpoint, rel, deadline, extras).await
}

fn listing(status: u16, body: Option<&[u8]>) -> Listing {
    match status {
        200 => Listing::Versions(freshness::parse_list(body.unwrap_or_default())),
        404 | 410 => Listing::NotFound(status),
        _ => Listing::Unknown,
    }
}

/// The health verdict of one proxy: its probe module's answer, and the
/// circuit breaker (404/410 for a module another proxy lists: "gone").
pub fn verdict(m: &Measured, fresh: &[ModuleFreshness]) -> Result<(), ErrorClass> {
    match m.health {
        Err(class) => Err(class),
        Ok(_) if fresh.iter().any(|f| f.gone) => Err(ErrorClass::Gone),
        Ok(200..=399 | 404 | 410) => Ok(()),
        Ok(status) => Err(ErrorClass::Http(status)),
    }
}

pub fn observation(m: &Measured, fresh: &[ModuleFreshness]) -> Observation {
    Observation {
        url: m.proxy.key(),
        result: verdict(m, fresh),
        latency: m.latency.clone(),
        sumdb: m.sumdb,
        serves_modules: m.serves_modules(),
    }
}

impl Measured {
    /// Lists at least one sample module (see samples::serves).
    pub fn serves_modules(&self) -> Option<bool> {
        super::samples::serves(self.listings.iter().map(Listing::listed))
    }
}

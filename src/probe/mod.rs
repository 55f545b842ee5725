//! Probing candidate proxies concurrently, and the background refresh.

pub mod background;
pub mod http;

use std::time::Duration;

use crate::health::Observation;
use crate::module_path;
use crate::proxy_list::Proxy;
use http::{Answer, Failure, Target};

/// A version list larger than this fails the probe (the biggest real ones are tens of KB).
const LIST_BODY_LIMIT: usize = 1 << 20;

/// What to probe and how long to wait.
pub struct Request<'a> {
    pub proxies: &'a [Proxy],
    pub module: &'a str,
    /// Name of the checksum database (e.g. sum.golang.org); None when GOSUMDB=off.
    pub sumdb: Option<&'a str>,
    pub deadline: Duration,
}

/// Probes every proxy at once: `<proxy>/<module>/@v/list` for health and
/// latency, `<proxy>/sumdb/<name>/supported` for checksum-database support.
/// A proxy answering 404/410 for a module that another proxy has is marked
/// down ("gone": the seed article's circuit breaker).
pub fn probe_all(req: &Request) -> Vec<Observation> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(_) => return Vec::new(),
    };
    let list_path = format!("/{}/@v/list", module_path::escape(req.module));
    let sumdb_path = req.sumdb.map(|name| format!("/sumdb/{name}/supported"));
    let results: Vec<(Proxy, Result<Answer, Failure>, Option<bool>)> = runtime.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for (i, proxy) in req.proxies.iter().enumerate() {
            let proxy = proxy.clone();
            let list_path = list_path.clone();
            let sumdb_path = sumdb_path.clone();
            let deadline = req.deadline;
            set.spawn(async move {
                let target = match Target::parse(&proxy.url) {
                    Ok(t) => t,
                    Err(_) => {
                        let failure = Failure {
                            class: "bad_url".into(),
                            latency: Default::default(),
                        };
                        return (i, proxy, Err(failure), None);
                    }
                };
                let sumdb = async {
                    let path = sumdb_path?;
                    let answer = http::get(&target, &path, deadline).await.ok()?;
                    Some(answer.status == 200)
                };
                // The whole listing counts: a proxy that answers at once and then
                // drips its body is slow.
                let extras = http::Extras {
                    body_limit: Some(LIST_BODY_LIMIT),
                    ..http::Extras::default()
                };
                let list = http::get_with(&target, &list_path, deadline, extras);
                let (list, sumdb) = tokio::join!(list, sumdb);
                (i, proxy, list, sumdb)
            });
        }
        let mut out = Vec::new();
        while let Some(Ok(r)) = set.join_next().await {
            out.push(r);
        }
        out.sort_by_key(|r| r.0);
        out.into_iter().map(|(_, p, l, s)| (p, l, s)).collect()
    });
    let someone_has_it = results
        .iter()
        .any(|(_, r, _)| matches!(r, Ok(a) if a.status == 200));
    results
        .into_iter()
        .map(|(proxy, list, sumdb)| {
            let (result, latency) = match list {
                Ok(a) => (verdict(a.status, someone_has_it), Some(a.latency)),
                Err(f) => (Err(f.class), Some(f.latency)),
            };
            Observation {
                url: proxy.key(),
                result,
                latency,
                sumdb,
            }
        })
        .collect()
}

fn verdict(status: u16, someone_has_it: bool) -> Result<(), String> {
    match status {
        200..=399 => Ok(()),
        // The module is not one every proxy has: answering at all is healthy.
        404 | 410 if !someone_has_it => Ok(()),
        404 | 410 => Err("gone".into()),
        s => Err(format!("http_{s}")),
    }
}

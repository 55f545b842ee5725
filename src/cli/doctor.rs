//! `goshim doctor [--all] [--json]`: probe and rank the proxies, check the
//! setup (see `doctor`). Exit 0 iff at least one proxy in use is healthy
//! (up or degraded) and not 404/410 for every sample module; one that is
//! keeps its rank in the snapshot (it may be private-only) but does not
//! count here.

use std::io::IsTerminal;

use crate::doctor::report::Source;
use crate::doctor::{self, Candidate, setup};
use crate::go::proxy_list::{Proxy, ProxyList};
use crate::health::Snapshot;
use crate::log::warn;
use crate::probe::{background, samples};
use crate::settings::config::Config;
use crate::settings::vars::Env;
use crate::shim::discovery::{self, Seen};
use crate::upstream::goauth::Auth;
use crate::{go::goenv, health::select, settings::presets};

pub fn run(process: &Env, flags: &[String]) -> i32 {
    let all = flags.iter().any(|f| f == "--all");
    let json = flags.iter().any(|f| f == "--json");

    // Unlike status and probe, keep going when something is missing: saying
    // what is wrong with the setup is the point.
    let real_go =
        discovery::find_real_go(process, &Seen::current(process)).map_err(|e| e.to_string());
    let config = Config::load(process);
    let settings = config.clone().unwrap_or_default();
    for w in &settings.warnings {
        warn!("{w}");
    }
    let env = real_go
        .as_ref()
        .ok()
        .and_then(|go| goenv::load(process, go));
    let mirrors = presets::mirrors(process);
    if all && let Err(e) = &mirrors {
        warn!("{e}");
        return 2;
    }

    let candidates = candidates(env.as_ref(), &settings, all, mirrors.as_deref().ok());
    let samples = samples::for_here(process, env.as_ref(), &settings);
    let sumdb = env.as_ref().and_then(goenv::GoEnv::sumdb_name);
    let before = Snapshot::read(process);
    let goenv_of = |key| env.as_ref().map_or("", |e| e.get(key));
    // One probe at a time (a background refresh waits or gives up).
    let _lock = background::lock(process, true);
    let probed = doctor::probe(
        &candidates,
        &doctor::Settings {
            process,
            credentials: &Auth::for_go(goenv_of("GOVERSION"), goenv_of("GOAUTH"), process),
            samples: &samples.list,
            sumdb: sumdb.as_deref(),
            deadline: settings.probe_timeout,
            progress: std::io::stderr().is_terminal(),
        },
    );
    drop(_lock);
    let in_use: Vec<Proxy> = candidates
        .iter()
        .filter(|c| c.source != Source::Public)
        .map(|c| c.proxy.clone())
        .collect();
    let checks = setup::run(&setup::Inputs {
        process,
        real_go: real_go.as_deref().map_err(Clone::clone),
        config: config.as_ref().map_err(Clone::clone),
        env: env.as_ref(),
        candidates: &in_use,
        public: setup::public_keys(process),
        bad_modules: &samples.invalid,
        snapshot_before: before.as_ref(),
        snapshot_error: probed.snapshot_error.as_deref(),
        ttl: settings.ttl,
    });
    let report = doctor::assemble(probed, &samples.list, checks);
    if json {
        match serde_json::to_string_pretty(&report) {
            Ok(text) => print_out(&format!("{text}\n")),
            Err(e) => {
                warn!("cannot encode the report: {e}");
                return 1;
            }
        }
    } else {
        print_out(&doctor::render::text(&report));
    }
    i32::from(!report.healthy)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a panic.
pub(super) fn print_out(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// The candidates go calls use, each with where it comes from, then (with
/// `--all`) the public mirrors not among them.
fn candidates(
    env: Option<&goenv::GoEnv>,
    config: &Config,
    all: bool,
    mirrors: Option<&[presets::Mirror]>,
) -> Vec<Candidate> {
    let user: Vec<String> = env
        .map(|e| ProxyList::parse(e.get("GOPROXY")).proxies)
        .unwrap_or_default()
        .iter()
        .map(Proxy::key)
        .collect();
    let in_use: Vec<Proxy> = match env {
        Some(e) => select::candidates(e, config).0,
        None => config
            .extra_proxies
            .iter()
            .chain(&config.preset_proxies)
            .map(|u| Proxy { url: u.clone() })
            .collect(),
    };
    let known = |key: &str| {
        mirrors
            .and_then(|ms| {
                ms.iter()
                    .find(|m| crate::go::proxy_list::redact(&m.url) == key)
            })
            .map(|m| m.sumdb)
    };
    let preset_keys: Vec<String> = config
        .preset_proxies
        .iter()
        .map(|u| crate::go::proxy_list::redact(u))
        .collect();
    let mut out: Vec<Candidate> = in_use
        .into_iter()
        .map(|proxy| {
            let key = proxy.key();
            let source = if user.contains(&key) {
                Source::Goproxy
            } else if preset_keys.contains(&key)
                && !config
                    .extra_proxies
                    .iter()
                    .any(|u| crate::go::proxy_list::redact(u) == key)
            {
                Source::Preset
            } else {
                Source::Config
            };
            Candidate {
                sumdb_known: known(&key),
                proxy,
                source,
            }
        })
        .collect();
    if all {
        for m in mirrors.unwrap_or_default() {
            let proxy = Proxy { url: m.url.clone() };
            if !out.iter().any(|c| c.proxy.key() == proxy.key()) {
                out.push(Candidate {
                    proxy,
                    source: Source::Public,
                    sumdb_known: Some(m.sumdb),
                });
            }
        }
    }
    out
}

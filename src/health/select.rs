//! Choosing the GOPROXY a go command gets: the candidates ordered by health.

use crate::go::goenv::GoEnv;
use crate::go::proxy_list::{Proxy, ProxyList, Tail};
use crate::health::{Snapshot, State};
use crate::settings::config::Config;

/// What the child gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Leave the environment alone, and why.
    Unchanged(&'static str),
    /// Run with this ordering.
    Reorder(Plan),
}

#[derive(Debug, PartialEq, Eq)]
pub struct Plan {
    /// Candidates in the order the child tries them.
    pub order: Vec<Proxy>,
    pub tail: Option<Tail>,
}

impl Plan {
    /// Candidates joined with `|` (go moves on after any error), then the user's tail.
    pub fn goproxy(&self) -> String {
        let mut value = self
            .order
            .iter()
            .map(|p| p.url.as_str())
            .collect::<Vec<_>>()
            .join("|");
        if let Some(tail) = &self.tail {
            value.push(tail.sep);
            value.push_str(tail.word);
        }
        value
    }
}

/// The user's proxies, then the extra ones, then the chosen preset's mirrors,
/// without duplicates, and the user's tail.
pub fn candidates(env: &GoEnv, config: &Config) -> (Vec<Proxy>, Option<Tail>) {
    let list = ProxyList::parse(env.get("GOPROXY"));
    let mut all: Vec<Proxy> = Vec::new();
    let extra = config
        .extra_proxies
        .iter()
        .chain(&config.preset_proxies)
        .map(|u| Proxy { url: u.clone() });
    for p in list.proxies.into_iter().chain(extra) {
        if !all.iter().any(|q| q.key() == p.key()) {
            all.push(p);
        }
    }
    (all, list.tail)
}

/// Decides the child's GOPROXY. `demoted` (redacted URLs) go last, whatever the snapshot says.
pub fn decide(
    env: &GoEnv,
    config: &Config,
    snap: Option<&Snapshot>,
    demoted: &[String],
) -> Decision {
    if env
        .get("GOFLAGS")
        .split_whitespace()
        .any(|f| f == "-mod=vendor" || f == "--mod=vendor")
    {
        return Decision::Unchanged("GOFLAGS=-mod=vendor: nothing is fetched");
    }
    let (mut order, tail) = candidates(env, config);
    if order.is_empty() {
        return Decision::Unchanged("GOPROXY has no proxies");
    }
    // Stable sort: equal ranks keep the user's order.
    order.sort_by(|a, b| rank(a, snap, demoted).total_cmp(&rank(b, snap, demoted)));
    Decision::Reorder(Plan { order, tail })
}

/// Lower is tried first: up, unknown, degraded, down (demoted after everything),
/// better score first within a state.
fn rank(p: &Proxy, snap: Option<&Snapshot>, demoted: &[String]) -> f64 {
    let key = p.key();
    if demoted.contains(&key) {
        return 10.0;
    }
    match snap.and_then(|s| s.get(&key)) {
        None => 2.0,
        Some(h) => {
            let base = match h.state {
                State::Up => 1.0,
                State::Degraded => 3.0,
                State::Down => 5.0,
            };
            base + (1.0 - h.score.clamp(0.0, 1.0))
        }
    }
}

/// Why a GOPROXY list (without the relay) must stay the user's own: some
/// private path (GONOSUMDB/GOPRIVATE) is not excluded from proxies by
/// GONOPROXY, so go would send it to the user's proxies, and reordering or
/// adding proxies could send it somewhere the user's list never would.
/// (The relay routes such paths itself, with the user's list semantics.)
pub fn env_only_lock(env: &GoEnv) -> Option<&'static str> {
    private_paths_reach_proxies(env).then_some(
        "GOPRIVATE/GONOSUMDB paths are fetched through GOPROXY: keeping the user's order so they reach no other proxy",
    )
}

fn private_paths_reach_proxies(env: &GoEnv) -> bool {
    let noproxy = env.get("GONOPROXY");
    let excluded: Vec<&str> = if noproxy.trim() == "none" {
        Vec::new()
    } else {
        patterns(noproxy).collect()
    };
    patterns(env.get("GONOSUMDB"))
        .chain(patterns(env.get("GOPRIVATE")))
        .any(|p| !excluded.contains(&p))
}

fn patterns(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_class::ErrorClass;
    use crate::health::Observation;

    fn env(goproxy: &str) -> GoEnv {
        GoEnv::from_pairs(&[("GOPROXY", goproxy)])
    }

    fn plan_of(d: Decision) -> Plan {
        match d {
            Decision::Reorder(p) => p,
            other => panic!("expected a plan, got {other:?}"),
        }
    }

    #[test]
    fn without_snapshot_keeps_order_and_switches_to_pipes() {
        let d = decide(
            &env("https://a.example,https://b.example,direct"),
            &Config::default(),
            None,
            &[],
        );
        assert_eq!(
            plan_of(d).goproxy(),
            "https://a.example|https://b.example,direct"
        );
    }

    #[test]
    fn adds_extra_proxies_and_demotes() {
        let config = Config {
            extra_proxies: vec!["https://c.example".into()],
            ..Config::default()
        };
        let d = decide(
            &env("https://a.example|off"),
            &config,
            None,
            &["https://a.example".into()],
        );
        assert_eq!(
            plan_of(d).goproxy(),
            "https://c.example|https://a.example|off"
        );
    }

    #[test]
    fn down_proxies_go_last_but_stay() {
        let mut snap = Snapshot::default();
        for (url, result) in [
            ("https://a.example", Err(ErrorClass::Http(502))),
            ("https://b.example", Ok(())),
        ] {
            snap = crate::health::snapshot::tests_apply(
                snap,
                Observation {
                    url: url.into(),
                    result,
                    latency: None,
                    sumdb: None,
                    serves_modules: None,
                },
            );
        }
        let d = decide(
            &env("https://a.example,https://b.example"),
            &Config::default(),
            Some(&snap),
            &[],
        );
        assert_eq!(plan_of(d).goproxy(), "https://b.example|https://a.example");
    }

    #[test]
    fn leaves_private_and_fetchless_setups_alone() {
        let private = GoEnv::from_pairs(&[
            ("GOPROXY", "https://corp.example,https://proxy.golang.org"),
            ("GONOSUMDB", "corp.example"),
        ]);
        assert!(env_only_lock(&private).is_some());
        let excluded = GoEnv::from_pairs(&[
            ("GOPROXY", "https://proxy.golang.org"),
            ("GOPRIVATE", "corp.example"),
            ("GONOPROXY", "corp.example"),
            ("GONOSUMDB", "corp.example"),
        ]);
        assert!(env_only_lock(&excluded).is_none());
        assert!(matches!(
            decide(&env("direct"), &Config::default(), None, &[]),
            Decision::Unchanged(_)
        ));
        assert!(matches!(
            decide(&env("off"), &Config::default(), None, &[]),
            Decision::Unchanged(_)
        ));
        let vendor =
            GoEnv::from_pairs(&[("GOPROXY", "https://p.example"), ("GOFLAGS", "-mod=vendor")]);
        assert!(matches!(
            decide(&vendor, &Config::default(), None, &[]),
            Decision::Unchanged(_)
        ));
    }
}

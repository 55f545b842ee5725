//! The `go` personality: find the real go, decide, run it.
//!
//! Hot path order matters: nothing beyond discovery happens for commands that
//! never fetch; the go env answer comes from the cache; probing never happens
//! here (a stale snapshot starts a detached refresh and is used as it is).

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::command::{self, Kind};
use crate::config::Config;
use crate::discovery::{self, Seen};
use crate::goenv::{self, GoEnv};
use crate::health::{self, Observation, Snapshot};
use crate::log::{debug, warn};
use crate::select::{self, Decision, Plan};
use crate::{child, env_vars, failover, probe};

/// Exit code when no real go can be found (as a shell does for "command not found").
const EXIT_NOT_FOUND: i32 = 127;

pub fn main(args: Vec<OsString>) -> ! {
    let seen = Seen::current();
    let real_go = match discovery::find_real_go(&seen) {
        Ok(path) => path,
        Err(e) => {
            warn!("{e}");
            std::process::exit(EXIT_NOT_FOUND);
        }
    };
    let mut cmd = Command::new(&real_go);
    cmd.args(&args);
    // The only variable added to every child: it makes shim loops impossible.
    cmd.env(env_vars::GOSHIM_SEEN, seen.env_value());

    let kind = command::classify(&args);
    if env_vars::is_truthy(env_vars::GOSHIM_DISABLE) || kind == Kind::Passthrough {
        exec(cmd, &real_go, "passthrough");
    }
    let config = match Config::load() {
        Ok(c) => c,
        Err(e) => {
            warn!("ignoring goshim settings: {e}");
            exec(cmd, &real_go, "bad goshim settings");
        }
    };
    let Some(env) = goenv::load(&real_go) else {
        exec(cmd, &real_go, "go env unavailable");
    };
    let snap = Snapshot::read();
    let plan = match select::decide(&env, &config, snap.as_ref(), &[]) {
        Decision::Unchanged(why) => exec(cmd, &real_go, why),
        Decision::Reorder(plan) => plan,
    };
    if !config.ttl.is_zero() && snap.as_ref().is_none_or(|s| s.is_stale(config.ttl)) {
        probe::background::spawn_refresh(&seen);
    }
    cmd.env(env_vars::GOPROXY, plan.goproxy());
    if kind == Kind::FetchOnce || config.attempts <= 1 {
        // Nothing left to do after go: let it replace us.
        exec(cmd, &real_go, "health-ordered GOPROXY");
    }
    run_with_failover(cmd, &real_go, &env, &config, plan)
}

/// Runs a retryable command; after a transient proxy failure, records it and
/// re-runs with the failed proxies demoted, a bounded number of times.
fn run_with_failover(
    mut cmd: Command,
    real_go: &Path,
    env: &GoEnv,
    config: &Config,
    mut plan: Plan,
) -> ! {
    let mut demoted: Vec<String> = Vec::new();
    let mut failed: Vec<(String, String)> = Vec::new();
    for attempt in 1..=config.attempts {
        debug!(
            "run {attempt}: GOPROXY={}",
            crate::proxy_list::redact_list(&plan.goproxy())
        );
        let outcome = match child::run(&mut cmd, true) {
            Ok(o) => o,
            Err(e) => fail_to_start(real_go, e),
        };
        if outcome.status.success() || outcome.status.code().is_none() || child::interrupted() {
            child::exit_like(outcome.status);
        }
        let diagnosis = failover::diagnose(&outcome.stderr, &plan.order);
        record_failures(&diagnosis.transient);
        for (url, class) in &diagnosis.transient {
            if !failed.iter().any(|(u, _)| u == url) {
                failed.push((url.clone(), class.clone()));
            }
        }
        if !diagnosis.should_retry() || attempt == config.attempts {
            if !failed.is_empty() {
                let list: Vec<String> = failed.iter().map(|(u, c)| format!("{u} ({c})")).collect();
                warn!(
                    "proxies failed in {attempt} run(s): {}; see 'goshim status'",
                    list.join(", ")
                );
            }
            child::exit_like(outcome.status);
        }
        demoted.extend(diagnosis.transient.into_iter().map(|(u, _)| u));
        plan = match select::decide(env, config, Snapshot::read().as_ref(), &demoted) {
            Decision::Reorder(p) => p,
            Decision::Unchanged(_) => child::exit_like(outcome.status),
        };
        cmd.env(env_vars::GOPROXY, plan.goproxy());
        std::thread::sleep(backoff(attempt));
    }
    unreachable!("the last attempt always exits")
}

/// Passive health: what go just saw feeds the snapshot for every later call.
fn record_failures(failures: &[(String, String)]) {
    if failures.is_empty() {
        return;
    }
    let observations: Vec<Observation> = failures
        .iter()
        .map(|(url, class)| Observation {
            url: url.clone(),
            result: Err(class.clone()),
            latency: None,
            sumdb: None,
        })
        .collect();
    if let Err(e) = health::snapshot::record(&observations, false) {
        debug!("cannot record proxy failures: {e}");
    }
}

/// 100–300 ms times the attempt number, jittered so parallel builds spread out.
fn backoff(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let jitter = u64::from((nanos ^ std::process::id()) % 200);
    Duration::from_millis((100 + jitter) * u64::from(attempt))
}

fn exec(cmd: Command, real_go: &Path, why: &str) -> ! {
    debug!("exec {} ({why})", real_go.display());
    let err = child::exec(cmd);
    fail_to_start(real_go, err)
}

fn fail_to_start(real_go: &Path, err: std::io::Error) -> ! {
    warn!(
        "cannot run {}: {err}; check the file or set GOSHIM_GO=/path/to/go",
        real_go.display()
    );
    std::process::exit(EXIT_NOT_FOUND)
}

//! The `go` personality: find the real go, decide, run it.
//!
//! Hot path order matters: for commands that never fetch, nothing beyond
//! discovery happens but a look at the go.mod/go.work `go` and `toolchain`
//! lines (go may switch toolchains, and download one, before any
//! subcommand); the go env answer comes from the cache; probing never happens
//! here (a stale snapshot starts a detached refresh and is used as it is).

pub mod child;
pub mod command;
pub mod discovery;
pub mod failover;
pub mod plan;

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::error_class::ErrorClass;
use crate::go::args::split_chdir;
use crate::go::goenv::{self, GoEnv};
use crate::go::proxy_list::{Proxy, ProxyList, redact_list};
use crate::health::select::{self, Decision, Plan};
use crate::health::{self, Observation, Snapshot};
use crate::log::{debug, warn};
use crate::relay::{self, Relay};
use crate::settings::config::Config;
use crate::settings::vars::Env;
use crate::upstream::goauth::{self, Auth};
use crate::{go::mod_file, go::toolchain, probe, settings::vars};
use command::Kind;
use discovery::Seen;
use plan::Action;

/// Exit code when no real go can be found (as a shell does for "command not found").
const EXIT_NOT_FOUND: i32 = 127;

pub fn main(process: &Env, args: Vec<OsString>) -> ! {
    let seen = Seen::current(process);
    let real_go = match discovery::find_real_go(process, &seen) {
        Ok(path) => path,
        Err(e) => {
            warn!("{e}");
            std::process::exit(EXIT_NOT_FOUND);
        }
    };
    let mut cmd = Command::new(&real_go);
    cmd.args(&args);
    // The only variable added to every child: it makes shim loops impossible.
    cmd.env(vars::GOSHIM_SEEN, seen.env_value());

    let kind = command::classify(&args);
    if process.is_truthy(vars::GOSHIM_DISABLE) {
        exec(cmd, &real_go, "GOSHIM_DISABLE");
    }
    if under_a_relay(process) {
        // A go run by a go that goshim supervises (go generate, go run, tools):
        // the outer relay already serves it, toolchain downloads included; a
        // second one would only add a hop.
        exec(cmd, &real_go, "GOPROXY is already goshim's relay");
    }
    // go picks its toolchain before it looks at the subcommand: a command
    // that never fetches may still download a toolchain first.
    let switch = match kind {
        Kind::Passthrough => toolchain::Inputs::read(process, &args, &real_go)
            .and_then(|inputs| toolchain::download_target(&args, &inputs)),
        _ => None,
    };
    if kind == Kind::Passthrough && switch.is_none() {
        exec(cmd, &real_go, "passthrough");
    }
    let Some(env) = goenv::load(process, &real_go) else {
        exec(cmd, &real_go, "go env unavailable");
    };
    if let Some(target) = &switch
        && toolchain::unpacked_dir(env.get("GOMODCACHE"), target).is_some_and(|d| d.is_dir())
    {
        exec(cmd, &real_go, "the toolchain go switches to is downloaded");
    }
    let config = match Config::load(process) {
        Ok(c) => {
            for w in &c.warnings {
                warn!("{w}");
            }
            c
        }
        Err(e) => {
            warn!("ignoring goshim settings: {e}");
            exec(cmd, &real_go, "bad goshim settings");
        }
    };
    let snap = Snapshot::read(process);
    // From here on a Passthrough is a toolchain download, which the planner
    // plans like a re-runnable fetch.
    let decide = |relay| plan::decide(kind, &config, &env, snap.as_ref(), relay);
    let action = decide(config.relay);
    if let Action::Exec(why) = action {
        exec(cmd, &real_go, why);
    }
    if !config.ttl.is_zero() && snap.as_ref().is_none_or(|s| s.is_stale(config.ttl)) {
        probe::background::spawn_refresh(process, &seen);
    }
    let action = match action {
        Action::Supervise {
            plan,
            relay: true,
            attempts,
        } => {
            let prefetch = match config.prefetch {
                true => command::prefetch(&args),
                false => relay::Prefetch::Off,
            };
            let main_module = (prefetch != relay::Prefetch::Off
                && !command::uses_other_modfile(&args, env.get("GOFLAGS")))
            .then(|| mod_file::start_dir(process, &args))
            .flatten()
            .map(|dir| (dir, process.non_empty(vars::GOWORK)));
            let ahead = relay::FetchAhead {
                prefetch,
                main_module,
                requirements: command::loads_module_graph(&args),
                summed_zips: command::builds_packages(&args),
            };
            match start_relay(process, &env, &config, &plan, snap.as_ref(), ahead) {
                Ok(relay) => Ok((Route::Relay(relay, plan.tail.clone()), attempts)),
                Err(e) => {
                    debug!("relay unavailable ({e}); using the GOPROXY list");
                    Err(decide(false))
                }
            }
        }
        other => Err(other),
    };
    let (route, attempts) = match action {
        Ok(relayed) => relayed,
        Err(Action::Exec(why)) => exec(cmd, &real_go, why),
        Err(Action::ExecOrdered(plan)) => {
            cmd.env(vars::GOPROXY, plan.goproxy());
            exec(cmd, &real_go, "health-ordered GOPROXY");
        }
        Err(Action::Supervise { plan, attempts, .. }) => (Route::List(plan), attempts),
    };
    // A toolchain download alone goes through the relay (by `go version`,
    // which nothing sees): the command itself then runs untouched, so that
    // `go env` prints the user's own GOPROXY, and finds the toolchain cached.
    let (cmd, then) = match switch {
        Some(_) => (download_toolchain_cmd(&real_go, &args, &seen), Some(cmd)),
        None => (cmd, None),
    };
    Runner {
        process,
        cmd,
        then,
        real_go: &real_go,
        env: &env,
        config: &config,
        route,
    }
    .run(attempts)
}

/// Whether GOPROXY starts with the relay of a goshim further up the process tree.
fn under_a_relay(process: &Env) -> bool {
    process.get(vars::GOPROXY).is_some_and(|v| {
        let first = v.split([',', '|']).next().unwrap_or("");
        relay::is_relay_url(first.trim())
    })
}

/// How go reaches the proxies.
enum Route {
    /// GOPROXY is the loopback relay (plus the user's tail).
    Relay(Relay, Option<crate::go::proxy_list::Tail>),
    /// GOPROXY is the health-ordered list itself.
    List(Plan),
}

impl Route {
    /// For GOSHIM_LOG: what go gets, without credentials or the relay's token.
    fn describe(&self) -> String {
        match self {
            Route::Relay(relay, _) => format!(
                "GOPROXY=<loopback relay>, upstreams {}",
                relay.upstream_keys().join("|")
            ),
            Route::List(plan) => format!("GOPROXY={}", redact_list(&plan.goproxy())),
        }
    }

    fn goproxy(&self) -> String {
        match self {
            Route::Relay(relay, tail) => relay.goproxy(tail.as_ref()),
            Route::List(plan) => plan.goproxy(),
        }
    }

    /// The proxies go itself talks to, for reading its errors.
    fn visible_proxies(&self) -> Vec<Proxy> {
        match self {
            Route::Relay(relay, _) => vec![Proxy { url: relay.url() }],
            Route::List(plan) => plan.order.clone(),
        }
    }
}

fn start_relay(
    process: &Env,
    env: &GoEnv,
    config: &Config,
    plan: &Plan,
    snap: Option<&Snapshot>,
    ahead: relay::FetchAhead,
) -> std::io::Result<Relay> {
    // A GOAUTH go refuses: go alone, so that it says so itself (through the
    // relay, go would fetch nothing over https and never look at GOAUTH).
    let auth = goauth::setting(env.get("GOVERSION"), env.get("GOAUTH"))
        .and_then(|s| s.check_dirs().map(|()| s))
        .map_err(|e| std::io::Error::other(format!("{e}; go reports it")))?;
    let user = ProxyList::parse(env.get("GOPROXY"));
    let health_of = |key: &str| {
        let h = snap?.get(key)?;
        Some(relay::KnownHealth {
            sumdb: h.sumdb,
            first_byte_ms: h.latency.as_ref().and_then(|l| l.first_byte_ms),
            up: h.state == health::State::Up,
        })
    };
    Relay::start(relay::Settings {
        upstreams: relay::upstreams(
            &plan.order,
            &user,
            config.hedge,
            health_of,
            &Auth::new(auth, process),
        ),
        private_patterns: format!("{},{}", env.get("GONOSUMDB"), env.get("GOPRIVATE")),
        direct_patterns: env.direct_patterns().to_string(),
        deadlines: config.deadlines,
        sumdb_name: env.sumdb_name(),
        tail: plan.tail.is_some(),
        ahead,
        local_cache: Some(env.get("GOMODCACHE"))
            .filter(|d| !d.is_empty())
            .map(|d| Path::new(d).join("cache").join("download")),
        inject: process.non_empty(vars::GOSHIM_FAULT_INJECT),
    })
}

/// `go [-C dir] version` with stdout dropped: go switches toolchains (and
/// downloads the new one) before it runs any subcommand.
fn download_toolchain_cmd(real_go: &Path, args: &[OsString], seen: &Seen) -> Command {
    let mut cmd = Command::new(real_go);
    cmd.args(split_chdir(args).0)
        .arg("version")
        .env(vars::GOSHIM_SEEN, seen.env_value())
        .stdout(std::process::Stdio::null());
    cmd
}

struct Runner<'a> {
    process: &'a Env,
    cmd: Command,
    /// Run (exec) this once `cmd` succeeded: the user's command after a toolchain download.
    then: Option<Command>,
    real_go: &'a Path,
    env: &'a GoEnv,
    config: &'a Config,
    route: Route,
}

impl Runner<'_> {
    /// Runs go up to `attempts` times: after a transient proxy failure, the
    /// failed proxies are recorded and demoted and go runs again.
    fn run(mut self, attempts: u32) -> ! {
        let capture = attempts > 1;
        let mut demoted: Vec<String> = Vec::new();
        let mut failed: Vec<(String, ErrorClass)> = Vec::new();
        for attempt in 1..=attempts {
            debug!("run {attempt}: {}", self.route.describe());
            self.cmd.env(vars::GOPROXY, self.route.goproxy());
            let outcome = match child::run(&mut self.cmd, capture) {
                Ok(o) => o,
                Err(e) => fail_to_start(self.real_go, e),
            };
            let list_mode = matches!(self.route, Route::List(_));
            let diagnosis =
                failover::diagnose(&outcome.stderr, &self.route.visible_proxies(), list_mode);
            // Read before blame_and_record takes the relay's tally.
            let (exhausted, account) = match &self.route {
                Route::Relay(relay, _) => (relay.all_failed(), relay.failure_account()),
                Route::List(_) => (false, Vec::new()),
            };
            let blamed = self.blame_and_record(&diagnosis, &outcome.stderr);
            for (url, class) in &blamed {
                if !failed.iter().any(|(u, _)| u == url) {
                    failed.push((url.clone(), *class));
                }
            }
            let done =
                outcome.status.success() || child::stopped(outcome.status) || child::interrupted();
            // Every upstream failed in this very run: another run would too.
            if done || !diagnosis.should_retry() || attempt == attempts || exhausted {
                if let Route::Relay(relay, _) = &self.route {
                    report_local_answers(relay.local_answers());
                    crate::metrics::count_prefetch(self.process, relay.prefetch_counters());
                }
                if let (true, Some(then)) = (outcome.status.success(), self.then.take()) {
                    exec(then, self.real_go, "toolchain downloaded");
                }
                if !outcome.status.success() {
                    report_proxy_failures(&diagnosis, exhausted, &account, &failed, attempt);
                }
                child::exit_like(outcome.status);
            }
            if let Route::List(plan) = &mut self.route {
                demoted.extend(blamed.iter().map(|(u, _)| u.clone()));
                let snap = Snapshot::read(self.process);
                match select::decide(self.env, self.config, snap.as_ref(), &demoted) {
                    Decision::Reorder(p) => *plan = p,
                    Decision::Unchanged(_) => child::exit_like(outcome.status),
                }
            }
            crate::metrics::count_rerun(self.process, blamed.iter().map(|(u, _)| u.as_str()));
            let names: Vec<&str> = blamed.iter().map(|(u, _)| u.as_str()).collect();
            warn!(
                "go failed on proxy errors ({}); running it again (run {} of {attempts})",
                names.join(", "),
                attempt + 1
            );
            std::thread::sleep(backoff(attempt));
        }
        unreachable!("the last attempt always exits")
    }

    /// The upstream proxies to blame for this run's failures (never the relay
    /// itself: its URL holds the token), recorded in the health snapshot
    /// together with everything else the relay saw (passive health checks).
    fn blame_and_record(
        &self,
        diagnosis: &failover::Diagnosis,
        stderr: &str,
    ) -> Vec<(String, ErrorClass)> {
        let mut observations: Vec<Observation> = Vec::new();
        let mut blamed: Vec<(String, ErrorClass)> = Vec::new();
        match &self.route {
            Route::Relay(relay, _) => {
                crate::metrics::count_failovers(self.process, &relay.failure_counts());
                relay.blame(&failover::rejected_paths(stderr));
                for obs in relay.take_observations() {
                    if let Err(class) = obs.result {
                        blamed.push((obs.url.clone(), class));
                    }
                    observations.push(obs);
                }
            }
            Route::List(plan) => {
                blamed.extend(diagnosis.transient.iter().cloned());
                // go names no proxy for content it rejects: the first in line served it.
                if let (true, Some(first)) = (diagnosis.broken_content, plan.order.first())
                    && blamed.is_empty()
                {
                    blamed.push((first.key(), ErrorClass::BadZip));
                }
                observations.extend(blamed.iter().map(|(url, class)| Observation {
                    url: url.clone(),
                    result: Err(*class),
                    latency: None,
                    sumdb: None,
                    serves_modules: None,
                }));
            }
        }
        if !observations.is_empty()
            && let Err(e) = health::snapshot::record(self.process, &observations, false)
        {
            debug!("cannot record proxy health: {e}");
        }
        blamed
    }
}

/// After go failed: one account of the proxies, only when go failed because of them.
fn report_proxy_failures(
    diagnosis: &failover::Diagnosis,
    exhausted: bool,
    relay_account: &[String],
    failed: &[(String, ErrorClass)],
    runs: u32,
) {
    if diagnosis.transient.is_empty() {
        return; // go failed for reasons of its own (a compile error, a test)
    }
    if exhausted {
        warn!(
            "no proxy could serve go: {}; see 'goshim doctor'",
            relay_account.join("; ")
        );
    } else if !relay_account.is_empty() {
        warn!(
            "proxies failed: {}; see 'goshim status'",
            relay_account.join("; ")
        );
    } else if !failed.is_empty() {
        let list: Vec<String> = failed.iter().map(|(u, c)| format!("{u} ({c})")).collect();
        warn!(
            "proxies failed in {runs} run(s): {}; see 'goshim status'",
            list.join(", ")
        );
    }
}

/// The last tier was used: say so once, since go cannot tell.
fn report_local_answers(n: u32) {
    if n > 0 {
        let answers = if n == 1 { "answer" } else { "answers" };
        warn!(
            "every proxy failed; {n} {answers} came from the local module cache, which may not list the newest versions"
        );
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

//! The planner: what the shim does with a go command that may reach the
//! proxies, as a pure function of what is known. `shim::main` carries the plan
//! out and `goshim status` prints it, so the two cannot drift apart.
//!
//! The cheap exits come before it, in `shim::main` (GOSHIM_DISABLE, a go under
//! goshim's relay, commands that never fetch and switch no toolchain): they
//! must not pay for the config file, the go env cache or the snapshot that
//! the planner needs. A passthrough that makes go download a toolchain pays
//! for the go env cache, and for the rest only when the toolchain is not
//! unpacked yet.

use super::command::Kind;
use crate::go::goenv::GoEnv;
use crate::health::Snapshot;
use crate::health::select::{self, Decision, Plan};
use crate::settings::config::Config;

/// What the shim does.
#[derive(Debug, PartialEq)]
pub enum Action {
    /// Run go with the environment untouched, for this reason.
    Exec(&'static str),
    /// Run go with GOPROXY set to the health-ordered list; nothing is left to
    /// do after it, so go replaces the shim.
    ExecOrdered(Plan),
    /// Stay go's parent: GOPROXY is the relay (or the health-ordered list),
    /// and a retryable failure runs go again, up to `attempts` runs.
    Supervise {
        plan: Plan,
        relay: bool,
        attempts: u32,
    },
}

/// The plan for a command of `kind` (`Passthrough` here means: a command
/// that fetches nothing itself but makes go download a toolchain first).
/// `relay`: whether the relay is wanted and could start.
pub fn decide(
    kind: Kind,
    config: &Config,
    env: &GoEnv,
    snap: Option<&Snapshot>,
    relay: bool,
) -> Action {
    let plan = match select::decide(env, config, snap, &[]) {
        Decision::Unchanged(why) => return Action::Exec(why),
        Decision::Reorder(plan) => plan,
    };
    // A toolchain download is fetched by a `go version` of goshim's own: safe to repeat.
    let attempts = match kind {
        Kind::FetchRetryable | Kind::Passthrough => config.attempts,
        Kind::FetchOnce => 1,
    };
    if relay {
        return Action::Supervise {
            plan,
            relay: true,
            attempts,
        };
    }
    // Without the relay, private paths pin the user's own list.
    if let Some(why) = select::env_only_lock(env) {
        return Action::Exec(why);
    }
    if kind != Kind::Passthrough && attempts <= 1 {
        return Action::ExecOrdered(plan);
    }
    Action::Supervise {
        plan,
        relay: false,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(goproxy: &str, private: &str) -> GoEnv {
        GoEnv::from_pairs(&[
            ("GOPROXY", goproxy),
            ("GOPRIVATE", private),
            ("GOFLAGS", ""),
        ])
    }

    fn action(kind: Kind, goproxy: &str, private: &str, relay: bool, attempts: u32) -> String {
        let config = Config {
            attempts,
            ..Config::default()
        };
        match decide(kind, &config, &env(goproxy, private), None, relay) {
            Action::Exec(why) => format!("exec: {why}"),
            Action::ExecOrdered(plan) => format!("exec {}", plan.goproxy()),
            Action::Supervise {
                plan,
                relay,
                attempts,
            } => format!(
                "supervise relay={relay} attempts={attempts} {}",
                plan.goproxy()
            ),
        }
    }

    #[test]
    fn decision_table() {
        use Kind::*;
        let two = "https://a.example,https://b.example";
        let pipes = "https://a.example|https://b.example";
        // With the relay: always supervised; re-runs only for retryable commands.
        assert_eq!(
            action(FetchRetryable, two, "", true, 3),
            format!("supervise relay=true attempts=3 {pipes}")
        );
        assert_eq!(
            action(FetchOnce, two, "", true, 3),
            format!("supervise relay=true attempts=1 {pipes}")
        );
        assert_eq!(
            action(Passthrough, two, "", true, 3),
            format!("supervise relay=true attempts=3 {pipes}")
        );
        // Without it: go replaces the shim when nothing is left to do after it.
        assert_eq!(
            action(FetchOnce, two, "", false, 3),
            format!("exec {pipes}")
        );
        assert_eq!(
            action(FetchRetryable, two, "", false, 1),
            format!("exec {pipes}")
        );
        assert_eq!(
            action(FetchRetryable, two, "", false, 3),
            format!("supervise relay=false attempts=3 {pipes}")
        );
        // A toolchain download is never handed the reordered list to keep.
        assert_eq!(
            action(Passthrough, two, "", false, 1),
            format!("supervise relay=false attempts=1 {pipes}")
        );
        // Private paths reaching proxies pin the user's list without the relay only.
        assert!(
            action(FetchRetryable, two, "corp.example", false, 3).starts_with("exec: GOPRIVATE")
        );
        assert!(action(FetchRetryable, two, "corp.example", true, 3).starts_with("supervise"));
        // Nothing to reorder.
        assert!(action(FetchRetryable, "off", "", true, 3).starts_with("exec: "));
        assert!(action(FetchRetryable, "direct", "", true, 3).starts_with("exec: "));
    }
}

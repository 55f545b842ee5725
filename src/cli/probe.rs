//! `goshim probe [--json] [--background]`.

use super::context::Context;
use crate::health::select::{self, Decision};
use crate::health::{self, State};
use crate::log::warn;
use crate::probe::{self, background, samples};
use crate::settings::vars::Env;
use crate::upstream::goauth::Auth;

/// Exit 0 when at least one candidate is usable, 1 when none is.
pub fn run(process: &Env, flags: &[String]) -> i32 {
    let quiet = flags.iter().any(|f| f == "--background");
    let ctx = match Context::load(process) {
        Ok(c) => c,
        Err(code) => return code,
    };
    if ctx.candidates.is_empty() {
        if !quiet {
            warn!("no proxies to probe: GOPROXY has none and GOSHIM_PROXIES/config add none");
        }
        return 1;
    }
    // One probe at a time; a background refresh gives up if one is running.
    let Some(_lock) = background::lock(process, !quiet) else {
        return 0;
    };
    let sumdb = ctx.sumdb_name();
    let samples = samples::for_here(process, Some(&ctx.env), &ctx.config);
    let observations = probe::probe_all(&probe::Request {
        proxies: &ctx.candidates,
        samples: &samples.list,
        sumdb: sumdb.as_deref(),
        deadline: ctx.config.probe_timeout,
        credentials: &Auth::for_go(ctx.env.get("GOVERSION"), ctx.env.get("GOAUTH"), process),
    });
    crate::metrics::count_probes(process, &observations);
    let snap = match health::snapshot::record(process, &observations, true) {
        Ok(s) => s,
        Err(e) => {
            if !quiet {
                warn!("cannot save the health snapshot: {e}; check GOSHIM_CACHE_DIR");
            }
            return 1;
        }
    };
    let usable = observations.iter().any(|o| {
        snap.get(&o.url)
            .is_some_and(|h| samples::counts(h.state == State::Down, h.serves_modules))
    });
    if quiet {
        return i32::from(!usable);
    }
    let order = match select::decide(&ctx.env, &ctx.config, Some(&snap), &[]) {
        Decision::Reorder(plan) => plan.order,
        Decision::Unchanged(_) => ctx.candidates.clone(),
    };
    if flags.iter().any(|f| f == "--json") {
        let doc: Vec<_> = order.iter().filter_map(|p| snap.get(&p.key())).collect();
        println!("{}", serde_json::to_string_pretty(&doc).unwrap_or_default());
    } else {
        super::status::print_table(&order, Some(&snap));
        println!("\nsample modules: {}", samples::describe(&samples.list));
        println!("a proxy serves modules when it lists at least one of them");
        if !usable && observations.iter().any(|o| o.result.is_ok()) {
            warn!("{}", samples::none_served(&samples.list));
        }
    }
    i32::from(!usable)
}

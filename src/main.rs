//! goshim: a `go` toolchain shim. Started as `go` it is the shim; as `goshim`, the CLI.
//!
//! Layout: `discovery` (the real go), `command` (what a go command may do),
//! `goenv` (effective Go settings, cached), `health` (snapshot and score),
//! `probe` (probing and background refresh), `select` (GOPROXY ordering),
//! `failover` (reading go's errors), `child` (exec and supervision),
//! `shim` (the go personality), `cli` (the goshim personality),
//! `presets` (well-known public mirrors), `config_edit` (`goshim use`),
//! `doctor` (ranking, freshness, TLS and setup checks), `metrics` (counters
//! and the Prometheus text format), `upstream` (one proxy endpoint: URL and
//! credentials, for the relay and the probes alike), `error_class` (what went
//! wrong with a proxy).

mod basic_auth;
mod child;
mod cli;
mod command;
mod config;
mod config_edit;
mod discovery;
mod doctor;
mod env_vars;
mod error_class;
mod failover;
mod goenv;
mod health;
mod log;
mod metrics;
mod module_path;
mod netrc;
mod paths;
mod presets;
mod probe;
mod proxy_list;
mod relay;
mod select;
mod shim;
mod state_file;
mod tls;
mod toolchain;
mod upstream;

use std::ffi::OsString;
use std::path::Path;

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    if started_as_go(&argv0) {
        shim::main(rest)
    } else {
        cli::main(rest)
    }
}

/// The personality comes from the name we were started as (file stem of argv[0]).
fn started_as_go(argv0: &OsString) -> bool {
    let forced = std::env::var_os(env_vars::GOSHIM_FORCE_ARG0);
    let name = forced.as_ref().unwrap_or(argv0);
    Path::new(name).file_stem().is_some_and(|stem| stem == "go")
}

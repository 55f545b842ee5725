//! goshim's entry point: the personality comes from the name it was started
//! as (the file stem of argv[0]): `go` is the shim, anything else the CLI.

use std::ffi::OsString;
use std::path::Path;

use goshim::settings::vars::{self, Env};

fn main() {
    // The only read of the process environment: everything below gets `&Env`.
    let process = Env::capture();
    goshim::log::init(&process);
    goshim::upstream::tls::init(&process);
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    if started_as_go(&process, &argv0) {
        goshim::shim::main(&process, rest)
    } else {
        goshim::cli::main(&process, rest)
    }
}

/// The file stem of argv[0], unless a test forces another name.
fn started_as_go(process: &Env, argv0: &OsString) -> bool {
    let name = process.get_os(vars::GOSHIM_FORCE_ARG0).unwrap_or(argv0);
    Path::new(name).file_stem().is_some_and(|stem| stem == "go")
}

//! goshim's entry point: the personality comes from the name it was started
//! as (the file stem of argv[0]): `go` is the shim, anything else the CLI.

use std::ffi::OsString;
use std::path::Path;

use goshim::settings::vars;

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    if started_as_go(&argv0) {
        goshim::shim::main(rest)
    } else {
        goshim::cli::main(rest)
    }
}

/// The file stem of argv[0], unless a test forces another name.
fn started_as_go(argv0: &OsString) -> bool {
    let forced = std::env::var_os(vars::GOSHIM_FORCE_ARG0);
    let name = forced.as_ref().unwrap_or(argv0);
    Path::new(name).file_stem().is_some_and(|stem| stem == "go")
}

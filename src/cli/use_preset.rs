//! `goshim use <preset>`: opt in to a preset of public mirrors by writing
//! `preset = "<name>"` to the config file (`goshim use none` removes it).

use crate::log::warn;
use crate::settings::vars::{self, Env};
use crate::{settings::edit, settings::paths, settings::presets};

pub fn run(process: &Env, args: &[String]) -> i32 {
    let mirrors = match presets::mirrors(process) {
        Ok(m) => m,
        Err(e) => {
            warn!("{e}");
            return 2;
        }
    };
    let known = presets::names(&mirrors).join(", ");
    let name = match args {
        [name] if !name.starts_with('-') => name.as_str(),
        _ => {
            warn!("usage: goshim use <preset>; known presets: {known} ('none' removes the preset)");
            return 2;
        }
    };
    let chosen = if name == presets::NONE {
        Vec::new()
    } else {
        match presets::resolve(&mirrors, name) {
            Ok(list) => list,
            Err(e) => {
                warn!("{e} ('none' removes the preset)");
                return 2;
            }
        }
    };
    let Some(path) = paths::config_file(process) else {
        warn!("no config file location: set HOME or GOSHIM_CONFIG");
        return 1;
    };
    let value = (name != presets::NONE).then_some(name);
    let written = match edit::set_preset(&path, value) {
        Ok(p) => p,
        Err(e) => {
            warn!("{e}");
            return 1;
        }
    };
    match value {
        None => println!("preset removed from {}", written.display()),
        Some(name) => {
            println!(
                "preset {name} written to {}: {} mirror(s) are now candidates besides your GOPROXY proxies \
                 (the relay tries all in health order; private module paths go only to yours):",
                written.display(),
                chosen.len()
            );
            for m in &chosen {
                let sumdb = if m.sumdb {
                    "serves sum.golang.org"
                } else {
                    "checksum database support not known"
                };
                println!("  {}  ({sumdb})", m.url);
            }
            println!("run 'goshim doctor' to probe and rank them");
        }
    }
    if let Some(v) = process.non_empty(vars::GOSHIM_PRESET) {
        warn!(
            "{}={v} is set and wins over the config file in this environment",
            vars::GOSHIM_PRESET
        );
    }
    0
}

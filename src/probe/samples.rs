//! The modules every probe asks each proxy for (`<module>/@v/list`), and
//! where each comes from. They define "serves modules" for `goshim probe`
//! and `goshim doctor` alike: a proxy serves modules when it lists at least
//! one of them. A private or partial mirror is a normal company setup, so
//! inside a module the list also holds the first requirements of its go.mod:
//! the modules the user actually needs.

use serde::{Deserialize, Serialize};

use crate::go::goenv::GoEnv;
use crate::go::{mod_file, module_path};
use crate::settings::config::Config;
use crate::settings::vars::Env;

/// At most this many of go.mod's requirements are asked (direct ones come
/// first in a tidy go.mod); each is one more request per proxy.
const FROM_GO_MOD: usize = 3;

/// Why a module is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// GOSHIM_PROBE_MODULE / `probe_module` (default golang.org/x/text): its
    /// request is the health check.
    ProbeModule,
    /// A requirement of the go.mod (or go.work) go reads here, fetched
    /// through a proxy (not GONOPROXY, not replaced).
    GoMod,
    /// GOSHIM_DOCTOR_MODULES / `doctor_modules`.
    DoctorModules,
}

impl Source {
    fn label(self) -> &'static str {
        match self {
            Source::ProbeModule => "probe module",
            Source::GoMod => "go.mod",
            Source::DoctorModules => "doctor_modules",
        }
    }

    /// A 404/410 for this module, while every other proxy lists it, marks
    /// the proxy dead. Not for the user's own requirements: a public mirror
    /// rightly has none of a company's private modules.
    pub fn condemns(self) -> bool {
        self != Source::GoMod
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub module: String,
    pub source: Source,
}

/// The samples, probe module first; `invalid` holds configured paths that
/// are not module paths (the doctor reports them).
#[derive(Debug, Default)]
pub struct Samples {
    pub list: Vec<Sample>,
    pub invalid: Vec<String>,
}

/// The module paths, in order.
pub fn modules(samples: &[Sample]) -> Vec<String> {
    samples.iter().map(|s| s.module.clone()).collect()
}

/// The samples for a probe run from the process's current folder.
pub fn for_here(process: &Env, env: Option<&GoEnv>, config: &Config) -> Samples {
    choose(
        &config.probe_module,
        &requirements(process, env),
        &config.doctor_modules,
    )
}

/// The probe module, then up to `FROM_GO_MOD` requirements, then the doctor's
/// samples; each module once.
pub fn choose(probe_module: &str, requirements: &[String], doctor_modules: &[String]) -> Samples {
    let configured = std::iter::once((probe_module, Source::ProbeModule))
        .chain(requirements.iter().map(|m| (m.as_str(), Source::GoMod)))
        .chain(
            doctor_modules
                .iter()
                .map(|m| (m.as_str(), Source::DoctorModules)),
        );
    let mut out = Samples::default();
    let mut from_go_mod = 0;
    for (module, source) in configured {
        if !is_module_path(module) {
            if source != Source::GoMod {
                out.invalid.push(module.to_string());
            }
            continue;
        }
        if out.list.iter().any(|s| s.module == module)
            || (source == Source::GoMod && from_go_mod == FROM_GO_MOD)
        {
            continue;
        }
        from_go_mod += usize::from(source == Source::GoMod);
        out.list.push(Sample {
            module: module.to_string(),
            source,
        });
    }
    out
}

/// Requirements of the main module(s) here that go fetches through a proxy.
fn requirements(process: &Env, env: Option<&GoEnv>) -> Vec<String> {
    let Some(file) = mod_file::for_command(process, &[]) else {
        return Vec::new();
    };
    let direct = env.map_or("", GoEnv::direct_patterns);
    mod_file::main_modules(&file)
        .requirements
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| !module_path::matches_any(direct, path))
        .collect()
}

/// Whether a proxy serves modules, from its answers to the samples (in
/// order): Some(true) when it lists one, Some(false) when it answered
/// 404/410 for every one, None when it gave no such answer (an error, a
/// redirect: the benefit of the doubt).
pub fn serves(answers: impl IntoIterator<Item = Option<bool>>) -> Option<bool> {
    let mut seen = None;
    for listed in answers.into_iter().flatten() {
        if listed {
            return Some(true);
        }
        seen = Some(false);
    }
    seen
}

/// Whether a proxy counts for the exit status of `goshim probe` and
/// `goshim doctor`: not down, and not 404/410 for every sample.
pub fn counts(down: bool, serves_modules: Option<bool>) -> bool {
    !down && serves_modules != Some(false)
}

/// "golang.org/x/text (probe module), corp.example/lib (go.mod), ...".
pub fn describe(samples: &[Sample]) -> String {
    samples
        .iter()
        .map(|s| format!("{} ({})", s.module, s.source.label()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What to do when no proxy in use serves any sample: the same words from
/// `goshim probe` and `goshim doctor`.
pub fn none_served(samples: &[Sample]) -> String {
    format!(
        "no healthy proxy serves modules: those that answer list none of {} (404/410)\n\
         next: inside your module, goshim also asks for go.mod's first requirements; \
         for a proxy of private modules only, set GOSHIM_PROBE_MODULE (probe_module in the config) to one of its modules; \
         otherwise add public mirrors after your own: 'goshim use global' ('goshim use cn' in mainland China), \
         or for go itself go env -w GOPROXY=<your proxies>,https://proxy.golang.org,direct (yours kept first)",
        describe(samples)
    )
}

fn is_module_path(m: &str) -> bool {
    !m.is_empty()
        && m.len() <= 500
        && !m.starts_with(['/', '.', '-'])
        && !m.contains("..")
        && !m.contains("//")
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/+".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn probe_module_first_then_three_requirements_then_doctor_modules() {
        let s = choose(
            "golang.org/x/text",
            &strings(&[
                "corp.example/a",
                "golang.org/x/text",
                "corp.example/b",
                "x.io/c",
                "x.io/d",
            ]),
            &strings(&["golang.org/x/net", "../bad", "corp.example/a"]),
        );
        let got: Vec<(&str, Source)> = s
            .list
            .iter()
            .map(|s| (s.module.as_str(), s.source))
            .collect();
        assert_eq!(
            got,
            [
                ("golang.org/x/text", Source::ProbeModule),
                ("corp.example/a", Source::GoMod),
                ("corp.example/b", Source::GoMod),
                ("x.io/c", Source::GoMod),
                ("golang.org/x/net", Source::DoctorModules),
            ]
        );
        assert_eq!(s.invalid, ["../bad"]);
        assert_eq!(
            describe(&s.list[..2]),
            "golang.org/x/text (probe module), corp.example/a (go.mod)"
        );
    }

    #[test]
    fn serves_when_one_is_listed_not_when_all_are_missing() {
        assert_eq!(serves([Some(false), None, Some(true)]), Some(true));
        assert_eq!(serves([Some(false), None, Some(false)]), Some(false));
        assert_eq!(serves([None, None]), None);
        assert_eq!(serves([]), None);
    }
}

//! goshim's own settings: the optional config file, overridden by GOSHIM_* variables.
//!
//! ```toml
//! # ~/.config/goshim/config.toml
//! proxies = ["https://goproxy.cn", "https://goproxy.io"]  # extra candidates
//! probe_module = "golang.org/x/text"
//! probe_timeout_ms = 3000
//! ttl_seconds = 600
//! attempts = 3
//! relay = true                  # per-request failover through a loopback relay
//! prefetch = true               # the relay fetches ahead of go's requests
//! connect_timeout_ms = 5000     # relay deadlines per upstream request
//! response_timeout_ms = 15000
//! stall_timeout_ms = 15000
//! hedge_delay_ms = 1000         # ask the next upstream too after this long; 0 = never (default: adaptive)
//! preset = "cn"                 # well-known public mirrors as extra candidates (see presets)
//! doctor_modules = ["golang.org/x/net"]  # index freshness samples for goshim doctor
//! ```

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::relay::{Deadlines, Hedge};
use crate::settings::vars::{self, Env};
use crate::{go::proxy_list, settings::paths, settings::presets};

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    proxies: Option<Vec<String>>,
    probe_module: Option<String>,
    probe_timeout_ms: Option<toml::Value>,
    ttl_seconds: Option<u64>,
    attempts: Option<u32>,
    relay: Option<bool>,
    prefetch: Option<bool>,
    connect_timeout_ms: Option<toml::Value>,
    response_timeout_ms: Option<toml::Value>,
    stall_timeout_ms: Option<toml::Value>,
    hedge_delay_ms: Option<u64>,
    preset: Option<String>,
    doctor_modules: Option<Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Extra candidate proxies (validated URLs), after the user's GOPROXY entries.
    pub extra_proxies: Vec<String>,
    pub probe_module: String,
    pub probe_timeout: Duration,
    /// How long a probe result stays fresh; zero disables background refresh.
    pub ttl: Duration,
    /// Runs of a retryable command, the first included.
    pub attempts: u32,
    /// Serve go through the loopback relay (else: health-ordered GOPROXY list only).
    pub relay: bool,
    /// Let the relay fetch ahead of go's requests.
    pub prefetch: bool,
    pub deadlines: Deadlines,
    /// When the relay asks a second upstream for a request the first has not answered.
    pub hedge: Hedge,
    /// The chosen preset of public mirrors, if any (never "none").
    pub preset: Option<String>,
    /// Its mirrors: candidates after the extra proxies.
    pub preset_proxies: Vec<String>,
    /// Modules `goshim doctor` compares across proxies, besides the probe module.
    pub doctor_modules: Vec<String>,
    /// Settings that were not used, and why (a timeout of zero, say): one
    /// line each for stderr; the defaults stand in for them.
    pub warnings: Vec<String>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            extra_proxies: Vec::new(),
            probe_module: "golang.org/x/text".to_string(),
            probe_timeout: Duration::from_millis(3000),
            ttl: Duration::from_secs(600),
            attempts: 3,
            relay: true,
            prefetch: true,
            deadlines: Deadlines {
                connect: Duration::from_millis(5000),
                response: Duration::from_millis(15000),
                stall: Duration::from_millis(15000),
            },
            hedge: Hedge::Adaptive,
            preset: None,
            preset_proxies: Vec::new(),
            doctor_modules: vec!["golang.org/x/net".into(), "github.com/google/uuid".into()],
            warnings: Vec::new(),
        }
    }
}

impl Config {
    /// Reads the config file (if any) and the GOSHIM_* variables. An error names
    /// the file or variable at fault and what is wrong with it.
    pub fn load(process: &Env) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(path) = paths::config_file(process) {
            config.apply_file(&path)?;
        }
        if let Some(list) = process.non_empty(vars::GOSHIM_PROXIES) {
            config.extra_proxies = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|u| proxy_list::validate_url(u).map_err(|e| format!("GOSHIM_PROXIES: {e}")))
                .collect::<Result<_, _>>()?;
        }
        if let Some(m) = process.non_empty(vars::GOSHIM_PROBE_MODULE) {
            config.probe_module = m;
        }
        if let Some(s) = number(process, vars::GOSHIM_TTL)? {
            config.ttl = Duration::from_secs(s);
        }
        if let Some(n) = number(process, vars::GOSHIM_ATTEMPTS)? {
            config.attempts = n.clamp(1, 10) as u32;
        }
        if let Some(v) = process.non_empty(vars::GOSHIM_RELAY) {
            config.relay = !vars::means_no(&v);
        }
        if let Some(v) = process.non_empty(vars::GOSHIM_PREFETCH) {
            config.prefetch = !vars::means_no(&v);
        }
        let d = &mut config.deadlines;
        for (var, slot) in [
            (vars::GOSHIM_PROBE_TIMEOUT_MS, &mut config.probe_timeout),
            (vars::GOSHIM_CONNECT_TIMEOUT_MS, &mut d.connect),
            (vars::GOSHIM_RESPONSE_TIMEOUT_MS, &mut d.response),
            (vars::GOSHIM_STALL_TIMEOUT_MS, &mut d.stall),
        ] {
            if let Some(v) = process.non_empty(var) {
                let ms = v.trim().parse::<u64>().ok().filter(|&ms| ms > 0);
                if let Some(warning) = set_timeout(slot, ms, &format!("{var}={v}")) {
                    config.warnings.push(warning);
                }
            }
        }
        if let Some(ms) = number(process, vars::GOSHIM_HEDGE_DELAY_MS)? {
            config.hedge = Hedge::from_ms(ms);
        }
        if let Some(list) = process.non_empty(vars::GOSHIM_DOCTOR_MODULES) {
            config.doctor_modules = modules(list.split(','));
        }
        if let Some(name) = process.non_empty(vars::GOSHIM_PRESET) {
            config.preset = Some(name.trim().to_string());
        }
        config.preset = config.preset.take().filter(|p| p != presets::NONE);
        if let Some(name) = &config.preset {
            config.preset_proxies = presets::urls(process, name).map_err(|e| {
                match process.non_empty(vars::GOSHIM_PRESET) {
                    Some(_) => format!("{}: {e}", vars::GOSHIM_PRESET),
                    None => match paths::config_file(process) {
                        Some(p) => format!("{}: {e}", p.display()),
                        None => e,
                    },
                }
            })?;
        }
        Ok(config)
    }

    fn apply_file(&mut self, path: &PathBuf) -> Result<(), String> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let file: File = toml::from_str(&text).map_err(|e| {
            let msg = e.message().to_string();
            format!("{} is not valid: {msg}", path.display())
        })?;
        if let Some(list) = file.proxies {
            self.extra_proxies = list
                .iter()
                .map(|u| {
                    proxy_list::validate_url(u).map_err(|e| format!("{}: {e}", path.display()))
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(m) = file.probe_module {
            self.probe_module = m;
        }
        if let Some(s) = file.ttl_seconds {
            self.ttl = Duration::from_secs(s);
        }
        if let Some(n) = file.attempts {
            self.attempts = n.clamp(1, 10);
        }
        if let Some(on) = file.relay {
            self.relay = on;
        }
        if let Some(on) = file.prefetch {
            self.prefetch = on;
        }
        let d = &mut self.deadlines;
        for (key, value, slot) in [
            (
                "probe_timeout_ms",
                file.probe_timeout_ms,
                &mut self.probe_timeout,
            ),
            (
                "connect_timeout_ms",
                file.connect_timeout_ms,
                &mut d.connect,
            ),
            (
                "response_timeout_ms",
                file.response_timeout_ms,
                &mut d.response,
            ),
            ("stall_timeout_ms", file.stall_timeout_ms, &mut d.stall),
        ] {
            if let Some(value) = value {
                let ms = value
                    .as_integer()
                    .filter(|&ms| ms > 0)
                    .and_then(|ms| u64::try_from(ms).ok());
                let shown = match &value {
                    toml::Value::Integer(n) => n.to_string(),
                    toml::Value::String(text) => format!("{text:?}"),
                    other => format!("a {}", other.type_str()),
                };
                let what = format!("{}: {key} = {shown}", path.display());
                if let Some(warning) = set_timeout(slot, ms, &what) {
                    self.warnings.push(warning);
                }
            }
        }
        if let Some(ms) = file.hedge_delay_ms {
            self.hedge = Hedge::from_ms(ms);
        }
        if let Some(name) = file.preset {
            self.preset = Some(name.trim().to_string());
        }
        if let Some(list) = file.doctor_modules {
            self.doctor_modules = modules(list.iter().map(String::as_str));
        }
        Ok(())
    }
}

/// Module paths, trimmed, empty ones dropped, each once.
fn modules<'a>(list: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for m in list.map(str::trim).filter(|m| !m.is_empty()) {
        if !out.iter().any(|o| o == m) {
            out.push(m.to_string());
        }
    }
    out
}

/// Sets a timeout to `ms`; or, when it is no positive whole number of
/// milliseconds (zero would fail every request at once), leaves it as it
/// was (the default, or the config file's) and says so.
fn set_timeout(slot: &mut Duration, ms: Option<u64>, what: &str) -> Option<String> {
    match ms {
        Some(ms) => {
            *slot = Duration::from_millis(ms);
            None
        }
        None => Some(format!(
            "{what} is not a positive whole number of milliseconds; using {} ms",
            slot.as_millis()
        )),
    }
}

fn number(process: &Env, var: &str) -> Result<Option<u64>, String> {
    match process.non_empty(var) {
        None => Ok(None),
        Some(v) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("{var}={v} is not a whole number")),
    }
}

/// `0`, `off`, `false`, `no`: the switch is off.
#[cfg(test)]
mod tests {
    use super::*;

    /// Config from these variables only (no config file anywhere).
    fn load(pairs: &[(&str, &str)]) -> Result<Config, String> {
        Config::load(&Env::from_pairs(pairs))
    }

    #[test]
    fn defaults_without_file_or_variables() {
        let c = load(&[]).unwrap();
        assert_eq!(c.attempts, 3);
        assert!(c.relay && c.prefetch);
        assert_eq!(c.probe_module, "golang.org/x/text");
        assert!(c.extra_proxies.is_empty() && c.preset.is_none());
    }

    #[test]
    fn variables_override_defaults_and_empty_is_unset() {
        let c = load(&[
            ("GOSHIM_PROXIES", " https://a.example , ,https://b.example/"),
            ("GOSHIM_ATTEMPTS", "99"),
            ("GOSHIM_TTL", " 0 "),
            ("GOSHIM_RELAY", "off"),
            ("GOSHIM_PREFETCH", ""),
            ("GOSHIM_PROBE_TIMEOUT_MS", "0"),
            ("GOSHIM_DOCTOR_MODULES", "x.example/m,,x.example/m"),
            ("GOSHIM_PROBE_MODULE", ""),
        ])
        .unwrap();
        assert_eq!(c.extra_proxies.len(), 2);
        assert_eq!(c.attempts, 10, "clamped");
        assert!(c.ttl.is_zero());
        assert!(!c.relay);
        assert!(c.prefetch, "empty is unset");
        assert_eq!(
            c.probe_timeout,
            Duration::from_millis(3000),
            "0 is no deadline"
        );
        assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
        assert_eq!(c.doctor_modules, ["x.example/m"]);
        assert_eq!(c.probe_module, "golang.org/x/text");
    }

    #[test]
    fn zero_negative_or_unreadable_timeouts_keep_the_default_and_say_so() {
        let c = load(&[
            ("GOSHIM_CONNECT_TIMEOUT_MS", "-5"),
            ("GOSHIM_RESPONSE_TIMEOUT_MS", "0"),
            ("GOSHIM_STALL_TIMEOUT_MS", "soon"),
            ("GOSHIM_PROBE_TIMEOUT_MS", "250"),
        ])
        .unwrap();
        let d = Config::default().deadlines;
        assert_eq!(c.deadlines.connect, d.connect);
        assert_eq!(c.deadlines.response, d.response);
        assert_eq!(c.deadlines.stall, d.stall);
        assert_eq!(c.probe_timeout, Duration::from_millis(250));
        assert_eq!(
            c.warnings,
            [
                "GOSHIM_CONNECT_TIMEOUT_MS=-5 is not a positive whole number of milliseconds; using 5000 ms",
                "GOSHIM_RESPONSE_TIMEOUT_MS=0 is not a positive whole number of milliseconds; using 15000 ms",
                "GOSHIM_STALL_TIMEOUT_MS=soon is not a positive whole number of milliseconds; using 15000 ms",
            ]
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        let text = "response_timeout_ms = 0\nconnect_timeout_ms = -1\nstall_timeout_ms = \"x\"\nprobe_timeout_ms = 700\n";
        std::fs::write(&file, text).unwrap();
        let f = file.to_str().unwrap();
        let c = load(&[("GOSHIM_CONFIG", f), ("GOSHIM_STALL_TIMEOUT_MS", "0")]).unwrap();
        assert_eq!(c.deadlines.response, d.response);
        assert_eq!(c.deadlines.connect, d.connect);
        assert_eq!(c.deadlines.stall, d.stall);
        assert_eq!(c.probe_timeout, Duration::from_millis(700));
        assert_eq!(c.warnings.len(), 4, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with(&format!("{f}: connect_timeout_ms = -1 is not")));
        assert!(c.warnings[1].starts_with(&format!("{f}: response_timeout_ms = 0 is not")));
        assert!(c.warnings[2].starts_with(&format!("{f}: stall_timeout_ms = \"x\" is not")));
        // A good file value stands when the variable is bad.
        std::fs::write(&file, "response_timeout_ms = 4000\n").unwrap();
        let c = load(&[("GOSHIM_CONFIG", f), ("GOSHIM_RESPONSE_TIMEOUT_MS", "0")]).unwrap();
        assert_eq!(c.deadlines.response, Duration::from_millis(4000));
        assert!(c.warnings[0].ends_with("using 4000 ms"), "{:?}", c.warnings);
    }

    #[test]
    fn bad_variables_are_named() {
        let e = load(&[("GOSHIM_ATTEMPTS", "three")]).unwrap_err();
        assert_eq!(e, "GOSHIM_ATTEMPTS=three is not a whole number");
        let e = load(&[("GOSHIM_PROXIES", "not a url")]).unwrap_err();
        assert!(e.starts_with("GOSHIM_PROXIES: "), "{e}");
        let e = load(&[("GOSHIM_PRESET", "nope")]).unwrap_err();
        assert!(e.starts_with("GOSHIM_PRESET: "), "{e}");
    }

    #[test]
    fn variables_win_over_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config.toml");
        std::fs::write(&file, "attempts = 5\nrelay = false\npreset = \"nope\"\n").unwrap();
        let file = file.to_str().unwrap();
        let c = load(&[
            ("GOSHIM_CONFIG", file),
            ("GOSHIM_RELAY", "1"),
            ("GOSHIM_PRESET", "none"),
        ])
        .unwrap();
        assert_eq!(c.attempts, 5);
        assert!(c.relay);
        assert_eq!(c.preset, None);
        // The file's bad preset is blamed on the file.
        let e = load(&[("GOSHIM_CONFIG", file)]).unwrap_err();
        assert!(e.starts_with(&format!("{file}: ")), "{e}");
        // The file is found through XDG_CONFIG_HOME too.
        let xdg = dir.path().join("goshim");
        std::fs::create_dir_all(&xdg).unwrap();
        std::fs::write(xdg.join("config.toml"), "attempts = 7\n").unwrap();
        let home = dir.path().to_str().unwrap();
        // (%AppData% on Windows)
        let c = load(&[("XDG_CONFIG_HOME", home), ("APPDATA", home)]).unwrap();
        assert_eq!(c.attempts, 7);
    }
}

//! The setup checks of `goshim doctor`, each with what to do about it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::go::goenv::GoEnv;
use crate::go::proxy_list::{Proxy, ProxyList};
use crate::health::Snapshot;
use crate::log::count;
use crate::platform::Platform;
use crate::settings::config::Config;
use crate::settings::vars::{self, Env};
use crate::shim::discovery::{self, FileId, Seen};
use crate::{settings::paths, settings::presets};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Info,
    Warn,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Info => "info",
            Status::Warn => "warn",
            Status::Fail => "fail",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable identifier, e.g. "shim_on_path".
    pub name: &'static str,
    pub status: Status,
    pub message: String,
    /// What to do, when something should be done.
    pub fix: Option<String>,
}

fn check(name: &'static str, status: Status, message: String, fix: Option<String>) -> Check {
    Check {
        name,
        status,
        message,
        fix,
    }
}

/// What the checks look at.
pub struct Inputs<'a> {
    pub process: &'a Env,
    pub real_go: Result<&'a Path, String>,
    pub config: Result<&'a Config, String>,
    pub env: Option<&'a GoEnv>,
    /// The candidates go calls use.
    pub candidates: &'a [Proxy],
    /// The public mirror list (keys), or why it could not be read.
    pub public: Result<Vec<String>, String>,
    /// Sample modules that are not module paths.
    pub bad_modules: &'a [String],
    pub snapshot_before: Option<&'a Snapshot>,
    /// The snapshot could not be written by this run (why).
    pub snapshot_error: Option<&'a str>,
    pub ttl: Duration,
}

pub fn run(i: &Inputs) -> Vec<Check> {
    let mut out = vec![real_go(i), shim_on_path(i), editor(i.process)];
    out.push(config(i));
    out.push(goproxy(i));
    if let Some(env) = i.env {
        out.push(gosumdb(env));
        out.push(private_proxies(i, env));
        out.push(goflags(env));
        out.push(gotoolchain(i.process, env));
    }
    if !i.bad_modules.is_empty() {
        out.push(check(
            "sample_modules",
            Status::Warn,
            format!(
                "not module paths, skipped: {}",
                i.bad_modules.join(", ").escape_debug()
            ),
            Some("fix doctor_modules in the config file or GOSHIM_DOCTOR_MODULES".into()),
        ));
    }
    out.push(cache_dir(i.process));
    out.push(snapshot(i));
    out
}

fn real_go(i: &Inputs) -> Check {
    let go = match &i.real_go {
        Ok(p) => *p,
        Err(e) => {
            return check(
                "real_go",
                Status::Fail,
                e.clone(),
                Some("install Go (https://go.dev/dl) or set GOSHIM_GO=/path/to/go".into()),
            );
        }
    };
    match go_version(go) {
        None => check(
            "real_go",
            Status::Fail,
            format!("{} version failed", go.display()),
            Some("run it yourself to see why; GOSHIM_GO picks another go".into()),
        ),
        Some(v) => {
            let too_old = minor_version(&v).is_some_and(|m| m < 15);
            check(
                "real_go",
                if too_old { Status::Fail } else { Status::Ok },
                format!("{} is {v}", go.display()),
                too_old.then(|| {
                    "go older than 1.15 cannot move past a failing proxy ('|' lists): upgrade Go"
                        .to_string()
                }),
            )
        }
    }
}

/// `go version` with GOTOOLCHAIN=local (no download), at most 10 s.
fn go_version(go: &Path) -> Option<String> {
    let mut child = Command::new(go)
        .arg("version")
        .env(vars::GOTOOLCHAIN, "local")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return None,
            Ok(None) if started.elapsed() > Duration::from_secs(10) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take()?, &mut text).ok()?;
    // "go version go1.24.1 linux/amd64"
    text.split_whitespace()
        .find(|w| w.starts_with("go1") || w.starts_with("devel"))
        .map(str::to_string)
}

fn minor_version(v: &str) -> Option<u32> {
    v.strip_prefix("go1.")?
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Every executable `go` on PATH, in order, and whether it is goshim.
fn gos_on_path(process: &Env) -> Vec<(PathBuf, bool)> {
    let seen = Seen::current(process);
    let path = process.get_os(vars::PATH).unwrap_or_default();
    let names = discovery::go_names_here(process);
    discovery::candidates(path, &names, None)
        .filter(|p| discovery::is_executable(p))
        .map(|p| {
            let me = FileId::of(&p).is_some_and(|id| seen.contains(id));
            (p, me)
        })
        .collect()
}

/// Where the `go` → goshim link of this install lives, in one of the usual
/// layouts: beside goshim (the release installers: `go`, or `go.exe` on
/// Windows) or in `../shims` (install.sh).
fn shim_path() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let bin = exe.parent()?;
    let name = format!("go{}", std::env::consts::EXE_SUFFIX);
    [bin.join(&name), bin.parent()?.join("shims").join(&name)]
        .into_iter()
        .find(|shim| FileId::of(shim).is_some() && FileId::of(shim) == FileId::of(&exe))
}

fn shim_on_path(i: &Inputs) -> Check {
    let gos = gos_on_path(i.process);
    let shim = gos
        .iter()
        .find(|(_, me)| *me)
        .map(|(p, _)| p.clone())
        .or_else(shim_path);
    let shims_dir = shim
        .as_deref()
        .and_then(Path::parent)
        .map_or("<prefix>/shims".to_string(), |d| d.display().to_string());
    let export = put_first(Platform::CURRENT, &shims_dir);
    match gos.first() {
        Some((first, true)) => {
            let real = i
                .real_go
                .as_ref()
                .map_or("none".to_string(), |p| p.display().to_string());
            check(
                "shim_on_path",
                Status::Ok,
                format!(
                    "go on PATH is goshim ({}); the real go: {real}",
                    first.display()
                ),
                None,
            )
        }
        Some((first, false)) if gos.iter().any(|(_, me)| *me) => {
            let shim_text = shim.as_deref().map(Path::display).map(|p| p.to_string());
            let (message, fix) = bypassed(
                Platform::CURRENT,
                first,
                &shims_dir,
                shim_text.as_deref().unwrap_or("<prefix>/shims/go"),
            );
            check("shim_on_path", Status::Warn, message, Some(fix))
        }
        Some((first, false)) => check(
            "shim_on_path",
            Status::Warn,
            format!(
                "goshim is not on PATH as go: go calls run {} directly",
                first.display()
            ),
            Some(format!("add the shims folder first on PATH: {export}")),
        ),
        None => check(
            "shim_on_path",
            Status::Warn,
            "no go on PATH at all".into(),
            Some(format!("install Go, then {export}")),
        ),
    }
}

/// How to put the shims folder first on PATH.
fn put_first(platform: Platform, shims_dir: &str) -> String {
    match platform {
        Platform::Unix | Platform::MacOs => {
            format!("export PATH=\"{shims_dir}:$PATH\" (in ~/.bashrc or ~/.zshrc; then hash -r)")
        }
        Platform::Windows => format!(
            "put {shims_dir} first in the PATH (Settings > System > About > Advanced system settings > Environment Variables), then open a new terminal"
        ),
    }
}

/// What to say when `first`, a real go, comes before the shim on PATH. On
/// Windows a process's PATH is the machine value followed by the user value,
/// so Go's installer entry in the machine PATH (C:\Program Files\Go\bin)
/// beats any user PATH entry, whatever its place there.
fn bypassed(platform: Platform, first: &Path, shims_dir: &str, shim: &str) -> (String, String) {
    let message = format!(
        "{} comes before goshim on PATH: go calls bypass goshim",
        first.display()
    );
    match platform {
        Platform::Unix | Platform::MacOs => (
            message,
            format!(
                "put the shims folder first: {}",
                put_first(platform, shims_dir)
            ),
        ),
        Platform::Windows => (
            format!(
                "{message}; Windows puts the machine PATH before the user PATH, so a machine-wide Go beats a user PATH entry"
            ),
            format!(
                "for VS Code and gopls, name the shim in your user settings: {}; for every program, put {shims_dir} in the machine PATH before Go's folder (as an administrator)",
                alternate_tools(shim)
            ),
        ),
    }
}

/// The VS Code setting that makes the Go extension and gopls run the shim,
/// ready to paste into settings.json (the backslashes of a Windows path escaped).
fn alternate_tools(shim: &str) -> String {
    let path = serde_json::Value::from(shim).to_string();
    format!("\"go.alternateTools\": {{ \"go\": {path} }}")
}

/// VS Code (and its forks) user settings, then the workspace's.
fn editor_settings_files(process: &Env) -> Vec<PathBuf> {
    let apps = [
        "Code",
        "Code - Insiders",
        "Code - OSS",
        "VSCodium",
        "Cursor",
    ];
    let home = process.non_empty(vars::HOME).map(PathBuf::from);
    // ~/.config on Linux, %AppData% on Windows.
    let mut roots: Vec<PathBuf> = paths::config_home(process).into_iter().collect();
    if cfg!(target_os = "macos")
        && let Some(h) = &home
    {
        roots.push(h.join("Library/Application Support"));
    }
    let mut files: Vec<PathBuf> = roots
        .iter()
        .flat_map(|r| {
            apps.iter()
                .map(move |a| r.join(a).join("User/settings.json"))
        })
        .collect();
    if let Some(cwd) = process.cwd() {
        files.push(cwd.join(".vscode/settings.json"));
    }
    files.into_iter().filter(|f| f.is_file()).collect()
}

fn editor(process: &Env) -> Check {
    let shim = gos_on_path(process)
        .into_iter()
        .find(|(_, me)| *me)
        .map(|(p, _)| p)
        .or_else(shim_path);
    let shim_text = shim
        .as_deref()
        .map_or("<prefix>/shims/go".to_string(), |p| p.display().to_string());
    let alternate = alternate_tools(&shim_text);
    let files = editor_settings_files(process);
    if files.is_empty() {
        return check(
            "editor",
            Status::Info,
            "no VS Code settings found; editors started from a desktop menu do not read ~/.bashrc or ~/.zshrc, so they may run the real go".into(),
            Some(format!("name the shim in the editor's settings, e.g. VS Code: {alternate}")),
        );
    }
    let seen = Seen::current(process);
    let mut good: Option<String> = None;
    for file in &files {
        let Some(settings) = std::fs::read_to_string(file)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&strip_jsonc(&t)).ok())
        else {
            continue;
        };
        let goroot = settings.get("go.goroot").and_then(|v| v.as_str());
        if let Some(goroot) = goroot.filter(|g| !g.trim().is_empty()) {
            return check(
                "editor",
                Status::Warn,
                format!(
                    "{} sets go.goroot={goroot}: the Go extension puts {goroot}/bin first on PATH, so gopls and the extension run the real go and bypass goshim",
                    file.display()
                ),
                Some(format!("remove go.goroot and set {alternate}")),
            );
        }
        let tool = settings
            .get("go.alternateTools")
            .and_then(|t| t.get("go"))
            .and_then(|v| v.as_str());
        if let Some(tool) = tool {
            let expanded = expand_home(process, tool);
            if FileId::of(&expanded).is_some_and(|id| seen.contains(id)) {
                good = Some(format!(
                    "{}: go.alternateTools.go is goshim ({tool})",
                    file.display()
                ));
            } else {
                return check(
                    "editor",
                    Status::Warn,
                    format!(
                        "{}: go.alternateTools.go is {tool}, not goshim: the editor's go calls bypass it",
                        file.display()
                    ),
                    Some(format!("set {alternate}")),
                );
            }
        }
    }
    match good {
        Some(msg) => check("editor", Status::Ok, msg, None),
        None => check(
            "editor",
            Status::Info,
            format!(
                "VS Code settings ({}) name no go: the Go extension runs the go on the PATH it was started with, and a desktop launcher's PATH lacks the shims folder",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(format!("set {alternate}")),
        ),
    }
}

/// `~/`, `${userHome}` and `${env:HOME}` in an editor setting, as the Go extension expands them.
fn expand_home(process: &Env, path: &str) -> PathBuf {
    let Some(home) = process.non_empty(vars::HOME) else {
        return PathBuf::from(path);
    };
    if let Some(rest) = path.strip_prefix("~/") {
        return Path::new(&home).join(rest);
    }
    PathBuf::from(
        path.replace("${userHome}", &home)
            .replace("${env:HOME}", &home),
    )
}

/// JSON with comments and trailing commas (VS Code settings) → JSON.
///
/// A hand scanner rather than a crate: it only has to tell strings, comments
/// and commas apart. A comma is held back until the next significant byte
/// (comments and whitespace skipped) shows it is not trailing. Anything else
/// is copied as is, so invalid input stays invalid for the JSON parser.
pub fn strip_jsonc(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut comma = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i < bytes.len() && !(bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/')) {
                    i += 1;
                }
                i = (i + 2).min(bytes.len());
            }
            b if b.is_ascii_whitespace() => {
                out.push(b);
                i += 1;
            }
            b',' => {
                if comma {
                    out.push(b','); // ",,": keep it invalid
                }
                comma = true;
                i += 1;
            }
            b => {
                if comma && !matches!(b, b'}' | b']') {
                    out.push(b',');
                }
                comma = false;
                let start = i;
                if b == b'"' {
                    i += 1;
                    while i < bytes.len() && bytes[i] != b'"' {
                        i += if bytes[i] == b'\\' { 2 } else { 1 };
                    }
                }
                i = (i + 1).min(bytes.len());
                out.extend_from_slice(&bytes[start..i]);
            }
        }
    }
    if comma {
        out.push(b',');
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn config(i: &Inputs) -> Check {
    let file = paths::config_file(i.process);
    let where_ = file
        .as_ref()
        .map_or("no config file location".to_string(), |f| {
            let state = if f.exists() {
                ""
            } else {
                " (absent: defaults)"
            };
            format!("{}{state}", f.display())
        });
    match &i.config {
        Err(e) => check(
            "config",
            Status::Fail,
            e.clone(),
            Some(
                "fix the file or the variable it names; until then the shim runs go unchanged"
                    .into(),
            ),
        ),
        Ok(c) => {
            let preset = match &c.preset {
                Some(p) => format!(
                    "; preset {p} ({})",
                    count(c.preset_proxies.len(), "mirror", "mirrors")
                ),
                None => String::new(),
            };
            let relay = if c.relay { "relay on" } else { "relay off" };
            check(
                "config",
                Status::Ok,
                format!("{where_}; {relay}{preset}"),
                None,
            )
        }
    }
}

fn goproxy(i: &Inputs) -> Check {
    let Some(env) = i.env else {
        return check(
            "goproxy",
            Status::Fail,
            "cannot read go's settings ('go env -json' failed)".into(),
            Some("run 'go env' yourself to see why".into()),
        );
    };
    let value = crate::go::proxy_list::redact_list(env.get("GOPROXY"));
    let own = ProxyList::parse(env.get("GOPROXY")).proxies.len();
    let added = i.candidates.len().saturating_sub(own);
    if i.candidates.is_empty() {
        return check(
            "goproxy",
            Status::Warn,
            format!("GOPROXY={value}: no proxies, so nothing to rank or fail over"),
            Some("go env -w GOPROXY=https://proxy.golang.org,direct, or 'goshim use cn' / 'goshim use global'".into()),
        );
    }
    check(
        "goproxy",
        Status::Ok,
        format!(
            "GOPROXY={value}; {} of yours, {added} added by goshim's config",
            count(own, "proxy", "proxies")
        ),
        None,
    )
}

fn gosumdb(env: &GoEnv) -> Check {
    let value = env.get("GOSUMDB").trim();
    if value == "off" {
        return check(
            "gosumdb",
            Status::Fail,
            "GOSUMDB=off: downloaded modules are not checked against the checksum database".into(),
            Some("go env -u GOSUMDB (or where sum.golang.org is unreachable: go env -w GOSUMDB=sum.golang.google.cn)".into()),
        );
    }
    let shown = if value.is_empty() {
        "sum.golang.org"
    } else {
        value
    };
    check("gosumdb", Status::Ok, format!("GOSUMDB={shown}"), None)
}

fn private_proxies(i: &Inputs, env: &GoEnv) -> Check {
    let public = match &i.public {
        Ok(p) => p,
        Err(e) => return check("private_proxies", Status::Warn, e.clone(), None),
    };
    let private: Vec<String> = i
        .candidates
        .iter()
        .map(Proxy::key)
        .filter(|k| !public.contains(k))
        .collect();
    let patterns: Vec<String> = ["GOPRIVATE", "GONOSUMDB"]
        .iter()
        .filter(|k| !env.get(k).trim().is_empty())
        .map(|k| format!("{k}={}", env.get(k).trim()))
        .collect();
    match (private.is_empty(), patterns.is_empty()) {
        (true, _) => check(
            "private_proxies",
            Status::Ok,
            "every proxy is a well-known public mirror".into(),
            None,
        ),
        (false, true) => check(
            "private_proxies",
            Status::Warn,
            format!(
                "{} not a well-known public mirror, but neither GOPRIVATE nor GONOSUMDB is set",
                private.join(", ")
            ),
            Some("if it serves private modules: go env -w GOPRIVATE=your.company/* (they then skip the public checksum database, and goshim keeps them on your own proxies)".into()),
        ),
        (false, false) => check(
            "private_proxies",
            Status::Ok,
            format!(
                "private proxy {}; {} (those paths stay on your own proxies)",
                private.join(", "),
                patterns.join(", ")
            ),
            None,
        ),
    }
}

fn goflags(env: &GoEnv) -> Check {
    let value = env.get("GOFLAGS").trim();
    let flags: Vec<&str> = value.split_whitespace().collect();
    if flags
        .iter()
        .any(|f| *f == "-mod=vendor" || *f == "--mod=vendor")
    {
        return check(
            "goflags",
            Status::Info,
            format!(
                "GOFLAGS={value}: modules come from vendor/, nothing is fetched and goshim leaves GOPROXY alone"
            ),
            None,
        );
    }
    if flags
        .iter()
        .any(|f| f.trim_start_matches('-').starts_with("insecure"))
    {
        return check(
            "goflags",
            Status::Warn,
            format!("GOFLAGS={value}: -insecure is gone from go; it fails every command"),
            Some("remove it; GOINSECURE names hosts that may be fetched without TLS".into()),
        );
    }
    let message = if value.is_empty() {
        "GOFLAGS not set".to_string()
    } else {
        format!("GOFLAGS={value}")
    };
    check("goflags", Status::Ok, message, None)
}

/// GOTOOLCHAIN as go sees it: environment, go env file, then $GOROOT/go.env.
fn gotoolchain_value(process: &Env, env: &GoEnv) -> (String, &'static str) {
    let goroot = Some(env.get("GOROOT")).filter(|g| !g.is_empty());
    crate::go::toolchain::gotoolchain_setting(process, goroot.map(Path::new))
        .unwrap_or_else(|| ("auto".into(), "default"))
}

fn gotoolchain(process: &Env, env: &GoEnv) -> Check {
    let (value, from) = gotoolchain_value(process, env);
    let sumdb_off = env.get("GOSUMDB").trim() == "off";
    if value == "local" {
        return check(
            "gotoolchain",
            Status::Ok,
            format!("GOTOOLCHAIN=local ({from}): go never downloads a toolchain"),
            None,
        );
    }
    if sumdb_off {
        return check(
            "gotoolchain",
            Status::Warn,
            format!(
                "GOTOOLCHAIN={value} ({from}) with GOSUMDB=off: toolchain downloads always need the checksum database and will fail"
            ),
            Some(
                "turn the checksum database back on (go env -u GOSUMDB) or set GOTOOLCHAIN=local"
                    .into(),
            ),
        );
    }
    check(
        "gotoolchain",
        Status::Info,
        format!(
            "GOTOOLCHAIN={value} ({from}): go may download a newer toolchain through the proxies when a go.mod asks for one"
        ),
        None,
    )
}

fn cache_dir(process: &Env) -> Check {
    let Some(dir) = paths::cache_dir(process) else {
        return check(
            "cache_dir",
            Status::Fail,
            "no cache folder: HOME is not set".into(),
            Some("set HOME or GOSHIM_CACHE_DIR".into()),
        );
    };
    let probe = dir.join(format!(".doctor.{}.tmp", std::process::id()));
    let result = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    match result {
        Ok(()) => check(
            "cache_dir",
            Status::Ok,
            format!("{} is writable", dir.display()),
            None,
        ),
        Err(e) => check(
            "cache_dir",
            Status::Fail,
            format!("{} is not writable: {e}", dir.display()),
            Some("fix its permissions or set GOSHIM_CACHE_DIR to a writable folder".into()),
        ),
    }
}

fn snapshot(i: &Inputs) -> Check {
    let ttl = i.ttl.as_secs();
    if let Some(e) = i.snapshot_error {
        return check(
            "snapshot",
            Status::Fail,
            format!("cannot write the health snapshot: {e}"),
            Some("check GOSHIM_CACHE_DIR".into()),
        );
    }
    let before = match i.snapshot_before.and_then(|s| s.age().map(|a| (s, a))) {
        None => "there was none before this run".to_string(),
        Some((s, age)) if ttl > 0 && !s.is_stale(i.ttl) => {
            format!("was fresh (probed {}s ago, ttl {ttl}s)", age.as_secs())
        }
        Some((_, age)) => format!("was {}s old", age.as_secs()),
    };
    if ttl == 0 {
        return check(
            "snapshot",
            Status::Info,
            format!(
                "health snapshot {before}; background refresh is off (GOSHIM_TTL=0 or ttl_seconds = 0)"
            ),
            Some("run 'goshim probe' now and then, or set a ttl".into()),
        );
    }
    check(
        "snapshot",
        Status::Ok,
        format!("health snapshot {before}; refreshed by this run"),
        None,
    )
}

/// The public mirror keys, for the private-proxy check.
pub fn public_keys(process: &Env) -> Result<Vec<String>, String> {
    presets::mirrors(process).map(|m| {
        m.iter()
            .map(|m| crate::go::proxy_list::redact(&m.url))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_advice_per_platform() {
        let (unix_message, unix_fix) = bypassed(
            Platform::Unix,
            Path::new("/usr/local/go/bin/go"),
            "/home/u/.goshim/shims",
            "/home/u/.goshim/shims/go",
        );
        assert_eq!(
            unix_message,
            "/usr/local/go/bin/go comes before goshim on PATH: go calls bypass goshim"
        );
        assert_eq!(
            unix_fix,
            "put the shims folder first: export PATH=\"/home/u/.goshim/shims:$PATH\" (in ~/.bashrc or ~/.zshrc; then hash -r)"
        );
        let (message, fix) = bypassed(
            Platform::Windows,
            Path::new(r"C:\Program Files\Go\bin\go.exe"),
            r"C:\Users\u\.goshim\bin",
            r"C:\Users\u\.goshim\bin\go.exe",
        );
        let table = [
            (
                &message,
                r"C:\Program Files\Go\bin\go.exe comes before goshim on PATH",
            ),
            (&message, "machine PATH before the user PATH"),
            // JSON-escaped, ready to paste into settings.json.
            (
                &fix,
                r#""go.alternateTools": { "go": "C:\\Users\\u\\.goshim\\bin\\go.exe" }"#,
            ),
            (
                &fix,
                r"put C:\Users\u\.goshim\bin in the machine PATH before Go's folder",
            ),
        ];
        for (text, part) in table {
            assert!(text.contains(part), "{text:?} lacks {part:?}");
        }
    }

    fn jsonc(text: &str) -> serde_json::Value {
        let stripped = strip_jsonc(text);
        serde_json::from_str(&stripped).unwrap_or_else(|e| panic!("{e}: {stripped}"))
    }

    #[test]
    fn strips_comments_and_trailing_commas_but_not_strings() {
        let text = "{\n // note\n \"a\": \"x//y, }\", /* c */\n \"b\": [1, 2,],\n}\n";
        let v = jsonc(text);
        assert_eq!(v["a"], "x//y, }");
        assert_eq!(v["b"], serde_json::json!([1, 2]));
    }

    #[test]
    fn a_comment_after_the_last_comma_leaves_it_trailing() {
        let v = jsonc("{\n  \"go.goroot\": \"/x\", // pin\n}\n");
        assert_eq!(v["go.goroot"], "/x");
        let v = jsonc("{ \"a\": [1, /* one */ 2, /* more later */ ], /* end */ }");
        assert_eq!(v["a"], serde_json::json!([1, 2]));
        let v = jsonc("{\"a\": 1, // x\n // y\n \"b\": 2,\n}");
        assert_eq!((v["a"].as_i64(), v["b"].as_i64()), (Some(1), Some(2)));
    }

    #[test]
    fn strings_keep_comment_markers_and_escapes() {
        let v = jsonc(r#"{"a": "http://x/*y*/", "b": "q\"//,}", "c": "\\", "d": "é,]"}"#);
        assert_eq!(v["a"], "http://x/*y*/");
        assert_eq!(v["b"], "q\"//,}");
        assert_eq!(v["c"], "\\");
        assert_eq!(v["d"], "é,]");
    }

    #[test]
    fn invalid_input_stays_invalid_and_does_not_panic() {
        for bad in [
            "{\"a\": 1,,}",
            "{\"a\": \"open",
            "{ /* open",
            "[1,",
            "\"\\",
            ",",
            "/",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(&strip_jsonc(bad)).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_go_versions() {
        assert_eq!(minor_version("go1.24.1"), Some(24));
        assert_eq!(minor_version("go1.9"), Some(9));
        assert_eq!(minor_version("devel"), None);
    }
}

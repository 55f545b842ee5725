//! Toolchain switches (GOTOOLCHAIN): will go download a toolchain before it
//! runs this command?
//!
//! go picks its toolchain before it looks at the subcommand, so in a module
//! whose go.mod asks for a newer Go even `go version` and `go env` download
//! `golang.org/toolchain` through GOPROXY. Those commands otherwise skip the
//! relay, so goshim must see the switch coming, cheaply: on the common path
//! this costs a walk up to go.mod and two small file reads. The rules are those
//! of cmd/go/internal/toolchain/select.go.

use std::cmp::Ordering;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use super::args::split_chdir;
use super::mod_file;
use crate::settings::vars::{self, Env};

/// What the decision needs to know, read by [`Inputs::read`].
#[derive(Debug, Default)]
pub struct Inputs {
    /// The effective GOTOOLCHAIN (environment, go env file, `$GOROOT/go.env`).
    pub gotoolchain: String,
    /// `go` and `toolchain` lines of the go.work or go.mod go would read.
    pub go_line: Option<String>,
    pub toolchain_line: Option<String>,
    /// The real go's version, e.g. `go1.27.3`.
    pub local: String,
}

/// The toolchain go will download for `args`, e.g. `go1.99.0`; None when go
/// runs the local toolchain or finds one on PATH (`+path`).
pub fn download_target(args: &[OsString], inputs: &Inputs) -> Option<String> {
    if local_by_special_case(args) {
        return None;
    }
    let (min, mode) = match inputs.gotoolchain.as_str() {
        "auto" => (inputs.local.clone(), "auto"),
        "path" => (inputs.local.clone(), "path"),
        other => {
            let (min, mode) = other.split_once('+').unwrap_or((other, ""));
            let min = if min == "local" { &inputs.local } else { min };
            (min.to_string(), mode)
        }
    };
    let mut target = min;
    let mut target_version = version_of(&target)?;
    let mut go_target = None;
    if mode == "auto" || mode == "path" {
        if let Some(tc) = inputs.toolchain_line.as_deref().filter(|t| *t != "default")
            && let Some(v) = version_of(tc)
            && compare(&v, &target_version) == Ordering::Greater
        {
            (target, target_version) = (tc.to_string(), v);
        }
        if let Some(go) = &inputs.go_line
            && compare(go, &target_version) == Ordering::Greater
        {
            // A language version (1.22) means its first release (1.22.0).
            let lang = go.split('.').count() == 2 && !go.contains(['r', 'b']);
            go_target = Some(format!("go{go}{}", if lang { ".0" } else { "" }));
        }
    }
    let target = go_target.unwrap_or(target);
    // Exactly the local toolchain's name runs locally, as in go.
    (target != inputs.local && mode != "path").then_some(target)
}

/// `go env GOTOOLCHAIN`, `go env -w GOTOOLCHAIN=…`, `go env GOMOD|GOWORK`:
/// always answered by the local go.
fn local_by_special_case(args: &[OsString]) -> bool {
    let a: Vec<&str> = split_chdir(args)
        .1
        .iter()
        .filter_map(|a| a.to_str())
        .collect();
    matches!(a.as_slice(), ["env", "GOTOOLCHAIN" | "GOMOD" | "GOWORK"])
        || matches!(a.as_slice(), ["env", "-w", v] if v.starts_with("GOTOOLCHAIN="))
}

/// `1.99.0` of `go1.99.0`, `gccgo-go1.20` or `go1.21.1-foo`.
fn version_of(toolchain: &str) -> Option<String> {
    let rest = match toolchain.find("-go") {
        Some(i) => &toolchain[i + 3..],
        None => toolchain.strip_prefix("go")?,
    };
    let v = rest.split(['-', '+']).next().unwrap_or(rest);
    v.starts_with(|c: char| c.is_ascii_digit())
        .then(|| v.to_string())
}

/// Go's version order: 1.21 < 1.21beta1 < 1.21rc1 < 1.21.0 < 1.21.1.
fn compare(a: &str, b: &str) -> Ordering {
    key(a).cmp(&key(b))
}

fn key(v: &str) -> (u64, u64, u8, u64) {
    let num = |s: &str| s.parse::<u64>().unwrap_or(0);
    let mut parts = v.splitn(3, '.');
    let major = num(parts.next().unwrap_or(""));
    let minor_pre = parts.next().unwrap_or("");
    let patch = parts.next();
    let digits = minor_pre
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(minor_pre.len());
    let (minor, pre) = minor_pre.split_at(digits);
    let (kind, n) = if let Some(p) = patch {
        (3, num(p))
    } else if let Some(n) = pre.strip_prefix("rc") {
        (2, num(n))
    } else if let Some(n) = pre.strip_prefix("beta") {
        (1, num(n))
    } else {
        (0, 0)
    };
    (major, num(minor), kind, n)
}

impl Inputs {
    /// Reads what [`download_target`] needs, cheapest first: None as soon as
    /// no switch is possible (GOTOOLCHAIN=local, no go.mod, a go line the
    /// local go satisfies), which is nearly always.
    pub fn read(process: &Env, args: &[OsString], real_go: &Path) -> Option<Inputs> {
        let env_setting = process.non_empty(vars::GOTOOLCHAIN);
        if env_setting
            .as_deref()
            .is_some_and(|t| t == "local" || t == "path" || t.ends_with("+path"))
        {
            return None;
        }
        let (go_line, toolchain_line) = mod_file::for_command(process, args)
            .map(|f| go_lines(&f.path))
            .unwrap_or_default();
        let explicit = env_setting.as_deref().is_some_and(|t| t != "auto");
        if go_line.is_none() && toolchain_line.is_none() && !explicit {
            return None;
        }
        let (goroot, local) = local_version(real_go)?;
        let newer =
            |v: Option<&str>| v.is_some_and(|v| compare(v, &local[2..]) == Ordering::Greater);
        let asks_newer = newer(go_line.as_deref())
            || newer(toolchain_line.as_deref().and_then(version_of).as_deref());
        if !asks_newer && !explicit {
            return None; // the common case: the local go is new enough
        }
        let (gotoolchain, _) = gotoolchain_setting(process, Some(&goroot))?;
        Some(Inputs {
            gotoolchain,
            go_line,
            toolchain_line,
            local,
        })
    }
}

/// The `go` and `toolchain` directives of a go.mod or go.work file.
fn go_lines(file: &Path) -> (Option<String>, Option<String>) {
    let Ok(text) = fs::read_to_string(file) else {
        return (None, None);
    };
    let last = |verb| {
        mod_file::directive(&text, verb)
            .pop()
            .and_then(|words| words.into_iter().next())
    };
    (last("go"), last("toolchain"))
}

/// `$GOROOT` and the version (`go1.27.3`) of the go binary at `real_go`
/// (`$GOROOT/bin/go`, maybe through a symlink), from `$GOROOT/VERSION`.
fn local_version(real_go: &Path) -> Option<(PathBuf, String)> {
    let read = |goroot: &Path| {
        let text = fs::read_to_string(goroot.join("VERSION")).ok()?;
        let v = text.lines().next()?.to_string();
        v.starts_with("go1").then(|| (goroot.to_path_buf(), v))
    };
    let goroot = |go: &Path| go.parent()?.parent().map(Path::to_path_buf);
    goroot(real_go)
        .and_then(|r| read(&r))
        .or_else(|| read(&goroot(&fs::canonicalize(real_go).ok()?)?))
}

/// `KEY=value` from a go env file (`go env -w` writes them; go.env ships them).
/// GOTOOLCHAIN as go reads it, and from where: the environment, else the go
/// env file (`go env -w`), else `$GOROOT/go.env`.
pub fn gotoolchain_setting(process: &Env, goroot: Option<&Path>) -> Option<(String, &'static str)> {
    const KEY: &str = "GOTOOLCHAIN";
    process
        .non_empty(vars::GOTOOLCHAIN)
        .map(|v| (v, "environment"))
        .or_else(|| {
            let file = crate::settings::paths::go_env_file(process)?;
            Some((setting_in(&file, KEY)?, "go env file"))
        })
        .or_else(|| Some((setting_in(&goroot?.join("go.env"), KEY)?, "GOROOT/go.env")))
}

fn setting_in(file: &Path, key: &str) -> Option<String> {
    let text = fs::read_to_string(file).ok()?;
    text.lines()
        .filter_map(|l| l.trim().split_once('='))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_string())
        .next_back()
        .filter(|v| !v.is_empty())
}

/// Where go unpacks the `target` toolchain (`golang.org/toolchain` in the
/// module cache): when it is there, go runs it without asking any proxy.
pub fn unpacked_dir(gomodcache: &str, target: &str) -> Option<PathBuf> {
    let (os, arch) = (goos(), goarch());
    (!gomodcache.is_empty()).then(|| {
        Path::new(gomodcache).join(format!("golang.org/toolchain@v0.0.1-{target}.{os}-{arch}"))
    })
}

/// This machine's GOOS, which toolchain module versions name (Rust says
/// `macos` where go says `darwin`).
pub fn goos() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// This machine's GOARCH (Rust's names differ for most).
pub fn goarch() -> &'static str {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" if little => "ppc64le",
        "powerpc64" => "ppc64",
        "mips64" if little => "mips64le",
        "mips" if little => "mipsle",
        "loongarch64" => "loong64",
        other => other, // arm, riscv64, s390x, mips64, mips, wasm32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(gotoolchain: &str, go: Option<&str>, tc: Option<&str>, args: &str) -> Option<String> {
        let args: Vec<OsString> = args.split_whitespace().map(OsString::from).collect();
        download_target(
            &args,
            &Inputs {
                gotoolchain: gotoolchain.into(),
                go_line: go.map(Into::into),
                toolchain_line: tc.map(Into::into),
                local: "go1.27.3".into(),
            },
        )
    }

    #[test]
    fn follows_go_s_selection_rules() {
        let t = |s: &str| Some(s.to_string());
        assert_eq!(target("auto", Some("1.21"), None, "version"), None);
        assert_eq!(target("auto", Some("1.27.3"), None, "version"), None);
        assert_eq!(
            target("auto", Some("1.99.0"), None, "version"),
            t("go1.99.0")
        );
        assert_eq!(target("auto", Some("1.99"), None, "build"), t("go1.99.0"));
        assert_eq!(target("auto", Some("1.99rc1"), None, "env"), t("go1.99rc1"));
        assert_eq!(
            target("auto", Some("1.21"), Some("go1.99.1"), "version"),
            t("go1.99.1")
        );
        assert_eq!(
            target("auto", Some("1.21"), Some("default"), "version"),
            None
        );
        assert_eq!(target("local", Some("1.99.0"), None, "version"), None);
        assert_eq!(target("path", Some("1.99.0"), None, "version"), None);
        assert_eq!(
            target("go1.30.0+path", Some("1.99.0"), None, "version"),
            None
        );
        assert_eq!(
            target("go1.30.0", Some("1.21"), None, "version"),
            t("go1.30.0")
        );
        assert_eq!(target("go1.27.3", None, None, "version"), None);
        assert_eq!(
            target("go1.30.0+auto", Some("1.99.0"), None, "fmt"),
            t("go1.99.0")
        );
        assert_eq!(
            target("local+auto", Some("1.99.0"), None, "fmt"),
            t("go1.99.0")
        );
        assert_eq!(
            target("auto", Some("1.99.0"), None, "env GOTOOLCHAIN"),
            None
        );
        assert_eq!(target("auto", Some("1.99.0"), None, "env GOMOD"), None);
        assert_eq!(
            target("auto", Some("1.99.0"), None, "env -w GOTOOLCHAIN=local"),
            None
        );
        assert_eq!(
            target("auto", Some("1.99.0"), None, "env GOPROXY"),
            t("go1.99.0")
        );
    }

    #[test]
    fn orders_versions_like_go() {
        assert_eq!(compare("1.21", "1.21rc1"), Ordering::Less);
        assert_eq!(compare("1.21beta1", "1.21rc1"), Ordering::Less);
        assert_eq!(compare("1.21rc2", "1.21.0"), Ordering::Less);
        assert_eq!(compare("1.21.10", "1.21.9"), Ordering::Greater);
        assert_eq!(compare("1.9", "1.10"), Ordering::Less);
        assert_eq!(version_of("gccgo-go1.20"), Some("1.20".into()));
        assert_eq!(version_of("go1.21.1-foo"), Some("1.21.1".into()));
        assert_eq!(version_of("local"), None);
    }

    #[test]
    fn reads_directives_and_env_files() {
        let dir = tempfile::tempdir().unwrap();
        let go_mod = dir.path().join("go.mod");
        fs::write(
            &go_mod,
            "module m // c\n\ngo 1.99.0\n\ntoolchain go1.99.2 // pinned\nrequire x v1\n",
        )
        .unwrap();
        assert_eq!(
            go_lines(&go_mod),
            (Some("1.99.0".into()), Some("go1.99.2".into()))
        );
        let env = dir.path().join("env");
        fs::write(&env, "GOPROXY=x\nGOTOOLCHAIN=local\n").unwrap();
        assert_eq!(setting_in(&env, "GOTOOLCHAIN"), Some("local".into()));
        assert_eq!(setting_in(&env, "GOSUMDB"), None);
    }

    #[test]
    fn gotoolchain_local_or_path_never_switches() {
        for v in ["local", "path", "go1.30+path"] {
            let process = Env::from_pairs(&[("GOTOOLCHAIN", v)]);
            assert!(Inputs::read(&process, &[], Path::new("/nonexistent/go")).is_none());
        }
    }
}

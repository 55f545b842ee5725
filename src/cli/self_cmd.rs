//! `goshim self uninstall`: removes an installation for someone who has no
//! checkout (the release installer, `goshim-installer.sh`) — and one made by
//! `install.sh` too. It mirrors `./install.sh --uninstall`: the binary, the
//! links to it, goshim's cache; the config file is kept and named. Besides, it
//! undoes what the release installer (cargo-dist) added for `PATH`: its env
//! files and receipt in `$XDG_CONFIG_HOME/goshim/` and the line sourcing the
//! env file in each shell profile.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::log::warn;
use crate::settings::paths;
use crate::settings::vars::{self, Env};

/// What `goshim self --help` says below its usage line.
pub const DETAILS: &str =
    "uninstall: remove this installation: the goshim binary, the go (and goshim)
links to it, goshim's cache (health snapshot, go env cache, locks), and what
the installer added for PATH (its env files and the line sourcing them in each
shell profile); your config file is kept.";

/// The files the release installer writes beside the config file
/// (`$XDG_CONFIG_HOME/goshim/`): its receipt and the env scripts the shell
/// profiles source.
const INSTALLER_FILES: [&str; 3] = ["env.sh", "env.fish", "goshim-receipt.json"];

/// Shell profiles the installer may have edited, relative to HOME (the zsh
/// ones to ZDOTDIR when set), as cargo-dist's installer lists them.
const SH_PROFILES: [&str; 4] = [".profile", ".bashrc", ".bash_profile", ".bash_login"];
const ZSH_PROFILES: [&str; 2] = [".zshrc", ".zshenv"];
/// The fish file the installer writes, relative to HOME.
const FISH_CONF: &str = ".config/fish/conf.d/goshim.env.fish";

/// goshim's own files in its cache folder, by name (the folder may be shared):
/// the same list as `install.sh --uninstall`. (prefix, suffix) patterns.
const CACHE_FILES: [(&str, &str); 10] = [
    ("health.json", ""),
    ("health.lock", ""),
    ("goenv.json", ""),
    ("metrics.json", ""),
    ("metrics.lock", ""),
    ("probe.lock", ""),
    (".health.json.", ".tmp"),
    (".goenv.json.", ".tmp"),
    (".metrics.json.", ".tmp"),
    (".doctor.", ".tmp"),
];

pub fn run(process: &Env, args: &[String]) -> i32 {
    let Some((cmd, rest)) = args.split_first() else {
        if let Some(help) = super::help::find("self") {
            eprintln!("{}", super::help::command_help(help));
        }
        return 2;
    };
    match cmd.as_str() {
        "uninstall" => match rest.first() {
            Some(flag) => usage_error(&format!(
                "unknown flag '{flag}' for 'goshim self uninstall'"
            )),
            None => uninstall(process),
        },
        other => usage_error(&format!("unknown command 'goshim self {other}'")),
    }
}

fn usage_error(msg: &str) -> i32 {
    warn!("{msg}; run 'goshim self --help' for the list of commands");
    2
}

/// What went wrong along the way; the rest is still removed.
#[derive(Default)]
struct Outcome {
    failed: bool,
}

impl Outcome {
    fn remove_file(&mut self, path: &Path, what: &str) -> bool {
        match fs::remove_file(path) {
            Ok(()) => {
                println!("removed {what}{}", path.display());
                true
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => {
                warn!("could not remove {}: {e}", path.display());
                self.failed = true;
                false
            }
        }
    }
}

fn uninstall(process: &Env) -> i32 {
    let exe = match std::env::current_exe().and_then(fs::canonicalize) {
        Ok(p) => p,
        Err(e) => {
            warn!("goshim self uninstall: cannot find the running goshim binary: {e}");
            return 1;
        }
    };
    let Some(dir) = exe.parent().map(Path::to_path_buf) else {
        warn!("goshim self uninstall: {} has no folder", exe.display());
        return 1;
    };
    let parent = dir.parent().map(Path::to_path_buf);
    let shims = parent.as_ref().map(|p| p.join("shims"));
    let links = our_links(&exe, &dir, shims.as_deref());
    if !links
        .iter()
        .any(|l| l.file_name().is_some_and(|n| n == "go"))
    {
        warn!(
            "goshim self uninstall: {} does not look installed (no 'go' link to it beside it or in ../shims); remove it by hand if you mean to",
            exe.display()
        );
        return 1;
    }

    let mut out = Outcome::default();
    for link in &links {
        out.remove_file(link, "");
    }
    out.remove_file(&exe, "");
    // Folders left empty: the binary's, install.sh's shims/, and the install
    // prefix when it is goshim's own (~/.goshim, /opt/goshim).
    let mut folders = vec![dir.clone()];
    folders.extend(shims.filter(|s| s.is_dir()));
    if let Some(p) = parent.filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().contains("goshim"))
    }) {
        folders.push(p);
    }
    for d in folders {
        if fs::remove_dir(&d).is_ok() {
            println!("removed empty {}/", d.display());
        }
    }

    remove_path_lines(process, &mut out);
    remove_cache(process, &mut out);

    let config = paths::config_file(process);
    if let Some(config) = config.as_ref().filter(|c| c.exists()) {
        println!(
            "kept your config file {} (delete it yourself if you no longer need it)",
            config.display()
        );
    }
    if links.iter().any(|l| l.parent() != Some(&dir)) {
        // install.sh's layout: the user added this line by hand.
        if let Some(s) = links.iter().find_map(|l| l.parent()) {
            println!(
                "remove the line export PATH=\"{}:$PATH\" from your shell profile if you added it",
                s.display()
            );
        }
    }
    println!("run 'hash -r' (or open a new shell) so that go is the real go again");
    i32::from(out.failed)
}

/// The symlinks that resolve to the running binary: `go` and `goshim` beside it
/// (the release installer's layout) and in `../shims` (install.sh's).
fn our_links(exe: &Path, dir: &Path, shims: Option<&Path>) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for folder in std::iter::once(dir).chain(shims) {
        for name in ["go", "goshim"] {
            let link = folder.join(name);
            let is_link = fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink());
            if is_link && fs::canonicalize(&link).is_ok_and(|t| t == exe) {
                found.push(link);
            }
        }
    }
    found
}

/// The release installer's env files and receipt, and the lines sourcing the
/// env files in the shell profiles.
fn remove_path_lines(process: &Env, out: &mut Outcome) {
    let home = process.non_empty(vars::HOME).map(PathBuf::from);
    let Some(installer_dir) = paths::config_home(process).map(|d| d.join("goshim")) else {
        return;
    };
    let env_sh = installer_dir.join("env.sh");
    let env_fish = installer_dir.join("env.fish");
    if let Some(home) = &home {
        let zdotdir = process.non_empty(vars::ZDOTDIR).map(PathBuf::from);
        let zsh_home = zdotdir.as_ref().unwrap_or(home);
        let profiles = SH_PROFILES
            .iter()
            .map(|p| home.join(p))
            .chain(ZSH_PROFILES.iter().map(|p| zsh_home.join(p)));
        let sh_lines = source_lines(&env_sh, home);
        for profile in profiles {
            edit_profile(&profile, &sh_lines, out);
        }
        let fish_conf = home.join(FISH_CONF);
        edit_profile(&fish_conf, &source_lines(&env_fish, home), out);
        // The installer made these folders for that file; gone when left empty.
        for d in fish_conf.ancestors().skip(1).take(2) {
            if fs::remove_dir(d).is_ok() {
                println!("removed empty {}/", d.display());
            }
        }
    }
    for name in INSTALLER_FILES {
        out.remove_file(&installer_dir.join(name), "the installer's ");
    }
    // The config folder goes only when nothing else (the config file) is left.
    if fs::remove_dir(&installer_dir).is_ok() {
        println!("removed empty {}/", installer_dir.display());
    }
}

/// The lines the installer writes to source `env`: `. "<path>"` (and
/// `source "<path>"`), with the path as written: `$HOME/...` when under HOME.
fn source_lines(env: &Path, home: &Path) -> Vec<String> {
    let mut exprs = vec![env.display().to_string()];
    if let Ok(rel) = env.strip_prefix(home) {
        exprs.push(format!("$HOME/{}", rel.display()));
    }
    exprs
        .iter()
        .flat_map(|e| [format!(". \"{e}\""), format!("source \"{e}\"")])
        .collect()
}

/// Drops `lines` (and the blank line the installer wrote before each) from
/// `text`; `None` when none was there.
fn without_lines(text: &str, lines: &[String]) -> Option<String> {
    let mut kept: Vec<&str> = Vec::new();
    let mut removed = false;
    for line in text.lines() {
        if lines.iter().any(|l| l == line.trim()) {
            if kept.last().is_some_and(|l| l.trim().is_empty()) {
                kept.pop();
            }
            removed = true;
        } else {
            kept.push(line);
        }
    }
    if !removed {
        return None;
    }
    let mut s = kept.join("\n");
    if !s.is_empty() && text.ends_with('\n') {
        s.push('\n');
    }
    Some(s)
}

/// Removes the installer's lines from one profile, writing it in place (a
/// profile may be a symlink into a dotfiles folder). A file left blank is
/// deleted: the installer created it (`.zshrc` when there was none, the fish
/// conf file).
fn edit_profile(profile: &Path, lines: &[String], out: &mut Outcome) {
    let Ok(text) = fs::read_to_string(profile) else {
        return;
    };
    let Some(new) = without_lines(&text, lines) else {
        return;
    };
    if new.trim().is_empty() {
        out.remove_file(profile, "");
        return;
    }
    match fs::write(profile, new) {
        Ok(()) => println!("removed the PATH line from {}", profile.display()),
        Err(e) => {
            warn!(
                "could not edit {}: {e}; remove the line {} yourself",
                profile.display(),
                lines[0]
            );
            out.failed = true;
        }
    }
}

/// goshim's files in its cache folder, by name; the folder too when left empty.
fn remove_cache(process: &Env, out: &mut Outcome) {
    let Some(cache) = paths::cache_dir(process) else {
        return;
    };
    let Ok(entries) = fs::read_dir(&cache) else {
        return;
    };
    let mut cleaned = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let ours = CACHE_FILES.iter().any(|(prefix, suffix)| {
            if suffix.is_empty() {
                name == *prefix
            } else {
                name.len() > prefix.len() + suffix.len()
                    && name.starts_with(prefix)
                    && name.ends_with(suffix)
            }
        });
        if ours && entry.file_type().is_ok_and(|t| t.is_file()) {
            match fs::remove_file(entry.path()) {
                Ok(()) => cleaned = true,
                Err(e) => {
                    warn!("could not remove {}: {e}", entry.path().display());
                    out.failed = true;
                }
            }
        }
    }
    if fs::remove_dir(&cache).is_ok() {
        println!("removed goshim's cache {}/", cache.display());
    } else if cleaned {
        println!(
            "removed goshim's files from {}/ (the folder holds other files: left it)",
            cache.display()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_lines_are_written_with_home_as_a_variable() {
        let lines = source_lines(Path::new("/h/.config/goshim/env.sh"), Path::new("/h"));
        assert!(lines.contains(&". \"$HOME/.config/goshim/env.sh\"".to_string()));
        assert!(lines.contains(&". \"/h/.config/goshim/env.sh\"".to_string()));
        assert!(lines.contains(&"source \"$HOME/.config/goshim/env.sh\"".to_string()));
    }

    #[test]
    fn only_the_installer_line_and_its_blank_line_go() {
        let lines = source_lines(Path::new("/h/.config/goshim/env.sh"), Path::new("/h"));
        let profile = "alias ll='ls -l'\n\n. \"$HOME/.config/goshim/env.sh\"\nexport EDITOR=vi\n";
        assert_eq!(
            without_lines(profile, &lines).as_deref(),
            Some("alias ll='ls -l'\nexport EDITOR=vi\n")
        );
        // Twice installed, twice removed; another env file is not ours.
        let twice = ". \"$HOME/.cargo/env\"\n\n. \"$HOME/.config/goshim/env.sh\"\n\n. \"$HOME/.config/goshim/env.sh\"\n";
        assert_eq!(
            without_lines(twice, &lines).as_deref(),
            Some(". \"$HOME/.cargo/env\"\n")
        );
        assert_eq!(without_lines("export A=1\n", &lines), None);
    }
}

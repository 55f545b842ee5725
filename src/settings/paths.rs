//! Where goshim keeps its files.

use std::path::PathBuf;

use crate::settings::vars::{self, Env};

/// `GOSHIM_CACHE_DIR`, else `$XDG_CACHE_HOME/goshim`, else `~/.cache/goshim`.
pub fn cache_dir(process: &Env) -> Option<PathBuf> {
    if let Some(dir) = process.non_empty(vars::GOSHIM_CACHE_DIR) {
        return Some(PathBuf::from(dir));
    }
    if let Some(dir) = process.non_empty(vars::XDG_CACHE_HOME) {
        return Some(PathBuf::from(dir).join("goshim"));
    }
    home(process).map(|h| h.join(".cache").join("goshim"))
}

/// `GOSHIM_CONFIG`, else `$XDG_CONFIG_HOME/goshim/config.toml`, else `~/.config/goshim/config.toml`.
pub fn config_file(process: &Env) -> Option<PathBuf> {
    if let Some(file) = process.non_empty(vars::GOSHIM_CONFIG) {
        return Some(PathBuf::from(file));
    }
    config_home(process).map(|d| d.join("goshim").join("config.toml"))
}

/// The go command's own env file (`go env -w` writes it), as go locates it.
pub fn go_env_file(process: &Env) -> Option<PathBuf> {
    match process.non_empty(vars::GOENV) {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        None => config_home(process).map(|d| d.join("go").join("env")),
    }
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
pub fn config_home(process: &Env) -> Option<PathBuf> {
    process
        .non_empty(vars::XDG_CONFIG_HOME)
        .map(PathBuf::from)
        .or_else(|| home(process).map(|h| h.join(".config")))
}

fn home(process: &Env) -> Option<PathBuf> {
    process.non_empty(vars::HOME).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Option<PathBuf> {
        Some(PathBuf::from(s))
    }

    #[test]
    fn cache_dir_precedence() {
        let all = [
            ("GOSHIM_CACHE_DIR", "/c"),
            ("XDG_CACHE_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(cache_dir(&Env::from_pairs(&all)), p("/c"));
        assert_eq!(cache_dir(&Env::from_pairs(&all[1..])), p("/x/goshim"));
        assert_eq!(
            cache_dir(&Env::from_pairs(&all[2..])),
            p("/h/.cache/goshim")
        );
        assert_eq!(cache_dir(&Env::default()), None);
        // Empty is unset.
        let empty = Env::from_pairs(&[
            ("GOSHIM_CACHE_DIR", ""),
            ("XDG_CACHE_HOME", ""),
            ("HOME", "/h"),
        ]);
        assert_eq!(cache_dir(&empty), p("/h/.cache/goshim"));
    }

    #[test]
    fn config_file_precedence() {
        let all = [
            ("GOSHIM_CONFIG", "/etc/g.toml"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        assert_eq!(config_file(&Env::from_pairs(&all)), p("/etc/g.toml"));
        assert_eq!(
            config_file(&Env::from_pairs(&all[1..])),
            p("/x/goshim/config.toml")
        );
        assert_eq!(
            config_file(&Env::from_pairs(&all[2..])),
            p("/h/.config/goshim/config.toml")
        );
        assert_eq!(config_file(&Env::default()), None);
    }

    #[test]
    fn go_env_file_as_go_locates_it() {
        let home = ("HOME", "/h");
        assert_eq!(
            go_env_file(&Env::from_pairs(&[home])),
            p("/h/.config/go/env")
        );
        assert_eq!(
            go_env_file(&Env::from_pairs(&[home, ("XDG_CONFIG_HOME", "/x")])),
            p("/x/go/env")
        );
        assert_eq!(
            go_env_file(&Env::from_pairs(&[home, ("GOENV", "/e")])),
            p("/e")
        );
        assert_eq!(
            go_env_file(&Env::from_pairs(&[home, ("GOENV", "off")])),
            None
        );
        assert_eq!(
            go_env_file(&Env::from_pairs(&[home, ("GOENV", "")])),
            p("/h/.config/go/env")
        );
    }
}

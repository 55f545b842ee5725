//! Where goshim keeps its files: the XDG folders on Unix, the application
//! data folders on Windows (where go keeps its own: os.UserConfigDir and
//! os.UserCacheDir). The choice is a pure function of the platform, so its
//! tests run anywhere.

use std::path::PathBuf;

use crate::platform::Platform;
use crate::settings::vars::{self, Env};

/// `GOSHIM_CACHE_DIR`, else `$XDG_CACHE_HOME/goshim`, else `~/.cache/goshim`;
/// on Windows `%LocalAppData%\goshim`.
pub fn cache_dir(process: &Env) -> Option<PathBuf> {
    cache_dir_on(Platform::CURRENT, process)
}

fn cache_dir_on(platform: Platform, process: &Env) -> Option<PathBuf> {
    if let Some(dir) = process.non_empty(vars::GOSHIM_CACHE_DIR) {
        return Some(PathBuf::from(dir));
    }
    match platform {
        Platform::Unix | Platform::MacOs => process
            .non_empty(vars::XDG_CACHE_HOME)
            .map(|dir| PathBuf::from(dir).join("goshim"))
            .or_else(|| home(process).map(|h| h.join(".cache").join("goshim"))),
        Platform::Windows => process
            .non_empty(vars::LOCALAPPDATA)
            .map(|dir| PathBuf::from(dir).join("goshim")),
    }
}

/// `GOSHIM_CONFIG`, else `<config home>/goshim/config.toml`.
pub fn config_file(process: &Env) -> Option<PathBuf> {
    config_file_on(Platform::CURRENT, process)
}

fn config_file_on(platform: Platform, process: &Env) -> Option<PathBuf> {
    if let Some(file) = process.non_empty(vars::GOSHIM_CONFIG) {
        return Some(PathBuf::from(file));
    }
    config_home_on(platform, process).map(|d| d.join("goshim").join("config.toml"))
}

/// The go command's own env file (`go env -w` writes it), as go locates it.
pub fn go_env_file(process: &Env) -> Option<PathBuf> {
    go_env_file_on(Platform::CURRENT, process)
}

fn go_env_file_on(platform: Platform, process: &Env) -> Option<PathBuf> {
    match process.non_empty(vars::GOENV) {
        Some(v) if v == "off" => None,
        Some(v) => Some(PathBuf::from(v)),
        // go's os.UserConfigDir: on macOS not XDG's folder.
        None if platform == Platform::MacOs => {
            home(process).map(|h| h.join("Library/Application Support/go/env"))
        }
        None => config_home_on(platform, process).map(|d| d.join("go").join("env")),
    }
}

/// `$XDG_CONFIG_HOME`, else `~/.config`; on Windows `%AppData%`.
pub fn config_home(process: &Env) -> Option<PathBuf> {
    config_home_on(Platform::CURRENT, process)
}

fn config_home_on(platform: Platform, process: &Env) -> Option<PathBuf> {
    match platform {
        Platform::Unix | Platform::MacOs => process
            .non_empty(vars::XDG_CONFIG_HOME)
            .map(PathBuf::from)
            .or_else(|| home(process).map(|h| h.join(".config"))),
        Platform::Windows => process.non_empty(vars::APPDATA).map(PathBuf::from),
    }
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

    fn cache_dir(process: &Env) -> Option<PathBuf> {
        cache_dir_on(Platform::Unix, process)
    }

    fn config_file(process: &Env) -> Option<PathBuf> {
        config_file_on(Platform::Unix, process)
    }

    fn go_env_file(process: &Env) -> Option<PathBuf> {
        go_env_file_on(Platform::Unix, process)
    }

    #[test]
    fn windows_keeps_them_in_the_application_data_folders() {
        let win = |pairs: &[(&str, &str)]| {
            let env = Env::from_pairs(pairs);
            [
                cache_dir_on(Platform::Windows, &env),
                config_file_on(Platform::Windows, &env),
                go_env_file_on(Platform::Windows, &env),
            ]
        };
        let (roaming, local) = (r"C:\Users\u\AppData\Roaming", r"C:\Users\u\AppData\Local");
        let profile = [
            ("APPDATA", roaming),
            ("LOCALAPPDATA", local),
            // Read on Unix only, as go does.
            ("HOME", "/h"),
            ("XDG_CONFIG_HOME", "/x"),
            ("XDG_CACHE_HOME", "/c"),
        ];
        let under = |dir: &str, parts: &[&str]| {
            Some(
                parts
                    .iter()
                    .fold(PathBuf::from(dir), |p, part| p.join(part)),
            )
        };
        // The environment, then the cache folder, config file and go env file.
        type Case<'a> = (&'a [(&'a str, &'a str)], [Option<PathBuf>; 3]);
        let table: [Case; 4] = [
            (
                &profile,
                [
                    under(local, &["goshim"]),
                    under(roaming, &["goshim", "config.toml"]),
                    under(roaming, &["go", "env"]),
                ],
            ),
            // goshim's and go's own overrides win, as on Unix.
            (
                &[
                    ("APPDATA", roaming),
                    ("LOCALAPPDATA", local),
                    ("GOSHIM_CACHE_DIR", r"D:\cache"),
                    ("GOSHIM_CONFIG", r"D:\goshim.toml"),
                    ("GOENV", r"D:\go.env"),
                ],
                [p(r"D:\cache"), p(r"D:\goshim.toml"), p(r"D:\go.env")],
            ),
            (
                &[("APPDATA", ""), ("LOCALAPPDATA", ""), ("GOENV", "off")],
                [None, None, None],
            ),
            (&[], [None, None, None]),
        ];
        for (pairs, want) in table {
            assert_eq!(win(pairs), want, "{pairs:?}");
        }
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
        // macOS: ~/Library/Application Support, whatever XDG says.
        let mac = Env::from_pairs(&[home, ("XDG_CONFIG_HOME", "/x")]);
        assert_eq!(
            go_env_file_on(Platform::MacOs, &mac),
            p("/h/Library/Application Support/go/env")
        );
    }
}

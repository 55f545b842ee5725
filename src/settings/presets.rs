//! Well-known public module mirrors and the presets that name groups of them.
//!
//! Presets are opt-in only: goshim sends module requests to these mirrors only
//! when the config says `preset = "<name>"` (or `goshim use <name>` wrote it),
//! or GOSHIM_PRESET names one. `goshim doctor --all` probes the whole list
//! (a `@v/list` GET per mirror and sample module) without using any of them.
//!
//! GOSHIM_PRESETS_FILE replaces the built-in list with a TOML file:
//!
//! ```toml
//! [[mirror]]
//! url = "https://mirror.example/goproxy"
//! sumdb = true            # known to serve sum.golang.org (default false)
//! presets = ["cn"]        # every mirror is also in "all"
//! ```

use serde::Deserialize;

use crate::go::proxy_list;
use crate::settings::vars::{self, Env};

/// One public mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mirror {
    /// Proxy URL (as in GOPROXY), without credentials.
    pub url: String,
    /// Known to serve `sum.golang.org` through `<url>/sumdb/sum.golang.org/...`
    /// (false means "not known"; `goshim doctor` measures it).
    pub sumdb: bool,
    /// Presets this mirror belongs to, besides "all".
    pub presets: Vec<String>,
}

/// Every mirror is in this preset.
pub const ALL: &str = "all";
/// `goshim use none` removes the preset.
pub const NONE: &str = "none";

/// (url, known to serve sum.golang.org, presets). The sumdb flag is set only
/// where the operator documents sumdb proxying.
const BUILT_IN: &[(&str, bool, &[&str])] = &[
    ("https://proxy.golang.org", true, &["global"]),
    ("https://goproxy.io", true, &["global", "cn"]),
    ("https://goproxy.cn", true, &["cn"]),
    ("https://mirrors.aliyun.com/goproxy/", false, &["cn"]),
    ("https://mirrors.cloud.tencent.com/go/", false, &["cn"]),
    (
        "https://repo.huaweicloud.com/repository/goproxy/",
        false,
        &["cn"],
    ),
    ("https://goproxy.bj.bcebos.com", false, &["cn"]),
    ("https://proxy.golang.com.cn", true, &["cn"]),
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    mirror: Vec<FileMirror>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileMirror {
    url: String,
    #[serde(default)]
    sumdb: bool,
    #[serde(default)]
    presets: Vec<String>,
}

/// The mirror list: GOSHIM_PRESETS_FILE when set, else the built-in one.
pub fn mirrors(process: &Env) -> Result<Vec<Mirror>, String> {
    match process.non_empty(vars::GOSHIM_PRESETS_FILE) {
        Some(path) => from_file(&path),
        None => Ok(built_in()),
    }
}

fn built_in() -> Vec<Mirror> {
    BUILT_IN
        .iter()
        .map(|(url, sumdb, presets)| Mirror {
            url: url.to_string(),
            sumdb: *sumdb,
            presets: presets.iter().map(|p| p.to_string()).collect(),
        })
        .collect()
}

fn from_file(path: &str) -> Result<Vec<Mirror>, String> {
    let what = format!("{}={path}", vars::GOSHIM_PRESETS_FILE);
    let text = std::fs::read_to_string(path).map_err(|e| format!("{what}: cannot read: {e}"))?;
    let file: File =
        toml::from_str(&text).map_err(|e| format!("{what} is not valid: {}", e.message()))?;
    file.mirror
        .into_iter()
        .map(|m| {
            let url = proxy_list::validate_url(&m.url).map_err(|e| format!("{what}: {e}"))?;
            if let Some(bad) = m.presets.iter().find(|p| !valid_name(p)) {
                return Err(format!(
                    "{what}: preset name '{bad}' must be lower-case letters, digits or '-'"
                ));
            }
            Ok(Mirror {
                url,
                sumdb: m.sumdb,
                presets: m.presets,
            })
        })
        .collect()
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != NONE
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Every preset name, sorted, "all" included.
pub fn names(mirrors: &[Mirror]) -> Vec<String> {
    let mut names: Vec<String> = mirrors
        .iter()
        .flat_map(|m| m.presets.iter().cloned())
        .chain(std::iter::once(ALL.to_string()))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The mirrors of a preset, in list order; an unknown name is an error that
/// lists the known ones.
pub fn resolve<'a>(mirrors: &'a [Mirror], name: &str) -> Result<Vec<&'a Mirror>, String> {
    let chosen: Vec<&Mirror> = mirrors
        .iter()
        .filter(|m| name == ALL || m.presets.iter().any(|p| p == name))
        .collect();
    if chosen.is_empty() && !names(mirrors).iter().any(|n| n == name) {
        return Err(unknown(mirrors, name));
    }
    Ok(chosen)
}

/// "unknown preset 'x'; known presets: all, cn, global".
pub fn unknown(mirrors: &[Mirror], name: &str) -> String {
    format!(
        "unknown preset '{}'; known presets: {}",
        name.escape_debug(),
        names(mirrors).join(", ")
    )
}

/// The URLs of a preset (see [`resolve`]).
pub fn urls(process: &Env, name: &str) -> Result<Vec<String>, String> {
    let mirrors = mirrors(process)?;
    Ok(resolve(&mirrors, name)?
        .into_iter()
        .map(|m| m.url.clone())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_presets_resolve() {
        let all = built_in();
        assert_eq!(names(&all), ["all", "cn", "global"]);
        let cn = resolve(&all, "cn").unwrap();
        assert!(cn.iter().any(|m| m.url == "https://goproxy.cn"));
        assert!(!cn.iter().any(|m| m.url == "https://proxy.golang.org"));
        assert_eq!(resolve(&all, ALL).unwrap().len(), all.len());
        for m in &all {
            assert_eq!(
                proxy_list::validate_url(&m.url).as_deref(),
                Ok(m.url.as_str())
            );
        }
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let err = resolve(&built_in(), "mars").unwrap_err();
        assert_eq!(err, "unknown preset 'mars'; known presets: all, cn, global");
    }
}

//! The go.work or go.mod file go reads for a command, and the directives of a
//! go.mod file that goshim acts on.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use crate::go::args::split_chdir;
use crate::settings::vars::{self, Env};

/// The directory go starts from: the current one, or the `-C dir` given first.
pub fn start_dir(process: &Env, args: &[OsString]) -> Option<PathBuf> {
    let mut dir = process.cwd()?.to_path_buf();
    match split_chdir(args).0 {
        [_, to] => dir.push(to),
        [flag] => dir.push(flag.to_str()?.strip_prefix("-C=")?),
        _ => {}
    }
    Some(dir)
}

/// The go.work (unless `gowork` is "off") or go.mod go reads from `start`.
pub fn find(start: &Path, gowork: Option<&str>) -> Option<PathBuf> {
    match gowork {
        Some("off") => find_up(start, "go.mod"),
        Some(file) => Some(PathBuf::from(file)),
        None => find_up(start, "go.work").or_else(|| find_up(start, "go.mod")),
    }
}

/// The go.work or go.mod go reads for the command `args`.
pub fn for_command(process: &Env, args: &[OsString]) -> Option<PathBuf> {
    find(
        &start_dir(process, args)?,
        process.non_empty(vars::GOWORK).as_deref(),
    )
}

fn find_up(start: &Path, name: &str) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(name))
        .find(|f| f.is_file())
}

/// The main module(s) go reads from `file` (a go.mod, or a go.work and the
/// go.mod of each module it `use`s): what they require, the paths their
/// `replace` directives redirect, which hold for the whole module graph, and
/// what their go.sum files hold.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MainModules {
    /// `(path, version)` of each requirement, without the main modules
    /// themselves and without replaced paths.
    pub requirements: Vec<(String, String)>,
    pub replaced: Vec<String>,
    /// `"<path> <version>"` of each go.sum line (go.work.sum too), the version
    /// ending in `/go.mod` for a go.mod's hash: go checks these without
    /// asking the checksum database.
    pub summed: HashSet<String>,
}

pub fn main_modules(file: &Path) -> MainModules {
    let Ok(text) = fs::read_to_string(file) else {
        return MainModules::default();
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let (go_mods, mut replaced, sum_files) = if file.file_name().is_some_and(|n| n == "go.work") {
        let used: Vec<PathBuf> = directive(&text, "use")
            .into_iter()
            .filter_map(|words| words.into_iter().next())
            .map(|used| dir.join(used))
            .collect();
        let go_mods = used
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("go.mod")).ok())
            .collect();
        let sums = used.iter().map(|d| d.join("go.sum"));
        let sums = std::iter::once(dir.join("go.work.sum"))
            .chain(sums)
            .collect();
        (go_mods, self::replaced(&text), sums)
    } else {
        (vec![text], Vec::new(), vec![dir.join("go.sum")])
    };
    let mut main = Vec::new();
    for go_mod in &go_mods {
        replaced.extend(self::replaced(go_mod));
        main.extend(directive(go_mod, "module").into_iter().flatten().take(1));
    }
    let requirements = go_mods
        .iter()
        .flat_map(|go_mod| requirements(go_mod))
        .filter(|(path, _)| !main.contains(path) && !replaced.contains(path))
        .collect();
    let summed = sum_files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|text| summed(&text))
        .collect();
    MainModules {
        requirements,
        replaced,
        summed,
    }
}

/// `"<path> <version>"` of each line of a go.sum file.
fn summed(go_sum: &str) -> Vec<String> {
    go_sum
        .lines()
        .filter_map(
            |line| match line.split_whitespace().collect::<Vec<_>>()[..] {
                [path, version, hash] if hash.contains(':') => Some(format!("{path} {version}")),
                _ => None,
            },
        )
        .collect()
}

/// `(path, version)` of each `require` in a go.mod file.
pub fn requirements(go_mod: &str) -> Vec<(String, String)> {
    directive(go_mod, "require")
        .into_iter()
        .filter_map(|words| match words.as_slice() {
            [path, version, ..] => Some((path.clone(), version.clone())),
            _ => None,
        })
        .collect()
}

/// The module paths that `replace` directives redirect (whatever the version).
pub fn replaced(go_mod: &str) -> Vec<String> {
    directive(go_mod, "replace")
        .into_iter()
        .filter_map(|words| words.into_iter().next())
        .collect()
}

/// The words of each `verb` directive, one-line and block form alike
/// (comments dropped, quotes and backquotes removed).
pub(super) fn directive(go_mod: &str, verb: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        let spec = if in_block {
            if line == ")" {
                in_block = false;
                continue;
            }
            line
        } else if let Some(rest) = line
            .strip_prefix(verb)
            .filter(|r| r.is_empty() || r.starts_with([' ', '\t', '(']))
        {
            let rest = rest.trim();
            if rest == "(" {
                in_block = true;
                continue;
            }
            rest
        } else {
            continue;
        };
        let words: Vec<String> = spec
            .split_whitespace()
            .map(|w| w.trim_matches(['"', '`']).to_string())
            .collect();
        if !words.is_empty() {
            out.push(words);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GO_MOD: &str = "module example.com/m\n\ngo 1.21\n\nrequire example.com/a v1.0.0 // indirect\n\
                          require (\n\texample.com/B v1.2.0\n\t\"example.com/c\" v0.1.0 // indirect\n)\n\
                          replace example.com/a => ../a\n\
                          replace (\n\texample.com/c v0.1.0 => example.com/d v0.2.0\n)\n\
                          requirement-like-word x y\n";

    #[test]
    fn reads_requirements_in_both_forms() {
        assert_eq!(
            requirements(GO_MOD),
            vec![
                ("example.com/a".into(), "v1.0.0".into()),
                ("example.com/B".into(), "v1.2.0".into()),
                ("example.com/c".into(), "v0.1.0".into()),
            ]
        );
    }

    #[test]
    fn reads_replaced_paths_in_both_forms() {
        assert_eq!(replaced(GO_MOD), vec!["example.com/a", "example.com/c"]);
    }

    #[test]
    fn main_modules_of_a_module_and_of_a_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::create_dir_all(&a).unwrap();
        fs::create_dir_all(&b).unwrap();
        fs::write(
            a.join("go.mod"),
            "module example.com/a\n\nrequire (\n\texample.com/x v1.0.0\n\texample.com/b v0.0.0\n\texample.com/r v1.0.0\n)\n\
             replace example.com/r => ../r\n",
        )
        .unwrap();
        fs::write(
            b.join("go.mod"),
            "module example.com/b\nrequire example.com/y v2.0.0\n",
        )
        .unwrap();
        fs::write(
            a.join("go.sum"),
            "example.com/x v1.0.0 h1:abc=\nexample.com/x v1.0.0/go.mod h1:def=\n\nnot a line\n",
        )
        .unwrap();
        let pair = |p: &str, v: &str| (p.to_string(), v.to_string());
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        assert_eq!(
            main_modules(&a.join("go.mod")),
            MainModules {
                requirements: vec![
                    pair("example.com/x", "v1.0.0"),
                    pair("example.com/b", "v0.0.0")
                ],
                replaced: vec!["example.com/r".into()],
                summed: set(&["example.com/x v1.0.0", "example.com/x v1.0.0/go.mod"]),
            }
        );
        let work = dir.path().join("go.work");
        fs::write(
            &work,
            "go 1.22\n\nuse (\n\t./a\n\t./b\n\t./missing\n)\nreplace example.com/y => ../y\n",
        )
        .unwrap();
        fs::write(
            dir.path().join("go.work.sum"),
            "example.com/z v0.1.0/go.mod h1:ghi=\n",
        )
        .unwrap();
        // b is a main module of the workspace; y is replaced by the go.work.
        assert_eq!(
            main_modules(&work),
            MainModules {
                requirements: vec![pair("example.com/x", "v1.0.0")],
                replaced: vec!["example.com/y".into(), "example.com/r".into()],
                summed: set(&[
                    "example.com/x v1.0.0",
                    "example.com/x v1.0.0/go.mod",
                    "example.com/z v0.1.0/go.mod"
                ]),
            }
        );
        assert_eq!(
            main_modules(&dir.path().join("nothing")),
            MainModules::default()
        );
    }

    #[test]
    fn finds_the_module_file_from_the_start_directory() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a").join("b");
        fs::create_dir_all(&sub).unwrap();
        fs::write(dir.path().join("go.mod"), "module m\n").unwrap();
        fs::write(dir.path().join("a").join("go.work"), "go 1.22\n").unwrap();
        let at = |pairs: &[(&str, &str)], args: &[&str]| {
            let args: Vec<OsString> = args.iter().map(OsString::from).collect();
            for_command(&Env::from_pairs(pairs).with_cwd(dir.path()), &args)
        };
        assert_eq!(at(&[], &[]), Some(dir.path().join("go.mod")));
        assert_eq!(at(&[], &["-C", "a/b"]), Some(dir.path().join("a/go.work")));
        assert_eq!(
            at(&[("GOWORK", "off")], &["-C=a/b"]),
            Some(dir.path().join("go.mod"))
        );
        assert_eq!(at(&[("GOWORK", "/w")], &[]), Some(PathBuf::from("/w")));
        assert_eq!(for_command(&Env::default(), &[]), None);
    }
}

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

/// The file go reads its main module(s) from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MainFile {
    pub path: PathBuf,
    /// A workspace file (a go.work found, or whatever GOWORK names), not a go.mod.
    pub workspace: bool,
}

/// The go.work or go.mod go reads from `start`, as GOWORK (`gowork`) says:
/// "off" (no workspace), unset or "auto" (look for one), or the file.
pub fn find(start: &Path, gowork: Option<&str>) -> Option<MainFile> {
    let file = |path, workspace| MainFile { path, workspace };
    match gowork {
        Some("off") => find_up(start, "go.mod").map(|p| file(p, false)),
        None | Some("auto") => find_up(start, "go.work")
            .map(|p| file(p, true))
            .or_else(|| find_up(start, "go.mod").map(|p| file(p, false))),
        Some(path) => Some(file(PathBuf::from(path), true)),
    }
}

/// The go.work or go.mod go reads for the command `args`.
pub fn for_command(process: &Env, args: &[OsString]) -> Option<MainFile> {
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
/// go.mod of each module it `use`s): what they require, and the paths their
/// `replace` directives redirect, which hold for the whole module graph.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MainModules {
    /// `(path, version)` of each requirement, without the main modules
    /// themselves and without replaced paths.
    pub requirements: Vec<(String, String)>,
    pub replaced: Vec<String>,
}

pub fn main_modules(file: &MainFile) -> MainModules {
    let Ok(text) = fs::read_to_string(&file.path) else {
        return MainModules::default();
    };
    let (go_mods, mut replaced) = if file.workspace {
        let go_mods = used_dirs(&file.path, &text)
            .iter()
            .filter_map(|d| fs::read_to_string(d.join("go.mod")).ok())
            .collect();
        (go_mods, self::replaced(&text))
    } else {
        (vec![text], Vec::new())
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
    MainModules {
        requirements,
        replaced,
    }
}

/// The folders of the modules a workspace file `use`s.
fn used_dirs(work: &Path, text: &str) -> Vec<PathBuf> {
    let dir = work.parent().unwrap_or(Path::new("."));
    directive(text, "use")
        .into_iter()
        .filter_map(|words| words.into_iter().next())
        .map(|used| dir.join(used))
        .collect()
}

/// `"<path> <version>/go.mod"` of each module version whose go.mod hash go
/// finds in the sum files of the main module(s) read from `file` (its go.sum;
/// for a workspace, `<file>.sum` and each used module's go.sum; a missing
/// one holds nothing): go checks these go.mod files without asking the
/// checksum database. None when `file` itself cannot be read.
pub fn summed_go_mods(file: &MainFile) -> Option<HashSet<String>> {
    Some(
        sum_lines(file)?
            .iter()
            .filter_map(|l| go_mod_key(l))
            .collect(),
    )
}

/// `"<path> <version>"` of each module version whose zip hash go finds in
/// the sum files of the main module(s) read from `file` (lines without
/// `/go.mod`): since Go 1.17, those of the modules that provide a package
/// the main modules' packages or their tests import. None when `file`
/// itself cannot be read.
pub fn summed_zips(file: &MainFile) -> Option<HashSet<String>> {
    let zip_key = |line: &str| match line.split_whitespace().collect::<Vec<_>>()[..] {
        [path, version, hash] if !version.ends_with("/go.mod") && hash.contains(':') => {
            Some(format!("{path} {version}"))
        }
        _ => None,
    };
    Some(sum_lines(file)?.iter().filter_map(|l| zip_key(l)).collect())
}

/// The lines of the main module(s)' sum files (see [`summed_go_mods`]).
fn sum_lines(file: &MainFile) -> Option<Vec<String>> {
    let text = fs::read_to_string(&file.path).ok()?;
    let sum_files: Vec<PathBuf> = if file.workspace {
        let mut work_sum = file.path.as_os_str().to_owned();
        work_sum.push(".sum");
        let used = used_dirs(&file.path, &text)
            .into_iter()
            .map(|d| d.join("go.sum"));
        std::iter::once(PathBuf::from(work_sum))
            .chain(used)
            .collect()
    } else {
        vec![file.path.with_file_name("go.sum")]
    };
    let lines = sum_files
        .iter()
        .filter_map(|f| fs::read_to_string(f).ok())
        .flat_map(|go_sum| go_sum.lines().map(str::to_string).collect::<Vec<_>>())
        .collect();
    Some(lines)
}

/// `"<path> <version>/go.mod"` of a go.sum line holding a go.mod's hash.
fn go_mod_key(line: &str) -> Option<String> {
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        [path, version, hash] if version.ends_with("/go.mod") && hash.contains(':') => {
            Some(format!("{path} {version}"))
        }
        _ => None,
    }
}

/// `(path, version)` of each `require` in a go.mod file.
pub fn requirements(go_mod: &str) -> Vec<(String, String)> {
    direct_first(go_mod)
        .into_iter()
        .map(|(path, version, _)| (path, version))
        .collect()
}

/// `(path, version, indirect)` of each `require`, the direct ones (without
/// an `// indirect` comment) first, each group in file order: go asks first
/// for what the main module's own packages import.
fn direct_first(go_mod: &str) -> Vec<(String, String, bool)> {
    let mut all: Vec<(String, String, bool)> = directive_lines(go_mod, "require")
        .into_iter()
        .filter_map(|(words, comment)| match words.as_slice() {
            [path, version, ..] => Some((
                path.clone(),
                version.clone(),
                comment.split_whitespace().next() == Some("indirect"),
            )),
            _ => None,
        })
        .collect();
    all.sort_by_key(|(.., indirect)| *indirect);
    all
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
    directive_lines(go_mod, verb)
        .into_iter()
        .map(|(words, _)| words)
        .collect()
}

/// [`directive`], with each line's comment (what follows `//`).
fn directive_lines<'a>(go_mod: &'a str, verb: &str) -> Vec<(Vec<String>, &'a str)> {
    let mut out = Vec::new();
    let mut in_block = false;
    for line in go_mod.lines() {
        let (line, comment) = line.split_once("//").unwrap_or((line, ""));
        let line = line.trim();
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
            out.push((words, comment));
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
    fn reads_requirements_in_both_forms_direct_ones_first() {
        assert_eq!(
            requirements(GO_MOD),
            vec![
                ("example.com/B".into(), "v1.2.0".into()),
                ("example.com/a".into(), "v1.0.0".into()),
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
        let module = |path: PathBuf| MainFile {
            path,
            workspace: false,
        };
        let workspace = |path: PathBuf| MainFile {
            path,
            workspace: true,
        };
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<HashSet<_>>();
        assert_eq!(
            main_modules(&module(a.join("go.mod"))),
            MainModules {
                requirements: vec![
                    pair("example.com/x", "v1.0.0"),
                    pair("example.com/b", "v0.0.0")
                ],
                replaced: vec!["example.com/r".into()],
            }
        );
        // Only go.mod hashes count: they spare go the lookup of a go.mod.
        assert_eq!(
            summed_go_mods(&module(a.join("go.mod"))),
            Some(set(&["example.com/x v1.0.0/go.mod"]))
        );
        // And the other way round: the zips go will want for a build.
        assert_eq!(
            summed_zips(&module(a.join("go.mod"))),
            Some(set(&["example.com/x v1.0.0"]))
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
            main_modules(&workspace(work.clone())),
            MainModules {
                requirements: vec![pair("example.com/x", "v1.0.0")],
                replaced: vec!["example.com/y".into(), "example.com/r".into()],
            }
        );
        let both = set(&["example.com/x v1.0.0/go.mod", "example.com/z v0.1.0/go.mod"]);
        assert_eq!(summed_go_mods(&workspace(work.clone())), Some(both.clone()));
        // Each used module's go.sum counts for the zips too.
        assert_eq!(
            summed_zips(&workspace(work.clone())),
            Some(set(&["example.com/x v1.0.0"]))
        );
        // GOWORK may name any file; its sum file is beside it.
        let other = dir.path().join("other");
        fs::copy(&work, &other).unwrap();
        fs::copy(dir.path().join("go.work.sum"), dir.path().join("other.sum")).unwrap();
        assert_eq!(
            main_modules(&workspace(other.clone())),
            main_modules(&workspace(work))
        );
        assert_eq!(summed_go_mods(&workspace(other)), Some(both));
        assert_eq!(summed_go_mods(&module(dir.path().join("nothing"))), None);
        assert_eq!(
            main_modules(&module(dir.path().join("nothing"))),
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
        let file = |path: PathBuf, workspace| Some(MainFile { path, workspace });
        assert_eq!(at(&[], &[]), file(dir.path().join("go.mod"), false));
        assert_eq!(
            at(&[], &["-C", "a/b"]),
            file(dir.path().join("a/go.work"), true)
        );
        assert_eq!(
            at(&[("GOWORK", "off")], &["-C=a/b"]),
            file(dir.path().join("go.mod"), false)
        );
        assert_eq!(
            at(&[("GOWORK", "/w")], &[]),
            file(PathBuf::from("/w"), true)
        );
        assert_eq!(
            at(&[("GOWORK", "auto")], &[]),
            file(dir.path().join("go.mod"), false)
        );
        assert_eq!(for_command(&Env::default(), &[]), None);
    }
}

//! What a `go` command line may do: fetch modules, run user code, be re-run.

use std::ffi::OsString;

use crate::go::args::split_chdir;
use crate::relay::Prefetch;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Never fetches modules (`go version`, `go env`, ...): exec with the environment untouched.
    Passthrough,
    /// May fetch; runs user code or streams results, so it is never re-run (`go run`, `go test`, ...).
    FetchOnce,
    /// May fetch and is safe to re-run after a transient proxy failure (`go build`, `go mod download`, ...).
    FetchRetryable,
}

/// Classifies by subcommand (the first argument after go's `-C dir`, the one
/// flag go takes before it).
pub fn classify(args: &[OsString]) -> Kind {
    let args = split_chdir(args).1;
    let Some(sub) = args.first().and_then(|a| a.to_str()) else {
        return Kind::Passthrough;
    };
    match sub {
        "version" | "env" | "fmt" | "help" | "bug" | "telemetry" | "-h" | "-help" | "--help" => {
            Kind::Passthrough
        }
        // These run the user's code or tools; a re-run would repeat side effects.
        "run" | "test" | "generate" | "tool" => Kind::FetchOnce,
        _ if writes_results_to_stdout(args) => Kind::FetchOnce,
        "build" | "install" | "get" | "mod" | "work" | "vet" | "doc" | "clean" | "fix" => {
            Kind::FetchRetryable
        }
        // `go list` and unknown subcommands may print partial results to stdout;
        // a re-run would print them twice.
        _ => Kind::FetchOnce,
    }
}

/// What the relay may fetch ahead for this command, measured on real go
/// (see bench/prefetch.rs): `go mod download` asks every `.mod`, `.info` and
/// `.zip` it learns of, so zips ahead waste nothing; `go mod tidy` and
/// `go mod graph` never ask for `.info`; everything else asks for a
/// module's `.info` and `.mod` but only some zips.
pub fn prefetch(args: &[OsString]) -> Prefetch {
    let mut words = split_chdir(args).1.iter().filter_map(|a| a.to_str());
    match (words.next(), words.next()) {
        (Some("mod"), Some("download")) => Prefetch::WithZips,
        (Some("mod"), Some("tidy" | "graph")) => Prefetch::ModsOnly,
        _ => Prefetch::Small,
    }
}

/// Whether go loads the whole module graph for this command, starting with
/// the `.mod` of every module the main go.mod requires: `go mod download`
/// (of no named modules), `tidy`, `graph`, `why`, `verify`, `go get` and
/// `go list -m all`. Not `go build`, `test`, `run` and the like: with lazy
/// module loading they ask only for the modules whose packages they build
/// (and for their `.mod` right after the `.zip`, already fetched ahead then).
pub fn loads_module_graph(args: &[OsString]) -> bool {
    let words: Vec<&str> = split_chdir(args)
        .1
        .iter()
        .filter_map(|a| a.to_str())
        .collect();
    let operands = || words.iter().skip(1).filter(|w| !w.starts_with('-'));
    match words.as_slice() {
        ["mod", "download", ..] => operands().count() == 1, // "download" itself
        ["mod", "tidy" | "graph" | "why" | "verify", ..] => true,
        ["get", ..] => true,
        ["list", ..] => words.contains(&"-m") && operands().any(|w| *w == "all"),
        _ => false,
    }
}

/// Whether the command builds (or lists) the main module's packages, so go
/// downloads the zip of every module providing a package they import: the
/// zips whose hashes go.sum holds. Not `-m` listings, and not
/// `go install`/`go run` of `pkg@version`, which ignore the main module.
pub fn builds_packages(args: &[OsString]) -> bool {
    let words: Vec<&str> = split_chdir(args)
        .1
        .iter()
        .filter_map(|a| a.to_str())
        .collect();
    let at_version = || {
        words
            .iter()
            .skip(1)
            .any(|w| !w.starts_with('-') && w.contains('@'))
    };
    match words.as_slice() {
        ["build" | "test" | "vet" | "generate", ..] => true,
        ["install" | "run", ..] => !at_version(),
        ["list", ..] => !words.contains(&"-m"),
        _ => false,
    }
}

/// Whether go reads another file than go.mod for the main module
/// (`-modfile`, on the command line or in GOFLAGS).
pub fn uses_other_modfile(args: &[OsString], goflags: &str) -> bool {
    let is_modfile = |w: &str| {
        let flag = w.trim_start_matches('-');
        w.starts_with('-') && (flag == "modfile" || flag.starts_with("modfile="))
    };
    args.iter().filter_map(|a| a.to_str()).any(is_modfile)
        || goflags.split_whitespace().any(is_modfile)
}

/// Output on stdout that a second run would repeat: `-json` output and `go mod graph/why`.
fn writes_results_to_stdout(args: &[OsString]) -> bool {
    let second = args.get(1).and_then(|a| a.to_str());
    matches!(second, Some("graph" | "why"))
        || args.iter().any(|a| {
            a.to_str()
                .is_some_and(|s| s == "-json" || s.starts_with("-json=") || s == "--json")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Kind {
        let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
        classify(&args)
    }

    #[test]
    fn knows_which_commands_load_the_whole_module_graph() {
        let loads = |line: &str| {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            loads_module_graph(&args)
        };
        for yes in [
            "mod download",
            "-C sub mod download -json",
            "-C=sub list -m all",
            "list -m -json all",
            "get example.com/x@v1.2.0",
            "mod tidy",
            "mod graph",
        ] {
            assert!(loads(yes), "{yes}");
        }
        for no in [
            "build ./...",
            "test ./...",
            "run .",
            "run example.com/x@latest",
            "install example.com/x/cmd@v1.0.0",
            "mod download example.com/x@v1.0.0",
            "list ./...",
            "list -m",
            "version",
            "-C",
            "",
        ] {
            assert!(!loads(no), "{no}");
        }
    }

    #[test]
    fn notices_another_modfile() {
        let args =
            |line: &str| -> Vec<OsString> { line.split_whitespace().map(OsString::from).collect() };
        assert!(uses_other_modfile(&args("mod download -modfile=x.mod"), ""));
        assert!(uses_other_modfile(
            &args("mod download --modfile x.mod"),
            ""
        ));
        assert!(uses_other_modfile(
            &args("mod tidy"),
            "-mod=mod -modfile=alt.mod"
        ));
        assert!(!uses_other_modfile(&args("mod download"), "-mod=mod"));
        assert!(!uses_other_modfile(&args("list -m all"), ""));
    }

    #[test]
    fn classifies_common_commands() {
        assert_eq!(kind(""), Kind::Passthrough);
        assert_eq!(kind("version"), Kind::Passthrough);
        assert_eq!(kind("env -json"), Kind::Passthrough);
        assert_eq!(kind("build ./..."), Kind::FetchRetryable);
        assert_eq!(kind("mod download"), Kind::FetchRetryable);
        assert_eq!(kind("mod download -json"), Kind::FetchOnce);
        assert_eq!(kind("mod graph"), Kind::FetchOnce);
        assert_eq!(kind("run ."), Kind::FetchOnce);
        assert_eq!(kind("test ./..."), Kind::FetchOnce);
        assert_eq!(kind("list -m all"), Kind::FetchOnce);
        assert_eq!(kind("frobnicate"), Kind::FetchOnce);
        // go's -C comes first and is not the subcommand.
        assert_eq!(kind("-C sub env GOPROXY"), Kind::Passthrough);
        assert_eq!(kind("-C=sub version"), Kind::Passthrough);
        assert_eq!(kind("-C sub build ./..."), Kind::FetchRetryable);
        assert_eq!(kind("-C sub mod graph"), Kind::FetchOnce);
        assert_eq!(kind("-C"), Kind::Passthrough);
    }

    #[test]
    fn knows_which_commands_build_the_main_module_s_packages() {
        let builds = |line: &str| {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            builds_packages(&args)
        };
        for line in [
            "build ./...",
            "test -count=1 ./...",
            "vet .",
            "generate ./...",
            "install ./cmd/x",
            "run .",
            "list ./...",
            "list -deps -json ./...",
            "-C sub build .",
        ] {
            assert!(builds(line), "{line}");
        }
        for line in [
            "install golang.org/x/tools/gopls@latest",
            "run example.com/cmd@v1.0.0",
            "list -m all",
            "mod download",
            "get example.com/x",
            "version",
            "",
        ] {
            assert!(!builds(line), "{line}");
        }
    }

    #[test]
    fn fetches_ahead_what_each_command_asks_for() {
        let of = |line: &str| {
            let args: Vec<OsString> = line.split_whitespace().map(OsString::from).collect();
            prefetch(&args)
        };
        assert_eq!(of("mod download"), Prefetch::WithZips);
        assert_eq!(of("mod download -json"), Prefetch::WithZips);
        assert_eq!(of("mod tidy"), Prefetch::ModsOnly);
        assert_eq!(of("build ./..."), Prefetch::Small);
        assert_eq!(of("list -m all"), Prefetch::Small);
        assert_eq!(of("-C sub mod download"), Prefetch::WithZips);
    }
}

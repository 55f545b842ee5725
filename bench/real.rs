//! Fetch-ahead benchmark on real modules (issue 19): Debian's golang-*-dev
//! packages (sources in /usr/share/gocode/src) served as module versions by
//! a loopback proxy whose every answer comes 50 or 150 ms late, with a
//! checksum database of their own (verification on), the real go, a fresh
//! module cache per run:
//!
//! - `go build` and `go test ./...` of a small program importing a dozen of
//!   them (its test imports testify), with the go.sum plain `go mod tidy`
//!   wrote against the same proxy;
//! - `go build` without a go.sum (go writes it: GOFLAGS=-mod=mod);
//!   builds with `-trimpath`, so that compiling is cached (see [`GOFLAGS`]);
//! - `go build` with a go.sum holding only the zip lines of the main go.mod's
//!   direct requirements: the relay then fetches ahead exactly those zips,
//!   while go asks what it asks without a go.sum (a go.mod line missing from
//!   go.sum is looked up in the database either way). It stands in for
//!   "without a go.sum, fetch the direct requirements' zips" (issue 19 asks
//!   whether that pays for itself) without changing goshim.
//!
//! each with plain go, the relay with `GOSHIM_PREFETCH=0` and the relay
//! fetching ahead, in rounds of one run of each in a shuffled order
//! (`PREFETCH_BENCH_RUNS`, default 3; medians), at `PREFETCH_BENCH_DELAYS_MS`
//! (default 50,150). `REAL_BENCH_ONLY=<text>` keeps the rows whose go.sum or
//! command contains it. The waste comes from `goshim status --json`; the zips
//! the relay fetched that go never took (the proxy's log against the module
//! cache) are named below the table.
//!
//! The modules: each package's go.mod roots (or, without one, its import
//! path's root; go.mod then as go makes it up), at the package's version
//! (`1.8.1-2` → v1.8.1), zips of the files go would put in them (no nested
//! modules, vendor directories or symlinks; stored, not deflated). Each go.mod
//! requires versions Debian does not have: every module is served again under
//! each version some go.mod requires (the same files, relabelled), and a path
//! no package provides (viper's go.mod names the etcd, grpc and cloud client
//! graph) as a stub (a go.mod only), so that version selection sees the real
//! graph. Missing packages are installed with apt-get when possible, else the
//! bench says why it skips. Markdown to stdout and `target/bench/real.md`.
//!
//! ```sh
//! GOSHIM_TEST_GO=/path/to/go/bin/go cargo bench --bench real
//! ```

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "measure.rs"]
mod measure;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::modtree::escape_module_path;
use common::sumdb::{SUMDB_NAME, SumDb};
use common::zip::store_zip;
use common::{Fault, TestProxy, World, show};
use measure::{Waste, Way, median, ratio, shown, shuffle, timed};

/// The packages the program imports, and what they pull in (apt installs
/// their dependencies; every installed golang-*-dev package is served).
const PACKAGES: &[&str] = &[
    "golang-github-spf13-cobra-dev",
    "golang-github-spf13-viper-dev",
    "golang-github-sirupsen-logrus-dev",
    "golang-github-stretchr-testify-dev",
    "golang-golang-x-text-dev",
    "golang-github-google-uuid-dev",
    "golang-github-pkg-errors-dev",
    "golang-github-fatih-color-dev",
    "golang-github-mattn-go-isatty-dev",
    "golang-github-google-go-cmp-dev",
    "golang-github-urfave-cli-v2-dev",
    "golang-github-inconshreveable-mousetrap-dev",
    // Imported by tests of dependencies, which `go mod tidy` loads too.
    "golang-github-frankban-quicktest-dev",
    "golang-gopkg-check.v1-dev",
];

const GOCODE: &str = "/usr/share/gocode/src";

/// `-trimpath`: the shared build cache then serves every fresh module cache
/// (without it the packages' directories are part of the cache keys, and each
/// run compiled all of viper and x/text again: seconds of CPU, not fetching).
const GOFLAGS: &str = "-mod=mod -trimpath";

const MAIN_GO: &str = r#"package main

import (
	"fmt"
	"os"

	"github.com/fatih/color"
	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"
	"github.com/mattn/go-isatty"
	"github.com/pkg/errors"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
	"github.com/urfave/cli/v2"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
)

func title(s string) string { return cases.Title(language.English).String(s) }

func main() {
	root := &cobra.Command{Use: "real", Run: func(*cobra.Command, []string) {}}
	viper.SetDefault("name", title("real modules"))
	app := &cli.App{Name: "real"}
	logrus.SetOutput(os.Stderr)
	fmt.Println(color.New(color.Bold).Sprint(viper.GetString("name")), root.Use, app.Name,
		uuid.NewSHA1(uuid.NameSpaceURL, []byte("goshim")), isatty.IsTerminal(os.Stdout.Fd()),
		cmp.Equal(1, 1), errors.Wrap(errors.New("e"), "w"))
}
"#;

const MAIN_TEST_GO: &str = r#"package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTitle(t *testing.T) { assert.Equal(t, "Real Modules", title("real modules")) }
"#;

/// Which go.sum a run starts with.
#[derive(Clone, Copy, PartialEq)]
enum Sum {
    /// As plain `go mod tidy` wrote it.
    Tidy,
    /// None.
    Missing,
    /// Only the zip lines of the main go.mod's direct requirements.
    DirectZips,
}

impl Sum {
    fn label(self) -> &'static str {
        match self {
            Sum::Tidy => "tidy go.sum",
            Sum::Missing => "no go.sum",
            Sum::DirectZips => "direct requirements' zip lines only",
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // cargo bench -- --list
    }
    let worlds_in = common::world::place_worlds("PREFETCH_BENCH_TMPDIR");
    let (runs, delays) = measure::runs_and_delays();
    let only = std::env::var("REAL_BENCH_ONLY").unwrap_or_default();
    if let Err(why) = install(PACKAGES) {
        println!("bench real: skipped: {why}");
        return;
    }
    let served = Served::assemble();
    let proxy = TestProxy::builder()
        .files(served.files.clone())
        .sumdb(&served.db)
        .start();
    let project = Project::tidy(&proxy, &served.db);

    let build: &[&str] = &["build", "-o", "out/prog", "."];
    let rows: [(Sum, &[&str]); 4] = [
        (Sum::Tidy, build),
        (Sum::Tidy, &["test", "./..."]),
        (Sum::Missing, build),
        (Sum::DirectZips, build),
    ];
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut md = format!(
        "Worlds in {worlds_in}; {runs} rounds, medians; load average at the start: {}.\n\n{}\
         `go mod tidy -e` could not find: {}.\n\nThe main go.mod:\n\n```\n{}```\n\n",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
        served.describe(),
        project.complaints.join("; "),
        project.go_mod,
    );
    let _ = writeln!(
        md,
        "| go.sum | command | delay | plain go | shim, prefetch off | shim | shim / plain | shim / prefetch off | fetched ahead | unused (requests, bytes) | zips ahead, unused |\n|---|---|---|---:|---:|---:|---:|---:|---|---|---|"
    );
    let mut unused_zips = String::new();
    let ways = [Way::Plain, Way::ShimNoPrefetch, Way::Shim];
    let mut seed = std::process::id() as u64 | 1;
    for &delay in &delays {
        proxy.set_fault(Fault::Delay(Duration::from_millis(delay)));
        for (sum, args) in rows {
            let command = format!("go {}", args.join(" "));
            if !format!("{} {command}", sum.label()).contains(&only) {
                continue;
            }
            let mut ms: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
            let (mut waste, mut never_taken) = (Waste::default(), Vec::new());
            let mut order = ways;
            for _ in 0..runs {
                shuffle(&mut order, &mut seed);
                for way in order {
                    proxy.clear_log();
                    let (t, world) = run(&proxy, &served.db, &project, sum, args, way);
                    ms.entry(way as usize).or_default().push(t);
                    if way == Way::Shim {
                        waste = Waste::of(&world);
                        never_taken = zips_never_taken(&proxy, &world);
                    }
                }
            }
            let med = |way: Way| median(ms.get(&(way as usize)).map_or(&[][..], |v| v));
            let line = format!(
                "| {} | `{command}` | {delay} ms | {} | {} | {} | **{}** | {} | {} ({:.0} KiB) | {}, {:.0} KiB | {}, {} |",
                sum.label(),
                shown(med(Way::Plain), delay),
                shown(med(Way::ShimNoPrefetch), delay),
                shown(med(Way::Shim), delay),
                ratio(med(Way::Shim), med(Way::Plain)),
                ratio(med(Way::Shim), med(Way::ShimNoPrefetch)),
                waste.fetched,
                waste.fetched_bytes as f64 / 1024.0,
                waste.unused,
                waste.unused_bytes as f64 / 1024.0,
                waste.zips,
                waste.unused_zips,
            );
            eprintln!("{line}");
            md.push_str(&line);
            md.push('\n');
            let _ = writeln!(
                unused_zips,
                "- {}, `{command}`, {delay} ms: {}",
                sum.label(),
                if never_taken.is_empty() {
                    "none".to_string()
                } else {
                    never_taken.join(", ")
                }
            );
        }
    }
    let _ = write!(
        md,
        "\nZips the relay fetched that go never took (last shim run of each row):\n\n{unused_zips}"
    );
    println!("{md}");
    let _ = std::fs::create_dir_all("target/bench");
    let _ = std::fs::write("target/bench/real.md", &md);
}

/// One cold run of `go args` in a fresh world holding the project with the
/// go.sum `sum` says; its time and the world (for the counters).
fn run(
    proxy: &TestProxy,
    db: &SumDb,
    project: &Project,
    sum: Sum,
    args: &[&str],
    way: Way,
) -> (f64, World) {
    let mut world = World::new();
    world.set_env("GOPROXY", proxy.url());
    world.set_env("GOFLAGS", GOFLAGS);
    world.verify_with(db);
    way.configure(&mut world);
    project.write(&world, sum);
    let (out, ms) = timed(&mut way.command(&world, args));
    assert!(out.status.success(), "go {args:?}\n{}", show(&out));
    (ms, world)
}

/// `module@version` of each zip the proxy sent (the relay asked for it)
/// that is not in the world's module cache (go never took it).
fn zips_never_taken(proxy: &TestProxy, world: &World) -> Vec<String> {
    let cache = world.path("gopath/pkg/mod/cache/download");
    let mut names: Vec<String> = proxy
        .requests_ending_with(".zip")
        .iter()
        .filter(|r| !cache.join(r.path.trim_start_matches('/')).exists())
        .map(|r| {
            let (module, version) = r.path.trim_start_matches('/').split_once("/@v/").unwrap();
            format!("{module}@{}", version.trim_end_matches(".zip"))
        })
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The main module: its files, and go.mod and go.sum as plain `go mod tidy`
/// wrote them against the proxy.
struct Project {
    go_mod: String,
    go_sum: String,
    /// The go.sum lines of the main go.mod's direct requirements' zips.
    direct_zip_lines: String,
    /// What `go mod tidy -e` could not find.
    complaints: Vec<String>,
}

impl Project {
    /// Runs plain go's `go mod tidy -e` (Debian leaves out some files, such
    /// as golang.org/x/sys/windows, which tidy looks for; its complaints go
    /// to the report), then `go build` and `go test` once
    /// (which must pass; they also warm the shared build cache, so that the
    /// timed runs measure fetching, not compiling).
    fn tidy(proxy: &TestProxy, db: &SumDb) -> Project {
        let mut world = World::new();
        world.set_env("GOPROXY", proxy.url());
        world.set_env("GOFLAGS", GOFLAGS);
        world.verify_with(db);
        world.write_file("work/go.mod", "module example.com/real\n\ngo 1.24\n");
        Project::write_sources(&world);
        let tidy = world.run_direct(&["mod", "tidy", "-e"]);
        let complaints = String::from_utf8_lossy(&tidy.stderr)
            .lines()
            .filter(|l| l.contains("does not contain package") || l.contains("no matching"))
            .map(|l| l.trim().to_string())
            .collect();
        for args in [&["build", "-o", "out/prog", "."][..], &["test", "./..."]] {
            let out = world.run_direct(args);
            assert!(out.status.success(), "go {args:?}\n{}", show(&out));
        }
        let read = |name: &str| std::fs::read_to_string(world.path("work").join(name)).unwrap();
        let (go_mod, go_sum) = (read("go.mod"), read("go.sum"));
        let direct: BTreeSet<String> = requirements(&world.path("work/go.mod"))
            .into_iter()
            .filter(|r| !r.indirect)
            .map(|r| format!("{} {}", r.path, r.version))
            .collect();
        let direct_zip_lines = go_sum
            .lines()
            .filter(|l| {
                let mut f = l.split_whitespace();
                let key = format!("{} {}", f.next().unwrap_or(""), f.next().unwrap_or(""));
                direct.contains(&key)
            })
            .map(|l| format!("{l}\n"))
            .collect();
        Project {
            go_mod,
            go_sum,
            direct_zip_lines,
            complaints,
        }
    }

    fn write_sources(world: &World) {
        world.write_file("work/main.go", MAIN_GO);
        world.write_file("work/main_test.go", MAIN_TEST_GO);
    }

    fn write(&self, world: &World, sum: Sum) {
        world.write_file("work/go.mod", &self.go_mod);
        Project::write_sources(world);
        match sum {
            Sum::Tidy => drop(world.write_file("work/go.sum", &self.go_sum)),
            Sum::DirectZips => drop(world.write_file("work/go.sum", &self.direct_zip_lines)),
            Sum::Missing => {}
        }
    }
}

/// Installs the packages that are missing (apt-get, non-interactive).
fn install(packages: &[&str]) -> Result<(), String> {
    if !Path::new("/usr/bin/dpkg-query").exists() {
        return Err("not a Debian system (no dpkg-query)".into());
    }
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| !dpkg_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("bench real: apt-get install {}", missing.join(" "));
    let out = Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("apt-get: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "apt-get install {} failed (as root, with a package index?):\n{}",
            missing.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

fn dpkg_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
}

/// One module root of a Debian package.
struct Source {
    path: String,
    /// The version Debian's package gives it (None when it has no
    /// `N.N.N`, as `0.0~git20200902.038fdea-1`: then it is served only
    /// under the versions go.mod files require).
    version: Option<String>,
    package: String,
    /// Files relative to the module root.
    files: Vec<(String, Vec<u8>)>,
    /// Its go.mod (None: go makes one up, `module <path>`).
    go_mod: Option<String>,
    requires: Vec<Requirement>,
}

impl Source {
    fn mod_file(&self) -> String {
        self.go_mod
            .clone()
            .unwrap_or_else(|| format!("module {}\n", self.path))
    }

    fn zip(&self, version: &str) -> Vec<u8> {
        let entries: Vec<(String, Vec<u8>)> = self
            .files
            .iter()
            .map(|(rel, data)| (format!("{}@{version}/{rel}", self.path), data.clone()))
            .collect();
        store_zip(&entries)
    }
}

struct Requirement {
    path: String,
    version: String,
    indirect: bool,
}

/// A go.mod file as `go mod edit -json` reads it.
fn go_mod_json(go_mod: &Path) -> serde_json::Value {
    let out = Command::new(common::go::real_go())
        .args(["mod", "edit", "-json"])
        .arg(go_mod)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .output()
        .expect("go mod edit -json");
    assert!(
        out.status.success(),
        "go mod edit -json {}",
        go_mod.display()
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// The `require`s of a go.mod file.
fn requirements(go_mod: &Path) -> Vec<Requirement> {
    go_mod_json(go_mod)["Require"]
        .as_array()
        .map(|rs| {
            rs.iter()
                .map(|r| Requirement {
                    path: r["Path"].as_str().unwrap_or_default().to_string(),
                    version: r["Version"].as_str().unwrap_or_default().to_string(),
                    indirect: r["Indirect"].as_bool().unwrap_or(false),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Everything the proxy serves, and the database that vouches for it.
struct Served {
    files: BTreeMap<String, Vec<u8>>,
    db: SumDb,
    sources: Vec<Source>,
    /// `path version` of the real modules served again under a required version.
    relabelled: Vec<String>,
    /// `path version` of the stubs.
    stubs: Vec<String>,
    /// Packages left out, and why.
    skipped: Vec<String>,
}

impl Served {
    fn assemble() -> Served {
        let mut skipped = Vec::new();
        let mut sources: Vec<Source> = Vec::new();
        for (package, deb_version) in installed_go_packages() {
            let version = semver_of(&deb_version);
            for root in module_roots(&package) {
                match Source::read(&root, &package, version.as_deref()) {
                    Ok(s) if sources.iter().any(|o| o.path == s.path) => {
                        skipped.push(format!("{package}: {} twice", s.path))
                    }
                    Ok(s) => sources.push(s),
                    Err(why) => skipped.push(format!("{package}: {why}")),
                }
            }
        }
        // Every version some go.mod requires, per path.
        let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for s in &sources {
            wanted
                .entry(s.path.clone())
                .or_default()
                .extend(s.version.clone());
            for r in &s.requires {
                wanted
                    .entry(r.path.clone())
                    .or_default()
                    .insert(r.version.clone());
            }
        }
        let mut files = BTreeMap::new();
        let mut db = SumDb::new(SUMDB_NAME);
        let (mut relabelled, mut stubs) = (Vec::new(), Vec::new());
        for (path, versions) in &wanted {
            let source = sources.iter().find(|s| &s.path == path);
            let base = escape_module_path(path);
            for version in versions {
                let (zip, go_mod) = match source {
                    Some(s) => {
                        if s.version.as_ref() != Some(version) {
                            relabelled.push(format!("{path} {version}"));
                        }
                        (s.zip(version), s.mod_file())
                    }
                    None => {
                        stubs.push(format!("{path} {version}"));
                        let go_mod = format!("module {path}\n");
                        let entry = (format!("{path}@{version}/go.mod"), go_mod.clone().into());
                        (store_zip(&[entry]), go_mod)
                    }
                };
                db.add(path, version, &zip, &go_mod);
                let v = escape_module_path(version);
                let info =
                    format!("{{\"Version\":\"{version}\",\"Time\":\"2023-01-01T00:00:00Z\"}}");
                files.insert(format!("{base}/@v/{v}.info"), info.into_bytes());
                files.insert(format!("{base}/@v/{v}.mod"), go_mod.into_bytes());
                files.insert(format!("{base}/@v/{v}.zip"), zip);
            }
            let mut sorted: Vec<&String> = versions.iter().collect();
            sorted.sort_by(|a, b| semver_cmp(a, b));
            let list: String = sorted
                .iter()
                .filter(|v| !v.contains('-'))
                .map(|v| format!("{v}\n"))
                .collect();
            let latest = sorted.last().expect("a version");
            files.insert(format!("{base}/@v/list"), list.into_bytes());
            let info = format!("{{\"Version\":\"{latest}\",\"Time\":\"2023-01-01T00:00:00Z\"}}");
            files.insert(format!("{base}/@latest"), info.into_bytes());
        }
        Served {
            files,
            db,
            sources,
            relabelled,
            stubs,
            skipped,
        }
    }

    /// What was served, for the report.
    fn describe(&self) -> String {
        let bytes: usize = self
            .sources
            .iter()
            .map(|s| s.files.iter().map(|(_, d)| d.len()).sum::<usize>())
            .sum();
        let mut packages: Vec<&str> = self.sources.iter().map(|s| s.package.as_str()).collect();
        packages.dedup();
        let modules: Vec<String> = self
            .sources
            .iter()
            .map(|s| {
                format!(
                    "{}@{}",
                    s.path,
                    s.version.as_deref().unwrap_or("(required only)")
                )
            })
            .collect();
        format!(
            "Served: {} real modules from {} Debian packages ({:.1} MB of files, stored zips): {}.\n\
             Relabelled ({}, same files under a version some go.mod requires): {}.\n\
             Stubs ({}, go.mod only, paths no package provides): {}.\n\
             Left out: {}.\n",
            self.sources.len(),
            packages.len(),
            bytes as f64 / 1e6,
            modules.join(", "),
            self.relabelled.len(),
            self.relabelled.join(", "),
            self.stubs.len(),
            self.stubs.join(", "),
            if self.skipped.is_empty() {
                "nothing".to_string()
            } else {
                self.skipped.join("; ")
            },
        )
    }
}

/// `(package, version)` of every installed golang-*-dev package.
fn installed_go_packages() -> Vec<(String, String)> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f=${Package} ${Version} ${Status}\n", "golang-*-dev"])
        .output()
        .expect("dpkg-query");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.ends_with("install ok installed"))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.to_string()))
        })
        .collect()
}

/// The module roots under [`GOCODE`] of a package's files: the directories
/// of its go.mod files, else the root of its first Go file's import path
/// (`gopkg.in/x.v1`, `host/owner/repo`).
fn module_roots(package: &str) -> Vec<PathBuf> {
    let out = Command::new("dpkg").args(["-L", package]).output();
    let listed = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let files: Vec<PathBuf> = listed
        .unwrap_or_default()
        .lines()
        .filter(|l| l.starts_with(GOCODE))
        .map(PathBuf::from)
        .filter(|p| p.symlink_metadata().is_ok_and(|m| m.is_file()))
        .collect();
    let mod_roots: Vec<PathBuf> = files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "go.mod"))
        .filter_map(|p| p.parent().map(Path::to_path_buf))
        .collect();
    if !mod_roots.is_empty() {
        return mod_roots;
    }
    let Some(go_file) = files
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "go"))
    else {
        return Vec::new();
    };
    let rel = go_file.strip_prefix(GOCODE).unwrap();
    let depth = if rel.starts_with("gopkg.in") { 2 } else { 3 };
    vec![Path::new(GOCODE).join(rel.iter().take(depth).collect::<PathBuf>())]
}

impl Source {
    fn read(root: &Path, package: &str, version: Option<&str>) -> Result<Source, String> {
        let go_mod_path = root.join("go.mod");
        let go_mod = std::fs::read_to_string(&go_mod_path).ok();
        let path = match &go_mod {
            Some(_) => module_line(&go_mod_path)?,
            None => root.strip_prefix(GOCODE).unwrap().to_string_lossy().into(),
        };
        let version = match version.map(|v| (v, major_of_path(&path), semver_major(v))) {
            None => None,
            Some((v, Some(n), m)) if n == m => Some(v.to_string()),
            Some((v, None, 0 | 1)) => Some(v.to_string()),
            Some((v, None, _)) if go_mod.is_none() => Some(format!("{v}+incompatible")),
            Some((v, ..)) => return Err(format!("{path} cannot be {v}")),
        };
        let mut files = Vec::new();
        collect_files(root, root, &mut files);
        files.sort();
        let requires = match go_mod {
            Some(_) => requirements(&go_mod_path),
            None => Vec::new(),
        };
        Ok(Source {
            path,
            version,
            package: package.to_string(),
            files,
            go_mod,
            requires,
        })
    }
}

fn module_line(go_mod: &Path) -> Result<String, String> {
    go_mod_json(go_mod)["Module"]["Path"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| format!("no module line in {}", go_mod.display()))
}

/// The files go would put in the module zip of `root`: not those of nested
/// modules, vendor directories, VCS directories or symlinks.
fn collect_files(root: &Path, dir: &Path, files: &mut Vec<(String, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = path.symlink_metadata() else {
            continue;
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.is_dir() {
            let skip = matches!(name.as_str(), "vendor" | ".git" | ".hg" | ".svn" | ".bzr")
                || path.join("go.mod").exists();
            if !skip {
                collect_files(root, &path, files);
            }
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if let Ok(data) = std::fs::read(&path) {
                files.push((rel, data));
            }
        }
    }
}

/// `v1.8.1` from Debian's `1.8.1-2`, `1:0.4.0-1`, `1.0.6~git2021…`,
/// `2.0.2+ds1-1`: the first `N.N.N` after any epoch.
fn semver_of(deb: &str) -> Option<String> {
    let upstream = deb.split_once(':').map_or(deb, |(_, rest)| rest);
    let nums: Vec<&str> = upstream
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        .next()?
        .split('.')
        .take(3)
        .collect();
    (nums.len() == 3 && nums.iter().all(|n| !n.is_empty()))
        .then(|| format!("v{}.{}.{}", nums[0], nums[1], nums[2]))
}

/// N of a `/vN` or `gopkg.in/….vN` path (N ≥ 2 for `/vN`).
fn major_of_path(path: &str) -> Option<u64> {
    if let Some(rest) = path.strip_prefix("gopkg.in/") {
        return rest.rsplit_once(".v")?.1.parse().ok();
    }
    let last = path.rsplit('/').next()?;
    last.strip_prefix('v')?.parse().ok().filter(|n| *n >= 2)
}

fn semver_major(v: &str) -> u64 {
    v.trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Semantic version order, enough for these: numbers, then a release after
/// its pre-releases (pseudo-versions among them), which sort as text.
fn semver_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let key = |v: &str| {
        let v = v.trim_start_matches('v').trim_end_matches("+incompatible");
        let (core, pre) = v.split_once('-').map_or((v, None), |(c, p)| (c, Some(p)));
        let nums: Vec<u64> = core.split('.').map(|n| n.parse().unwrap_or(0)).collect();
        (nums, pre.is_none(), pre.unwrap_or("").to_string())
    };
    key(a).cmp(&key(b))
}

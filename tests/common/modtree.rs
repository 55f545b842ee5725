//! Synthetic Go modules and the GOPROXY protocol files that serve them.
//!
//! `ModTree::new(n)` describes modules `example.com/dep0` .. `example.com/dep{n-1}`,
//! each holding one package with `func Name() string` and `const Version`, so a
//! main module importing them all prints which copy of each it got. The same
//! tree can be served over HTTP by `TestProxy` or written to a directory for
//! `GOPROXY=file:///...`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::zip::store_zip;

/// The `go` directive of the synthetic modules.
const DEP_GO_VERSION: &str = "1.21";

/// One synthetic module and its published versions (ascending; last = latest).
#[derive(Clone, Debug)]
pub struct Module {
    /// Module path, e.g. `example.com/dep0`.
    pub path: String,
    /// Package name, e.g. `dep0`.
    pub name: String,
    pub versions: Vec<String>,
    /// `require` lines of its go.mod (path, version): a module graph.
    pub requires: Vec<(String, String)>,
    /// Bytes of incompressible data in its zip (`data.bin`), besides the source.
    pub padding: usize,
}

impl Module {
    pub fn latest(&self) -> &str {
        self.versions
            .last()
            .expect("a module has at least one version")
    }

    /// The module's go.mod (the same for every version).
    pub fn go_mod(&self) -> String {
        let mut text = format!("module {}\n\ngo {DEP_GO_VERSION}\n", self.path);
        if !self.requires.is_empty() {
            text.push_str("\nrequire (\n");
            for (path, version) in &self.requires {
                text.push_str(&format!("\t{path} {version}\n"));
            }
            text.push_str(")\n");
        }
        text
    }

    /// The package source of `version`.
    pub fn source(&self, version: &str) -> String {
        format!(
            "// Package {name} is a synthetic module served by goshim's test proxy.\n\
             package {name}\n\n\
             // Version is the version this copy was published as.\n\
             const Version = \"{version}\"\n\n\
             // Name identifies the module in test output.\n\
             func Name() string {{ return \"{name}\" }}\n",
            name = self.name
        )
    }

    /// The module zip of `version`: entries `<path>@<version>/go.mod` and `/<name>.go`.
    pub fn zip(&self, version: &str) -> Vec<u8> {
        self.zip_with_source(version, self.source(version))
    }

    /// A valid zip of `version` whose source has one more line than the
    /// published one: what a compromised proxy might serve. It still builds.
    pub fn tampered_zip(&self, version: &str) -> Vec<u8> {
        let source = self.source(version) + "\n// Tampered with after publication.\n";
        self.zip_with_source(version, source)
    }

    fn zip_with_source(&self, version: &str, source: String) -> Vec<u8> {
        let prefix = format!("{}@{version}", self.path);
        let mut entries = vec![
            (format!("{prefix}/go.mod"), self.go_mod().into_bytes()),
            (format!("{prefix}/{}.go", self.name), source.into_bytes()),
        ];
        if self.padding > 0 {
            entries.push((format!("{prefix}/data.bin"), noise(self.padding)));
        }
        store_zip(&entries)
    }

    /// The `.info` JSON of `version` (a fixed, per-version time).
    pub fn info(&self, version: &str) -> String {
        let day = self.versions.iter().position(|v| v == version).unwrap_or(0) + 1;
        format!("{{\"Version\":\"{version}\",\"Time\":\"2024-01-{day:02}T00:00:00Z\"}}")
    }
}

/// A set of synthetic modules.
#[derive(Clone, Debug)]
pub struct ModTree {
    pub modules: Vec<Module>,
}

impl ModTree {
    /// `n` modules `example.com/depN`, each at v1.0.0 only.
    pub fn new(n: usize) -> ModTree {
        ModTree::with_versions(n, &["v1.0.0"])
    }

    /// `n` modules, each published at every one of `versions` (ascending order).
    pub fn with_versions(n: usize, versions: &[&str]) -> ModTree {
        assert!(!versions.is_empty(), "a module needs at least one version");
        let modules = (0..n)
            .map(|i| Module {
                path: format!("example.com/dep{i}"),
                name: format!("dep{i}"),
                versions: versions.iter().map(|v| v.to_string()).collect(),
                requires: Vec::new(),
                padding: 0,
            })
            .collect();
        ModTree { modules }
    }

    /// `n` modules at v1.0.0 whose zips are about `bytes` each: a project
    /// whose module downloads add up (fetching ahead must stay bounded).
    pub fn padded(n: usize, bytes: usize) -> ModTree {
        let mut tree = ModTree::new(n);
        for m in &mut tree.modules {
            m.padding = bytes;
        }
        tree
    }

    /// A module graph `levels` deep and `width` wide: `example.com/l<L>m<i>`
    /// at v1.0.0, each requiring every module of the next level.
    pub fn layered(levels: usize, width: usize) -> ModTree {
        let name = |l: usize, i: usize| format!("l{l}m{i}");
        let modules = (0..levels)
            .flat_map(|l| (0..width).map(move |i| (l, i)))
            .map(|(l, i)| Module {
                path: format!("example.com/{}", name(l, i)),
                name: name(l, i),
                versions: vec!["v1.0.0".into()],
                requires: (0..width)
                    .filter(|_| l + 1 < levels)
                    .map(|j| (format!("example.com/{}", name(l + 1, j)), "v1.0.0".into()))
                    .collect(),
                padding: 0,
            })
            .collect();
        ModTree { modules }
    }

    /// The GOPROXY protocol files: path relative to the proxy root (no leading
    /// slash, module paths escaped as the protocol requires) → contents.
    pub fn proxy_files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for m in &self.modules {
            let base = escape_module_path(&m.path);
            let list: String = m.versions.iter().map(|v| format!("{v}\n")).collect();
            files.insert(format!("{base}/@v/list"), list.into_bytes());
            for v in &m.versions {
                files.insert(format!("{base}/@v/{v}.info"), m.info(v).into_bytes());
                files.insert(format!("{base}/@v/{v}.mod"), m.go_mod().into_bytes());
                files.insert(format!("{base}/@v/{v}.zip"), m.zip(v));
            }
            files.insert(format!("{base}/@latest"), m.info(m.latest()).into_bytes());
        }
        files
    }

    /// Proxy paths of every zip → its tampered copy ([`Module::tampered_zip`]).
    pub fn tampered_zips(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for m in &self.modules {
            for v in &m.versions {
                let path = format!("{}/@v/{v}.zip", escape_module_path(&m.path));
                files.insert(path, m.tampered_zip(v));
            }
        }
        files
    }

    /// Writes the proxy files under `dir`, for `GOPROXY=file://<dir>`.
    pub fn write_proxy_dir(&self, dir: &Path) {
        for (rel, data) in self.proxy_files() {
            let path = dir.join(rel);
            fs::create_dir_all(path.parent().unwrap()).expect("create proxy dir");
            fs::write(&path, data).expect("write proxy file");
        }
    }

    /// Writes into `dir` a main module `example.com/m` that requires every module
    /// at its latest version and prints one "depN vX.Y.Z" line per module.
    pub fn write_main_module(&self, dir: &Path) {
        fs::create_dir_all(dir).expect("create main module dir");
        fs::write(dir.join("go.mod"), self.main_go_mod()).expect("write go.mod");
        fs::write(dir.join("main.go"), self.main_go()).expect("write main.go");
    }

    /// go.mod of the main module (see [`ModTree::write_main_module`]).
    pub fn main_go_mod(&self) -> String {
        let mut s = String::from("module example.com/m\n\ngo 1.24\n");
        if !self.modules.is_empty() {
            s.push_str("\nrequire (\n");
            for m in &self.modules {
                s.push_str(&format!("\t{} {}\n", m.path, m.latest()));
            }
            s.push_str(")\n");
        }
        s
    }

    /// main.go of the main module (see [`ModTree::write_main_module`]).
    pub fn main_go(&self) -> String {
        let imports: String = self
            .modules
            .iter()
            .map(|m| format!("\t\"{}\"\n", m.path))
            .collect();
        let prints: String = self
            .modules
            .iter()
            .map(|m| format!("\tfmt.Println({n}.Name(), {n}.Version)\n", n = m.name))
            .collect();
        // `var _` keeps fmt used when the tree is empty.
        format!(
            "package main\n\nimport (\n\t\"fmt\"\n{imports})\n\nvar _ = fmt.Sprint\n\nfunc main() {{\n{prints}}}\n"
        )
    }

    /// What the main module prints: "depN vX.Y.Z" per module, in order.
    pub fn expected_output(&self) -> String {
        self.modules
            .iter()
            .map(|m| format!("{} {}\n", m.name, m.latest()))
            .collect()
    }
}

/// The GOPROXY protocol's case escaping of module paths and versions (`!`
/// and the lower case letter for each capital). The real go checks it: it
/// escapes its requests itself, so a wrong escape here would make the test
/// proxies answer 404.
pub fn escape_module_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c.is_ascii_uppercase() {
            out.push('!');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// `example.com/big` v1.0.0 and its zip, which holds `bytes` of xorshift output
/// (incompressible, stored uncompressed): for streaming and memory checks.
pub fn big_module(bytes: usize) -> (ModTree, Vec<u8>) {
    let module = Module {
        path: "example.com/big".into(),
        name: "big".into(),
        versions: vec!["v1.0.0".into()],
        requires: Vec::new(),
        padding: bytes,
    };
    let zip = module.zip("v1.0.0");
    (
        ModTree {
            modules: vec![module],
        },
        zip,
    )
}

/// `bytes` of xorshift output: incompressible, so stored zips are that large.
fn noise(bytes: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut data = Vec::with_capacity(bytes + 8);
    while data.len() < bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(bytes);
    data
}

//! Which certificate authorities go trusts, so that goshim trusts the same
//! ones (crypto/x509 `loadSystemRoots`, go 1.27): a company CA installed in
//! the system store, or named by SSL_CERT_FILE / SSL_CERT_DIR, must work
//! through goshim exactly as it does with go alone.
//!
//! - Linux and other Unix: the files and folders below (the system store),
//!   SSL_CERT_FILE replacing the file list and SSL_CERT_DIR the folder list.
//! - macOS and Windows: the platform verifier (keychain, CryptoAPI), unless
//!   SSL_CERT_FILE or SSL_CERT_DIR is set: then those, and nothing else.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// crypto/x509 root_linux.go `certFiles`: the first one that can be read is used.
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const SYSTEM_FILES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt", // Debian, Ubuntu, Gentoo
    "/etc/pki/tls/certs/ca-bundle.crt",   // Fedora, RHEL 6
    "/etc/ssl/ca-bundle.pem",             // OpenSUSE
    "/etc/pki/tls/cacert.pem",            // OpenELEC
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", // CentOS, RHEL 7
    "/etc/ssl/cert.pem",                  // Alpine
];
/// crypto/x509 root_linux.go `certDirectories`: every file in each is read.
#[cfg(not(any(target_os = "macos", target_os = "windows")))]
const SYSTEM_DIRS: &[&str] = &["/etc/ssl/certs", "/etc/pki/tls/certs"];

/// macOS and Windows have no default paths: the platform verifier is the store.
#[cfg(any(target_os = "macos", target_os = "windows"))]
const SYSTEM_FILES: &[&str] = &[];
#[cfg(any(target_os = "macos", target_os = "windows"))]
const SYSTEM_DIRS: &[&str] = &[];

/// Where go reads the roots it trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    /// The operating system's verifier (macOS, Windows without the variables).
    Platform,
    OnDisk(OnDisk),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnDisk {
    /// Candidates in order: only the first readable one is used.
    pub files: Vec<PathBuf>,
    /// Every file in each (except links to a file in the same folder).
    pub dirs: Vec<PathBuf>,
}

/// go's decision for this platform, from SSL_CERT_FILE and SSL_CERT_DIR.
pub fn go_store(cert_file: Option<&OsStr>, cert_dir: Option<&OsStr>) -> Store {
    let platform_verifier = cfg!(any(target_os = "macos", target_os = "windows"));
    decide(
        cert_file,
        cert_dir,
        platform_verifier,
        SYSTEM_FILES,
        SYSTEM_DIRS,
    )
}

/// The rule itself, with the platform's defaults as arguments (table-tested).
fn decide(
    cert_file: Option<&OsStr>,
    cert_dir: Option<&OsStr>,
    platform_verifier: bool,
    system_files: &[&str],
    system_dirs: &[&str],
) -> Store {
    // As for every go setting, an empty value counts as unset.
    let cert_file = cert_file.filter(|v| !v.is_empty());
    let cert_dir = cert_dir.filter(|v| !v.is_empty());
    if platform_verifier && cert_file.is_none() && cert_dir.is_none() {
        return Store::Platform;
    }
    let files = match cert_file {
        Some(f) => vec![PathBuf::from(f)],
        None => system_files.iter().map(PathBuf::from).collect(),
    };
    let dirs = match cert_dir {
        // ':' on Unix, ';' on Windows, as OpenSSL and go split it.
        Some(d) => std::env::split_paths(d)
            .filter(|p| !p.as_os_str().is_empty())
            .collect(),
        None => system_dirs.iter().map(PathBuf::from).collect(),
    };
    Store::OnDisk(OnDisk { files, dirs })
}

impl OnDisk {
    /// Every certificate go would read from these places, each once. Unreadable
    /// files and folders, and blocks that are not certificates, are skipped, as go does.
    pub fn certificates(&self) -> Vec<CertificateDer<'static>> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |data: &[u8]| {
            for cert in CertificateDer::pem_slice_iter(data).flatten() {
                if seen.insert(cert.as_ref().to_vec()) {
                    out.push(cert);
                }
            }
        };
        if let Some(data) = self.files.iter().find_map(|f| std::fs::read(f).ok()) {
            add(&data);
        }
        for dir in &self.dirs {
            for file in unique_entries(dir) {
                if let Ok(data) = std::fs::read(&file) {
                    add(&data);
                }
            }
        }
        out
    }
}

/// The folder's entries, without links whose target has no path separator
/// (`openssl rehash`'s hash names pointing at a file beside them), as go's
/// `readUniqueDirectoryEntries` leaves them out.
fn unique_entries(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| {
            let is_link = e.file_type().is_ok_and(|t| t.is_symlink());
            !(is_link
                && std::fs::read_link(e.path()).is_ok_and(|target| {
                    !target
                        .as_os_str()
                        .to_string_lossy()
                        .contains(std::path::MAIN_SEPARATOR)
                }))
        })
        .map(|e| e.path())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(files: &[&str], dirs: &[&str]) -> Store {
        Store::OnDisk(OnDisk {
            files: files.iter().map(PathBuf::from).collect(),
            dirs: dirs.iter().map(PathBuf::from).collect(),
        })
    }

    const DIRS: &str = if cfg!(windows) { "/a;/b;;" } else { "/a:/b::" };

    #[test]
    fn each_variable_replaces_only_its_own_list() {
        let (files, dirs) = (&["/f1", "/f2"][..], &["/d1"][..]);
        let s = |v: &'static str| Some(OsStr::new(v));
        let table = [
            // (SSL_CERT_FILE, SSL_CERT_DIR, platform verifier) -> store
            (None, None, false, on_disk(files, dirs)),
            (s("/ca.pem"), None, false, on_disk(&["/ca.pem"], dirs)),
            // ':' between folders, ';' on Windows (filepath.SplitList).
            (None, s(DIRS), false, on_disk(files, &["/a", "/b"])),
            (s("/ca.pem"), s("/a"), false, on_disk(&["/ca.pem"], &["/a"])),
            (s(""), s(""), false, on_disk(files, dirs)),
            (None, None, true, Store::Platform),
            (s(""), None, true, Store::Platform),
            (s("/ca.pem"), None, true, on_disk(&["/ca.pem"], dirs)),
        ];
        for (file, dir, platform, want) in table {
            assert_eq!(
                decide(file, dir, platform, files, dirs),
                want,
                "{file:?} {dir:?} {platform}"
            );
        }
    }

    #[test]
    fn the_system_lists_are_go_s() {
        if cfg!(target_os = "linux") {
            assert_eq!(SYSTEM_FILES.len(), 6);
            assert_eq!(SYSTEM_FILES[0], "/etc/ssl/certs/ca-certificates.crt");
            assert_eq!(SYSTEM_DIRS, ["/etc/ssl/certs", "/etc/pki/tls/certs"]);
        }
    }

    fn pem(name: &str) -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    #[cfg(unix)] // go reads roots from files on Unix only (and uses symlinks here)
    fn reads_the_first_readable_file_and_every_file_of_the_folders() {
        let tmp = tempfile::tempdir().unwrap();
        let p = |n: &str| tmp.path().join(n);
        let (a, b, c, d) = (pem("a"), pem("b"), pem("c"), pem("d"));
        std::fs::write(p("first.pem"), &a).unwrap();
        std::fs::write(p("second.pem"), &b).unwrap();
        std::fs::create_dir(p("dir")).unwrap();
        // A readable name with any suffix, a bundle of two, and text around them.
        std::fs::write(p("dir/company-ca.crt"), format!("junk\n{c}")).unwrap();
        std::fs::write(p("dir/not-a-cert.txt"), "hello").unwrap();
        // A hash-named link beside its target is skipped (read once through the target);
        // a link into another folder is read.
        std::os::unix::fs::symlink("company-ca.crt", p("dir/abcd1234.0")).unwrap();
        std::fs::write(p("elsewhere.pem"), &d).unwrap();
        std::os::unix::fs::symlink(p("elsewhere.pem"), p("dir/linked.pem")).unwrap();
        let store = OnDisk {
            files: vec![p("missing.pem"), p("first.pem"), p("second.pem")],
            dirs: vec![p("dir"), p("no-such-dir")],
        };
        let mut got: Vec<Vec<u8>> = store.certificates().iter().map(|c| c.to_vec()).collect();
        got.sort();
        let mut want: Vec<Vec<u8>> = [a, c, d]
            .iter()
            .map(|pem| {
                CertificateDer::from_pem_slice(pem.as_bytes())
                    .unwrap()
                    .to_vec()
            })
            .collect();
        want.sort();
        assert_eq!(got, want);
    }
}

//! The release installer, offline: the archive and `goshim-installer.sh` for
//! this machine built as the release workflow builds them (cargo-dist, with
//! the static glibc flags of .github/build-setup.yml), served from a loopback
//! HTTP server, installed with `curl ... | sh` (dash) into a temporary HOME.
//! A login shell then finds `go` as the shim, ahead of a Go folder the profile
//! already put on PATH, and `go version` runs through it. A tampered archive
//! and a server that is gone install nothing; installing twice leaves one PATH
//! line; `goshim self uninstall` leaves only the config.
//!
//! The PowerShell installer, on Linux (no PowerShell here): dist's
//! goshim-installer.ps1 gets the archive's SHA-256 check from
//! .github/ps1-checksum.py, as the release workflow runs it, and release.yml
//! is dist's output plus that one step.
//!
//! Needs `dist` (cargo install cargo-dist --locked): without it the tests say
//! so and pass without checking anything (.ci/run builds cargo-dist when it is missing).

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::scenario::home_files;
use common::{World, show, stderr_text, stdout_text};

const TARGET: &str = "x86_64-unknown-linux-gnu";
const ARCHIVE: &str = "goshim-x86_64-unknown-linux-gnu.tar.xz";

fn dist() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")));
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain(home.map(|h| h.join("bin")))
        .map(|d| d.join("dist"))
        .find(|p| p.is_file())
}

/// `dist build` for this machine's archive, then the installer, as the
/// release workflow runs them: the local job's JSON manifest (with the
/// archive's checksum) is in target/distrib when the global job writes the
/// installer, which embeds that checksum. Returns target/distrib.
fn build_release(dist: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let distrib = root.join("target/distrib");
    let _ = fs::remove_dir_all(&distrib); // no manifests of other runs
    for artifacts in ["--artifacts=local", "--artifacts=global"] {
        let out = common::process::run_with_timeout(
            Command::new(dist)
                .args([
                    "build",
                    artifacts,
                    "--target",
                    TARGET,
                    "--output-format=json",
                ])
                .current_dir(root)
                // As .github/build-setup.yml sets it for the Linux build jobs.
                .env("RUSTFLAGS", "-C target-feature=+crt-static"),
            Duration::from_secs(1200),
        );
        assert!(
            out.status.success(),
            "dist build {artifacts}: {}",
            show(&out)
        );
        if artifacts == "--artifacts=local" {
            // The workflow's BUILD_MANIFEST_NAME.
            let manifest = distrib.join(format!("{TARGET}-dist-manifest.json"));
            fs::write(manifest, &out.stdout).unwrap();
        }
    }
    for f in [ARCHIVE, "goshim-installer.sh"] {
        assert!(distrib.join(f).is_file(), "dist build made no {f}");
    }
    let installer = fs::read_to_string(distrib.join("goshim-installer.sh")).unwrap();
    assert!(
        installer.contains("_checksum_style=\"sha256\""),
        "the installer embeds no checksum for the archive"
    );
    distrib
}

/// A file server on 127.0.0.1: GET /<name> serves `dir/<name>`, else 404.
/// Runs until the process ends; returns its port.
fn serve(dir: PathBuf) -> (u16, std::thread::JoinHandle<()>, TcpListener) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let l = listener.try_clone().unwrap();
    let handle = std::thread::spawn(move || {
        for conn in l.incoming() {
            let Ok(conn) = conn else { return };
            let dir = dir.clone();
            std::thread::spawn(move || answer(conn, &dir));
        }
    });
    (port, handle, listener)
}

fn answer(mut conn: TcpStream, dir: &Path) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
    }
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let file = dir.join(path.trim_start_matches('/'));
    let _ = match fs::read(&file) {
        Ok(body) if !path.contains("..") => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            conn.write_all(head.as_bytes())
                .and_then(|_| conn.write_all(&body))
        }
        _ => conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// `curl -LsSf <base>/goshim-installer.sh | sh` with the archives taken from
/// `downloads` (GOSHIM_DOWNLOAD_URL), under `sh` (dash on Debian).
fn curl_pipe_sh(w: &World, installer_url: &str, downloads: &str) -> Output {
    let mut cmd = w.cmd("sh", ["-c", &format!("curl -LsSf {installer_url} | sh")]);
    cmd.env("GOSHIM_DOWNLOAD_URL", downloads);
    w.run(&mut cmd)
}

/// No PT_INTERP program header and no DT_NEEDED entry: a static executable
/// (static-pie keeps a PT_DYNAMIC for its own relocations, with no NEEDED).
fn assert_static_elf(bytes: &[u8]) {
    let u16_at = |o: usize| u16::from_le_bytes(bytes[o..o + 2].try_into().unwrap()) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap()) as usize;
    assert_eq!(&bytes[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(bytes[4], 2, "not a 64-bit ELF");
    assert_eq!(bytes[5], 1, "not little-endian");
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let kind = u32::from_le_bytes(bytes[ph..ph + 4].try_into().unwrap());
        assert_ne!(kind, 3, "PT_INTERP: the binary needs a dynamic loader");
        if kind == 2 {
            let (off, size) = (u64_at(ph + 8), u64_at(ph + 32));
            for entry in bytes[off..off + size].chunks_exact(16) {
                let tag = u64::from_le_bytes(entry[..8].try_into().unwrap());
                assert_ne!(tag, 1, "DT_NEEDED: the binary needs a shared library");
                if tag == 0 {
                    break;
                }
            }
        }
    }
}

#[test]
fn release_installer_offline() {
    if !cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        eprintln!("SKIPPED: the release test builds the x86_64 Linux archive only");
        return;
    }
    let Some(dist) = dist() else {
        eprintln!(
            "SKIPPED: cargo-dist is not installed (cargo install cargo-dist --locked); \
             the release archive and installer are NOT tested"
        );
        return;
    };
    let distrib = build_release(&dist);

    // The files a release serves, and a copy with one byte of the archive changed.
    let good = tempfile::tempdir().unwrap();
    let bad = tempfile::tempdir().unwrap();
    for f in [ARCHIVE, "goshim-installer.sh"] {
        fs::copy(distrib.join(f), good.path().join(f)).unwrap();
        fs::copy(distrib.join(f), bad.path().join(f)).unwrap();
    }
    let mut tampered = fs::read(bad.path().join(ARCHIVE)).unwrap();
    let mid = tampered.len() / 2;
    tampered[mid] ^= 0xff;
    fs::write(bad.path().join(ARCHIVE), tampered).unwrap();
    let (port, _good_server, _keep) = serve(good.path().to_path_buf());
    let (bad_port, _bad_server, _keep_bad) = serve(bad.path().to_path_buf());
    let base = format!("http://127.0.0.1:{port}");
    let installer_url = format!("{base}/goshim-installer.sh");

    let mut w = World::new();
    for var in ["GOSHIM_CACHE_DIR", "XDG_CACHE_HOME", "XDG_CONFIG_HOME"] {
        w.remove_env(var);
    }
    let home = w.path("home");
    // A Go already on PATH from the user's profile (a login shell as root
    // resets PATH in /etc/profile, so the profile is where it comes from).
    let go_dir = w.real_go_dir().display().to_string();
    let profile_before = format!("export PATH=\"$PATH:{go_dir}\"\n");
    w.write_file("home/.profile", &profile_before);
    w.set_path(&[
        PathBuf::from("/usr/local/bin"),
        PathBuf::from("/usr/bin"),
        PathBuf::from("/bin"),
        w.real_go_dir().to_path_buf(),
    ]);

    // A tampered archive: refused, nothing installed.
    let out = curl_pipe_sh(&w, &installer_url, &format!("http://127.0.0.1:{bad_port}"));
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        stderr_text(&out).contains("checksum mismatch"),
        "{}",
        show(&out)
    );
    assert_eq!(home_files(&home), [".profile"], "{}", show(&out));

    // The server gone: a clear error within seconds, nothing installed.
    let gone = TcpListener::bind("127.0.0.1:0").unwrap();
    let gone_url = format!("http://127.0.0.1:{}", gone.local_addr().unwrap().port());
    drop(gone);
    let started = Instant::now();
    let out = curl_pipe_sh(&w, &installer_url, &gone_url);
    let took = started.elapsed();
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        took < Duration::from_secs(10),
        "took {took:?}: {}",
        show(&out)
    );
    assert!(
        stderr_text(&out).contains(&format!("failed to download {gone_url}/{ARCHIVE}")),
        "{}",
        show(&out)
    );
    assert_eq!(home_files(&home), [".profile"], "{}", show(&out));

    // The real thing, twice: one PATH line.
    let started = Instant::now();
    let out = curl_pipe_sh(&w, &installer_url, &base);
    assert!(out.status.success(), "{}", show(&out));
    eprintln!(
        "installed from the loopback server in {:?}",
        started.elapsed()
    );
    let out = curl_pipe_sh(&w, &installer_url, &base);
    assert!(out.status.success(), "{}", show(&out));
    let bin = home.join(".goshim/bin");
    assert_eq!(
        fs::canonicalize(bin.join("go")).unwrap(),
        bin.join("goshim"),
        "go is a link to goshim beside it"
    );
    assert_static_elf(&fs::read(bin.join("goshim")).unwrap());
    let profile = fs::read_to_string(home.join(".profile")).unwrap();
    let line = ". \"$HOME/.config/goshim/env.sh\"";
    assert_eq!(profile.matches(line).count(), 1, "{profile}");
    assert!(profile.starts_with(&profile_before), "{profile}");

    // Login shells (bash and dash) find the shim first, and go runs through it.
    for shell in ["bash", "sh"] {
        let out = w.run(&mut w.cmd(
            shell,
            ["-l", "-c", "command -v go && go version && goshim which"],
        ));
        assert!(out.status.success(), "{shell} -l: {}", show(&out));
        let text = stdout_text(&out);
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some(bin.join("go").to_str().unwrap()),
            "{shell}: {text}"
        );
        assert!(
            lines.next().unwrap_or("").starts_with("go version go1."),
            "{text}"
        );
        assert_eq!(lines.next(), Some(w.real_go().to_str().unwrap()), "{text}");
    }

    // And away again: only the user's own files are left.
    let config = w.write_file("home/.config/goshim/config.toml", "attempts = 2\n");
    let out = w.run(&mut w.cmd("bash", ["-l", "-c", "goshim self uninstall"]));
    assert!(out.status.success(), "{}", show(&out));
    assert!(config.is_file());
    assert_eq!(
        fs::read_to_string(home.join(".profile")).unwrap(),
        profile_before
    );
    let left = home_files(&home);
    assert_eq!(
        left,
        [".config/goshim/config.toml", ".profile"],
        "{}",
        show(&out)
    );

    action_install_step(&w, &installer_url, &base, &profile_before);
}

/// The GitHub Action's install step (action/install.sh) run as Actions runs
/// it, after actions/setup-go wrote its Go folder to GITHUB_PATH: the next
/// step's PATH (GITHUB_PATH lines, the last first) finds the shim ahead of
/// that Go, and go runs through it; GOSHIM_CACHE_DIR is exported for
/// actions/cache; no shell profile is touched.
fn action_install_step(w: &World, installer_url: &str, base: &str, profile_before: &str) {
    let gh = w.path("github");
    fs::create_dir_all(&gh).unwrap();
    let (path_file, env_file, output) = (gh.join("path"), gh.join("env"), gh.join("output"));
    let go_dir = w.real_go_dir().display().to_string();
    fs::write(&path_file, format!("{go_dir}\n")).unwrap(); // setup-go's line
    fs::write(&env_file, "").unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("action/install.sh");
    let mut cmd = w.cmd("sh", [&script]);
    cmd.env("GITHUB_PATH", &path_file)
        .env("GITHUB_ENV", &env_file)
        .env("GITHUB_OUTPUT", &output)
        .env("RUNNER_TEMP", w.path("runner"))
        .env("GOSHIM_INSTALLER_URL", installer_url)
        .env("GOSHIM_DOWNLOAD_URL", base);
    let out = w.run(&mut cmd);
    assert!(out.status.success(), "action/install.sh: {}", show(&out));

    let lines = fs::read_to_string(&path_file).unwrap();
    let mut dirs: Vec<PathBuf> = lines.lines().rev().map(PathBuf::from).collect();
    dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    let mut next = w.cmd("sh", ["-c", "command -v go && go version && goshim which"]);
    next.env("PATH", std::env::join_paths(&dirs).unwrap());
    let exported = fs::read_to_string(&env_file).unwrap();
    for line in exported.lines() {
        let (k, v) = line.split_once('=').unwrap();
        next.env(k, v);
    }
    let out = w.run(&mut next);
    assert!(out.status.success(), "the next step: {}", show(&out));
    let text = stdout_text(&out);
    let mut said = text.lines();
    let shim = w.path("runner/goshim/bin/go");
    assert_eq!(said.next(), Some(shim.to_str().unwrap()), "{text}");
    assert!(
        said.next().unwrap_or("").starts_with("go version go1."),
        "{text}"
    );
    assert_eq!(said.next(), Some(w.real_go().to_str().unwrap()), "{text}");
    let cache = w.path("runner/goshim/cache");
    assert!(
        exported.contains(&format!("GOSHIM_CACHE_DIR={}", cache.display())),
        "{exported}"
    );
    let outputs = fs::read_to_string(&output).unwrap();
    assert!(
        outputs.contains(&format!("cache-dir={}", cache.display())),
        "{outputs}"
    );
    assert_eq!(
        fs::read_to_string(w.path("home/.profile")).unwrap(),
        profile_before,
        "the action edits no profile"
    );
}

/// A copy of this checkout (tracked and new files, as they are on disk) in a
/// temporary git repository: `dist` needs git for the source tarball, and a
/// copy keeps these tests off target/distrib, which the test above clears.
fn checkout_copy() -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |dir: &Path, args: &[&str]| {
        let out = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", show(&out));
        out.stdout
    };
    let files = git(
        root,
        &[
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
        ],
    );
    let copy = tempfile::tempdir().unwrap();
    for name in files.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = std::str::from_utf8(name).unwrap();
        let (from, to) = (root.join(name), copy.path().join(name));
        // A deleted file is still listed, and shims/go is a symlink.
        let Ok(meta) = fs::symlink_metadata(&from) else {
            continue;
        };
        fs::create_dir_all(to.parent().unwrap()).unwrap();
        if meta.file_type().is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
        } else {
            fs::copy(&from, &to).unwrap();
        }
    }
    git(copy.path(), &["init", "-q"]);
    git(copy.path(), &["add", "-A"]);
    git(copy.path(), &["commit", "-q", "-m", "copy"]);
    copy
}

/// The global artifacts (the installers) built by `dist` in `dir`, as the
/// release workflow's build-global-artifacts job builds them.
fn build_installers(dist: &Path, dir: &Path) -> PathBuf {
    let out = common::process::run_with_timeout(
        Command::new(dist)
            .args(["build", "--artifacts=global", "--output-format=json"])
            .current_dir(dir),
        Duration::from_secs(300),
    );
    assert!(out.status.success(), "dist build: {}", show(&out));
    let distrib = dir.join("target/distrib");
    assert!(
        distrib.join("goshim-installer.ps1").is_file(),
        "no goshim-installer.ps1"
    );
    distrib
}

fn ps1_checksum(distrib: &Path) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/ps1-checksum.py");
    Command::new("python3")
        .arg(script)
        .arg(distrib)
        .output()
        .unwrap()
}

/// cargo-dist's PowerShell installer checks nothing it downloads; the release
/// workflow runs .github/ps1-checksum.py on it. On the installer dist makes
/// (pwsh cannot run here): every Windows platform entry gets the archive's
/// SHA-256 from its .sha256 file, checked with Get-FileHash between the
/// download and Expand-Archive; without the .sha256, or on an installer it
/// does not recognise, the script fails and leaves the installer unchanged.
#[test]
fn powershell_installer_checks_the_archive_sha256() {
    let Some(dist) = dist() else {
        eprintln!("SKIPPED: cargo-dist is not installed; the PowerShell installer is NOT checked");
        return;
    };
    let copy = checkout_copy();
    let distrib = build_installers(&dist, copy.path());
    let installer = distrib.join("goshim-installer.ps1");
    let generated = fs::read_to_string(&installer).unwrap();
    assert!(
        !generated.contains("Get-FileHash"),
        "cargo-dist checks the archive itself now: .github/ps1-checksum.py may be dropped"
    );

    // No .sha256 beside the archive: refused, nothing written.
    let out = ps1_checksum(&distrib);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(stderr_text(&out).contains("no checksum for goshim-x86_64-pc-windows-msvc.zip"));
    assert_eq!(fs::read_to_string(&installer).unwrap(), generated);

    let sha = "0123456789abcdef".repeat(4);
    let zip = "goshim-x86_64-pc-windows-msvc.zip";
    fs::write(
        distrib.join(format!("{zip}.sha256")),
        format!("{sha} *{zip}\n"),
    )
    .unwrap();
    let out = ps1_checksum(&distrib);
    assert!(out.status.success(), "{}", show(&out));
    let patched = fs::read_to_string(&installer).unwrap();
    // Each platform the installer knows (x86_64 and aarch64 Windows, gnu and
    // msvc) downloads that zip and carries its hash.
    let entries = generated
        .matches(&format!("\"artifact_name\" = \"{zip}\""))
        .count();
    assert!(entries >= 2, "{entries} Windows entries in the installer");
    assert_eq!(
        patched
            .matches(&format!("\"artifact_name\" = \"{zip}\"\n"))
            .count(),
        entries
    );
    assert_eq!(
        patched.matches(&format!("\"sha256\" = \"{sha}\"")).count(),
        entries
    );
    // The check sits between the download and the unpacking, and throws.
    let download = patched
        .find("Invoke-DownloadFile -client $wc -url $url -path $dir_path")
        .unwrap();
    let hash = patched
        .find("Get-FileHash -Algorithm SHA256 -LiteralPath $dir_path")
        .unwrap();
    let mismatch = patched.find("throw \"SHA-256 mismatch for").unwrap();
    let unpack = patched.find("Expand-Archive -Path $dir_path").unwrap();
    assert!(download < hash && hash < mismatch && mismatch < unpack);
    // Apart from that, dist's installer as it was.
    let added: Vec<&str> = diff_added_lines(&generated, &patched);
    assert!(
        added.iter().all(|l| l.contains("sha256")
            || l.contains("SHA-256")
            || l.contains("Remove-Item -LiteralPath $dir_path")),
        "unexpected lines added: {added:#?}"
    );

    // Twice, or on an installer whose download line changed: refused.
    assert!(!ps1_checksum(&distrib).status.success());
    fs::write(
        &installer,
        generated.replace(
            "Invoke-DownloadFile -client $wc",
            "Invoke-Download -client $wc",
        ),
    )
    .unwrap();
    let out = ps1_checksum(&distrib);
    assert!(!out.status.success());
    assert!(
        stderr_text(&out).contains("a new cargo-dist?"),
        "{}",
        show(&out)
    );
}

/// The lines of `after` that are not in `before` (each line once).
fn diff_added_lines<'a>(before: &str, after: &'a str) -> Vec<&'a str> {
    let old: std::collections::HashSet<&str> = before.lines().collect();
    after.lines().filter(|l| !old.contains(l)).collect()
}

/// release.yml is not checked by `dist generate --check` any more
/// (allow-dirty = ["ci"], for the installer's checksum step): it must still be
/// exactly what cargo-dist generates from dist-workspace.toml, plus that step.
#[test]
fn release_workflow_is_generated_plus_the_checksum_step() {
    let Some(dist) = dist() else {
        eprintln!(
            "SKIPPED: cargo-dist is not installed; release.yml is NOT compared with its output"
        );
        return;
    };
    let copy = checkout_copy();
    let config = copy.path().join("dist-workspace.toml");
    let toml = fs::read_to_string(&config).unwrap();
    assert!(toml.contains("\nallow-dirty = [\"ci\"]\n"));
    fs::write(&config, toml.replace("\nallow-dirty = [\"ci\"]\n", "\n")).unwrap();
    let out = Command::new(&dist)
        .args(["generate", "--mode=ci"])
        .current_dir(copy.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "dist generate: {}", show(&out));
    let workflow = ".github/workflows/release.yml";
    let generated = fs::read_to_string(copy.path().join(workflow)).unwrap();
    let committed =
        fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(workflow)).unwrap();
    let step_start = committed
        .find("      # goshim: not generated by dist")
        .expect("release.yml has no goshim step");
    let step_end = step_start
        + committed[step_start..]
            .find("      - name: \"Upload artifacts\"")
            .unwrap();
    let step = &committed[step_start..step_end];
    assert!(step.contains("python3 .github/ps1-checksum.py target/distrib"));
    let without = format!("{}{}", &committed[..step_start], &committed[step_end..]);
    assert!(
        without == generated,
        "release.yml is not dist's output plus the checksum step: regenerate it (docs/releasing.md)"
    );
    // In the job that builds the installers, after dist built them.
    let job = committed.find("\n  build-global-artifacts:").unwrap();
    let build = job + committed[job..].find("--artifacts=global").unwrap();
    let next_job = job + committed[job..].find("\n  host:").unwrap();
    assert!(build < step_start && step_start < next_job);
}

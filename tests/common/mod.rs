//! Shared integration-test harness for goshim. Each test file does `mod common;`.
//!
//! Everything here exists so that a test can drive the *real* go through the
//! shim and compare it with the real go run directly, without ever touching the
//! developer's own Go setup, the network, or hanging:
//!
//! - [`go`]: where the real go binary is (`GOSHIM_TEST_GO`, else `go env GOROOT`)
//!   and the warm build cache shared by all worlds.
//! - [`world::World`]: a sealed temp directory with its own HOME, GOPATH, module
//!   cache, config, and a `shims/go` symlink to the goshim under test; commands
//!   built from it see only the world's environment.
//! - [`process`]: bounded runs (`run_with_timeout`), spawned process groups for
//!   signal tests ([`process::Running`]), leftover-process checks, /proc helpers.
//! - [`assert`]: "same as direct go" comparisons and readable output dumps.
//! - [`modtree::ModTree`]: synthetic modules `example.com/depN` and the GOPROXY
//!   protocol files for them (list, info, mod, zip, @latest).
//! - [`proxy::TestProxy`]: a GOPROXY HTTP server on 127.0.0.1 with runtime
//!   switchable fault modes ([`proxy::Fault`]) and a request log.
//! - [`sumdb::SumDb`]: a checksum database (signed tree head, lookups, tiles)
//!   built from a `ModTree`, served by `TestProxy` under `/sumdb/<name>/`.
//! - [`http_proxy::HttpProxy`]: a company's HTTP proxy (CONNECT and
//!   forwarding, optional Proxy-Authorization) that resolves names of its own.
//! - [`tls`]: an HTTPS GOPROXY with certificates the test makes (rcgen): a
//!   test CA for SSL_CERT_FILE, valid, expired and self-signed leaves.
//! - [`terminal::Pty`]: a pseudo-terminal, to press Ctrl-C at a foreground
//!   job ([`process::Running::spawn_in_terminal`]).
//! - [`programs`]: small Go programs the tests build and run.
//! - [`scenario`]: what the proxy tests share: the list-mode world, timed shim
//!   runs, goshim's own stderr lines, `goshim status --json`, `health.json`,
//!   the files under the cache dir, and the credential checks.
#![allow(dead_code)] // each test binary uses a different part of the harness

pub mod assert;
pub mod go;
pub mod http_proxy;
pub mod modtree;
pub mod process;
pub mod programs;
pub mod proxy;
pub mod scenario;
pub mod sumdb;
pub mod terminal;
pub mod tls;
pub mod world;
pub mod zip;

// Shortcuts for the most used items; not every test file uses all of them.
#[allow(unused_imports)]
pub use modtree::ModTree;
#[allow(unused_imports)]
pub use process::{
    DEFAULT_TIMEOUT, Running, assert_same_outcome, run_with_timeout, show, stderr_text, stdout_text,
};
#[allow(unused_imports)]
pub use proxy::{Fault, TestProxy, refused_url};
#[allow(unused_imports)]
pub use world::World;

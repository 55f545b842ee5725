//! goshim: a `go` toolchain shim. Started as `go` it is the shim; as `goshim`, the CLI.
//!
//! The folders follow the architecture:
//! - `shim`: the go personality: finding the real go (`discovery`), what a
//!   command may do (`command`), running and supervising go (`child`), reading
//!   go's errors (`failover`), and carrying out the plan.
//! - `go`: the go command's own settings and vocabulary: `go env` (cached),
//!   GOPROXY lists, module paths, toolchain switches.
//! - `health`: the health snapshot, scores, and the choice of proxies (`select`).
//! - `probe`: measuring proxies, in the foreground or a detached refresh.
//! - `relay`: the loopback relay that fails over per request.
//! - `upstream`: one proxy endpoint: URL, credentials (.netrc, Basic auth), TLS.
//! - `settings`: goshim's config file, environment variables, presets, paths.
//!   The environment is read once, in `main`, into a `settings::vars::Env`
//!   that is passed down (only the logger and TLS keep a value of it globally).
//! - `cli`, `doctor`, `metrics`: the goshim personality.
//! - `error_class`, `state_file`, `log`: shared vocabulary and plumbing.

pub mod cli;
pub mod doctor;
pub mod error_class;
pub mod go;
pub mod health;
pub mod log;
pub mod metrics;
pub mod probe;
pub mod relay;
pub mod settings;
pub mod shim;
pub mod state_file;
pub mod upstream;

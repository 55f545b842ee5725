//! The go command's side: its command line, its effective settings (`go env`,
//! cached), GOPROXY lists, module paths, go.mod and go.work files, and
//! toolchain switches.

pub mod args;
pub mod goenv;
pub mod mod_file;
pub mod module_path;
pub mod proxy_list;
pub mod toolchain;

//! The go command's side: its effective settings (`go env`, cached), GOPROXY
//! lists, module paths, and toolchain switches.

pub mod goenv;
pub mod module_path;
pub mod proxy_list;
pub mod toolchain;

//! goshim's own settings: the config file (and `goshim use` editing it), the
//! environment variables, the built-in mirror presets, and where files live.

pub mod config;
pub mod edit;
pub mod paths;
pub mod presets;
pub mod vars;

//! What status and probe both need: the real go, settings and candidates.

use std::path::PathBuf;

use crate::go::goenv::{self, GoEnv};
use crate::go::proxy_list::Proxy;
use crate::health::select;
use crate::log::warn;
use crate::settings::config::Config;
use crate::settings::vars::Env;
use crate::shim::discovery::{self, Seen};

pub struct Context {
    pub real_go: PathBuf,
    pub config: Config,
    pub env: GoEnv,
    pub candidates: Vec<Proxy>,
}

impl Context {
    /// Loads everything, or prints why not and returns the exit code.
    pub fn load(process: &Env) -> Result<Context, i32> {
        let real_go = discovery::find_real_go(process, &Seen::current(process)).map_err(|e| {
            warn!("{e}");
            127
        })?;
        let config = Config::load(process).map_err(|e| {
            warn!("{e}");
            2
        })?;
        for w in &config.warnings {
            warn!("{w}");
        }
        let env = goenv::load(process, &real_go).ok_or_else(|| {
            warn!(
                "'{} env -json' failed; run it yourself to see why",
                real_go.display()
            );
            1
        })?;
        let (candidates, _) = select::candidates(&env, &config);
        Ok(Context {
            real_go,
            config,
            env,
            candidates,
        })
    }

    /// Name of the checksum database go uses, None when GOSUMDB=off.
    pub fn sumdb_name(&self) -> Option<String> {
        self.env.sumdb_name()
    }
}

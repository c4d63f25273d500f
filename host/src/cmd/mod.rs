//! One module per subcommand, and what they share: turning the module flags into a runtime and
//! a configuration document.

pub mod bench;
pub mod rules;
pub mod tag;

use std::fs;
use std::sync::Arc;

use anyhow::{Context, Result};
use trailtag_plugin::codec::{Config, FaultInjection};

use crate::cli::GuestArgs;
use crate::guest::GuestLimits;
use crate::rule_files::read_rule_files;
use crate::runtime::{ModuleVariant, Runtime, RuntimeOptions};
use crate::session::Session;

/// Compiles the module the flags choose (`--module`, `--module-variant`, else `default`).
pub fn runtime(args: &GuestArgs, default: ModuleVariant) -> Result<Arc<Runtime>> {
    let options = RuntimeOptions {
        limits: GuestLimits {
            memory_bytes: usize::try_from(args.guest_memory).unwrap_or(usize::MAX),
            call_timeout: args.guest_timeout,
        },
        compile_cache: !args.no_module_cache,
    };
    let runtime = match &args.module {
        Some(path) => {
            let bytes =
                fs::read(path).with_context(|| format!("reading the module {}", path.display()))?;
            Runtime::new(&bytes, &options)?
        }
        None => Runtime::embedded(args.module_variant.unwrap_or(default), &options)?,
    };
    Ok(Arc::new(runtime))
}

/// The configuration document the flags describe, rule files read.
pub fn config(args: &GuestArgs) -> Result<Config> {
    let fault_injection = args
        .fault_injection
        .clone()
        .map(serde_json::from_value::<FaultInjection>)
        .transpose()
        .context("--fault-injection")?;
    Ok(Config {
        builtin_rules: !args.no_builtin_rules,
        rules: read_rule_files(&args.rules)?,
        fault_injection,
        ..Config::default()
    })
}

/// A session on the chosen module, configured by the flags and `adjust`.
pub fn session(
    args: &GuestArgs,
    default: ModuleVariant,
    adjust: impl FnOnce(&mut Config),
) -> Result<Session> {
    let mut config = config(args)?;
    adjust(&mut config);
    Session::new(runtime(args, default)?, &config)
}

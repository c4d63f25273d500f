//! One module per subcommand, and what they share: turning the module flags into a runtime and
//! a configuration document.

pub mod bench;
pub mod filter;
pub mod inspect;
pub mod module;
pub mod rules;
pub mod serve;
pub mod tag;

use std::fs;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use trailtag_plugin::codec::{Config, FaultInjection};

use crate::cli::GuestArgs;
use crate::guest::GuestLimits;
use crate::rule_files::{RuleFiles, read_rule_files};
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

/// The configuration document the flags describe, rule files read, and the files of the rules
/// directories that are not rule files.
pub fn config(args: &GuestArgs) -> Result<(Config, Vec<PathBuf>)> {
    let fault_injection = args
        .fault_injection
        .clone()
        .map(serde_json::from_value::<FaultInjection>)
        .transpose()
        .context("--fault-injection")?;
    let RuleFiles { files, ignored } = read_rule_files(&args.rules)?;
    let mut sigma_placeholders = std::collections::BTreeMap::<String, Vec<String>>::new();
    for (name, value) in &args.placeholders {
        sigma_placeholders
            .entry(name.clone())
            .or_default()
            .push(value.clone());
    }
    let config = Config {
        builtin_rules: !args.no_builtin_rules,
        rules: files,
        skip_invalid_rules: args.skip_invalid_rules,
        sigma_placeholders,
        fault_injection,
        ..Config::default()
    };
    Ok((config, ignored))
}

/// A session on the chosen module, configured by the flags and `adjust`; what the load skipped
/// or ignored is reported on stderr, and a load of no rules at all is refused.
pub fn session(
    args: &GuestArgs,
    default: ModuleVariant,
    adjust: impl FnOnce(&mut Config),
) -> Result<Session> {
    require_rules(session_allowing_no_rules(args, default, adjust)?)
}

/// Refuses a session that runs no rules: it would never tag anything.
pub fn require_rules(session: Session) -> Result<Session> {
    if session.rules().is_empty() {
        bail!(
            "no rules are loaded, so nothing would ever be tagged (check --rules and --no-builtin-rules; `trailtag rules list --skip-invalid-rules` shows what was skipped)"
        );
    }
    Ok(session)
}

/// As [`session`], but an empty rule set is allowed (for `rules list` and `rules check`).
pub fn session_allowing_no_rules(
    args: &GuestArgs,
    default: ModuleVariant,
    adjust: impl FnOnce(&mut Config),
) -> Result<Session> {
    session_on(runtime(args, default)?, args, adjust)
}

/// A session on a module already compiled, configured by the flags (rule files read now) and
/// `adjust`: the sidecar loads its rules again on SIGHUP without compiling the module again.
pub fn session_on(
    runtime: Arc<Runtime>,
    args: &GuestArgs,
    adjust: impl FnOnce(&mut Config),
) -> Result<Session> {
    if args.use_baked_config {
        return Session::unconfigured(runtime);
    }
    let (mut config, ignored) = config(args)?;
    adjust(&mut config);
    let session = Session::new(runtime, &config)?;
    report_load(&session, &ignored)?;
    Ok(session)
}

/// Tells the user, on stderr, which rule files were skipped and which files were not rules.
fn report_load(session: &Session, ignored: &[PathBuf]) -> Result<()> {
    let mut err = io::stderr().lock();
    let skipped = &session.load_report().skipped;
    for problem in skipped {
        let id = problem
            .rule_id
            .as_ref()
            .map(|id| format!("rule {id}: "))
            .unwrap_or_default();
        writeln!(
            err,
            "trailtag: skipped {}:{}:{}: {id}{}",
            problem.file, problem.line, problem.column, problem.message
        )?;
    }
    let files: std::collections::BTreeSet<&str> = skipped.iter().map(|p| p.file.as_str()).collect();
    if !files.is_empty() {
        writeln!(
            err,
            "trailtag: {} rule file(s) skipped (--skip-invalid-rules)",
            files.len()
        )?;
    }
    if !ignored.is_empty() {
        let names: Vec<String> = ignored
            .iter()
            .take(5)
            .map(|p| p.display().to_string())
            .collect();
        let more = if ignored.len() > 5 { ", ..." } else { "" };
        writeln!(
            err,
            "trailtag: ignored {} file(s) in the rules directories that are not rule files (.toml, .yml, .yaml): {}{more}",
            ignored.len(),
            names.join(", ")
        )?;
    }
    Ok(())
}

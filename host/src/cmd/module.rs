//! `trailtag module`: a copy of the module with a configuration baked in (`crate::bake`).
//!
//! The configuration is the one the same flags would send (`--rules`, `--no-builtin-rules`,
//! `--skip-invalid-rules`, `--placeholder`, and the output options). Before anything is
//! written, the rules are loaded in the base module, so a rule that does not compile fails here
//! with its file, line and column, not later inside a shipper; then the baked copy is loaded
//! unconfigured, as Fluent Bit loads it, and must report the same rules.

use std::fs;
use std::io::{self, Write};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use trailtag_plugin::codec::RuleInfo;

use crate::bake::bake;
use crate::cli::ModuleArgs;
use crate::runtime::{ModuleVariant, Runtime, RuntimeOptions};
use crate::session::Session;

/// Runs `trailtag module`.
#[expect(
    clippy::disallowed_methods,
    reason = "the load time of the written module is reported to the user"
)]
pub fn run(args: &ModuleArgs) -> Result<ExitCode> {
    let guest = &args.guest;
    if guest.use_baked_config {
        bail!("--use-baked-config: `trailtag module` bakes the configuration its flags describe");
    }
    let base = match &guest.module {
        Some(path) => {
            fs::read(path).with_context(|| format!("reading the module {}", path.display()))?
        }
        None => guest
            .module_variant
            .unwrap_or(ModuleVariant::Portable)
            .bytes()
            .to_vec(),
    };
    let (mut config, _) = super::config(guest)?;
    config.only_matches = args.only_matches;
    args.record.apply(&mut config);
    let configured = super::session_allowing_no_rules(guest, ModuleVariant::Portable, |c| {
        c.only_matches = args.only_matches;
        args.record.apply(c);
    })?;
    if configured.rules().is_empty() {
        bail!("no rules would be baked in, so the module would never tag anything");
    }
    let baked = bake(&base, &config.encode())?;
    let started = Instant::now();
    let runtime = Runtime::new(&baked, &RuntimeOptions::default())
        .context("loading the module just written")?;
    let reloaded = Session::unconfigured(std::sync::Arc::new(runtime))
        .context("loading the module just written, unconfigured")?;
    let load_time = started.elapsed();
    if !same_rules(configured.rules(), reloaded.rules()) {
        bail!(
            "the written module loads {} rules unconfigured, not the {} configured: not written",
            reloaded.rules().len(),
            configured.rules().len()
        );
    }
    fs::write(&args.output, &baked)
        .with_context(|| format!("writing {}", args.output.display()))?;
    writeln!(
        io::stderr(),
        "trailtag: wrote {} ({} bytes): {} rules ({}), loaded unconfigured in {} ms",
        args.output.display(),
        baked.len(),
        reloaded.rules().len(),
        per_format(reloaded.rules()),
        load_time.as_millis()
    )?;
    Ok(ExitCode::SUCCESS)
}

fn same_rules(a: &[RuleInfo], b: &[RuleInfo]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.id == y.id)
}

/// `2 native, 57 sigma`.
pub fn per_format(rules: &[RuleInfo]) -> String {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for rule in rules {
        *counts.entry(rule.format.as_str()).or_default() += 1;
    }
    let parts: Vec<String> = counts.iter().map(|(f, n)| format!("{n} {f}")).collect();
    parts.join(", ")
}

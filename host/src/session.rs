//! A configured guest: the runtime, one live instance, and what it takes to replace it.
//!
//! A [`Session`] keeps the configuration document it sent, so that after a fault it can bring up
//! a fresh instance from the compiled module and configure it identically before carrying on.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use trailtag_engine::RuleSource;

use crate::cli::GuestArgs;
use crate::guest::{BatchOutput, Guest, GuestFault};
use crate::runtime::{GuestLimits, ModuleVariant, Runtime, RuntimeOptions};

/// What the guest is configured with (`docs/abi.md`, `tt_configure`).
#[derive(Debug, Clone, Serialize)]
pub struct GuestConfig {
    /// Load the built-in rules.
    pub builtin_rules: bool,
    /// Extra rule files.
    pub rules: Vec<RuleFile>,
    /// Keep only tagged records.
    pub only_matches: bool,
    /// Parse every record.
    pub validate: bool,
    /// Test hooks (`docs/abi.md`, section 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault_injection: Option<serde_json::Value>,
}

impl Default for GuestConfig {
    /// The built-in rules, every record written, no validation, no test hooks.
    fn default() -> Self {
        Self {
            builtin_rules: true,
            rules: Vec::new(),
            only_matches: false,
            validate: false,
            fault_injection: None,
        }
    }
}

/// One rule file in the configuration document.
#[derive(Debug, Clone, Serialize)]
pub struct RuleFile {
    /// File name (for messages; its extension selects the format).
    pub name: String,
    /// Contents.
    pub text: String,
}

/// A rule as the guest describes it (a subset of its metadata).
#[derive(Debug, Clone, Deserialize)]
pub struct RuleInfo {
    /// Stable id.
    pub id: String,
    /// Title.
    pub name: String,
    /// Severity.
    pub severity: String,
    /// Risk score.
    pub risk_score: u8,
    /// The file it came from.
    pub source: String,
}

/// A runtime, a live configured instance, and the rules it runs.
#[derive(Debug)]
pub struct Session {
    runtime: Runtime,
    guest: Guest,
    config: Vec<u8>,
    rules: Vec<RuleInfo>,
    rules_document: Vec<u8>,
}

impl Session {
    /// Compiles the module, loads rule files, and configures a first instance. Without
    /// `--module` or `--module-variant`, the embedded `default_variant` runs.
    pub fn start(
        args: &GuestArgs,
        default_variant: ModuleVariant,
        only_matches: bool,
        validate: bool,
    ) -> Result<Self> {
        let options = RuntimeOptions {
            limits: GuestLimits {
                memory_bytes: usize::try_from(args.guest_memory).unwrap_or(usize::MAX),
                call_timeout: args.guest_timeout,
            },
            compile_cache: !args.no_module_cache,
        };
        let runtime = match &args.module {
            Some(path) => {
                let bytes = fs::read(path)
                    .with_context(|| format!("reading the module {}", path.display()))?;
                Runtime::new(&bytes, &options)?
            }
            None => Runtime::embedded(args.module_variant.unwrap_or(default_variant), &options)?,
        };
        let config = GuestConfig {
            builtin_rules: !args.no_builtin_rules,
            rules: read_rule_files(&args.rules)?,
            only_matches,
            validate,
            fault_injection: args.fault_injection.clone(),
        };
        Self::with_runtime(runtime, &config)
    }

    /// An embedded module with default runtime options, configured with `config`.
    pub fn embedded(variant: ModuleVariant, config: &GuestConfig) -> Result<Self> {
        Self::with_runtime(
            Runtime::embedded(variant, &RuntimeOptions::default())?,
            config,
        )
    }

    /// Configures a first instance of an existing runtime.
    pub fn with_runtime(runtime: Runtime, config: &GuestConfig) -> Result<Self> {
        let config = serde_json::to_vec(config)?;
        let mut guest = runtime.instantiate()?;
        configure(&mut guest, &config)?;
        let rules_document = guest.rules_document()?;
        let rules =
            serde_json::from_slice(&rules_document).context("the module's rules document")?;
        Ok(Self {
            runtime,
            guest,
            config,
            rules,
            rules_document,
        })
    }

    /// The rules the guest runs, in rule order.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.rules
    }

    /// The guest's rules document (JSON).
    pub fn rules_document(&self) -> &[u8] {
        &self.rules_document
    }

    /// The live instance.
    pub fn guest(&mut self) -> &mut Guest {
        &mut self.guest
    }

    /// Transforms one batch; after a fault that poisons the instance, replaces it first.
    pub fn transform(&mut self, batch: &[u8]) -> Result<Result<BatchOutput, GuestFault>> {
        self.call(|guest| guest.transform(batch))
    }

    /// Runs the Fluent Bit filter on one record, with the same fault handling.
    pub fn fluent_bit_filter(
        &mut self,
        tag: &[u8],
        record: &[u8],
        only_matches: bool,
    ) -> Result<Result<Vec<u8>, GuestFault>> {
        self.call(|guest| guest.fluent_bit_filter(tag, record, only_matches))
    }

    fn call<T>(
        &mut self,
        f: impl FnOnce(&mut Guest) -> Result<T, GuestFault>,
    ) -> Result<Result<T, GuestFault>> {
        let result = f(&mut self.guest);
        if let Err(fault) = &result
            && fault.poisons_instance()
        {
            self.replace_guest()?;
        }
        Ok(result)
    }

    /// Replaces the instance with a fresh one from the compiled module, configured the same.
    pub fn replace_guest(&mut self) -> Result<()> {
        let mut guest = self.runtime.instantiate()?;
        configure(&mut guest, &self.config)?;
        self.guest = guest;
        Ok(())
    }
}

fn configure(guest: &mut Guest, config: &[u8]) -> Result<()> {
    match guest.configure(config) {
        Ok(()) => Ok(()),
        Err(GuestFault::Status { message, .. }) => bail!("{message}"),
        Err(fault) => Err(fault).context("configuring the module"),
    }
}

/// Reads rule files; a directory contributes its `*.toml` files (sorted, not recursive).
pub fn read_rule_files(paths: &[PathBuf]) -> Result<Vec<RuleFile>> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = fs::read_dir(path)
                .with_context(|| format!("reading the rules directory {}", path.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "toml"))
                .collect();
            entries.sort();
            for entry in entries {
                files.push(read_rule_file(&entry)?);
            }
        } else {
            files.push(read_rule_file(path)?);
        }
    }
    Ok(files)
}

fn read_rule_file(path: &Path) -> Result<RuleFile> {
    let text = fs::read_to_string(path)
        .with_context(|| format!("reading the rule file {}", path.display()))?;
    Ok(RuleFile {
        name: path.display().to_string(),
        text,
    })
}

/// The same rule files as engine sources (for reading their examples natively).
pub fn as_sources(files: &[RuleFile]) -> Vec<RuleSource> {
    files
        .iter()
        .map(|f| RuleSource::new(f.name.clone(), f.text.clone()))
        .collect()
}

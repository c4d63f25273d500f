//! A configured guest: a shared runtime, one live instance, and what it takes to replace it.
//!
//! A [`Session`] keeps the configuration it sent ([`Config`], the contract's document), so that
//! after a fault it can bring up a fresh instance from the compiled module and configure it
//! identically before carrying on. Sessions take no command-line types: any front door (the CLI,
//! a benchmark, a sidecar) builds a [`Config`] and shares one [`Runtime`] between its sessions.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use trailtag_plugin::codec::{Config, LoadReport, RuleInfo};

use crate::guest::{BatchOutput, Guest, GuestFault};
use crate::runtime::{ModuleVariant, Runtime, RuntimeOptions};

/// A runtime, a live configured instance, and the rules it runs.
#[derive(Debug)]
pub struct Session {
    runtime: Arc<Runtime>,
    guest: Guest,
    /// The document sent to every instance; `None`: the module's baked configuration applies.
    config: Option<Vec<u8>>,
    rules: Vec<RuleInfo>,
    rules_document: Vec<u8>,
    load_report: LoadReport,
}

impl Session {
    /// Configures a first instance of a (shared) runtime.
    pub fn new(runtime: Arc<Runtime>, config: &Config) -> Result<Self> {
        Self::start(runtime, Some(config.encode()))
    }

    /// A first instance that is not sent a configuration: a module with a baked one
    /// (`trailtag module`) applies it, any other its built-in defaults, as Fluent Bit runs it.
    pub fn unconfigured(runtime: Arc<Runtime>) -> Result<Self> {
        Self::start(runtime, None)
    }

    /// Another session on the same compiled module, configured the same (a worker's).
    pub fn sibling(&self) -> Result<Self> {
        Self::start(Arc::clone(&self.runtime), self.config.clone())
    }

    fn start(runtime: Arc<Runtime>, config: Option<Vec<u8>>) -> Result<Self> {
        let mut guest = runtime.instantiate()?;
        if let Some(config) = &config {
            configure(&mut guest, config)?;
        }
        let rules_document = guest.rules_document()?;
        let rules = guest.rules().context("the module's rules document")?;
        let load_report = guest.load_report().context("the module's load report")?;
        Ok(Self {
            runtime,
            guest,
            config,
            rules,
            rules_document,
            load_report,
        })
    }

    /// What the configuration skipped (`skip_invalid_rules`).
    pub fn load_report(&self) -> &LoadReport {
        &self.load_report
    }

    /// An embedded module with default runtime options, configured with `config`.
    pub fn embedded(variant: ModuleVariant, config: &Config) -> Result<Self> {
        let runtime = Runtime::embedded(variant, &RuntimeOptions::default())?;
        Self::new(Arc::new(runtime), config)
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

    /// Runs `f` on the live instance; after a fault that poisons it, replaces it. The outer
    /// error says the replacement failed (the module or the host is broken: stop).
    pub fn call<T>(
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
        if let Some(config) = &self.config {
            configure(&mut guest, config)?;
        }
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

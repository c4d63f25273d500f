//! `trailtag filter`: run as a log shipper's child, answering each line on stdin on stdout as
//! soon as it is read (`crate::protocol` does the work).
//!
//! The one thing the command itself has to get right is stderr. rsyslog's `mmexternal` connects
//! the child's stdout *and* stderr to the pipe it reads replies from, so a single line on stderr
//! (a skipped rule file, an unreadable record, a panic message) would be read as the reply to
//! the current message, and every reply after it would land on the message after its own. With
//! `--log FILE` the process points its stderr (file descriptor 2) at FILE before it does
//! anything else, so everything it would ever print there goes to the file; mmexternal requires
//! it. Fluentd discards its child's stderr, so `--log` is where the counts survive there too.

use std::io::{self, BufWriter};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::tag::{EXIT_OK, EXIT_PARTIAL};
use crate::cli::FilterArgs;
use crate::input;
use crate::protocol::{Responder, ResponderOptions};
use crate::report::Reporter;
use crate::runtime::ModuleVariant;

/// Runs `trailtag filter`.
pub fn run(args: &FilterArgs) -> Result<ExitCode> {
    if let Some(log) = &args.log {
        redirect_stderr(log)?;
    }
    let session = super::session(&args.guest, ModuleVariant::Simd, |config| {
        args.record.apply(config);
    })?;
    let options = ResponderOptions {
        protocol: args.protocol,
        max_record: usize::try_from(args.max_record)
            .unwrap_or(usize::MAX)
            .max(input::READ_BUFFER),
        summary: args.summary,
        summary_every: (!args.summary_every.is_zero()).then_some(args.summary_every),
    };
    let mut reporter = Reporter::new(false, 0);
    let answers = Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()));
    let responder = Responder::new(session, options, answers, &mut reporter);
    let mut stdin = input::lines("-", Box::new(io::stdin()), Arc::default());
    let totals = responder.serve(&mut stdin)?;
    Ok(ExitCode::from(if totals.is_clean() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }))
}

/// Points file descriptor 2 at `path` (appending), so that nothing this process writes to stderr
/// reaches the parent.
#[cfg(unix)]
fn redirect_stderr(path: &Path) -> Result<()> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening the log {}", path.display()))?;
    rustix::stdio::dup2_stderr(&file)
        .with_context(|| format!("pointing stderr at {}", path.display()))?;
    Ok(())
}

#[cfg(not(unix))]
fn redirect_stderr(path: &Path) -> Result<()> {
    anyhow::bail!(
        "--log {} needs a Unix system (it redirects file descriptor 2)",
        path.display()
    )
}

//! `trailtag tag`: read inputs, run them through the module, write tagged NDJSON.
//!
//! The subcommand only wires things together: a session on the module, a feed over the inputs,
//! a pipeline writing to stdout or `-o`, a reporter on stderr (`crate::pipeline` does the work).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail};

use crate::cli::{Abi, ProgressMode, TagArgs};
use crate::feed::{Feed, FeedOptions};
use crate::input;
use crate::pipeline::{Pipeline, PipelineOptions};
use crate::report::{Reporter, print_summary};
use crate::runtime::ModuleVariant;

/// Exit status when every input was read and evaluated.
pub const EXIT_OK: u8 = 0;
/// Exit status when the run finished but an input could not be read completely, or the module
/// failed on some records (they were passed through unevaluated).
pub const EXIT_PARTIAL: u8 = 2;

/// Runs `trailtag tag`.
pub fn run(args: &TagArgs) -> Result<ExitCode> {
    // Driving the Fluent Bit ABI means running what Fluent Bit loads: the portable module.
    let variant = match args.abi {
        Abi::Raw => ModuleVariant::Simd,
        Abi::FluentBit => ModuleVariant::Portable,
    };
    if args.unwrap && args.abi == Abi::FluentBit {
        bail!("--unwrap needs the raw ABI: Fluent Bit's filter returns one record per record");
    }
    let session = super::session(&args.guest, variant, |config| {
        config.only_matches = args.only_matches;
        config.validate = args.validate;
        args.record.apply(config);
        config.unwrap = args.unwrap;
    })?;
    let sink = open_output(args.output.as_ref(), &args.files)?;
    let sources = input::sources(&args.files);
    let total_bytes = sources
        .iter()
        .filter_map(|source| match source {
            input::Source::Path(path) => path.metadata().ok(),
            _ => None,
        })
        .map(|m| m.len())
        .sum();
    let show_progress = args.progress == ProgressMode::Auto && !args.files.is_empty();
    let mut reporter = Reporter::new(show_progress, total_bytes);
    let read_bytes = Arc::new(AtomicU64::new(0));
    let feed = Feed::start(sources, feed_options(args), Arc::clone(&read_bytes));
    let options = PipelineOptions {
        abi: args.abi,
        only_matches: args.only_matches,
    };
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let mut pipeline = Pipeline::new(session, options, sink, &mut reporter).with_jobs(jobs)?;
    pipeline.run(&feed, &|| read_bytes.load(Ordering::Relaxed))?;
    let (totals, rules) = (pipeline.totals().clone(), pipeline.rules().to_vec());
    drop(pipeline);
    reporter.finish();
    let peak = args
        .report_peak_memory
        .then(crate::bench::peak_rss_bytes)
        .flatten();
    print_summary(args.summary, &totals, &rules, peak)?;
    Ok(ExitCode::from(if totals.is_clean() {
        EXIT_OK
    } else {
        EXIT_PARTIAL
    }))
}

fn feed_options(args: &TagArgs) -> FeedOptions {
    FeedOptions {
        batch_bytes: usize::try_from(args.batch_size)
            .unwrap_or(usize::MAX)
            .max(1),
        max_record: usize::try_from(args.max_record)
            .unwrap_or(usize::MAX)
            .max(input::READ_BUFFER),
        idle: args.idle_flush,
    }
}

/// The output buffer. The output is written from the batch itself, between the guest's edits;
/// a run of unchanged lines at least this long (most of a batch, when few records match) skips
/// the buffer and goes to the file in one `write`, so only tagged lines and short runs are copied.
const OUTPUT_BUFFER: usize = 128 * 1024;

/// Stdout, or the `-o` file, refusing a file that is also an input (creating it would truncate
/// the input before it is read, as ripgrep also refuses).
fn open_output(output: Option<&PathBuf>, inputs: &[PathBuf]) -> Result<Box<dyn Write>> {
    let Some(path) = output else {
        return Ok(Box::new(BufWriter::with_capacity(
            OUTPUT_BUFFER,
            io::stdout().lock(),
        )));
    };
    for input in inputs {
        if same_file::is_same_file(input, path).unwrap_or(false) {
            bail!(
                "the output {} is also an input; write to another file",
                path.display()
            );
        }
    }
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(Box::new(BufWriter::with_capacity(OUTPUT_BUFFER, file)))
}

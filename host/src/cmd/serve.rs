//! `trailtag serve`: compile the module once, load the rules, start the guest pool, and run the
//! sidecar (`crate::serve` does the work) on a tokio runtime until SIGTERM.
//!
//! The rule flags are kept: every SIGHUP reads the same paths again on the same compiled module.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};

use crate::cli::ServeArgs;
use crate::input;
use crate::runtime::ModuleVariant;
use crate::serve::forward::Forwarder;
use crate::serve::metrics::Metrics;
use crate::serve::pool::Pool;
use crate::serve::stream::Streams;
use crate::serve::{Loader, ServeOptions, log, serve};

/// Runs `trailtag serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    for address in [args.listen, args.http].into_iter().flatten() {
        refuse_remote(address, args.allow_remote)?;
    }
    let runtime = super::runtime(&args.guest, ModuleVariant::Simd)?;
    let load: Loader = {
        let (guest, keep_foreign_tags) = (args.guest.clone(), args.keep_foreign_tags);
        Arc::new(move || {
            let session = super::session_on(Arc::clone(&runtime), &guest, |config| {
                config.keep_foreign_tags = keep_foreign_tags;
            })?;
            super::require_rules(session)
        })
    };
    let session = load()?;
    let metrics = Arc::new(Metrics::new(session.rules().len()));
    let workers = args.workers.map_or_else(
        || std::thread::available_parallelism().map_or(1, usize::from),
        usize::from,
    );
    let pool = Pool::start(session, workers, Arc::clone(&metrics))?;
    let forward = args.forward.clone().map(|target| {
        let metrics = Arc::clone(&metrics);
        Arc::new(Forwarder::new(target, args.forward_timeout, metrics))
    });
    let streams = Arc::new(Streams {
        pool: Arc::new(pool),
        metrics,
        max_record: usize::try_from(args.max_record)
            .unwrap_or(usize::MAX)
            .max(input::READ_BUFFER),
        window: usize::from(args.window),
        forward,
    });
    let options = ServeOptions {
        tcp: args.listen,
        http: args.http,
        drain_timeout: args.drain_timeout,
    };
    log(&format!("{workers} guest workers"));
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("trailtag-serve-io")
        .build()
        .context("starting the async runtime")?
        .block_on(serve(streams, options, load))?;
    Ok(ExitCode::SUCCESS)
}

/// The sidecar has no authentication and no TLS: it listens on loopback unless told otherwise.
fn refuse_remote(address: SocketAddr, allow_remote: bool) -> Result<()> {
    if !address.ip().is_loopback() && !allow_remote {
        bail!(
            "{address} is not a loopback address; the sidecar has no authentication or TLS, so it listens beside the shipper (127.0.0.1, ::1). Add --allow-remote to listen there anyway"
        );
    }
    Ok(())
}

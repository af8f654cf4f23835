//! `portico serve`: runs the hub until SIGTERM or Ctrl-C, then shuts down gracefully.

use anyhow::Context;
use portico_hub::config::Config;

use crate::ConfigArgs;

/// Reads the configuration for `args` from the file, the environment and the flags.
pub fn load_config(args: &ConfigArgs) -> anyhow::Result<Config> {
    Ok(Config::load(
        args.config.as_deref(),
        std::env::vars(),
        args.data.as_deref(),
    )?)
}

fn init_logging() {
    let level = std::env::var("PORTICO_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing_subscriber::filter::LevelFilter>().ok())
        .unwrap_or(tracing_subscriber::filter::LevelFilter::INFO);
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs `portico serve`.
pub fn run(args: ConfigArgs) -> anyhow::Result<()> {
    init_logging();
    let config = load_config(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let (trigger, shutdown) = portico_hub::shutdown::channel();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown requested");
            trigger.trigger();
        });
        portico_hub::server::run(config, shutdown, |bound| {
            // One machine-readable line for scripts and tests (ports may be 0 in the config).
            println!(
                "portico hub ready c2s_starttls={} c2s_tls={} http={}",
                bound.c2s_starttls, bound.c2s_tls, bound.http
            );
        })
        .await
    })?;
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

//! `portico admin reports list`: the spam and abuse reports users filed, newest first, with
//! the evidence each reporter chose to reveal (message ids, and plaintext only where the
//! reporter decrypted and attached it).

use anyhow::Context;
use clap::Subcommand;
use portico_hub::store::policy::PolicyStore;

use crate::ConfigArgs;
use crate::serve::load_config;

/// `portico admin reports` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// List reports, newest first.
    List {
        /// Show at most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// One JSON object per line instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Runs one `portico admin reports` command.
pub fn run(command: ReportsCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let ReportsCommand::List {
            limit,
            json,
            config,
        } = command;
        let config = load_config(&config)?;
        let store = portico_hub::server::open_store(&config)?;
        let reports = store.reports(limit).await?;
        if reports.is_empty() && !json {
            println!("no reports");
        }
        for r in reports {
            if json {
                let evidence: Vec<serde_json::Value> = r
                    .evidence
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "id": e.id, "stanza_id": e.stanza_id, "plaintext": e.plaintext,
                        })
                    })
                    .collect();
                let line = serde_json::json!({
                    "id": r.id, "at_ms": r.at_ms, "reporter": r.reporter,
                    "reported": r.reported, "reason": r.reason.as_str(), "evidence": evidence,
                });
                println!("{line}");
                continue;
            }
            println!(
                "#{} at {} ms: {} reported {} for {} ({} evidence item(s))",
                r.id,
                r.at_ms,
                r.reporter,
                r.reported,
                r.reason,
                r.evidence.len()
            );
            for e in &r.evidence {
                let stanza = e
                    .stanza_id
                    .map(|s| format!(" stanza-id {s}"))
                    .unwrap_or_default();
                match &e.plaintext {
                    Some(t) => println!("    message {}{stanza}: {t:?}", e.id),
                    None => println!("    message {}{stanza} (no plaintext revealed)", e.id),
                }
            }
        }
        store.close();
        Ok(())
    })
}

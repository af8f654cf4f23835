//! `portico`: one binary for every role in a Portico deployment.

use clap::Parser;

/// Portico: a self-hostable messaging-interoperability hub with end-to-end encryption
/// by the Signal Protocol.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about, long_about = None)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}

//! `portico`: one binary for every role in a Portico deployment.

mod admin;
mod admin_reports;
mod bench;
mod chat;
mod demo;
mod provider;
mod serve;
mod xmpp_client;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Portico: a self-hostable messaging-interoperability hub with end-to-end encryption
/// by the Signal Protocol.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the hub: XMPP on 5222 (STARTTLS) and 5223 (direct TLS), HTTPS on 8443.
    ///
    /// Every setting can be given in the TOML file and overridden by a PORTICO_… environment
    /// variable (PORTICO_DOMAIN, PORTICO_DATA_DIR, PORTICO_C2S_STARTTLS_ADDR, PORTICO_C2S_TLS_ADDR,
    /// PORTICO_HTTP_ADDR, PORTICO_REGISTRATION, PORTICO_MAX_DEVICES, PORTICO_QUEUE_TTL_DAYS,
    /// PORTICO_QUEUE_MAX_PER_DEVICE, PORTICO_LIMITS_…). PORTICO_LOG sets the log level.
    Serve(ConfigArgs),
    /// Load-test a hub (or another XMPP server with --plain-xmpp) and report figures.
    Bench(Box<bench::BenchArgs>),
    /// Administer the hub's data (works while the hub runs).
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Run a narrated, self-checking story: a hub on free loopback ports, two users, three
    /// devices, encrypted messages with their ticks, a device offline and back, safety numbers.
    Demo,
    /// Chat in the terminal: contacts, conversations with delivery marks, safety numbers.
    Chat(Box<chat::ChatArgs>),
    /// Run the reference third-party provider, or manage its users (`portico provider serve`).
    Provider {
        #[command(subcommand)]
        command: provider::ProviderCommand,
    },
}

/// Where the configuration comes from.
#[derive(Debug, clap::Args)]
struct ConfigArgs {
    /// TOML configuration file.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data dir (overrides `data_dir` in the file and PORTICO_DATA_DIR).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Manage first-party accounts.
    User {
        #[command(subcommand)]
        command: admin::UserCommand,
    },
    /// Spam and abuse reports users filed.
    Reports {
        #[command(subcommand)]
        command: admin_reports::ReportsCommand,
    },
    /// Manage third-party providers (onboarding, suspension).
    Provider {
        #[command(subcommand)]
        command: admin::ProviderCommand,
    },
    /// Print the hub's public signing key (what providers configure as --hub-key).
    HubKey(ConfigArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Bench(args) => bench::run(*args),
        Command::Admin {
            command: AdminCommand::User { command },
        } => admin::run(command),
        Command::Admin {
            command: AdminCommand::Provider { command },
        } => admin::run_provider(command),
        Command::Admin {
            command: AdminCommand::HubKey(args),
        } => admin::run_hub_key(&args),
        Command::Admin {
            command: AdminCommand::Reports { command },
        } => admin_reports::run(command),
        Command::Demo => demo::run(),
        Command::Chat(args) => chat::run(*args),
        Command::Provider { command } => provider::run(command),
    }
}

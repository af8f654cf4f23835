//! `portico admin user …`: account administration against the hub's data dir.

use anyhow::Context;
use clap::Subcommand;
use portico_hub::accounts;

use crate::ConfigArgs;
use crate::serve::load_config;

/// `portico admin user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// Account name (the part before @ in the JID).
        name: String,
        /// Its password.
        #[arg(long)]
        password: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List accounts with their device and queued-message counts.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove an account with its devices, keys and queued messages.
    Remove {
        /// Account name.
        name: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Set a new password.
    ResetPassword {
        /// Account name.
        name: String,
        /// The new password.
        #[arg(long)]
        password: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

/// Runs one `portico admin user` command.
pub fn run(command: UserCommand) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let args = match &command {
            UserCommand::Add { config, .. }
            | UserCommand::List { config }
            | UserCommand::Remove { config, .. }
            | UserCommand::ResetPassword { config, .. } => config,
        };
        let config = load_config(args)?;
        let store = portico_hub::server::open_store(&config)?;
        match &command {
            UserCommand::Add { name, password, .. } => {
                accounts::add_user(&store, name, password).await?;
                println!("added {name}@{}", config.domain);
            }
            UserCommand::List { .. } => {
                for a in accounts::list_users(&store).await? {
                    println!(
                        "{}@{}\tdevices={}\tqueued={}",
                        a.name, config.domain, a.devices, a.queued
                    );
                }
            }
            UserCommand::Remove { name, .. } => {
                accounts::remove_user(&store, name).await?;
                println!("removed {name}@{}", config.domain);
            }
            UserCommand::ResetPassword { name, password, .. } => {
                accounts::reset_password(&store, name, password).await?;
                println!("password reset for {name}@{}", config.domain);
            }
        }
        store.close();
        Ok(())
    })
}

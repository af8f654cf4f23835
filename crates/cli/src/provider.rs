//! `portico provider …`: the reference third-party provider. `serve` runs it (HTTPS; its keys,
//! certificate and database in `--data`); `user` manages its accounts (works while it runs);
//! `pushes` prints the push log.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use portico_interop::keys::decode_public_key;
use portico_provider::ProviderConfig;
use portico_provider::store::ProviderStore;

/// `portico provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Run the provider until SIGTERM or Ctrl-C; prints one `portico provider ready …` line.
    Serve(Box<ServeArgs>),
    /// Manage the provider's user accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Print the latest pushes the hub sent (JSON lines).
    Pushes {
        /// Only this user's pushes.
        #[arg(long)]
        user: Option<String>,
        /// How many, newest last.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        data: DataArg,
    },
}

/// The provider's data dir.
#[derive(Debug, Args)]
pub struct DataArg {
    /// Data dir: database, signing key, TLS certificate.
    #[arg(
        long,
        value_name = "DIR",
        env = "PORTICO_PROVIDER_DATA",
        default_value = "portico-provider-data"
    )]
    data: PathBuf,
}

/// `portico provider user` subcommands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account.
    Add {
        /// User name (a-z, 0-9, '.', '_', '-'); the visible id is NAME@DOMAIN.
        name: String,
        /// Password (or PORTICO_PROVIDER_PASSWORD).
        #[arg(long, env = "PORTICO_PROVIDER_PASSWORD", hide_env_values = true)]
        password: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Revoke an account: its sessions end and the hub's next /auth for it answers no.
    Revoke {
        /// User name.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// Lift a revocation (the user must log in again).
    Restore {
        /// User name.
        name: String,
        #[command(flatten)]
        data: DataArg,
    },
    /// List accounts.
    List {
        #[command(flatten)]
        data: DataArg,
    },
}

/// `portico provider serve` settings (flags or PORTICO_PROVIDER_* variables).
#[derive(Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    data: DataArg,
    /// Provider id registered at the hub (the assertions' issuer).
    #[arg(long, env = "PORTICO_PROVIDER_ID", default_value = "birdy")]
    id: String,
    /// Domain of the users' visible ids (bob → bob@DOMAIN).
    #[arg(long, env = "PORTICO_PROVIDER_DOMAIN", default_value = "birdy.example")]
    domain: String,
    /// HTTPS listen address (port 0 picks a free port; the ready line prints it).
    #[arg(
        long,
        env = "PORTICO_PROVIDER_LISTEN",
        default_value = "127.0.0.1:8444"
    )]
    listen: SocketAddr,
    /// The hub's public signing key (`portico admin hub-key`); without it /auth and /push
    /// refuse every request.
    #[arg(long, env = "PORTICO_PROVIDER_HUB_KEY", allow_hyphen_values = true)]
    hub_key: Option<String>,
    /// A hub domain assertions may be issued for (repeatable; none: any).
    #[arg(
        long = "hub-domain",
        env = "PORTICO_PROVIDER_HUB_DOMAINS",
        value_delimiter = ','
    )]
    hub_domains: Vec<String>,
    /// Let anyone create an account with POST /v1/signup.
    #[arg(long, env = "PORTICO_PROVIDER_OPEN_SIGNUP")]
    open_signup: bool,
    /// URL each push is forwarded to (POST, JSON, no content).
    #[arg(long, env = "PORTICO_PROVIDER_WEBHOOK")]
    webhook: Option<String>,
    /// PEM certificate(s) trusted for an https:// webhook.
    #[arg(long, env = "PORTICO_PROVIDER_WEBHOOK_CA")]
    webhook_ca: Option<PathBuf>,
    /// Login session lifetime, seconds.
    #[arg(long, env = "PORTICO_PROVIDER_SESSION_TTL", default_value_t = 30 * 24 * 3600)]
    session_ttl: u64,
    /// Identity assertion lifetime, seconds (at most 600).
    #[arg(
        long,
        env = "PORTICO_PROVIDER_ASSERTION_LIFETIME",
        default_value_t = 300
    )]
    assertion_lifetime: u64,
    /// How long the hub may cache an /auth answer, seconds.
    #[arg(long, env = "PORTICO_PROVIDER_AUTH_CACHE", default_value_t = 30)]
    auth_cache: u32,
}

fn open(data: &DataArg) -> anyhow::Result<ProviderStore> {
    std::fs::create_dir_all(&data.data)
        .with_context(|| format!("cannot create the data dir {}", data.data.display()))?;
    Ok(ProviderStore::open(&data.data)?)
}

fn now() -> u64 {
    portico_provider::routes::now_unix()
}

/// Runs `portico provider …`.
pub fn run(command: ProviderCommand) -> anyhow::Result<()> {
    match command {
        ProviderCommand::Serve(args) => serve(*args),
        ProviderCommand::User { command } => match command {
            UserCommand::Add {
                name,
                password,
                data,
            } => {
                let password = zeroize::Zeroizing::new(password);
                open(&data)?.add_user(&name, &password, now())?;
                println!("added user {name}");
                Ok(())
            }
            UserCommand::Revoke { name, data } => {
                open(&data)?.set_revoked(&name, true)?;
                println!(
                    "revoked {name}: sessions ended; the hub's next /auth for {name} answers no"
                );
                Ok(())
            }
            UserCommand::Restore { name, data } => {
                open(&data)?.set_revoked(&name, false)?;
                println!("restored {name}; they must log in again");
                Ok(())
            }
            UserCommand::List { data } => {
                for user in open(&data)?.list_users()? {
                    let state = if user.revoked { "revoked" } else { "active" };
                    println!("{}\t{state}", user.name);
                }
                Ok(())
            }
        },
        ProviderCommand::Pushes { user, limit, data } => {
            for push in open(&data)?.pushes(user.as_deref(), limit)? {
                println!("{}", serde_json::to_string(&push)?);
            }
            Ok(())
        }
    }
}

fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let mut config = ProviderConfig::new(&args.id, &args.domain, args.data.data, args.listen);
    config.hub_key = args
        .hub_key
        .as_deref()
        .map(decode_public_key)
        .transpose()
        .context("--hub-key: give the key `portico admin hub-key` prints")?;
    config.hub_domains = args
        .hub_domains
        .into_iter()
        .filter(|d| !d.is_empty())
        .collect();
    config.open_signup = args.open_signup;
    config.webhook = args.webhook;
    config.webhook_ca = args.webhook_ca;
    config.session_ttl = args.session_ttl;
    config.assertion_lifetime = args.assertion_lifetime;
    config.auth_cache_seconds = args.auth_cache;
    if config.hub_key.is_none() {
        tracing::warn!("no --hub-key: /auth and /push will refuse every request");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let id = config.id.clone();
    runtime.block_on(async move {
        portico_provider::run(config, wait_for_signal(), |ready| {
            // One machine-readable line for scripts and tests.
            println!("{}", ready.line(&id));
        })
        .await
    })?;
    Ok(())
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

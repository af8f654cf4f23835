//! `portico admin user …`: account administration against the hub's data dir;
//! `portico admin provider …`: the registry of third-party providers (a running hub notices
//! changes within `interop.registry_poll_ms`); `portico admin hub-key`: the hub's public
//! signing key, which providers configure to verify the hub's requests.

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

/// `portico admin provider` subcommands.
#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Register a provider (onboarding).
    Add {
        /// Provider id: 1 to 32 of a-z, 0-9, '-' (the `iss` of its assertions).
        id: String,
        /// Domain of its users' visible ids (bob@birdy.example → birdy.example).
        #[arg(long)]
        domain: String,
        /// HTTPS base URL of its /auth and /push endpoints.
        #[arg(long)]
        endpoint: String,
        /// Its Ed25519 public key (URL-safe base64, as the provider prints it; it may start
        /// with `-`).
        #[arg(long, allow_hyphen_values = true)]
        public_key: String,
        /// An origin (https://host:port) the hub's media proxy may fetch from; repeatable.
        #[arg(long = "media-origin")]
        media_origins: Vec<String>,
        /// PEM file with the certificate (or CA) the hub trusts for the provider's TLS.
        #[arg(long)]
        ca_file: Option<std::path::PathBuf>,
        /// A limit on messages from all this provider's users together, NAME=VALUE:
        /// messages_per_minute (refill) and messages_burst; unset, the [policy] provider rate
        /// applies. Repeatable.
        #[arg(long = "limit", value_name = "NAME=VALUE")]
        limits: Vec<String>,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// List providers with status and enlisted users.
    List {
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Suspend a provider: a running hub drops its sessions and refuses logins and enlistments.
    Suspend {
        /// Provider id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Resume a suspended provider.
    Resume {
        /// Provider id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
    /// Remove a provider with its users' accounts, devices, keys and queued messages.
    Remove {
        /// Provider id.
        id: String,
        #[command(flatten)]
        config: ConfigArgs,
    },
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn parse_limit(text: &str) -> anyhow::Result<(String, u64)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("--limit {text:?}: write NAME=VALUE"))?;
    let value = value
        .trim()
        .parse()
        .with_context(|| format!("--limit {text:?}: the value must be a whole number"))?;
    let known = portico_hub::policy::bucket::PROVIDER_LIMITS;
    anyhow::ensure!(
        known.contains(&name.trim()),
        "--limit {text:?}: unknown limit {:?}; the hub knows {}",
        name.trim(),
        known.join(", ")
    );
    Ok((name.trim().to_owned(), value))
}

fn check_origin(origin: &str) -> anyhow::Result<()> {
    let rest = origin
        .strip_prefix("https://")
        .with_context(|| format!("media origin {origin:?} must start with https://"))?;
    anyhow::ensure!(
        !rest.is_empty() && !rest.contains('/'),
        "media origin {origin:?} must be scheme, host and port only (https://host[:port])"
    );
    Ok(())
}

/// Runs one `portico admin provider` command.
pub fn run_provider(command: ProviderCommand) -> anyhow::Result<()> {
    use portico_hub::store::interop::{InteropStore, Provider, ProviderStatus};
    runtime()?.block_on(async move {
        let args = match &command {
            ProviderCommand::Add { config, .. }
            | ProviderCommand::List { config }
            | ProviderCommand::Suspend { config, .. }
            | ProviderCommand::Resume { config, .. }
            | ProviderCommand::Remove { config, .. } => config,
        };
        let config = load_config(args)?;
        let store = portico_hub::server::open_store(&config)?;
        match command {
            ProviderCommand::Add {
                id,
                domain,
                endpoint,
                public_key,
                media_origins,
                ca_file,
                limits,
                ..
            } => {
                portico_hub::interop::wire::keys::validate_provider_id(&id)?;
                let key = portico_hub::interop::wire::keys::decode_public_key(&public_key)
                    .context("--public-key")?;
                anyhow::ensure!(
                    endpoint.starts_with("https://"),
                    "--endpoint {endpoint:?} must be an https:// URL"
                );
                anyhow::ensure!(
                    !domain.is_empty() && !domain.contains(['@', '/', ' ']),
                    "--domain {domain:?} is not a domain name"
                );
                for origin in &media_origins {
                    check_origin(origin)?;
                }
                let ca_pem = match &ca_file {
                    Some(path) => {
                        let pem = std::fs::read_to_string(path).with_context(|| {
                            format!("cannot read --ca-file {}", path.display())
                        })?;
                        anyhow::ensure!(
                            pem.contains("-----BEGIN CERTIFICATE-----"),
                            "--ca-file {} holds no PEM certificate",
                            path.display()
                        );
                        pem
                    }
                    None => String::new(),
                };
                let limits = limits
                    .iter()
                    .map(|l| parse_limit(l))
                    .collect::<anyhow::Result<_>>()?;
                store
                    .add_provider(Provider {
                        id: id.clone(),
                        domain,
                        endpoint,
                        public_key: key.as_bytes().to_vec(),
                        media_origins,
                        ca_pem,
                        limits,
                        status: ProviderStatus::Active,
                    })
                    .await?;
                println!("added provider {id} (active)");
                if ca_file.is_none() {
                    println!(
                        "note: no --ca-file: the hub can reach its endpoint only when added again with the certificate PEM"
                    );
                }
            }
            ProviderCommand::List { .. } => {
                for p in store.list_providers().await? {
                    let users = store.provider_user_count(&p.id).await?;
                    let limits: Vec<String> =
                        p.limits.iter().map(|(k, v)| format!("{k}={v}")).collect();
                    println!(
                        "{}\t{}\tdomain={}\tendpoint={}\tusers={}\tmedia={}\tlimits={}\tkey={}",
                        p.id,
                        p.status.as_str(),
                        p.domain,
                        p.endpoint,
                        users,
                        p.media_origins.join(","),
                        limits.join(","),
                        portico_hub::interop::wire::keys::b64url_encode(&p.public_key),
                    );
                }
            }
            ProviderCommand::Suspend { id, .. } => {
                anyhow::ensure!(
                    store
                        .set_provider_status(&id, ProviderStatus::Suspended)
                        .await?,
                    "no provider is registered as {id:?}"
                );
                println!("suspended provider {id}: a running hub drops its sessions now");
            }
            ProviderCommand::Resume { id, .. } => {
                anyhow::ensure!(
                    store.set_provider_status(&id, ProviderStatus::Active).await?,
                    "no provider is registered as {id:?}"
                );
                println!("resumed provider {id}");
            }
            ProviderCommand::Remove { id, .. } => {
                anyhow::ensure!(
                    store.remove_provider(&id).await?,
                    "no provider is registered as {id:?}"
                );
                println!("removed provider {id} with its users");
            }
        }
        store.close();
        Ok(())
    })
}

/// `portico admin hub-key`: prints the hub's public signing key (creating the key on first
/// use, as the hub does at start).
pub fn run_hub_key(args: &ConfigArgs) -> anyhow::Result<()> {
    let config = load_config(args)?;
    let keys = portico_hub::interop::keys::HubKeys::load_or_create(&config.data_dir)?;
    println!("{}", keys.public_b64());
    Ok(())
}

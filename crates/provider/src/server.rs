//! Start and stop of the provider: keys, certificate, database, the HTTPS listener (axum over
//! tokio-rustls, one task per connection) and the webhook task.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use portico_interop::keys::encode_public_key;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::config::{ConfigError, ProviderConfig};
use crate::routes::{self, AppState};
use crate::store::{ProviderStore, StoreError};
use crate::tls::{self, KeyFileError};

/// What the provider reports once it listens.
#[derive(Debug, Clone)]
pub struct Ready {
    /// The bound address.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT` (the endpoint and media origin to register at the hub).
    pub url: String,
    /// The provider's Ed25519 public key, b64url (to register at the hub).
    pub public_key: String,
    /// The self-signed certificate's PEM file (the hub's `--ca-file`).
    pub cert_path: PathBuf,
}

impl Ready {
    /// The one machine-readable line `portico provider serve` prints.
    pub fn line(&self, id: &str) -> String {
        format!(
            "portico provider ready id={id} url={} public_key={} cert={}",
            self.url,
            self.public_key,
            self.cert_path.display()
        )
    }
}

/// Why the provider could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The data dir cannot be created.
    #[error("cannot create the data dir {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Keys or certificate.
    #[error(transparent)]
    Keys(#[from] KeyFileError),
    /// The database.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The listen address is taken or not allowed.
    #[error("cannot listen on {addr}: {source}; pick another --listen address")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Runs the provider until `shutdown` completes; `on_ready` is called once it listens.
pub async fn run(
    config: ProviderConfig,
    shutdown: impl Future<Output = ()> + Send,
    on_ready: impl FnOnce(&Ready),
) -> Result<(), ServeError> {
    config.validate()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.clone(),
        source,
    })?;
    let key = tls::load_or_create_signing_key(&config.data_dir)?;
    let (tls_config, cert_path) =
        tls::server_config(&config.data_dir, std::slice::from_ref(&config.domain))?;
    let store = Arc::new(ProviderStore::open_with_iterations(
        &config.data_dir,
        config.pbkdf2_iterations,
    )?);
    let webhook = match &config.webhook {
        Some(url) => {
            let uri: hyper::Uri = url
                .parse()
                .map_err(|_| ConfigError::InvalidWebhook(url.clone()))?;
            let trust = match &config.webhook_ca {
                Some(ca) => Some(tls::client_config_trusting(ca)?),
                None => None,
            };
            Some(crate::webhook::spawn(
                config.id.clone(),
                uri,
                trust,
                store.clone(),
            ))
        }
        None => None,
    };
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: config.listen,
        source,
    })?;
    let state = AppState::new(config.clone(), store, key, webhook);
    let app = routes::router(state.clone());
    // Media hosting (upload slots and blobs for the provider's users): `media.rs`.
    let app = app.merge(crate::media::router(state.clone()));
    let app = app.fallback(routes::not_found);
    let ready = Ready {
        addr,
        url: format!("https://{addr}"),
        public_key: encode_public_key(&state.public_key()),
        cert_path,
    };
    tracing::info!(addr = %addr, provider = %config.id, "provider listening");
    on_ready(&ready);
    serve(listener, tls_config, app, shutdown).await;
    Ok(())
}

async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            () = &mut shutdown => break,
        };
        let Ok((tcp, _peer)) = accepted else { continue };
        let acceptor = acceptor.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let Ok(Ok(stream)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

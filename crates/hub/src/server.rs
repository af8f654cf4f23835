//! Starting and stopping the hub: opens the store, prepares TLS, binds the listeners, runs
//! until the shutdown signal, then stops accepting, closes client streams and flushes the
//! store before returning.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use crate::tls::{self, TlsError};

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data dir could not be created.
    #[error(
        "cannot create the data dir {path}: {source}; set `data_dir` / PORTICO_DATA_DIR or --data to a writable place"
    )]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// TLS could not be prepared.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The hub's provider-gateway keys could not be loaded or created.
    #[error(transparent)]
    Keys(#[from] crate::interop::keys::KeyFileError),
    /// The media store could not be opened.
    #[error(transparent)]
    Media(#[from] crate::media::MediaError),
    /// A listener could not bind its address.
    #[error(
        "cannot listen on {addr} for `{key}`: {source}; pick another address in the configuration"
    )]
    Bind {
        /// The configuration key of the address.
        key: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The addresses the hub actually listens on (ports may have been 0 in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    /// STARTTLS client listener.
    pub c2s_starttls: SocketAddr,
    /// Direct-TLS client listener.
    pub c2s_tls: SocketAddr,
    /// HTTPS listener.
    pub http: SocketAddr,
}

/// Opens the configured SQLite store (also used by `portico admin`).
pub fn open_store(config: &Config) -> Result<SqliteStore, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    Ok(SqliteStore::open_with_commit_wait(
        &config.database_path(),
        config.queue.group_commit_max,
        std::time::Duration::from_millis(config.queue.group_commit_wait_ms.into()),
    )?)
}

async fn bind(key: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { key, addr, source })
}

/// Runs the hub until `shutdown` fires; `on_ready` is called once every listener is bound.
pub async fn run(
    config: Config,
    mut shutdown: Shutdown,
    on_ready: impl FnOnce(Bound),
) -> Result<(), ServeError> {
    let store = Arc::new(open_store(&config)?);
    let identity = tls::load_identity(&config)?;
    let http_tls = tls::server_config(&identity, &[b"http/1.1"])?;
    let c2s_tls = tls::server_config(&identity, &[b"xmpp-client"])?;
    let metrics = Arc::new(Metrics::new());

    let starttls_listener = bind("c2s_starttls_addr", config.c2s_starttls_addr).await?;
    let tls_listener = bind("c2s_tls_addr", config.c2s_tls_addr).await?;
    let http_listener = bind("http_addr", config.http_addr).await?;
    let local = |l: &TcpListener, key, addr| {
        l.local_addr()
            .map_err(|source| ServeError::Bind { key, addr, source })
    };
    let bound = Bound {
        c2s_starttls: local(
            &starttls_listener,
            "c2s_starttls_addr",
            config.c2s_starttls_addr,
        )?,
        c2s_tls: local(&tls_listener, "c2s_tls_addr", config.c2s_tls_addr)?,
        http: local(&http_listener, "http_addr", config.http_addr)?,
    };

    let dyn_store: Arc<dyn Store> = store.clone();
    let app = http::router(HttpState {
        metrics: metrics.clone(),
        store: dyn_store.clone(),
    });
    let gateway = crate::interop::Gateway::new(config.clone(), dyn_store.clone(), metrics.clone())?;
    let app = app.merge(crate::interop::enlist::router(gateway.clone()));
    let media = crate::media::Media::open(
        &config,
        bound.http,
        Arc::new(crate::media::RegistryOrigins(dyn_store.clone())),
        metrics.media.clone(),
    )?;
    let app = app.merge(crate::media::http::router(media.clone()));
    let media_task = tokio::spawn(crate::media::slots::expire_loop(
        media.clone(),
        shutdown.clone(),
    ));
    let http_task = tokio::spawn(http::serve(http_listener, http_tls, app, shutdown.clone()));
    let c2s = crate::c2s::C2s::new(
        config.clone(),
        dyn_store.clone(),
        metrics.clone(),
        c2s_tls,
        gateway.clone(),
        media,
    );
    let starttls_task = tokio::spawn(c2s.clone().listen(
        starttls_listener,
        false,
        shutdown.clone(),
    ));
    let tls_task = tokio::spawn(c2s.clone().listen(tls_listener, true, shutdown.clone()));
    let expiry_task = tokio::spawn(expire_loop(dyn_store.clone(), shutdown.clone()));
    let interop_task = tokio::spawn(crate::interop::watch::run(
        gateway,
        c2s.clone(),
        shutdown.clone(),
    ));
    tracing::info!(
        c2s_starttls = %bound.c2s_starttls,
        c2s_tls = %bound.c2s_tls,
        http = %bound.http,
        domain = %config.domain,
        "hub listening"
    );
    on_ready(bound);

    shutdown.wait().await;
    tracing::info!("shutting down: no new connections, closing client streams");
    let _ = starttls_task.await;
    let _ = tls_task.await;
    c2s.drain(Duration::from_secs(10)).await;
    let _ = http_task.await;
    let _ = expiry_task.await;
    let _ = interop_task.await;
    let _ = media_task.await;
    drop(c2s);
    store.close();
    tracing::info!("store flushed; bye");
    Ok(())
}

async fn expire_loop(store: Arc<dyn Store>, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        match store.expire(crate::store::sqlite::now_ms()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "dropped queued messages past their TTL"),
            Err(e) => tracing::warn!(error = %e, "queue expiry failed"),
        }
    }
}

//! Client-to-server XMPP sessions: the listeners on the STARTTLS and direct-TLS ports.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::Store;

/// Shared state of every client session.
#[derive(Clone)]
pub struct C2s {
    inner: Arc<Inner>,
}

struct Inner {
    #[allow(dead_code)]
    config: Config,
    #[allow(dead_code)]
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
    #[allow(dead_code)]
    tls: Arc<rustls::ServerConfig>,
}

impl C2s {
    /// Session layer over `store`.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        tls: Arc<rustls::ServerConfig>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                store,
                metrics,
                tls,
            }),
        }
    }

    /// Accepts connections until shutdown; `direct_tls` selects XEP-0368 direct TLS.
    pub async fn listen(self, listener: TcpListener, direct_tls: bool, mut shutdown: Shutdown) {
        let _ = direct_tls;
        loop {
            tokio::select! {
                a = listener.accept() => {
                    if a.is_ok() {
                        self.inner.metrics.reject("not-implemented");
                    }
                }
                () = shutdown.wait() => break,
            }
        }
    }

    /// Waits up to `grace` for open sessions to close after shutdown.
    pub async fn drain(&self, grace: Duration) {
        let _ = grace;
    }
}

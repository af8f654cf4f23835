//! Client-to-server XMPP sessions: the listeners on the STARTTLS and direct-TLS ports, the
//! registry of online devices ([`Router`]), and the per-connection session task.
//!
//! - [`conn`]: bytes ↔ events and elements for one connection.
//! - `session`: stream negotiation (STARTTLS, stream headers, bind) and the shared helpers.
//! - `auth`: SASL (SCRAM-SHA-256, PLAIN) and in-band registration.
//! - `bound`: the bound session loop; `resume`: XEP-0198.
//! - `route`: e2ee messages (device-set check, durable queueing, ack, delivery).
//! - `keys`: the key directory IQs.

mod auth;
mod bound;
pub mod conn;
mod keys;
mod resume;
mod route;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use portico_stanza::Element;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;
use crate::store::{DeviceId, QueuedMessage, Store};

/// What one session can be told by others.
#[derive(Debug)]
pub enum Push {
    /// A message was durably queued for this device.
    Deliver(Arc<QueuedMessage>),
    /// A stanza to send as is (notices).
    Stanza(Box<Element>),
    /// Another connection bound the same device; this one must close.
    Replaced,
    /// The session must close with this stream error and text (provider suspended, user
    /// revoked: see `crate::interop`).
    Close(portico_stanza::stanza::StreamErrorCondition, String),
}

/// An online device's session: its id and its channel.
type SessionEntry = (u64, mpsc::UnboundedSender<Push>);

/// Online devices, each with the channel to its session.
#[derive(Default)]
pub struct Router {
    sessions: Mutex<HashMap<(String, DeviceId), SessionEntry>>,
}

impl Router {
    /// Registers a session for a device, telling any previous one it is replaced.
    pub fn register(
        &self,
        account: &str,
        device: DeviceId,
        session: u64,
        tx: mpsc::UnboundedSender<Push>,
    ) {
        let old = self
            .sessions
            .lock()
            .ok()
            .and_then(|mut s| s.insert((account.to_owned(), device), (session, tx)));
        if let Some((_, old)) = old {
            let _ = old.send(Push::Replaced);
        }
    }

    /// Removes the device's session if it is still `session`.
    pub fn unregister(&self, account: &str, device: DeviceId, session: u64) {
        if let Ok(mut s) = self.sessions.lock() {
            let key = (account.to_owned(), device);
            if s.get(&key).is_some_and(|(id, _)| *id == session) {
                s.remove(&key);
            }
        }
    }

    /// Hands `push` to the device's session; false if it is offline.
    pub fn push(&self, account: &str, device: DeviceId, push: Push) -> bool {
        let tx = self.sessions.lock().ok().and_then(|s| {
            s.get(&(account.to_owned(), device))
                .map(|(_, tx)| tx.clone())
        });
        tx.is_some_and(|tx| tx.send(push).is_ok())
    }

    /// Tells every session whose account and device match `which` to close with `condition`
    /// and `text`; returns how many were told.
    pub fn close_where(
        &self,
        which: impl Fn(&str, DeviceId) -> bool,
        condition: portico_stanza::stanza::StreamErrorCondition,
        text: &str,
    ) -> usize {
        let Ok(s) = self.sessions.lock() else {
            return 0;
        };
        s.iter()
            .filter(|((account, device), _)| which(account, *device))
            .filter(|(_, (_, tx))| tx.send(Push::Close(condition, text.to_owned())).is_ok())
            .count()
    }

    /// Whether the device has a session.
    pub fn is_online(&self, account: &str, device: DeviceId) -> bool {
        self.sessions
            .lock()
            .map(|s| s.contains_key(&(account.to_owned(), device)))
            .unwrap_or(false)
    }
}

/// Shared state of every client session.
#[derive(Clone)]
pub struct C2s {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) tls: TlsAcceptor,
    pub(crate) router: Router,
    /// Policy state: rate limits, cached settings and blocklists (`crate::policy`).
    pub(crate) policy: crate::policy::Policy,
    /// The provider gateway (third-party login, push).
    pub(crate) interop: Arc<crate::interop::Gateway>,
    /// The media service (upload slots and proxy tokens are asked for over c2s).
    pub(crate) media: Arc<crate::media::Media>,
    /// Dropped sessions that may be resumed (XEP-0198).
    pub(crate) resumable: resume::Resumable,
    /// Registered devices per account, as the store had them a moment ago (non-empty lists
    /// only; entries live [`DEVICE_CACHE_TTL`], so `portico admin` changes are seen soon).
    device_cache: Mutex<HashMap<String, CachedDevices>>,
    connections: Arc<Semaphore>,
    active: AtomicUsize,
    idle: Notify,
    next_session: AtomicU64,
}

/// A device list and when it was read.
type CachedDevices = (std::time::Instant, Arc<Vec<DeviceId>>);

/// How long a cached device list is trusted.
const DEVICE_CACHE_TTL: Duration = Duration::from_secs(5);

impl Inner {
    /// The account's registered devices, from memory when known.
    pub(crate) async fn devices(
        &self,
        account: &str,
    ) -> Result<Arc<Vec<DeviceId>>, crate::store::StoreError> {
        let cached = self
            .device_cache
            .lock()
            .ok()
            .and_then(|c| c.get(account).cloned());
        if let Some((at, d)) = cached {
            if at.elapsed() < DEVICE_CACHE_TTL {
                return Ok(d);
            }
        }
        let devices = Arc::new(self.store.devices(account).await?);
        if !devices.is_empty() {
            if let Ok(mut c) = self.device_cache.lock() {
                if c.len() > 100_000 {
                    c.clear();
                }
                c.insert(
                    account.to_owned(),
                    (std::time::Instant::now(), devices.clone()),
                );
            }
        }
        Ok(devices)
    }

    /// Forgets the cached device list of `account` (after a device was added or removed).
    pub(crate) fn forget_devices(&self, account: &str) {
        if let Ok(mut c) = self.device_cache.lock() {
            c.remove(account);
        }
    }
}

impl C2s {
    /// Session layer over `store`.
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        metrics: Arc<Metrics>,
        tls: Arc<rustls::ServerConfig>,
        interop: Arc<crate::interop::Gateway>,
        media: Arc<crate::media::Media>,
    ) -> Self {
        let max = config.limits.max_connections as usize;
        Self {
            inner: Arc::new(Inner {
                policy: crate::policy::Policy::new(&config.policy, &config.domain),
                config,
                store,
                metrics,
                tls: TlsAcceptor::from(tls),
                router: Router::default(),
                interop,
                media,
                resumable: resume::Resumable::default(),
                device_cache: Mutex::new(HashMap::new()),
                connections: Arc::new(Semaphore::new(max)),
                active: AtomicUsize::new(0),
                idle: Notify::new(),
                next_session: AtomicU64::new(1),
            }),
        }
    }

    /// Accepts connections until shutdown; `direct_tls` selects XEP-0368 direct TLS.
    pub async fn listen(self, listener: TcpListener, direct_tls: bool, mut shutdown: Shutdown) {
        loop {
            let accepted = tokio::select! {
                a = listener.accept() => a,
                () = shutdown.wait() => break,
            };
            let Ok((tcp, _peer)) = accepted else {
                // Out of file descriptors or similar: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            let Ok(permit) = self.inner.connections.clone().try_acquire_owned() else {
                self.inner.metrics.reject("max-connections");
                if !direct_tls {
                    // Plain text is still spoken on the STARTTLS port: say why. On the TLS
                    // port a handshake would cost what the limit protects; just close.
                    let inner = self.inner.clone();
                    tokio::spawn(async move { session::refuse_full(&inner, tcp).await });
                }
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let inner = self.inner.clone();
            let shutdown = shutdown.clone();
            inner.active.fetch_add(1, Ordering::SeqCst);
            inner.metrics.connections.inc();
            let id = inner.next_session.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                session::run(&inner, tcp, direct_tls, shutdown, id).await;
                inner.metrics.connections.dec();
                drop(permit);
                if inner.active.fetch_sub(1, Ordering::SeqCst) == 1 {
                    inner.idle.notify_waiters();
                }
            });
        }
    }

    /// The registry of online devices.
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// Forgets the cached device list of `account` (a device was enlisted elsewhere).
    pub fn forget_devices(&self, account: &str) {
        self.inner.forget_devices(account);
    }

    /// Waits up to `grace` for open sessions to close after shutdown.
    pub async fn drain(&self, grace: Duration) {
        let wait = async {
            loop {
                let notified = self.inner.idle.notified();
                if self.inner.active.load(Ordering::SeqCst) == 0 {
                    return;
                }
                notified.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::warn!(
                open = self.inner.active.load(Ordering::SeqCst),
                "sessions still open after the shutdown grace period"
            );
        }
    }
}

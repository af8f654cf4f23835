//! Suspension and revocation: the running hub reads the provider registry every
//! `interop.registry_poll_ms` (250 ms by default), so `portico admin provider suspend` (which
//! only writes the store) drops every connected session of that provider within about that
//! time; and it re-asks each connected third-party device's provider `/auth` every
//! `interop.auth_recheck_secs`, dropping the sessions of users the provider revoked.
//!
//! Polling was chosen over an admin endpoint on the hub: `portico admin` already works on the
//! data dir while the hub runs, and one indexed read four times a second costs nothing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use portico_stanza::stanza::StreamErrorCondition;

use super::Gateway;
use super::login::Verdict;
use crate::c2s::C2s;
use crate::shutdown::Shutdown;
use crate::store::DeviceId;
use crate::store::interop::ProviderStatus;

/// Runs until shutdown.
pub async fn run(gw: Arc<Gateway>, c2s: C2s, mut shutdown: Shutdown) {
    let mut tick = tokio::time::interval(Duration::from_millis(
        gw.config.interop.registry_poll_ms.into(),
    ));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let recheck = Duration::from_secs(gw.config.interop.auth_recheck_secs.into());
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.wait() => return,
        }
        let enlisted = gw
            .enlisted
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default();
        for account in enlisted {
            c2s.forget_devices(&account);
        }
        let providers = match gw.store.list_providers().await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the provider registry");
                continue;
            }
        };
        let status: HashMap<String, ProviderStatus> =
            providers.into_iter().map(|p| (p.id, p.status)).collect();
        drop_inactive(&gw, &c2s, &status);
        recheck_due(&gw, &c2s, recheck);
    }
}

/// Closes the sessions of providers that are suspended or no longer registered.
fn drop_inactive(gw: &Gateway, c2s: &C2s, status: &HashMap<String, ProviderStatus>) {
    let domain = &gw.config.domain;
    let inactive = |provider: &str| status.get(provider) != Some(&ProviderStatus::Active);
    let gone: Vec<(String, DeviceId, String)> = {
        let Ok(mut live) = gw.live.lock() else {
            return;
        };
        let gone: Vec<_> = live
            .iter()
            .filter(|(_, l)| inactive(&l.provider))
            .map(|((a, d), l)| (a.clone(), *d, l.provider.clone()))
            .collect();
        for (a, d, _) in &gone {
            live.remove(&(a.clone(), *d));
        }
        gone
    };
    let mut providers: Vec<&str> = gone.iter().map(|(_, _, p)| p.as_str()).collect();
    providers.sort_unstable();
    providers.dedup();
    for provider in providers {
        let text = match status.get(provider) {
            Some(_) => format!(
                "provider {provider:?} was suspended by this hub's operator; its sessions are closed"
            ),
            None => format!("provider {provider:?} was removed from this hub"),
        };
        let n = c2s.router().close_where(
            |account, _| super::provider_of_account(account, domain) == Some(provider),
            StreamErrorCondition::PolicyViolation,
            &text,
        );
        gw.metrics.interop("suspension", "sessions-closed");
        tracing::info!(provider, sessions = n, "provider inactive: sessions closed");
    }
}

/// Re-asks the providers of sessions last checked more than `every` ago.
fn recheck_due(gw: &Arc<Gateway>, c2s: &C2s, every: Duration) {
    let now = Instant::now();
    let due: Vec<(String, DeviceId, String, String, zeroize::Zeroizing<String>)> = {
        let Ok(mut live) = gw.live.lock() else {
            return;
        };
        // Entries of devices between login and bind are young; keep them.
        let login = Duration::from_secs(gw.config.limits.login_timeout_secs.into());
        live.retain(|(a, d), l| {
            now.duration_since(l.checked) < login || c2s.router().is_online(a, *d)
        });
        live.iter_mut()
            .filter(|(_, l)| now.duration_since(l.checked) >= every)
            .map(|((a, d), l)| {
                l.checked = now;
                (
                    a.clone(),
                    *d,
                    l.provider.clone(),
                    l.visible_id.clone(),
                    l.token.clone(),
                )
            })
            .collect()
    };
    for (account, device, provider, visible_id, token) in due {
        let gw = gw.clone();
        let c2s = c2s.clone();
        tokio::spawn(async move {
            let Ok(Some(p)) = gw.store.provider(&provider).await else {
                return;
            };
            match super::login::ask(&gw, &p, &account, device, &visible_id, &token, false).await {
                Ok(Verdict::Allowed) => {}
                Ok(Verdict::Denied(reason)) => gw.revoke(&c2s, &account, device, &reason),
                Err(e) if gw.config.interop.auth_fail_open => {
                    tracing::debug!(provider, error = %e, "re-check failed; session kept (interop.auth_fail_open)");
                }
                Err(e) => {
                    // A provider that is briefly down does not cut its users off; a login
                    // would be refused, a connected session stays until it says no.
                    tracing::warn!(provider, error = %e, "re-check of a session failed; kept");
                }
            }
        });
    }
}

impl Gateway {
    /// The provider revoked the user behind `account`: its sessions close.
    pub(crate) fn revoke(&self, c2s: &C2s, account: &str, device: DeviceId, reason: &str) {
        if let Ok(mut live) = self.live.lock() {
            live.remove(&(account.to_owned(), device));
        }
        let n = c2s.router().close_where(
            |a, d| a == account && d == device,
            StreamErrorCondition::NotAuthorized,
            &format!("provider says: {reason}"),
        );
        self.metrics.interop("revocation", "sessions-closed");
        tracing::info!(sessions = n, "third-party session revoked by its provider");
    }
}

//! The policy IQs of a bound session: interop settings (`urn:portico:interop-settings:1`),
//! XEP-0191 blocking with pushes to the user's sessions, reports (`urn:portico:report:1`)
//! and discovery (`urn:portico:discover:1`). Nothing a user reports is logged.

use portico_stanza::stanza::policy::{
    Blocking, Discover, InteropSettings, NS_BLOCKING, NS_DISCOVER, NS_REPORT, NS_SETTINGS, Report,
};
use portico_stanza::stanza::{Iq, IqKind, StanzaCondition, StanzaError};
use portico_stanza::{Element, Jid};

use super::decide::DAY_MS;
use crate::c2s::{Inner, Push};
use crate::store::policy::{StoredEvidence, StoredReport};
use crate::store::sqlite::now_ms;

/// Who is asking: the session's account and full JID.
#[derive(Debug, Clone, Copy)]
pub struct Asker<'a> {
    /// The account.
    pub account: &'a str,
    /// The session's full JID.
    pub jid: &'a Jid,
}

/// Whether the IQ payload is one of the policy namespaces.
pub fn is_policy_iq(payload: &Element) -> bool {
    matches!(
        payload.ns(),
        NS_SETTINGS | NS_BLOCKING | NS_REPORT | NS_DISCOVER
    )
}

fn bad(text: impl Into<portico_stanza::CompactString>) -> StanzaError {
    StanzaError::new(StanzaCondition::BadRequest).with_text(text)
}

fn store_failed<E>(_: E) -> StanzaError {
    StanzaError::new(StanzaCondition::InternalServerError)
        .with_text("the hub's store failed; retry later")
}

/// Answers a policy IQ (`get` or `set` whose payload [`is_policy_iq`]).
pub(crate) async fn handle(inner: &Inner, me: Asker<'_>, iq: &Iq) -> Iq {
    let (set, payload) = match &iq.kind {
        IqKind::Get(p) => (false, p.clone()),
        IqKind::Set(p) => (true, p.clone()),
        _ => return iq.error(bad("expected a get or set")),
    };
    let answer = match payload.ns() {
        NS_SETTINGS => settings(inner, me, set, payload).await,
        NS_BLOCKING => blocking(inner, me, set, payload).await,
        NS_REPORT if set => report(inner, me, payload).await,
        NS_DISCOVER if !set => discover(inner, me, payload).await,
        _ => Err(bad(
            "use get for settings, blocklist and discover; set for settings, block, unblock and report",
        )),
    };
    match answer {
        Ok(p) => iq.result(p),
        Err(e) => iq.error(e),
    }
}

async fn settings(
    inner: &Inner,
    me: Asker<'_>,
    set: bool,
    payload: Element,
) -> Result<Option<Element>, StanzaError> {
    let policy = &inner.policy;
    if !set {
        let s = policy
            .settings(inner.store.as_ref(), me.account)
            .await
            .map_err(store_failed)?;
        return Ok(Some(InteropSettings::clone(&s).into()));
    }
    let s =
        InteropSettings::try_from(payload).map_err(|e| bad(format!("invalid settings: {e}")))?;
    inner
        .store
        .set_interop_settings(me.account.to_owned(), s)
        .await
        .map_err(store_failed)?;
    policy.forget(me.account);
    Ok(None)
}

async fn blocking(
    inner: &Inner,
    me: Asker<'_>,
    set: bool,
    payload: Element,
) -> Result<Option<Element>, StanzaError> {
    let b =
        Blocking::try_from(payload).map_err(|e| bad(format!("invalid blocking request: {e}")))?;
    let store = &inner.store;
    match (set, b) {
        (false, Blocking::Blocklist(_)) => {
            let list = inner
                .policy
                .blocklist(store.as_ref(), me.account)
                .await
                .map_err(store_failed)?;
            Ok(Some(Blocking::Blocklist(list.to_vec()).into()))
        }
        (true, change @ (Blocking::Block(_) | Blocking::Unblock(_))) => {
            let (Blocking::Block(jids) | Blocking::Unblock(jids) | Blocking::Blocklist(jids)) =
                &change;
            let texts: Vec<String> = jids.iter().map(ToString::to_string).collect();
            let written = if matches!(change, Blocking::Block(_)) {
                store.block(me.account.to_owned(), texts).await
            } else {
                store.unblock(me.account.to_owned(), texts).await
            };
            written.map_err(store_failed)?;
            inner.policy.forget(me.account);
            push_change(inner, me, change).await;
            Ok(None)
        }
        _ => Err(bad(
            "XEP-0191: get <blocklist/>, set <block/> or <unblock/>",
        )),
    }
}

/// XEP-0191 §3.3/§3.4: the server pushes each block or unblock to the user's sessions.
async fn push_change(inner: &Inner, me: Asker<'_>, change: Blocking) {
    let Ok(devices) = inner.devices(me.account).await else {
        return;
    };
    let bare = me.jid.to_bare();
    for device in devices.iter() {
        let Ok(to) = bare.with_resource(&device.to_string()) else {
            continue;
        };
        let push = Iq {
            to: Some(to),
            ..Iq::set(format!("block-push-{}", now_ms()), change.clone().into())
        };
        inner
            .router
            .push(me.account, *device, Push::Stanza(Box::new(push.into())));
    }
}

async fn report(
    inner: &Inner,
    me: Asker<'_>,
    payload: Element,
) -> Result<Option<Element>, StanzaError> {
    let cfg = inner.policy.config();
    let r = Report::from_element_with_limits(
        payload,
        cfg.report_max_evidence as usize,
        cfg.report_max_evidence_bytes as usize,
    )
    .map_err(|e| {
        StanzaError::new(StanzaCondition::NotAcceptable).with_text(format!("report refused: {e}"))
    })?;
    let now = now_ms();
    let filed = inner
        .store
        .reports_since(me.account, now.saturating_sub(DAY_MS))
        .await
        .map_err(store_failed)?;
    if filed >= cfg.reports_per_day {
        let mut e = StanzaError::new(StanzaCondition::PolicyViolation).with_text(format!(
            "at most {} reports a day (policy.reports_per_day); retry tomorrow",
            cfg.reports_per_day
        ));
        e.kind = portico_stanza::stanza::ErrorType::Wait;
        return Err(e);
    }
    let stored = StoredReport {
        id: 0,
        reporter: me.account.to_owned(),
        reported: r.jid.to_bare().to_string(),
        reason: r.reason,
        at_ms: now,
        evidence: r
            .evidence
            .into_iter()
            .map(|e| StoredEvidence {
                id: e.id.to_string(),
                stanza_id: e.stanza_id,
                plaintext: e.plaintext.map(|t| t.to_string()),
            })
            .collect(),
    };
    let id = inner.store.add_report(stored).await.map_err(store_failed)?;
    tracing::info!(report = id, "spam report filed");
    Ok(None)
}

async fn discover(
    inner: &Inner,
    me: Asker<'_>,
    payload: Element,
) -> Result<Option<Element>, StanzaError> {
    let d =
        Discover::try_from(payload).map_err(|e| bad(format!("invalid discover request: {e}")))?;
    if let Err(refusal) = inner.policy.take_discover(me.jid, now_ms()) {
        inner.metrics.reject("rate-limited-discover");
        return Err(refusal.into_stanza_error());
    }
    // Never enlisted and not discoverable answer alike.
    let not_found = || {
        StanzaError::new(StanzaCondition::ItemNotFound)
            .with_text("no discoverable user has that visible id at that provider")
    };
    let account = inner
        .store
        .discover(&d.provider, &d.visible_id)
        .await
        .map_err(store_failed)?
        .ok_or_else(not_found)?;
    let jid = Jid::parse(&account).map_err(|_| not_found())?;
    Ok(Some(
        Discover {
            jid: Some(jid),
            ..d
        }
        .into(),
    ))
}

//! XMPP helpers for the end-to-end tests, on top of the `portico` binary's own client.

#![allow(dead_code, unused_imports)]

use std::time::Duration;

use portico_stanza::stanza::{
    Ciphertext, CiphertextKind, DeviceCiphertext, E2ee, Message, MessageType,
};
use portico_stanza::{Element, Jid, ns};

use super::Hub;
pub use super::xmpp_client::{Client, ClientError, Login, Mech};

/// Login parameters for `user` on `hub` (direct TLS, PLAIN, new device).
pub fn login(hub: &Hub, user: &str, password: &str) -> Login {
    Login {
        addr: hub.tls,
        tls: super::client_config(&hub.cert()),
        domain: "localhost".into(),
        user: user.into(),
        password: password.into(),
        mech: Mech::Plain,
        resource: None,
        starttls: false,
        resume: None,
    }
}

/// An e2ee message from a device to `to` with ciphertexts for `to_devices` and `own`.
pub fn e2ee_message(to: &str, id: &str, to_devices: &[u32], own: &[u32], body: &[u8]) -> Element {
    let ct = |d: &u32| DeviceCiphertext {
        device: *d,
        kind: CiphertextKind::Message,
        payload: Ciphertext::encode(body),
    };
    Message {
        id: Some(id.into()),
        to: Jid::parse(to).ok(),
        kind: Some(MessageType::Chat),
        e2ee: Some(E2ee {
            to: to_devices.iter().map(ct).collect(),
            own: own.iter().map(ct).collect(),
            ..E2ee::default()
        }),
        ..Message::default()
    }
    .into()
}

/// Waits for the next element matching `pred`, failing after `timeout`.
pub async fn expect(
    client: &mut Client,
    timeout: Duration,
    what: &str,
    pred: impl Fn(&Element) -> bool,
) -> Element {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match tokio::time::timeout_at(deadline, client.incoming.recv()).await {
            Ok(Some(el)) if pred(&el) => return el,
            Ok(Some(_)) => continue,
            Ok(None) => panic!("stream ended while waiting for {what}"),
            Err(_) => panic!("timed out waiting for {what}"),
        }
    }
}

/// The ack child of a hub message, if it is one.
pub fn ack_of(el: &Element) -> Option<&Element> {
    el.get_child("ack", ns::PORTICO_E2EE)
}

/// The e2ee child of a message, if any.
pub fn e2ee_of(el: &Element) -> Option<&Element> {
    el.get_child("e2ee", ns::PORTICO_E2EE)
}

/// The stream error condition in a `<stream:error>` element.
pub fn stream_error(el: &Element) -> Option<(String, String)> {
    if !el.is("error", ns::STREAM) {
        return None;
    }
    let cond = el
        .children()
        .find(|c| c.name() != "text")?
        .name()
        .to_owned();
    let text = el
        .children()
        .find(|c| c.name() == "text")
        .map(|t| t.text().to_string())
        .unwrap_or_default();
    Some((cond, text))
}

//! The engine's side of media (see `crate::media`): media IQs (upload slots, proxy tokens)
//! over the authenticated stream, and sending any [`Content`] (an attachment message) like a
//! text: logged, kept in the outbox, encrypted per device, retried.

use portico_content::Content;
use portico_stanza::Element;
use portico_stanza::stanza::Iq;

use super::Engine;
use crate::envelope::seal_content;
use crate::error::Result;
use crate::store::{Direction, LoggedMessage, Status};

impl Engine {
    /// Sends an IQ get with `payload` and returns the result's payload.
    pub(super) async fn media_iq(&mut self, payload: Element) -> Result<Option<Element>> {
        self.iq_ok(Iq::get("", payload), "media request").await
    }

    /// Encrypts and sends `content` to `to`; logs it with `log_body` as its text.
    pub(super) async fn send_content(
        &mut self,
        to: &str,
        content: Content,
        log_body: String,
    ) -> Result<String> {
        let id = self.new_id();
        let sealed = seal_content(&content, to, &self.limits)?;
        self.store.log_message(&LoggedMessage {
            conversation: to.to_owned(),
            id: id.clone(),
            direction: Direction::Outgoing,
            sender: self.me.clone(),
            body: log_body,
            status: Status::Sending,
            sent_at_ms: content.sent_at_ms,
        })?;
        self.store.outbox_put(&id, to, &sealed)?;
        let sent = self.send_payload(&id, to, &sealed).await;
        self.queued(&id, sent)?;
        Ok(id)
    }
}

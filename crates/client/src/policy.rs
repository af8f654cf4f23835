//! Blocking (XEP-0191) and spam reports (DESIGN.md §8): block and unblock JIDs (a bare JID,
//! or a whole provider's domain such as `birdy.interop.hub.example`), read the blocklist,
//! and report a sender with the evidence this user chooses to reveal. How to read a policy
//! refusal of a sent message: [`refusal_of`].

use portico_stanza::stanza::Iq;
use portico_stanza::stanza::StanzaError;
use portico_stanza::stanza::policy::{Blocking, Evidence, Refusal, Report, ReportReason};
use portico_stanza::{Element, Jid};

use crate::client::{Client, Cmd};
use crate::error::{ClientError, Result};

impl Client {
    async fn policy_iq(&self, iq: Iq, what: &'static str) -> Result<Option<Element>> {
        let iq = Box::new(iq);
        self.call(|reply| Cmd::Iq { iq, what, reply }).await
    }

    /// The JIDs this user blocked, in the order they were added.
    pub async fn blocklist(&self) -> Result<Vec<Jid>> {
        let what = "the blocklist";
        let answer = self
            .policy_iq(Iq::get("", Blocking::Blocklist(Vec::new()).into()), what)
            .await?
            .ok_or_else(|| ClientError::Protocol {
                what,
                detail: "an empty answer".into(),
            })?;
        match Blocking::try_from(answer) {
            Ok(Blocking::Blocklist(list)) => Ok(list),
            Ok(_) => Err(ClientError::Protocol {
                what,
                detail: "not a blocklist".into(),
            }),
            Err(e) => Err(ClientError::Protocol {
                what,
                detail: e.to_string(),
            }),
        }
    }

    /// Blocks `jids`: the hub delivers nothing from them and refuses to send them anything
    /// from this user. The hub tells this user's other devices.
    pub async fn block(&self, jids: &[Jid]) -> Result<()> {
        if jids.is_empty() {
            return Ok(());
        }
        let change = Blocking::Block(jids.to_vec());
        self.policy_iq(Iq::set("", change.into()), "a block")
            .await?;
        Ok(())
    }

    /// Unblocks `jids`; an empty list unblocks everyone.
    pub async fn unblock(&self, jids: &[Jid]) -> Result<()> {
        let change = Blocking::Unblock(jids.to_vec());
        self.policy_iq(Iq::set("", change.into()), "an unblock")
            .await?;
        Ok(())
    }

    /// Reports `jid` to the hub's operator. `evidence` holds message ids, and plaintext only
    /// where this user decided to reveal what they decrypted; the hub keeps it for its
    /// operator and never logs it.
    pub async fn report(
        &self,
        jid: &Jid,
        reason: ReportReason,
        evidence: Vec<Evidence>,
    ) -> Result<()> {
        let report = Report {
            jid: jid.to_bare(),
            reason,
            evidence,
        };
        self.policy_iq(Iq::set("", report.into()), "a report")
            .await?;
        Ok(())
    }
}

/// The policy refusal (opt-in, block, rate limit with its wait, new-contact limit) a stanza
/// error carries, if any: what an app shows when the hub refused a message.
pub fn refusal_of(error: &StanzaError) -> Option<Refusal> {
    Refusal::from_stanza_error(error).and_then(|r| r.ok())
}

//! Interop settings and discovery (DESIGN.md §8): whether this user accepts chats with
//! third-party providers (off by default: a message across the boundary is refused until the
//! user opts in), and finding a third-party user's internal JID by provider and visible id.

use portico_stanza::Jid;
use portico_stanza::stanza::Iq;
use portico_stanza::stanza::policy::{Discover, InteropSettings, ProviderRule, ThirdPartyMode};

use crate::client::{Client, Cmd};
use crate::error::{ClientError, Result};

impl Client {
    async fn request(&self, iq: Iq, what: &'static str) -> Result<Option<portico_stanza::Element>> {
        let iq = Box::new(iq);
        self.call(|reply| Cmd::Iq { iq, what, reply }).await
    }

    /// This user's interop settings as the hub keeps them.
    pub async fn interop_settings(&self) -> Result<InteropSettings> {
        let answer = self
            .request(
                Iq::get("", InteropSettings::query()),
                "the interop settings",
            )
            .await?;
        let el = answer.ok_or_else(|| ClientError::Protocol {
            what: "the interop settings",
            detail: "an empty answer".into(),
        })?;
        InteropSettings::try_from(el).map_err(|e| ClientError::Protocol {
            what: "the interop settings",
            detail: e.to_string(),
        })
    }

    /// Replaces this user's interop settings.
    pub async fn set_interop_settings(&self, settings: InteropSettings) -> Result<()> {
        self.request(Iq::set("", settings.into()), "the interop settings change")
            .await?;
        Ok(())
    }

    /// Opts in to chats with the users of `provider` (keeping other rules and discoverability).
    pub async fn allow_provider(&self, provider: &str) -> Result<()> {
        let mut settings = self.interop_settings().await?;
        if settings.mode == ThirdPartyMode::Off {
            settings.mode = ThirdPartyMode::Listed;
        }
        settings.providers.retain(|r| r.provider != provider);
        settings.providers.push(ProviderRule {
            provider: provider.into(),
            allow: true,
        });
        self.set_interop_settings(settings).await
    }

    /// The internal JID of `visible_id` on `provider`, when that user allows discovery (the hub
    /// answers an error otherwise, which comes back as [`ClientError::Protocol`]).
    pub async fn discover(&self, provider: &str, visible_id: &str) -> Result<Option<Jid>> {
        let query = Discover {
            provider: provider.into(),
            visible_id: visible_id.into(),
            jid: None,
        };
        let answer = self
            .request(Iq::get("", query.into()), "a discovery")
            .await?;
        Ok(answer
            .and_then(|el| Discover::try_from(el).ok())
            .and_then(|d| d.jid))
    }
}

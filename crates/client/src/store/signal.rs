//! `portico_signal`'s store traits over the SQLite database, so that every ratchet step,
//! used prekey and learned identity is durable the moment the protocol writes it.
//!
//! The traits return `SignalError`, which has no variant for a storage failure: a database
//! error is kept in the view (see [`SignalStore::take_error`]) and the protocol is handed a
//! generic "local store" error, which the caller replaces with the real one.

use std::cell::RefCell;

use portico_signal::{
    Direction as TrustDirection, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore,
    KyberPreKeyRecord, KyberPreKeyStore, PreKeyRecord, PreKeyStore, ProtocolAddress, SessionRecord,
    SessionStore, SignalError, SignedPreKeyRecord, SignedPreKeyStore,
};
use rusqlite::{Connection, OptionalExtension, params};
use zeroize::Zeroizing;

/// A view of the database implementing every Signal store trait.
pub struct SignalStore<'a> {
    db: &'a Connection,
    error: RefCell<Option<rusqlite::Error>>,
    replaced: RefCell<Vec<(String, u32)>>,
}

type SResult<T> = Result<T, SignalError>;

const STORE_FAILED: SignalError = SignalError::InvalidMessage {
    what: "local store record",
    reason: "the database failed",
};

impl<'a> SignalStore<'a> {
    pub(crate) fn new(db: &'a Connection) -> Self {
        SignalStore {
            db,
            error: RefCell::new(None),
            replaced: RefCell::new(Vec::new()),
        }
    }

    /// Devices whose stored identity key was replaced by a different one through this view
    /// (their safety number changed).
    pub fn take_replaced(&self) -> Vec<(String, u32)> {
        std::mem::take(&mut *self.replaced.borrow_mut())
    }

    /// The database error behind the last generic "local store" failure, if any.
    pub fn take_error(&self) -> Option<rusqlite::Error> {
        self.error.borrow_mut().take()
    }

    fn sql<T>(&self, r: rusqlite::Result<T>) -> SResult<T> {
        r.map_err(|e| {
            *self.error.borrow_mut() = Some(e);
            STORE_FAILED
        })
    }

    fn blob(&self, sql: &str, p: impl rusqlite::Params) -> SResult<Option<Zeroizing<Vec<u8>>>> {
        let r = self
            .db
            .query_row(sql, p, |r| r.get::<_, Vec<u8>>(0))
            .optional();
        Ok(self.sql(r)?.map(Zeroizing::new))
    }

    fn exec(&self, sql: &str, p: impl rusqlite::Params) -> SResult<()> {
        let r = self.db.execute(sql, p);
        self.sql(r).map(|_| ())
    }

    /// Stores a one-time Kyber prekey or (with `last_resort`) the last-resort one.
    pub fn save_kyber(&self, record: &KyberPreKeyRecord, last_resort: bool) -> SResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO kyber_prekeys (id, record, last_resort) VALUES (?1, ?2, ?3)",
            params![record.id(), &record.serialize()[..], last_resort],
        )
    }
}

impl IdentityKeyStore for SignalStore<'_> {
    fn identity_key_pair(&self) -> SResult<IdentityKeyPair> {
        let bytes = self
            .blob("SELECT value FROM meta WHERE key = 'identity'", [])?
            .ok_or(STORE_FAILED)?;
        IdentityKeyPair::deserialize(&bytes)
    }

    fn local_registration_id(&self) -> SResult<u32> {
        let bytes = self
            .blob("SELECT value FROM meta WHERE key = 'registration_id'", [])?
            .ok_or(STORE_FAILED)?;
        <[u8; 4]>::try_from(&bytes[..])
            .map(u32::from_be_bytes)
            .map_err(|_| STORE_FAILED)
    }

    fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SResult<IdentityChange> {
        let old = self.get_identity(address)?;
        if old.as_ref() == Some(identity) {
            return Ok(IdentityChange::NewOrUnchanged);
        }
        self.exec(
            "INSERT INTO identities (jid, device, identity, verified) VALUES (?1, ?2, ?3, 0)
             ON CONFLICT (jid, device) DO UPDATE SET identity = excluded.identity, verified = 0",
            params![
                address.name(),
                address.device_id(),
                &identity.serialize()[..]
            ],
        )?;
        Ok(if old.is_some() {
            self.replaced
                .borrow_mut()
                .push((address.name().to_owned(), address.device_id()));
            IdentityChange::ReplacedExisting
        } else {
            IdentityChange::NewOrUnchanged
        })
    }

    fn is_trusted_identity(
        &self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
        _direction: TrustDirection,
    ) -> SResult<bool> {
        // Trust on first use; a changed key is accepted unless the user verified the old one.
        let r = self
            .db
            .query_row(
                "SELECT identity, verified FROM identities WHERE jid = ?1 AND device = ?2",
                params![address.name(), address.device_id()],
                |r| Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, bool>(1)?)),
            )
            .optional();
        Ok(match self.sql(r)? {
            None => true,
            Some((known, verified)) => known[..] == identity.serialize()[..] || !verified,
        })
    }

    fn get_identity(&self, address: &ProtocolAddress) -> SResult<Option<IdentityKey>> {
        self.blob(
            "SELECT identity FROM identities WHERE jid = ?1 AND device = ?2",
            params![address.name(), address.device_id()],
        )?
        .map(|b| IdentityKey::deserialize(&b))
        .transpose()
    }
}

impl PreKeyStore for SignalStore<'_> {
    fn get_pre_key(&self, id: u32) -> SResult<Option<PreKeyRecord>> {
        self.blob("SELECT record FROM prekeys WHERE id = ?1", [id])?
            .map(|b| PreKeyRecord::deserialize(&b))
            .transpose()
    }

    fn save_pre_key(&mut self, id: u32, record: &PreKeyRecord) -> SResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO prekeys (id, record) VALUES (?1, ?2)",
            params![id, &record.serialize()[..]],
        )
    }

    fn remove_pre_key(&mut self, id: u32) -> SResult<()> {
        self.exec("DELETE FROM prekeys WHERE id = ?1", [id])
    }
}

impl SignedPreKeyStore for SignalStore<'_> {
    fn get_signed_pre_key(&self, id: u32) -> SResult<Option<SignedPreKeyRecord>> {
        self.blob("SELECT record FROM signed_prekeys WHERE id = ?1", [id])?
            .map(|b| SignedPreKeyRecord::deserialize(&b))
            .transpose()
    }

    fn save_signed_pre_key(&mut self, id: u32, record: &SignedPreKeyRecord) -> SResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO signed_prekeys (id, record) VALUES (?1, ?2)",
            params![id, &record.serialize()[..]],
        )
    }
}

impl KyberPreKeyStore for SignalStore<'_> {
    fn get_kyber_pre_key(&self, id: u32) -> SResult<Option<KyberPreKeyRecord>> {
        self.blob("SELECT record FROM kyber_prekeys WHERE id = ?1", [id])?
            .map(|b| KyberPreKeyRecord::deserialize(&b))
            .transpose()
    }

    fn save_kyber_pre_key(&mut self, _id: u32, record: &KyberPreKeyRecord) -> SResult<()> {
        self.save_kyber(record, false)
    }

    fn mark_kyber_pre_key_used(&mut self, id: u32) -> SResult<()> {
        self.exec(
            "DELETE FROM kyber_prekeys WHERE id = ?1 AND last_resort = 0",
            [id],
        )
    }
}

impl SessionStore for SignalStore<'_> {
    fn load_session(&self, address: &ProtocolAddress) -> SResult<Option<SessionRecord>> {
        self.blob(
            "SELECT record FROM sessions WHERE jid = ?1 AND device = ?2",
            params![address.name(), address.device_id()],
        )?
        .map(|b| SessionRecord::deserialize(&b))
        .transpose()
    }

    fn store_session(&mut self, address: &ProtocolAddress, record: &SessionRecord) -> SResult<()> {
        self.exec(
            "INSERT OR REPLACE INTO sessions (jid, device, record) VALUES (?1, ?2, ?3)",
            params![address.name(), address.device_id(), &record.serialize()[..]],
        )
    }
}

impl portico_signal::sender_keys::SenderKeyStore for SignalStore<'_> {
    fn store_sender_key(
        &mut self,
        sender: &ProtocolAddress,
        distribution_id: portico_signal::sender_keys::DistributionId,
        record: &portico_signal::sender_keys::SenderKeyRecord,
    ) -> Result<(), portico_signal::sender_keys::StoreFailure> {
        self.db.execute(
            "INSERT OR REPLACE INTO sender_keys (jid, device, distribution, record)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                sender.name(),
                sender.device_id(),
                distribution_id.to_string(),
                &record.serialize()[..]
            ],
        )?;
        Ok(())
    }

    fn load_sender_key(
        &self,
        sender: &ProtocolAddress,
        distribution_id: portico_signal::sender_keys::DistributionId,
    ) -> Result<
        Option<portico_signal::sender_keys::SenderKeyRecord>,
        portico_signal::sender_keys::StoreFailure,
    > {
        let bytes: Option<Vec<u8>> = self
            .db
            .query_row(
                "SELECT record FROM sender_keys WHERE jid = ?1 AND device = ?2 AND distribution = ?3",
                params![sender.name(), sender.device_id(), distribution_id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        match bytes.map(Zeroizing::new) {
            None => Ok(None),
            Some(b) => Ok(Some(
                portico_signal::sender_keys::SenderKeyRecord::deserialize(&b)?,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use portico_signal::{KemKeyType, KyberPreKeyRecord};
    use rand::SeedableRng as _;

    use super::*;
    use crate::store::Store;

    #[test]
    fn sessions_and_keys_survive_a_reopen_and_kyber_last_resort_stays() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let id = IdentityKeyPair::generate(&mut rng);
        let addr = ProtocolAddress::new("bob@d", 2);
        {
            let s = Store::open(&path).expect("open");
            s.set_identity(&id, 7).expect("identity");
            let mut v = s.signal();
            v.store_session(&addr, &SessionRecord::new_fresh())
                .expect("store");
            let one = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 1, 0, &id, &mut rng);
            let last = KyberPreKeyRecord::generate(KemKeyType::Kyber1024, 2, 0, &id, &mut rng);
            v.save_kyber(&one, false).expect("save");
            v.save_kyber(&last, true).expect("save");
        }
        let s = Store::open(&path).expect("reopen");
        let mut v = s.signal();
        assert!(v.load_session(&addr).expect("load").is_some());
        assert_eq!(v.local_registration_id().expect("reg"), 7);
        assert_eq!(
            v.identity_key_pair().expect("id").identity_key(),
            id.identity_key()
        );
        v.mark_kyber_pre_key_used(1).expect("used");
        v.mark_kyber_pre_key_used(2).expect("used");
        assert!(
            v.get_kyber_pre_key(1).expect("get").is_none(),
            "one-time goes"
        );
        assert!(
            v.get_kyber_pre_key(2).expect("get").is_some(),
            "last resort stays"
        );
    }

    #[test]
    fn identities_are_trusted_on_first_use_and_a_verified_one_may_not_change() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&dir.path().join("c.db")).expect("open");
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let first = *IdentityKeyPair::generate(&mut rng).identity_key();
        let second = *IdentityKeyPair::generate(&mut rng).identity_key();
        let addr = ProtocolAddress::new("bob@d", 1);
        let mut v = s.signal();
        let dir_recv = TrustDirection::Receiving;
        assert!(
            v.is_trusted_identity(&addr, &first, dir_recv)
                .expect("trust")
        );
        assert_eq!(
            v.save_identity(&addr, &first).expect("save"),
            IdentityChange::NewOrUnchanged
        );
        // Unverified: a new key is accepted and reported as a replacement.
        assert!(
            v.is_trusted_identity(&addr, &second, dir_recv)
                .expect("trust")
        );
        assert_eq!(
            v.save_identity(&addr, &second).expect("save"),
            IdentityChange::ReplacedExisting
        );
        s.set_verified("bob@d", 1, true).expect("verify");
        assert!(
            !v.is_trusted_identity(&addr, &first, dir_recv)
                .expect("trust")
        );
        assert!(
            v.is_trusted_identity(&addr, &second, dir_recv)
                .expect("trust")
        );
    }

    #[test]
    fn sender_key_records_survive_a_reopen() {
        use portico_signal::sender_keys::{
            DistributionId, SenderKeyStore as _, create_distribution_message,
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("c.db");
        let mut rng = rand::rngs::StdRng::from_os_rng();
        let me = ProtocolAddress::new("alice@d", 1);
        let group = DistributionId::random(&mut rng);
        {
            let s = Store::open(&path).expect("open");
            let mut v = s.signal();
            create_distribution_message(&mut v, &me, group, &mut rng).expect("create");
        }
        let s = Store::open(&path).expect("reopen");
        let v = s.signal();
        assert!(v.load_sender_key(&me, group).expect("load").is_some());
        let other = DistributionId::random(&mut rng);
        assert!(v.load_sender_key(&me, other).expect("load").is_none());
    }
}

// In-memory libsignal stores for the conformance peer and the vector generator.
// They hold exactly what libsignal asks them to hold; nothing here implements protocol logic.

import * as S from '@signalapp/libsignal-client';

const key = (address) => `${address.name()}.${address.deviceId()}`;

export class Sessions extends S.SessionStore {
  constructor() {
    super();
    this.map = new Map();
  }
  async saveSession(address, record) {
    this.map.set(key(address), record.serialize());
  }
  async getSession(address) {
    const bytes = this.map.get(key(address));
    return bytes ? S.SessionRecord.deserialize(bytes) : null;
  }
  async getExistingSessions(addresses) {
    return addresses.map((address) => {
      const bytes = this.map.get(key(address));
      if (!bytes) throw new Error(`no session for ${key(address)}`);
      return S.SessionRecord.deserialize(bytes);
    });
  }
}

/// Trust on first use: a changed identity key is untrusted until `forget` is called.
export class Identities extends S.IdentityKeyStore {
  constructor(identityPair, registrationId) {
    super();
    this.pair = identityPair;
    this.registrationId = registrationId;
    this.known = new Map();
  }
  async getIdentityKey() {
    return this.pair.privateKey;
  }
  async getLocalRegistrationId() {
    return this.registrationId;
  }
  async saveIdentity(address, publicKey) {
    const old = this.known.get(key(address));
    this.known.set(key(address), publicKey.serialize());
    return old && !old.equals(publicKey.serialize())
      ? S.IdentityChange.ReplacedExisting
      : S.IdentityChange.NewOrUnchanged;
  }
  async isTrustedIdentity(address, publicKey) {
    const old = this.known.get(key(address));
    return !old || old.equals(publicKey.serialize());
  }
  async getIdentity(address) {
    const old = this.known.get(key(address));
    return old ? S.PublicKey.deserialize(old) : null;
  }
  forget(address) {
    this.known.delete(key(address));
  }
}

export class PreKeys extends S.PreKeyStore {
  constructor() {
    super();
    this.map = new Map();
  }
  async savePreKey(id, record) {
    this.map.set(id, record.serialize());
  }
  async getPreKey(id) {
    const bytes = this.map.get(id);
    if (!bytes) throw new Error(`no prekey ${id}`);
    return S.PreKeyRecord.deserialize(bytes);
  }
  async removePreKey(id) {
    this.map.delete(id);
  }
}

export class SignedPreKeys extends S.SignedPreKeyStore {
  constructor() {
    super();
    this.map = new Map();
  }
  async saveSignedPreKey(id, record) {
    this.map.set(id, record.serialize());
  }
  async getSignedPreKey(id) {
    const bytes = this.map.get(id);
    if (!bytes) throw new Error(`no signed prekey ${id}`);
    return S.SignedPreKeyRecord.deserialize(bytes);
  }
}

export class KyberPreKeys extends S.KyberPreKeyStore {
  constructor() {
    super();
    this.map = new Map();
    this.used = new Set();
  }
  async saveKyberPreKey(id, record) {
    this.map.set(id, record.serialize());
  }
  async getKyberPreKey(id) {
    const bytes = this.map.get(id);
    if (!bytes) throw new Error(`no kyber prekey ${id}`);
    return S.KyberPreKeyRecord.deserialize(bytes);
  }
  async markKyberPreKeyUsed(id) {
    this.used.add(id);
  }
}

export class SenderKeys extends S.SenderKeyStore {
  constructor() {
    super();
    this.map = new Map();
  }
  async saveSenderKey(sender, distributionId, record) {
    this.map.set(`${key(sender)}/${distributionId}`, record.serialize());
  }
  async getSenderKey(sender, distributionId) {
    const bytes = this.map.get(`${key(sender)}/${distributionId}`);
    return bytes ? S.SenderKeyRecord.deserialize(bytes) : null;
  }
}

/// One party: an identity, its registration id and all its stores.
export class Party {
  constructor(name, deviceId, registrationId, identityPair) {
    this.address = S.ProtocolAddress.new(name, deviceId);
    this.identityPair = identityPair ?? S.IdentityKeyPair.generate();
    this.identities = new Identities(this.identityPair, registrationId);
    this.sessions = new Sessions();
    this.preKeys = new PreKeys();
    this.signedPreKeys = new SignedPreKeys();
    this.kyberPreKeys = new KyberPreKeys();
    this.senderKeys = new SenderKeys();
  }

  /// Makes and stores fresh prekeys; returns the public bundle fields and the private parts.
  async makeBundle({ preKeyId, signedPreKeyId, kyberPreKeyId }) {
    const id = this.identityPair;
    const out = {
      registrationId: this.identities.registrationId,
      deviceId: this.address.deviceId(),
      identityKey: id.publicKey.serialize(),
    };
    const secrets = { identityPrivate: id.privateKey.serialize() };
    if (preKeyId !== undefined && preKeyId !== null) {
      const priv = S.PrivateKey.generate();
      const record = S.PreKeyRecord.new(preKeyId, priv.getPublicKey(), priv);
      await this.preKeys.savePreKey(preKeyId, record);
      out.preKeyId = preKeyId;
      out.preKey = priv.getPublicKey().serialize();
      secrets.preKeyPrivate = priv.serialize();
      secrets.preKeyRecord = record.serialize();
    }
    const spk = S.PrivateKey.generate();
    const spkSig = id.privateKey.sign(spk.getPublicKey().serialize());
    const spkRecord = S.SignedPreKeyRecord.new(signedPreKeyId, 1700000000000, spk.getPublicKey(), spk, spkSig);
    await this.signedPreKeys.saveSignedPreKey(signedPreKeyId, spkRecord);
    out.signedPreKeyId = signedPreKeyId;
    out.signedPreKey = spk.getPublicKey().serialize();
    out.signedPreKeySignature = spkSig;
    secrets.signedPreKeyPrivate = spk.serialize();
    secrets.signedPreKeyRecord = spkRecord.serialize();
    const kyber = S.KEMKeyPair.generate();
    const kyberSig = id.privateKey.sign(kyber.getPublicKey().serialize());
    const kyberRecord = S.KyberPreKeyRecord.new(kyberPreKeyId, 1700000000000, kyber, kyberSig);
    await this.kyberPreKeys.saveKyberPreKey(kyberPreKeyId, kyberRecord);
    out.kyberPreKeyId = kyberPreKeyId;
    out.kyberPreKey = kyber.getPublicKey().serialize();
    out.kyberPreKeySignature = kyberSig;
    secrets.kyberPreKeySecret = kyber.getSecretKey().serialize();
    secrets.kyberPreKeyRecord = kyberRecord.serialize();
    return { bundle: out, secrets };
  }

  async processBundle(address, b) {
    const bundle = S.PreKeyBundle.new(
      b.registrationId,
      b.deviceId,
      b.preKeyId ?? null,
      b.preKey ? S.PublicKey.deserialize(b.preKey) : null,
      b.signedPreKeyId,
      S.PublicKey.deserialize(b.signedPreKey),
      b.signedPreKeySignature,
      S.PublicKey.deserialize(b.identityKey),
      b.kyberPreKeyId,
      S.KEMPublicKey.deserialize(b.kyberPreKey),
      b.kyberPreKeySignature,
    );
    await S.processPreKeyBundle(bundle, address, this.sessions, this.identities);
  }

  async encrypt(address, plaintext) {
    const msg = await S.signalEncrypt(plaintext, address, this.sessions, this.identities);
    return { type: msg.type(), body: msg.serialize() };
  }

  async decrypt(address, type, body) {
    if (type === S.CiphertextMessageType.PreKey) {
      return S.signalDecryptPreKey(
        S.PreKeySignalMessage.deserialize(body),
        address,
        this.sessions,
        this.identities,
        this.preKeys,
        this.signedPreKeys,
        this.kyberPreKeys,
      );
    }
    if (type === S.CiphertextMessageType.Whisper) {
      return S.signalDecrypt(S.SignalMessage.deserialize(body), address, this.sessions, this.identities);
    }
    throw new Error(`unknown message type ${type}: expected 2 (SignalMessage) or 3 (PreKeySignalMessage)`);
  }
}

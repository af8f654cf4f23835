// Regenerates libsignal_0.72.1_prekey_session.txt (run once, by hand, from this folder:
// `node gen_libsignal_prekey_session.cjs > libsignal_0.72.1_prekey_session.txt`).
const S = require('../../conformance/node_modules/@signalapp/libsignal-client');
const h = (b) => Buffer.from(b).toString('hex');
class Sess extends S.SessionStore { constructor(){super(); this.m=new Map();}
  async saveSession(a,r){this.m.set(a.toString(), r.serialize());}
  async getSession(a){const r=this.m.get(a.toString()); return r?S.SessionRecord.deserialize(r):null;}
  async getExistingSessions(as){return [];}}
class Ident extends S.IdentityKeyStore { constructor(k,r){super(); this.k=k; this.r=r;}
  async getIdentityKey(){return this.k.privateKey;} async getLocalRegistrationId(){return this.r;}
  async saveIdentity(a,k){return 0;} async isTrustedIdentity(){return true;} async getIdentity(){return null;}}
(async () => {
  const bob = S.IdentityKeyPair.generate();
  const spkPriv = S.PrivateKey.generate();
  const spk = S.SignedPreKeyRecord.new(7, 1750000000000, spkPriv.getPublicKey(), spkPriv, bob.privateKey.sign(spkPriv.getPublicKey().serialize()));
  const kp = S.KEMKeyPair.generate();
  const kpk = S.KyberPreKeyRecord.new(9, 1750000000000, kp, bob.privateKey.sign(kp.getPublicKey().serialize()));
  const opkPriv = S.PrivateKey.generate();
  const opk = S.PreKeyRecord.new(31, opkPriv.getPublicKey(), opkPriv);
  const alice = S.IdentityKeyPair.generate();
  const sess = new Sess(), ident = new Ident(alice, 1001);
  const bobAddr = S.ProtocolAddress.new('bob', 1);
  const bundle = S.PreKeyBundle.new(2002, 1, 31, opkPriv.getPublicKey(), 7, spkPriv.getPublicKey(), spk.signature(), bob.publicKey, 9, kp.getPublicKey(), kpk.signature());
  await S.processPreKeyBundle(bundle, bobAddr, sess, ident);
  const lines = [];
  lines.push('# Produced once by @signalapp/libsignal-client 0.72.1: Bob\'s records as libsignal');
  lines.push('# serializes them, and three messages libsignal\'s Alice sent to his bundle; then both');
  lines.push('# session records of an answered session, and one later message from each side.');
  lines.push('bob_identity_key_pair ' + h(bob.serialize()));
  lines.push('bob_signed_pre_key_record ' + h(spk.serialize()));
  lines.push('bob_kyber_pre_key_record ' + h(kpk.serialize()));
  lines.push('bob_pre_key_record ' + h(opk.serialize()));
  lines.push('alice_identity_key ' + h(alice.publicKey.serialize()));
  for (let i = 0; i < 3; i++) {
    const c = await S.signalEncrypt(Buffer.from('libsignal says ' + i), bobAddr, sess, ident);
    lines.push('message ' + c.type() + ' ' + h(Buffer.from('libsignal says ' + i)) + ' ' + h(c.serialize()));
  }
  // Second scene: an answered session; both sides' session records as libsignal stores them,
  // then one more message from each side, sent after the records were taken.
  class Pre extends S.PreKeyStore { async savePreKey(){} async getPreKey(i){return opk;} async removePreKey(){} }
  class Spk extends S.SignedPreKeyStore { async saveSignedPreKey(){} async getSignedPreKey(i){return spk;} }
  class Kpk extends S.KyberPreKeyStore { async saveKyberPreKey(){} async getKyberPreKey(i){return kpk;} async markKyberPreKeyUsed(){} }
  const bobSess = new Sess(), bobIdent = new Ident(bob, 2002);
  const aliceAddr = S.ProtocolAddress.new('alice', 1);
  const first = await S.signalEncrypt(Buffer.from('open'), bobAddr, sess, ident);
  await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(first.serialize()), aliceAddr, bobSess, bobIdent, new Pre(), new Spk(), new Kpk());
  for (let i = 0; i < 2; i++) {
    const r = await S.signalEncrypt(Buffer.from('reply'), aliceAddr, bobSess, bobIdent);
    await S.signalDecrypt(S.SignalMessage.deserialize(r.serialize()), bobAddr, sess, ident);
    const m = await S.signalEncrypt(Buffer.from('again'), bobAddr, sess, ident);
    await S.signalDecrypt(S.SignalMessage.deserialize(m.serialize()), aliceAddr, bobSess, bobIdent);
  }
  lines.push('alice_identity_key_pair ' + h(alice.serialize()));
  lines.push('alice_session_record ' + h(sess.m.get(bobAddr.toString())));
  lines.push('bob_session_record ' + h(bobSess.m.get(aliceAddr.toString())));
  const fromAlice = await S.signalEncrypt(Buffer.from('after the snapshot, from alice'), bobAddr, sess, ident);
  const fromBob = await S.signalEncrypt(Buffer.from('after the snapshot, from bob'), aliceAddr, bobSess, bobIdent);
  lines.push('after_from_alice ' + fromAlice.type() + ' ' + h(Buffer.from('after the snapshot, from alice')) + ' ' + h(fromAlice.serialize()));
  lines.push('after_from_bob ' + fromBob.type() + ' ' + h(Buffer.from('after the snapshot, from bob')) + ' ' + h(fromBob.serialize()));
  console.log(lines.join('\n'));
})();

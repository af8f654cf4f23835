// Times libsignal 0.72.1 (through @signalapp/libsignal-client) on the crypto-bound paths that
// benches/session.rs also measures, so both can be run back to back on the same machine:
//   node crates/signal/benches/libsignal_node_bench.cjs
// Needs `npm ci` in crates/signal/conformance. Established-chain encrypt/decrypt are left out:
// there the N-API and JS-store round trips, not the protocol, dominate libsignal's time.
const S = require('../conformance/node_modules/@signalapp/libsignal-client');
class Sess extends S.SessionStore { constructor(){super(); this.m=new Map();}
  async saveSession(a,r){this.m.set(a.toString(), r);}
  async getSession(a){return this.m.get(a.toString())||null;}
  async getExistingSessions(as){return [];}}
class Ident extends S.IdentityKeyStore { constructor(k,r){super(); this.k=k; this.r=r;}
  async getIdentityKey(){return this.k.privateKey;} async getLocalRegistrationId(){return this.r;}
  async saveIdentity(a,k){return 0;} async isTrustedIdentity(){return true;} async getIdentity(){return null;}}
class Pre extends S.PreKeyStore { constructor(){super(); this.m=new Map();}
  async savePreKey(i,r){this.m.set(i,r);} async getPreKey(i){return this.m.get(i);} async removePreKey(i){}}
class Spk extends S.SignedPreKeyStore { constructor(){super(); this.m=new Map();}
  async saveSignedPreKey(i,r){this.m.set(i,r);} async getSignedPreKey(i){return this.m.get(i);}}
class Kpk extends S.KyberPreKeyStore { constructor(){super(); this.m=new Map();}
  async saveKyberPreKey(i,r){this.m.set(i,r);} async getKyberPreKey(i){return this.m.get(i);} async markKyberPreKeyUsed(i){}}
async function time(name, n, f) {
  for (let i = 0; i < Math.min(n, 50); i++) await f(i);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await f(i);
  const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
  console.log(`${name}: ${us.toFixed(1)} µs`);
}
(async () => {
  const bob = S.IdentityKeyPair.generate(), alice = S.IdentityKeyPair.generate();
  const spkPriv = S.PrivateKey.generate();
  const spk = S.SignedPreKeyRecord.new(7, 0, spkPriv.getPublicKey(), spkPriv, bob.privateKey.sign(spkPriv.getPublicKey().serialize()));
  const kp = S.KEMKeyPair.generate();
  const kpk = S.KyberPreKeyRecord.new(9, 0, kp, bob.privateKey.sign(kp.getPublicKey().serialize()));
  const opkPriv = S.PrivateKey.generate();
  const opk = S.PreKeyRecord.new(31, opkPriv.getPublicKey(), opkPriv);
  const bundle = S.PreKeyBundle.new(2002, 1, 31, opkPriv.getPublicKey(), 7, spkPriv.getPublicKey(), spk.signature(), bob.publicKey, 9, kp.getPublicKey(), kpk.signature());
  const bA = S.ProtocolAddress.new('bob', 1), aA = S.ProtocolAddress.new('alice', 1);
  const aI = new Ident(alice, 1);
  await time('bundle processing', 300, async () => { await S.processPreKeyBundle(bundle, bA, new Sess(), aI); });
  const aS = new Sess();
  await S.processPreKeyBundle(bundle, bA, aS, aI);
  const first = S.PreKeySignalMessage.deserialize((await S.signalEncrypt(Buffer.from('first'), bA, aS, aI)).serialize());
  const bI = new Ident(bob, 2), pre = new Pre(), spkS = new Spk(), kS = new Kpk();
  await pre.savePreKey(31, opk); await spkS.saveSignedPreKey(7, spk); await kS.saveKyberPreKey(9, kpk);
  await time('prekey message decrypt', 300, async () => { await S.signalDecryptPreKey(first, aA, new Sess(), bI, pre, spkS, kS); });
  const bS = new Sess();
  await S.signalDecryptPreKey(first, aA, bS, bI, pre, spkS, kS);
  const r = await S.signalEncrypt(Buffer.from('r'), aA, bS, bI);
  await S.signalDecrypt(S.SignalMessage.deserialize(r.serialize()), bA, aS, aI);
  const payload = Buffer.alloc(100, 0x42);
  let total = 0n; const n = 200;
  for (let i = 0; i < n; i++) {
    const m = await S.signalEncrypt(payload, bA, aS, aI);
    await S.signalDecrypt(S.SignalMessage.deserialize(m.serialize()), aA, bS, bI);
    const back = S.SignalMessage.deserialize((await S.signalEncrypt(payload, aA, bS, bI)).serialize());
    const t0 = process.hrtime.bigint();
    await S.signalDecrypt(back, bA, aS, aI);
    total += process.hrtime.bigint() - t0;
  }
  console.log(`decrypt first message of a new chain: ${(Number(total)/1000/n).toFixed(1)} µs`);
})();

// Generates the committed test vectors in ../tests/vectors/ with libsignal 0.72.1, once.
// Run: `node gen-vectors.mjs` in this folder (after `npm ci`). The outputs are random
// (libsignal draws its own randomness), so a rerun changes every file; that is fine as long
// as `cargo test -p portico-signal --test vectors` still passes. All byte strings are base64.

import { writeFileSync, mkdirSync } from 'node:fs';
import * as S from '@signalapp/libsignal-client';
import { Party } from './stores.mjs';

const OUT = new URL('../tests/vectors/', import.meta.url);
mkdirSync(OUT, { recursive: true });
const b64 = (buf) => Buffer.from(buf).toString('base64');
const write = (name, value) => {
  const json = JSON.stringify(value, null, 2) + '\n';
  writeFileSync(new URL(name, OUT), json);
  console.log(`wrote tests/vectors/${name} (${json.length} bytes)`);
};
const assert = (cond, what) => {
  if (!cond) throw new Error(`self-check failed: ${what}`);
};
const text = (s) => Buffer.from(s, 'utf8');
const generator = { libsignal: '@signalapp/libsignal-client 0.72.1', node: process.version };

// 1. XEdDSA signatures and X25519 agreement.
{
  const cases = [];
  for (const message of [Buffer.alloc(0), text('a'), Buffer.alloc(32, 7), text('Portico XEdDSA vector '.repeat(8))]) {
    const priv = S.PrivateKey.generate();
    const pub = priv.getPublicKey();
    const signature = priv.sign(message);
    assert(pub.verify(message, signature), 'signature verifies');
    cases.push({ privateKey: b64(priv.serialize()), publicKey: b64(pub.serialize()), message: b64(message), signature: b64(signature) });
  }
  const agreements = [];
  for (let i = 0; i < 3; i++) {
    const a = S.PrivateKey.generate();
    const b = S.PrivateKey.generate();
    const shared = a.agree(b.getPublicKey());
    assert(shared.equals(b.agree(a.getPublicKey())), 'agreement is symmetric');
    agreements.push({
      privateKey: b64(a.serialize()),
      theirPublicKey: b64(b.getPublicKey().serialize()),
      sharedSecret: b64(shared),
    });
  }
  write('xeddsa.json', {
    generator,
    note: 'publicKey is 0x05 || X25519 u; signature is the 64-byte XEdDSA signature of message under privateKey',
    signatures: cases,
    agreements,
  });
}

// 2. A full PQXDH session: alice (initiator) and bob (responder), both libsignal.
{
  const alice = new Party('alice', 1, 1111);
  const bob = new Party('bob', 2, 2222);
  const { bundle, secrets } = await bob.makeBundle({ preKeyId: 31, signedPreKeyId: 42, kyberPreKeyId: 53 });
  await alice.processBundle(bob.address, bundle);
  const events = [];
  const send = async (from, to, plaintext) => {
    const { type, body } = await from.encrypt(to.address, text(plaintext));
    return { from: from.address.name(), type, body, plaintext };
  };
  const deliver = async (to, from, msg) => {
    const got = await to.decrypt(from.address, msg.type, msg.body);
    assert(got.equals(text(msg.plaintext)), `decrypt of ${msg.plaintext}`);
    events.push({ from: msg.from, type: msg.type, body: b64(msg.body), plaintext: msg.plaintext });
  };
  // Alice sends five PreKeySignalMessages before hearing back; bob gets them out of order.
  const first = [];
  for (let i = 0; i < 5; i++) first.push(await send(alice, bob, `alice to bob ${i}`));
  const aliceRecordAfterSend = (await alice.sessions.getSession(bob.address)).serialize();
  for (const i of [2, 0, 4, 1, 3]) await deliver(bob, alice, first[i]);
  const bobRecordAfterPreKeyMessages = (await bob.sessions.getSession(alice.address)).serialize();
  // Bob replies (his first ratchet step), alice reads the replies out of order.
  const replies = [];
  for (let i = 0; i < 3; i++) replies.push(await send(bob, alice, `bob to alice ${i}`));
  for (const i of [1, 2, 0]) await deliver(alice, bob, replies[i]);
  // Alice answers on a new ratchet key: plain SignalMessages now.
  const follow = [];
  for (let i = 0; i < 3; i++) follow.push(await send(alice, bob, `alice again ${i}`));
  for (const m of follow) assert(m.type === S.CiphertextMessageType.Whisper, 'follow-ups are SignalMessages');
  for (const i of [0, 2, 1]) await deliver(bob, alice, follow[i]);
  write('pqxdh_session.json', {
    generator,
    note:
      'bob is the responder whose private keys are given; events are deliveries in order (type 3 = PreKeySignalMessage, 2 = SignalMessage); ' +
      'the first 5 events are alice PreKeySignalMessages a Rust bob must decrypt from the secrets alone. Records are libsignal protobuf records.',
    alice: {
      name: 'alice',
      deviceId: 1,
      registrationId: 1111,
      identityKey: b64(alice.identityPair.publicKey.serialize()),
      identityPrivate: b64(alice.identityPair.privateKey.serialize()),
      sessionRecordAfterSend: b64(aliceRecordAfterSend),
    },
    bob: {
      name: 'bob',
      deviceId: 2,
      registrationId: 2222,
      bundle: Object.fromEntries(Object.entries(bundle).map(([k, v]) => [k, Buffer.isBuffer(v) ? b64(v) : v])),
      secrets: Object.fromEntries(Object.entries(secrets).map(([k, v]) => [k, b64(v)])),
      sessionRecordAfterPreKeyMessages: b64(bobRecordAfterPreKeyMessages),
    },
    events,
  });
}

// 3. Sender Keys: a distribution message, a run of group messages and the sender's record.
{
  const alice = new Party('alice', 1, 1111);
  const bob = new Party('bob', 2, 2222);
  const distributionId = 'a1b2c3d4-e5f6-4789-8abc-def012345678';
  const skdm = await S.SenderKeyDistributionMessage.create(alice.address, distributionId, alice.senderKeys);
  await S.processSenderKeyDistributionMessage(alice.address, skdm, bob.senderKeys);
  const messages = [];
  for (let i = 0; i < 6; i++) {
    const plaintext = i === 3 ? '' : `group message ${i} `.repeat(i + 1);
    const msg = await S.groupEncrypt(alice.address, distributionId, alice.senderKeys, text(plaintext));
    const parsed = S.SenderKeyMessage.deserialize(msg.serialize());
    messages.push({ iteration: parsed.iteration(), plaintext, body: b64(msg.serialize()) });
  }
  for (const i of [0, 2, 1, 5, 3, 4]) {
    const got = await S.groupDecrypt(alice.address, bob.senderKeys, Buffer.from(messages[i].body, 'base64'));
    assert(got.equals(text(messages[i].plaintext)), 'group decrypt');
  }
  const senderRecord = await alice.senderKeys.getSenderKey(alice.address, distributionId);
  const receiverRecord = await bob.senderKeys.getSenderKey(alice.address, distributionId);
  // The next message after the record snapshot, to compare Rust's deterministic parts against.
  const next = await S.groupEncrypt(alice.address, distributionId, alice.senderKeys, text('after the snapshot'));
  write('sender_keys.json', {
    generator,
    note:
      'distributionMessage is what alice sent to bob; messages are in send order; senderRecord is alice SenderKeyRecord (protobuf) after ' +
      'the six messages and nextMessage the one libsignal sent after it (its signature is randomized, the rest is deterministic).',
    sender: { name: 'alice', deviceId: 1 },
    distributionId,
    distributionMessage: b64(skdm.serialize()),
    chainId: skdm.chainId(),
    iteration: skdm.iteration(),
    chainKey: b64(skdm.chainKey()),
    messages,
    senderRecord: b64(senderRecord.serialize()),
    receiverRecordAfterAll: b64(receiverRecord.serialize()),
    nextMessage: { plaintext: 'after the snapshot', body: b64(next.serialize()) },
  });
}

// 4. Safety numbers.
{
  const cases = [];
  const ids = [
    [text('+14152222222'), text('+14153333333')],
    [Buffer.from('9d0652a3dcc64c7b8e7a5c1a0f1e2d3c', 'hex'), Buffer.from('00112233445566778899aabbccddeeff', 'hex')],
    [text('alice@portico.example'), text('bob@portico.example')],
  ];
  for (const [version, iterations] of [[1, 5200], [2, 5200], [1, 1024]]) {
    for (const [localId, remoteId] of ids) {
      const localKey = S.PrivateKey.generate().getPublicKey();
      const remoteKey = S.PrivateKey.generate().getPublicKey();
      const ours = S.Fingerprint.new(iterations, version, localId, localKey, remoteId, remoteKey);
      const theirs = S.Fingerprint.new(iterations, version, remoteId, remoteKey, localId, localKey);
      assert(ours.displayableFingerprint().toString() === theirs.displayableFingerprint().toString(), 'displayable symmetric');
      assert(ours.scannableFingerprint().compare(theirs.scannableFingerprint()), 'scannable matches');
      cases.push({
        version,
        iterations,
        localId: b64(localId),
        localKey: b64(localKey.serialize()),
        remoteId: b64(remoteId),
        remoteKey: b64(remoteKey.serialize()),
        displayable: ours.displayableFingerprint().toString(),
        scannable: b64(ours.scannableFingerprint().toBuffer()),
        theirScannable: b64(theirs.scannableFingerprint().toBuffer()),
      });
    }
  }
  write('fingerprints.json', { generator, cases });
}

// The libsignal conformance peer: one Signal party (identity, stores) driven over JSON lines.
// Requests arrive one per line on stdin, responses leave one per line on stdout, in order.
// Only bytes (base64) and numbers cross; the protocol is documented in README.md.

import * as readline from 'node:readline';
import * as S from '@signalapp/libsignal-client';
import { Party } from './stores.mjs';

const b64 = (buf) => Buffer.from(buf).toString('base64');
const bytes = (field, value) => {
  if (typeof value !== 'string') throw new Error(`field ${field} must be a base64 string`);
  return Buffer.from(value, 'base64');
};
const address = (req) => S.ProtocolAddress.new(req.name, req.deviceId);

const BUNDLE_BYTES = [
  'identityKey',
  'preKey',
  'signedPreKey',
  'signedPreKeySignature',
  'kyberPreKey',
  'kyberPreKeySignature',
];

let party = null;
const me = () => {
  if (!party) throw new Error('call "init" first');
  return party;
};

const handlers = {
  version: async () => ({ libsignal: '0.72.1', node: process.version }),

  init: async (req) => {
    const pair = req.identityPrivate
      ? (() => {
          const priv = S.PrivateKey.deserialize(bytes('identityPrivate', req.identityPrivate));
          return new S.IdentityKeyPair(priv.getPublicKey(), priv);
        })()
      : undefined;
    party = new Party(req.name, req.deviceId, req.registrationId, pair);
    return { identityKey: b64(party.identityPair.publicKey.serialize()) };
  },

  bundle: async (req) => {
    const { bundle } = await me().makeBundle(req);
    const out = {};
    for (const [k, v] of Object.entries(bundle)) out[k] = Buffer.isBuffer(v) ? b64(v) : v;
    return out;
  },

  processBundle: async (req) => {
    const b = { ...req.bundle };
    for (const k of BUNDLE_BYTES) if (b[k] !== undefined && b[k] !== null) b[k] = bytes(k, b[k]);
    await me().processBundle(address(req), b);
    return {};
  },

  encrypt: async (req) => {
    const { type, body } = await me().encrypt(address(req), bytes('plaintext', req.plaintext));
    return { type, body: b64(body) };
  },

  decrypt: async (req) => {
    const plaintext = await me().decrypt(address(req), req.type, bytes('body', req.body));
    return { plaintext: b64(plaintext) };
  },

  hasSession: async (req) => {
    const record = await me().sessions.getSession(address(req));
    return { hasSession: record !== null && record.hasCurrentState() };
  },

  sign: async (req) => ({ signature: b64(me().identityPair.privateKey.sign(bytes('message', req.message))) }),

  verify: async (req) => ({
    valid: S.PublicKey.deserialize(bytes('publicKey', req.publicKey)).verify(
      bytes('message', req.message),
      bytes('signature', req.signature),
    ),
  }),

  senderKeyCreate: async (req) => {
    const p = me();
    const skdm = await S.SenderKeyDistributionMessage.create(p.address, req.distributionId, p.senderKeys);
    return { message: b64(skdm.serialize()) };
  },

  senderKeyProcess: async (req) => {
    const skdm = S.SenderKeyDistributionMessage.deserialize(bytes('message', req.message));
    await S.processSenderKeyDistributionMessage(address(req), skdm, me().senderKeys);
    return {};
  },

  groupEncrypt: async (req) => {
    const p = me();
    const msg = await S.groupEncrypt(p.address, req.distributionId, p.senderKeys, bytes('plaintext', req.plaintext));
    return { body: b64(msg.serialize()) };
  },

  groupDecrypt: async (req) => {
    const plaintext = await S.groupDecrypt(address(req), me().senderKeys, bytes('body', req.body));
    return { plaintext: b64(plaintext) };
  },

  fingerprint: async (req) => {
    const fp = S.Fingerprint.new(
      req.iterations,
      req.version,
      bytes('localId', req.localId),
      S.PublicKey.deserialize(bytes('localKey', req.localKey)),
      bytes('remoteId', req.remoteId),
      S.PublicKey.deserialize(bytes('remoteKey', req.remoteKey)),
    );
    return {
      displayable: fp.displayableFingerprint().toString(),
      scannable: b64(fp.scannableFingerprint().toBuffer()),
    };
  },

  compareScannable: async (req) => {
    const ours = S.ScannableFingerprint._fromBuffer(bytes('ours', req.ours));
    const theirs = S.ScannableFingerprint._fromBuffer(bytes('theirs', req.theirs));
    return { matches: ours.compare(theirs) };
  },
};

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of rl) {
  if (line.trim() === '') continue;
  let req;
  try {
    req = JSON.parse(line);
  } catch (e) {
    process.stdout.write(JSON.stringify({ ok: false, error: `request is not JSON: ${e.message}` }) + '\n');
    continue;
  }
  const id = req.id ?? null;
  if (req.cmd === 'quit') break;
  const handler = handlers[req.cmd];
  let response;
  if (!handler) {
    response = { id, ok: false, error: `unknown command ${JSON.stringify(req.cmd)}` };
  } else {
    try {
      response = { id, ok: true, ...(await handler(req)) };
    } catch (e) {
      response = { id, ok: false, error: String(e.message ?? e), code: e.code ?? null };
    }
  }
  process.stdout.write(JSON.stringify(response) + '\n');
}
// stdin may still be open (quit command): leave without waiting for it.
process.exit(0);

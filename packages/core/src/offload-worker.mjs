// The private-key operations Node offers only synchronously (raw RSA for pre-hashed signatures and
// OAEP decryption, ECDSA over a given digest) and short signatures (P-256), run off the event loop on
// a small pool; and the audit writer's sealing of a batch (auditseal.mjs), on a worker of its own.
// Plain JavaScript on purpose: a worker must start without the TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { createECDH, createHash, createPrivateKey, privateDecrypt, privateEncrypt, randomBytes, sign } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { lowerThisThread } from './threads.mjs';
import { sealBatch } from './auditseal.mjs';

lowerThisThread();

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 };
const NODE_CURVE = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };

/** SEC 1 §4.1.3 step 5 / RFC 6979 bits2int: the leftmost bits of a hash, as many as the order has. */
function bits2int(bytes, Fn) {
  const z = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  const extra = bytes.length * 8 - Fn.BITS;
  return extra > 0 ? z >> BigInt(extra) : z;
}

/** A uniform nonzero scalar from the CSPRNG (64 extra bits make the reduction's bias negligible). */
function randomScalar(Fn) {
  for (;;) {
    const x = Fn.create(BigInt('0x' + randomBytes(Fn.BYTES + 8).toString('hex')));
    if (x !== 0n) return x;
  }
}

/**
 * ECDSA over a given digest z, computed by OpenSSL. Node's `sign` always hashes its input, so
 * OpenSSL signs a fresh random message, whose digest w = bits2int(SHA-512(message)) we know, under
 * the related key d' = d·w/z (mod n). Its signature (r, s') = (r, k⁻¹(w + r·d')) = (r, (w/z)·k⁻¹(z + r·d)),
 * so (r, s'·z/w) is an ordinary ECDSA signature over z under d, with OpenSSL's own nonce (which it
 * derives from d', fresh each time) and constant-time arithmetic. w is secret and random, so d' is
 * a uniformly random scalar to anyone who chose z, and w is inverted blinded (w⁻¹ = b·(w·b)⁻¹). About
 * five times faster than @noble/curves' signing, which is kept for the one digest this cannot take
 * (z ≡ 0 mod n) and for verification.
 */
function ecdsaSignDigest(m) {
  const curve = CURVES[m.curve];
  const Fn = curve.Point.Fn;
  const z = Fn.create(bits2int(m.digest, Fn));
  if (z === 0n) return Buffer.from(curve.sign(m.digest, m.d, { prehash: false, lowS: false, format: m.format, extraEntropy: true }));
  let aux, w;
  do {
    aux = randomBytes(32);
    w = Fn.create(bits2int(createHash('sha512').update(aux).digest(), Fn));
  } while (w === 0n);
  const dp = Fn.div(Fn.mul(Fn.fromBytes(m.d), w), z); // z is the caller's: no secret in its inversion
  const dpBytes = Buffer.from(Fn.toBytes(dp));
  const ecdh = createECDH(NODE_CURVE[m.curve]);
  ecdh.setPrivateKey(dpBytes);
  const pub = ecdh.getPublicKey();
  const len = Fn.BYTES;
  const key = createPrivateKey({ key: { kty: 'EC', crv: m.curve, d: dpBytes.toString('base64url'), x: pub.subarray(1, 1 + len).toString('base64url'), y: pub.subarray(1 + len).toString('base64url') }, format: 'jwk' });
  const raw = sign('sha512', aux, { key, dsaEncoding: 'ieee-p1363' });
  const blind = randomScalar(Fn);
  const wInv = Fn.mul(Fn.inv(Fn.mul(w, blind)), blind);
  const r = Fn.fromBytes(raw.subarray(0, len));
  const s = Fn.mul(Fn.mul(Fn.fromBytes(raw.subarray(len)), z), wInv);
  return Buffer.from(new curve.Signature(r, s).toBytes(m.format));
}

function run(m) {
  switch (m.op) {
    case 'privateEncrypt':
      return privateEncrypt({ key: m.key, padding: m.padding }, m.data);
    case 'privateDecrypt':
      return privateDecrypt({ key: m.key, padding: m.padding, oaepHash: m.oaepHash, oaepLabel: m.oaepLabel }, m.data);
    case 'ecdsaSign':
      return ecdsaSignDigest(m);
    case 'ecdsaVerify':
      return CURVES[m.curve].verify(m.signature, m.digest, m.point, { prehash: false, lowS: false, format: m.format });
    case 'sign':
      return sign(m.alg, m.data, m.dsaEncoding ? { key: m.key, dsaEncoding: m.dsaEncoding } : m.key);
    case 'auditSeal':
      return sealBatch(m.key, m.head, m.events);
    default:
      throw new Error(`unknown operation ${m.op}`);
  }
}

// A message is a batch (every request of one event-loop turn for this worker). Answers go back
// together, but at least every millisecond of work, so a quick request does not wait for the end of
// a long batch; each answer is its own success or failure.
parentPort.on('message', (batch) => {
  let answers = [];
  let since = performance.now();
  for (const m of batch) {
    try {
      answers.push({ id: m.id, result: run(m) });
    } catch (e) {
      answers.push({ id: m.id, error: String(e?.message ?? e) });
    }
    if (performance.now() - since >= 1) {
      parentPort.postMessage(answers);
      answers = [];
      since = performance.now();
    }
  }
  if (answers.length) parentPort.postMessage(answers);
});

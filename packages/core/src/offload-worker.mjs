// The private-key operations Node offers only synchronously (raw RSA for pre-hashed signatures and
// OAEP decryption, ECDSA over a given digest), run off the event loop on a small pool.
// Plain JavaScript on purpose: a worker must start without the TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { createECDH, createHash, createPrivateKey, privateDecrypt, privateEncrypt, sign } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { lowerThisThread } from './threads.mjs';

lowerThisThread();

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 };
const NODE_CURVE = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };
const EMPTY = Buffer.alloc(0);

/** SEC 1 §4.1.3 step 5 / RFC 6979 bits2int: the leftmost bits of a hash, as many as the order has. */
function bits2int(bytes, Fn) {
  const z = BigInt('0x' + (Buffer.from(bytes).toString('hex') || '0'));
  const extra = bytes.length * 8 - Fn.BITS;
  return extra > 0 ? z >> BigInt(extra) : z;
}

/** z' = bits2int(hash('')) mod n, the digest OpenSSL computes for the empty message, per curve and hash. */
const emptyDigest = new Map();
function zEmpty(curve, hash) {
  const id = `${curve}/${hash}`;
  let z = emptyDigest.get(id);
  if (z === undefined) emptyDigest.set(id, (z = CURVES[curve].Point.Fn.create(bits2int(createHash(hash).update(EMPTY).digest(), CURVES[curve].Point.Fn))));
  return z;
}

const b64 = (x, len) => Buffer.from(x.toString(16).padStart(len * 2, '0'), 'hex').toString('base64url');

/**
 * ECDSA over a given digest, computed by OpenSSL. Node's `sign` always hashes its input, so OpenSSL
 * signs the empty message, whose digest z' is known, under the related key d' = d·z'/z (mod n); with
 * c = z/z', its signature (r, s') = (r, k⁻¹(z' + r·d')) gives (r, c·s') = (r, k⁻¹(z + r·d)), which is
 * an ordinary ECDSA signature over z under d, with OpenSSL's own fresh nonce and constant-time
 * arithmetic. The scalar work done here (one product with d, two inversions of public values)
 * is what any JavaScript ECDSA does. About five times faster than @noble/curves' signing, which is kept
 * for the one digest this cannot take (z ≡ 0 mod n) and for verification.
 */
function ecdsaSignDigest(m) {
  const curve = CURVES[m.curve];
  const Fn = curve.Point.Fn;
  const z = Fn.create(bits2int(m.digest, Fn));
  if (z === 0n) return Buffer.from(curve.sign(m.digest, m.d, { prehash: false, lowS: false, format: m.format, extraEntropy: true }));
  const zp = zEmpty(m.curve, m.hash);
  const d = Fn.fromBytes(m.d);
  const dp = Fn.div(Fn.mul(d, zp), z);
  const ecdh = createECDH(NODE_CURVE[m.curve]);
  ecdh.setPrivateKey(Fn.toBytes(dp));
  const pub = ecdh.getPublicKey();
  const len = Fn.BYTES;
  const key = createPrivateKey({ key: { kty: 'EC', crv: m.curve, d: b64(dp, len), x: pub.subarray(1, 1 + len).toString('base64url'), y: pub.subarray(1 + len).toString('base64url') }, format: 'jwk' });
  const raw = sign(m.hash, EMPTY, { key, dsaEncoding: 'ieee-p1363' });
  const r = Fn.fromBytes(raw.subarray(0, len));
  const s = Fn.div(Fn.mul(z, Fn.fromBytes(raw.subarray(len))), zp);
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
    default:
      throw new Error(`unknown operation ${m.op}`);
  }
}

// A message is a batch (every request of one event-loop turn for this worker); one reply carries
// every answer, each its own success or failure.
parentPort.on('message', (batch) => {
  parentPort.postMessage(
    batch.map((m) => {
      try {
        return { id: m.id, result: run(m) };
      } catch (e) {
        return { id: m.id, error: String(e?.message ?? e) };
      }
    }),
  );
});

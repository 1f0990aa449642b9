// @ts-check
// The private-key operations Node offers only synchronously (raw RSA for pre-hashed signatures and
// OAEP decryption, ECDSA over a given digest) and short signatures (P-256), run off the event loop on
// a small pool.
// Plain JavaScript on purpose: a worker must start without the TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { privateDecrypt, privateEncrypt, sign } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import { lowerThisThread } from './threads.mjs';

lowerThisThread();

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521, secp256k1 };
// A wider table for k*G, most of a signature's cost (noble's default is 6 bits): faster signatures
// for a table of a few MB per curve, built on the curve's first use in this worker.
for (const curve of Object.values(CURVES)) curve.Point.BASE.precompute(8);

/**
 * ECDSA over a given digest (Node's `sign` always hashes its input): @noble/curves, audited, with
 * `prehash: false`. The key arrives as a KeyObject (its native handle is shared, no key bytes in the
 * message) and its scalar is exported here only for noble's call; all arithmetic on it is noble's.
 * High-S signatures are kept, as OpenSSL's own ECDSA gives them; the nonce is RFC 6979's, hedged
 * with fresh randomness.
 */
function ecdsaSignDigest(m) {
  const d = Buffer.from(m.key.export({ format: 'jwk' }).d, 'base64url');
  return Buffer.from(CURVES[m.curve].sign(m.digest, d, { prehash: false, lowS: false, format: m.format, extraEntropy: true }));
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
      answers.push({ id: m.id, error: String(e instanceof Error ? e.message : e) });
    }
    if (performance.now() - since >= 1) {
      parentPort.postMessage(answers);
      answers = [];
      since = performance.now();
    }
  }
  if (answers.length) parentPort.postMessage(answers);
});

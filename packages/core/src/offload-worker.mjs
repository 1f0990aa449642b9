// The private-key operations Node offers only synchronously (raw RSA for pre-hashed signatures and
// OAEP decryption, ECDSA over a digest with @noble/curves), run off the event loop on a small pool.
// Plain JavaScript on purpose: a worker must start without the TypeScript loader.
import { parentPort } from 'node:worker_threads';
import { privateDecrypt, privateEncrypt } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';

const CURVES = { 'P-256': p256, 'P-384': p384, 'P-521': p521 };

function run(m) {
  switch (m.op) {
    case 'privateEncrypt':
      return privateEncrypt({ key: m.key, padding: m.padding }, m.data);
    case 'privateDecrypt':
      return privateDecrypt({ key: m.key, padding: m.padding, oaepHash: m.oaepHash, oaepLabel: m.oaepLabel }, m.data);
    case 'ecdsaSign':
      return Buffer.from(CURVES[m.curve].sign(m.digest, m.d, { prehash: false, lowS: false, format: m.format, extraEntropy: true }));
    case 'ecdsaVerify':
      return CURVES[m.curve].verify(m.signature, m.digest, m.point, { prehash: false, lowS: false, format: m.format });
    default:
      throw new Error(`unknown operation ${m.op}`);
  }
}

parentPort.on('message', (m) => {
  try {
    const result = run(m);
    parentPort.postMessage({ id: m.id, result });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String(e?.message ?? e) });
  }
});

import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';

type KeyPairType = 'rsa' | 'rsa-pss' | 'dsa' | 'ec' | 'ed25519' | 'ed448' | 'x25519' | 'x448';

/**
 * Node's `generateKeyPairSync`, with keys that no longer belong to the generation job. In Node 20 the
 * garbage collector frees that job, and its destructor takes the key's lock; a collection that runs
 * inside a JWK export of the same key, which holds the lock while it allocates, deadlocks the thread
 * for good. So the private key is read back from its PKCS#8 DER (which allocates nothing under the
 * lock) and the public key derived from that copy. Everything in the repository generates pairs here.
 */
export function generateKeyPairDetached(type: KeyPairType, options?: object): { privateKey: KeyObject; publicKey: KeyObject } {
  const generate = generateKeyPairSync as (t: KeyPairType, o?: object) => { privateKey: KeyObject };
  const der = generate(type, options).privateKey.export({ format: 'der', type: 'pkcs8' });
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type DSAKeyPairKeyObjectOptions,
  type ECKeyPairKeyObjectOptions,
  type ED25519KeyPairKeyObjectOptions,
  type ED448KeyPairKeyObjectOptions,
  type KeyObject,
  type RSAKeyPairKeyObjectOptions,
  type RSAPSSKeyPairKeyObjectOptions,
  type X25519KeyPairKeyObjectOptions,
  type X448KeyPairKeyObjectOptions,
} from 'node:crypto';

type Pair = { privateKey: KeyObject; publicKey: KeyObject };

/**
 * Node's `generateKeyPairSync`, with keys that no longer belong to the generation job. In Node 20 the
 * garbage collector frees that job, and its destructor takes the key's lock; a collection that runs
 * inside a JWK export of the same key, which holds the lock while it allocates, deadlocks the thread
 * for good. So the private key is read back from its PKCS#8 DER (which allocates nothing under the
 * lock) and the public key derived from that copy. Everything in the repository generates pairs here.
 */
export function generateKeyPairDetached(type: 'rsa', options: RSAKeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'rsa-pss', options: RSAPSSKeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'dsa', options: DSAKeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'ec', options: ECKeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'ed25519', options?: ED25519KeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'ed448', options?: ED448KeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'x25519', options?: X25519KeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: 'x448', options?: X448KeyPairKeyObjectOptions): Pair;
export function generateKeyPairDetached(type: string, options?: object): Pair {
  const generate = generateKeyPairSync as (t: string, o?: object) => { privateKey: KeyObject };
  const der = generate(type, options).privateKey.export({ format: 'der', type: 'pkcs8' });
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  der.fill(0);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

import { loadKey, type LoadedKey } from './crypto.ts';
import { generateMaterial, materialKeyObject } from './material.ts';

/** Fresh material of `spec`, loaded as core loads a stored key: what the crypto tests work with. */
export async function loadedKey(spec: Parameters<typeof generateMaterial>[0]): Promise<LoadedKey> {
  const m = await generateMaterial(spec);
  return loadKey(m.spec, materialKeyObject(m.spec, m.secret));
}

/** The public half as PEM, the form the OpenSSL CLI reads. */
export const pubPem = (k: LoadedKey) => k.publicKey!.export({ format: 'pem', type: 'spki' }) as string;

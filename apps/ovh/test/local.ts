import { webcrypto } from 'node:crypto';
import { encodeHeader } from '@polykms/core';

/**
 * Opens, with WebCrypto and a key held by the test, a ciphertext JWE the gateway returned: AES-GCM over
 * the JWE's iv, ciphertext and tag, with core's 21-byte header (key id, version) then the context as AAD.
 * If this opens, the gateway encrypted under exactly `key`.
 */
export async function openLocally(jwe: string, key: Uint8Array, context?: string): Promise<Buffer> {
  const [h, , iv, ct, tag] = jwe.split('.') as [string, string, string, string, string];
  const header = JSON.parse(Buffer.from(h, 'base64url').toString('utf8')) as { kid: string; 'okms.kv': number };
  const aad = Buffer.concat([encodeHeader(header.kid, header['okms.kv'], 'data'), Buffer.from(context ?? '', 'utf8')]);
  const k = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['decrypt']);
  const data = Buffer.concat([Buffer.from(ct, 'base64url'), Buffer.from(tag, 'base64url')]);
  return Buffer.from(await webcrypto.subtle.decrypt({ name: 'AES-GCM', iv: Buffer.from(iv, 'base64url'), additionalData: aad }, k, data));
}

import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { oaepDecrypt, oaepEncrypt, randomIv } from './crypto.ts';
import { KmsError } from './errors.ts';
import { NODE_HASH } from './keyspec.ts';
import { loadedKey, pubPem } from './test-crypto.ts';
import { opensslOaep } from './test-openssl.ts';

describe('RSA-OAEP', () => {
  it('decrypts what OpenSSL encrypted, and encrypts what OpenSSL decrypts', async () => {
    const k = await loadedKey({ kind: 'RSA', size: 2048 });
    const dek = randomBytes(32);
    for (const hash of ['SHA-1', 'SHA-256'] as const) {
      const r = opensslOaep('encrypt', pubPem(k), dek, NODE_HASH[hash]);
      expect(r.ok, r.out).toBe(true);
      expect((await oaepDecrypt(k, r.bytes, { hash })).equals(dek)).toBe(true);
    }
    const ct = oaepEncrypt(k, dek, { hash: 'SHA-256', label: Buffer.from('label') });
    const priv = k.key.export({ format: 'pem', type: 'pkcs8' }) as string;
    const r = opensslOaep('decrypt', priv, ct, 'sha256', Buffer.from('label'));
    expect(r.ok, r.out).toBe(true);
    await expect(oaepDecrypt(k, randomBytes(256), { hash: 'SHA-256' })).rejects.toThrow(KmsError);
    await expect(oaepDecrypt(k, randomBytes(10), { hash: 'SHA-256' })).rejects.toThrow(/256 bytes/);
    expect(() => oaepEncrypt(k, randomBytes(300), { hash: 'SHA-256' })).toThrow(/at most/);
  });
});

describe('randomIv', () => {
  it('gives 12-byte nonces that never repeat across pool refills, each its own copy', () => {
    const ivs = Array.from({ length: 2000 }, randomIv);
    expect(ivs.every((iv) => iv.length === 12)).toBe(true);
    expect(new Set(ivs.map((iv) => iv.toString('hex'))).size).toBe(ivs.length);
    const a = randomIv();
    const copy = Buffer.from(a);
    for (let i = 0; i < 300; i++) randomIv();
    expect(a).toEqual(copy);
  });
});

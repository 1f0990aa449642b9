import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadKey, oaepDecrypt, oaepEncrypt, randomIv, type LoadedKey, type SignParams } from './crypto.ts';
import { KmsError } from './errors.ts';
import { HASH_BYTES, NODE_HASH, type HashName } from './keyspec.ts';
import { generateMaterial, materialKeyObject } from './material.ts';
import { fromHexdump, openssl } from './test-openssl.ts';

async function key(spec: Parameters<typeof generateMaterial>[0]): Promise<LoadedKey> {
  const m = await generateMaterial(spec);
  return loadKey(m.spec, materialKeyObject(m.spec, m.secret));
}

const pubPem = (k: LoadedKey) => k.publicKey!.export({ format: 'pem', type: 'spki' }) as string;
const _digestOf = (hash: HashName, msg: Uint8Array) => createHash(NODE_HASH[hash]).update(msg).digest();

/** OpenSSL verifies a message signature (dgst) or a digest signature (pkeyutl), with the padding asked. */
function _opensslVerify(k: LoadedKey, p: SignParams, input: Uint8Array, sig: Uint8Array): boolean {
  const pss =
    p.scheme === 'RSA-PSS' ? ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', `rsa_pss_saltlen:${p.saltLength ?? HASH_BYTES[p.hash]}`] : [];
  const files = { 'pub.pem': pubPem(k), 'in.bin': input, 'sig.bin': sig };
  if (!p.prehashed)
    return openssl(files, () => ['dgst', `-${NODE_HASH[p.hash]}`, '-verify', 'pub.pem', ...pss, '-signature', 'sig.bin', 'in.bin']).ok;
  const opts = ['-pkeyopt', `digest:${NODE_HASH[p.hash]}`, ...pss.map((x) => (x === '-sigopt' ? '-pkeyopt' : x))];
  return openssl(files, () => ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-in', 'in.bin', '-sigfile', 'sig.bin', ...opts]).ok;
}

/** OpenSSL signs a digest, so core's verify is checked against signatures it did not make. */
function _opensslSignDigest(k: LoadedKey, p: SignParams, digest: Uint8Array): Buffer {
  const pem = k.key.export({ format: 'pem', type: 'pkcs8' }) as string;
  const pss =
    p.scheme === 'RSA-PSS' ? ['-pkeyopt', 'rsa_padding_mode:pss', '-pkeyopt', `rsa_pss_saltlen:${p.saltLength ?? HASH_BYTES[p.hash]}`] : [];
  const dir = { 'key.pem': pem, 'in.bin': digest };
  const out = openssl(dir, () => [
    'pkeyutl',
    '-sign',
    '-inkey',
    'key.pem',
    '-in',
    'in.bin',
    '-pkeyopt',
    `digest:${NODE_HASH[p.hash]}`,
    ...pss,
    '-hexdump',
  ]);
  expect(out.ok, out.out).toBe(true);
  return fromHexdump(out.out);
}

describe('RSA-OAEP', () => {
  it('decrypts what OpenSSL encrypted, and encrypts what OpenSSL decrypts', async () => {
    const k = await key({ kind: 'RSA', size: 2048 });
    const dek = randomBytes(32);
    for (const hash of ['SHA-1', 'SHA-256'] as const) {
      const r = openssl({ 'pub.pem': pubPem(k), 'dek.bin': dek }, () => [
        'pkeyutl',
        '-encrypt',
        '-pubin',
        '-inkey',
        'pub.pem',
        '-in',
        'dek.bin',
        '-pkeyopt',
        'rsa_padding_mode:oaep',
        '-pkeyopt',
        `rsa_oaep_md:${NODE_HASH[hash]}`,
        '-pkeyopt',
        `rsa_mgf1_md:${NODE_HASH[hash]}`,
        '-hexdump',
      ]);
      expect(r.ok, r.out).toBe(true);
      const ct = fromHexdump(r.out);
      expect((await oaepDecrypt(k, ct, { hash })).equals(dek)).toBe(true);
    }
    const ct = oaepEncrypt(k, dek, { hash: 'SHA-256', label: Buffer.from('label') });
    const priv = k.key.export({ format: 'pem', type: 'pkcs8' }) as string;
    const r = openssl({ 'key.pem': priv, 'ct.bin': ct }, () => [
      'pkeyutl',
      '-decrypt',
      '-inkey',
      'key.pem',
      '-in',
      'ct.bin',
      '-pkeyopt',
      'rsa_padding_mode:oaep',
      '-pkeyopt',
      'rsa_oaep_md:sha256',
      '-pkeyopt',
      `rsa_oaep_label:${Buffer.from('label').toString('hex')}`,
      '-hexdump',
    ]);
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

import { constants, createPrivateKey, publicEncrypt, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadKey, rsaPkcs1v15Decrypt, generateKeyPairDetached } from '@polykms/core';
import { OPENSSL_TIMEOUT_MS, openssl } from '../../../packages/core/src/test-openssl.ts';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, write } from '../test/helpers.ts';

/**
 * core's RSAES-PKCS1-v1_5 decryption (raw OpenSSL RSA + constant-time EME-PKCS1-v1_5 decoding with
 * implicit rejection), checked against OpenSSL's own PKCS#1 v1.5 encryption and decryption.
 */
describe('rsaPkcs1v15Decrypt', () => {
  const { privateKey, publicKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
  const k = loadKey({ kind: 'RSA', size: 2048 }, privateKey);
  const pubPem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
  const privPem = privateKey.export({ format: 'pem', type: 'pkcs8' }) as string;
  const raw = (em: Buffer) => publicEncrypt({ key: publicKey, padding: constants.RSA_NO_PADDING }, em);

  it('decrypts what openssl pkeyutl encrypts (PKCS#1 v1.5), for lengths 0 to the maximum', () => {
    const dir = tempDir();
    write(dir, 'pub.pem', pubPem);
    for (const n of [1, 16, 32, 100, 245]) {
      const msg = randomBytes(n);
      write(dir, 'm.bin', msg);
      execFileSync(
        'openssl',
        ['pkeyutl', '-encrypt', '-pubin', '-inkey', 'pub.pem', '-pkeyopt', 'rsa_padding_mode:pkcs1', '-in', 'm.bin', '-out', 'c.bin'],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], timeout: OPENSSL_TIMEOUT_MS },
      );
      expect(rsaPkcs1v15Decrypt(k, readFileSync(join(dir, 'c.bin')))).toEqual(msg);
    }
    // An empty message is valid PKCS#1 v1.5 too.
    const em = Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(253, 7), Buffer.from([0])]);
    expect(rsaPkcs1v15Decrypt(k, raw(em))).toEqual(Buffer.alloc(0));
  });

  it('what it decrypts, openssl decrypts the same', () => {
    const msg = randomBytes(48);
    const ct = publicEncrypt({ key: publicKey, padding: constants.RSA_PKCS1_PADDING }, msg);
    const r = openssl({ 'k.pem': privPem, 'c.bin': ct }, () => [
      'pkeyutl',
      '-decrypt',
      '-inkey',
      'k.pem',
      '-pkeyopt',
      'rsa_padding_mode:pkcs1',
      '-in',
      'c.bin',
      '-hexdump',
    ]);
    expect(r.ok, r.out).toBe(true);
    expect(rsaPkcs1v15Decrypt(k, ct)).toEqual(msg);
  });

  it('a bad padding is never an error: a deterministic synthetic message of a plausible length instead', () => {
    const bads = [
      Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(253, 0xff), Buffer.from([0])]), // type 1, not 2
      Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(254, 5)]), // no separator
      Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(5, 9), Buffer.from([0]), randomBytes(248).map((b) => b | 1)]), // padding shorter than 8
      Buffer.concat([Buffer.from([1, 2]), Buffer.alloc(200, 3), Buffer.from([0]), randomBytes(53)]), // first byte not 0
    ];
    for (const em of bads) {
      const ct = raw(em);
      const a = rsaPkcs1v15Decrypt(k, ct);
      expect(a.length).toBeLessThanOrEqual(256 - 11);
      expect(rsaPkcs1v15Decrypt(k, ct)).toEqual(a);
      // An empty synthetic message is a legitimate outcome (about 1 in 246); any other must not be the tail.
      if (a.length > 0) expect(a.equals(em.subarray(em.length - a.length))).toBe(false);
    }
    // Another key gives another synthetic answer: it depends on the private key.
    const other = loadKey({ kind: 'RSA', size: 2048 }, generateKeyPairDetached('rsa', { modulusLength: 2048 }).privateKey);
    const ct = randomBytes(256);
    ct[0] = 0;
    expect(rsaPkcs1v15Decrypt(k, ct)).not.toEqual(rsaPkcs1v15Decrypt(other, ct));
  });

  it('refuses a ciphertext of the wrong length (public information)', () => {
    expect(() => rsaPkcs1v15Decrypt(k, randomBytes(255))).toThrow(/256 bytes/);
    expect(() => rsaPkcs1v15Decrypt(loadKey({ kind: 'oct', size: 256 }, createPrivateKey(privPem)), randomBytes(256))).toThrow();
  });
});

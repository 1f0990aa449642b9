import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, openTestKms } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { openssl } from '../test-openssl.ts';

describe.each(backends())('sign on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  let bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t1 = await kms.tenants.create('alice');
    const t2 = await kms.tenants.create('bob');
    alice = { tenantId: t1.id, dialect: 'test', principal: 'alice-admin', requestId: 'req-1' };
    bob = { tenantId: t2.id, dialect: 'test', principal: 'bob-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('signs, verifies, exports public keys and does RSA-OAEP and HMAC through the store', async () => {
    const rsa = await kms.createKey(alice, { name: 'rsa', spec: { kind: 'RSA', size: 2048 } });
    const msg = Buffer.from('signed through core');
    const sig = await kms.sign(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg);
    const pub = await kms.getPublicKey(alice, rsa.id);
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(pub.jwk.kty).toBe('RSA');
    expect(
      openssl({ 'p.pem': pub.pem, 'm.bin': msg, 's.bin': sig.signature }, () => [
        'dgst',
        '-sha256',
        '-verify',
        'p.pem',
        '-sigopt',
        'rsa_padding_mode:pss',
        '-sigopt',
        'rsa_pss_saltlen:32',
        '-signature',
        's.bin',
        'm.bin',
      ]).ok,
    ).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg, sig.signature)).valid).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, Buffer.from('other'), sig.signature)).valid).toBe(
      false,
    );
    const ct = await kms.rsaEncrypt(alice, rsa.id, Buffer.from('dek'), { hash: 'SHA-256' });
    expect((await kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-256' })).plaintext.toString()).toBe('dek');
    await expectKind(kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-1' }), 'invalid_argument');
    const mac = await kms.createKey(alice, { name: 'mac', spec: { kind: 'HMAC', size: 384 } });
    const tag = await kms.sign(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg);
    expect(tag.signature.length).toBe(48);
    expect((await kms.verify(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg, tag.signature)).valid).toBe(true);
    await expectKind(kms.getPublicKey(bob, rsa.id), 'not_found');
  });
});

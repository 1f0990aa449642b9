import { createPrivateKey, createPublicKey, verify, webcrypto } from 'node:crypto';
import { compactDecrypt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCiphertext } from '../ciphertext.ts';
import { joseSignParams } from '../crypto.ts';
import type { Caller, Kms } from '../kms.ts';
import { opensslOaep } from '../test-openssl.ts';
import { backends, dbOf, twoTenants } from '../testing.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe.each(backends())('wrapped export on %s', (backend) => {
  let kms: Kms, alice: Caller, bob: Caller, close: () => Promise<void>;
  // The customer's transport key pair: the private half never reaches the gateway.
  const transport = generateKeyPairDetached('rsa', { modulusLength: 2048 });
  let wrapId: string;

  beforeAll(async () => {
    ({ kms, alice, bob, close } = await twoTenants(backend));
    wrapId = (
      await kms.importKey(alice, {
        name: 'transport',
        ops: ['wrapKey'],
        material: { format: 'jwk', jwk: transport.publicKey.export({ format: 'jwk' }) as Record<string, unknown> },
      })
    ).id;
  });
  afterAll(() => close?.());

  const unwrapLocally = async (jwe: string) => Buffer.from((await compactDecrypt(jwe, transport.privateKey)).plaintext);

  it('exports an extractable AES key as RAW and JWK; the material is the key in use (opens what the KMS encrypted)', async () => {
    const k = await kms.createKey(alice, { name: 'aes', spec: { kind: 'oct', size: 256 }, extractable: true });
    const ct = await kms.encrypt(alice, k.id, Buffer.from('in use'), Buffer.from('ctx'));
    for (const alg of ['RSA-OAEP-256', 'RSA-OAEP']) {
      const raw = await kms.exportWrapped(alice, k.id, { wrappingKeyId: wrapId, format: 'RAW', algorithm: alg });
      expect(decodeProtectedHeader(raw.jwe)).toMatchObject({ alg, enc: 'A256GCM', kid: wrapId });
      const key = await unwrapLocally(raw.jwe);
      expect(key.length).toBe(32);
      const p = parseCiphertext(ct.ciphertext);
      const wk = await webcrypto.subtle.importKey('raw', key, 'AES-GCM', false, ['decrypt']);
      const pt = await webcrypto.subtle.decrypt(
        { name: 'AES-GCM', iv: p.parts.iv, additionalData: Buffer.concat([p.header, Buffer.from('ctx')]) },
        wk,
        Buffer.concat([p.parts.ciphertext, p.parts.tag]),
      );
      expect(Buffer.from(pt).toString()).toBe('in use');
    }
    const jwk = JSON.parse(
      (
        await unwrapLocally((await kms.exportWrapped(alice, k.id, { wrappingKeyId: wrapId, format: 'JWK', algorithm: 'RSA-OAEP-256' })).jwe)
      ).toString(),
    );
    expect(jwk.kty).toBe('oct');
    // OpenSSL unwraps the RSA-OAEP-256 key encryption too (independent of jose)
    const jwe = (await kms.exportWrapped(alice, k.id, { wrappingKeyId: wrapId, format: 'RAW', algorithm: 'RSA-OAEP-256' })).jwe;
    const cek = opensslOaep(
      'decrypt',
      transport.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
      Buffer.from(jwe.split('.')[1]!, 'base64url'),
      'sha256',
    );
    expect(cek.ok, cek.out).toBe(true);
    // the content key opens the JWE's AES-256-GCM part: the key is the one jose found
    const [h, , iv, body, tag] = jwe.split('.') as [string, string, string, string, string];
    const gcm = await webcrypto.subtle.importKey('raw', cek.bytes, 'AES-GCM', false, ['decrypt']);
    const opened = await webcrypto.subtle.decrypt(
      { name: 'AES-GCM', iv: Buffer.from(iv, 'base64url'), additionalData: Buffer.from(h) },
      gcm,
      Buffer.concat([Buffer.from(body, 'base64url'), Buffer.from(tag, 'base64url')]),
    );
    expect(Buffer.from(opened)).toEqual(await unwrapLocally(jwe));
  });

  it('exports RSA keys as PKCS8, PKCS1 and JWK, EC keys as PKCS8 and JWK: each signs like the key in use', async () => {
    const rsa = await kms.createKey(alice, {
      name: 'rsa',
      spec: { kind: 'RSA', size: 2048 },
      ops: ['sign', 'verify'],
      extractable: true,
    });
    const ec = await kms.createKey(alice, { name: 'ec', spec: { kind: 'EC', curve: 'P-256' }, extractable: true });
    const msg = Buffer.from('signed here');
    for (const [k, formats] of [
      [rsa, ['PKCS8', 'PKCS1', 'JWK']],
      [ec, ['PKCS8', 'JWK']],
    ] as const) {
      const sig = await kms.sign(
        alice,
        k.id,
        joseSignParams(k.kind === 'RSA' ? 'RS256' : 'ES256', {
          kind: k.kind,
          size: k.size ?? undefined,
          curve: k.curve ?? undefined,
        }),
        msg,
      );
      for (const format of formats) {
        const bytes = await unwrapLocally(
          (await kms.exportWrapped(alice, k.id, { wrappingKeyId: wrapId, format, algorithm: 'RSA-OAEP-256' })).jwe,
        );
        const priv =
          format === 'JWK'
            ? createPrivateKey({ key: JSON.parse(bytes.toString()), format: 'jwk' })
            : createPrivateKey({ key: bytes, format: 'der', type: format === 'PKCS1' ? 'pkcs1' : 'pkcs8' });
        const pub = (await kms.getPublicKey(alice, k.id)).pem;
        expect(createPublicKey(priv).export({ format: 'pem', type: 'spki' })).toBe(pub);
        expect(
          verify('sha256', msg, { key: pub, dsaEncoding: 'ieee-p1363' } as never, sig.signature) ||
            verify('sha256', msg, pub, sig.signature),
        ).toBe(true);
      }
    }
  });

  it('refuses: not extractable, wrong format, RSA1_5, unfit or foreign wrapping keys, IAM', async () => {
    const closed = await kms.createKey(alice, { name: 'closed', spec: { kind: 'oct', size: 256 } });
    const input = { wrappingKeyId: wrapId, format: 'RAW' as const, algorithm: 'RSA-OAEP-256' };
    await expect(kms.exportWrapped(alice, closed.id, input)).rejects.toMatchObject({
      kind: 'failed_precondition',
      message: /not extractable/,
    });
    await kms.updateKey(alice, closed.id, { extractable: true });
    expect((await kms.exportWrapped(alice, closed.id, input)).jwe.split('.')).toHaveLength(5);
    await kms.updateKey(alice, closed.id, { extractable: false });
    await expect(kms.exportWrapped(alice, closed.id, input)).rejects.toMatchObject({ kind: 'failed_precondition' });

    const k = await kms.createKey(alice, { name: 'open', spec: { kind: 'oct', size: 128 }, extractable: true });
    await expect(kms.exportWrapped(alice, k.id, { ...input, format: 'PKCS8' })).rejects.toMatchObject({
      kind: 'invalid_argument',
      message: /use RAW or JWK/,
    });
    await expect(kms.exportWrapped(alice, k.id, { ...input, algorithm: 'RSA1_5' })).rejects.toMatchObject({
      kind: 'invalid_argument',
      message: /RSA1_5/,
    });
    const noWrap = await kms.createKey(alice, {
      name: 'nowrap',
      spec: { kind: 'RSA', size: 2048 },
      ops: ['encrypt', 'decrypt'],
    });
    await expect(kms.exportWrapped(alice, k.id, { ...input, wrappingKeyId: noWrap.id })).rejects.toMatchObject({
      kind: 'invalid_argument',
      message: /wrapKey/,
    });
    const aesWrap = await kms.createKey(alice, {
      name: 'aeswrap',
      spec: { kind: 'oct', size: 256 },
      ops: ['wrapKey', 'unwrapKey'],
    });
    await expect(kms.exportWrapped(alice, k.id, { ...input, wrappingKeyId: aesWrap.id })).rejects.toMatchObject({
      kind: 'invalid_argument',
      message: /RSA/,
    });
    await expect(kms.exportWrapped(alice, k.id, { ...input, wrappingKeyId: k.id })).rejects.toMatchObject({
      kind: 'invalid_argument',
    });
    // another tenant's key and transport key do not exist for it
    await expect(kms.exportWrapped(bob, k.id, input)).rejects.toMatchObject({ kind: 'not_found' });
    const bobs = await kms.createKey(bob, { name: 'b', spec: { kind: 'oct', size: 256 }, extractable: true });
    await expect(kms.exportWrapped(bob, bobs.id, input)).rejects.toMatchObject({
      kind: 'not_found',
      message: /wrapping key/,
    });
    // IAM: export on the key, wrap on the transport key, each checked on its own key
    const only = (allowedAction: string, keyId: string): Caller => ({
      ...alice,
      authorize: (a, key) => a === allowedAction && key?.id === keyId,
    });
    await expect(kms.exportWrapped(only('key.export', k.id), k.id, input)).rejects.toMatchObject({
      kind: 'permission_denied',
      message: /wrap/,
    });
    await expect(kms.exportWrapped(only('key.wrap', wrapId), k.id, input)).rejects.toMatchObject({
      kind: 'permission_denied',
      message: /export/,
    });
    const both: Caller = {
      ...alice,
      authorize: (a, key) => (a === 'key.export' && key?.id === k.id) || (a === 'key.wrap' && key?.id === wrapId),
    };
    expect((await kms.exportWrapped(both, k.id, input)).wrappingKeyId).toBe(wrapId);

    await kms.sealAudit();
    const events = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['outcome', 'details'])
      .where('key_id', '=', k.id)
      .where('action', '=', 'key.export')
      .orderBy('id')
      .execute();
    expect(events.map((e) => e.outcome)).toEqual([
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
      'failed',
      'denied',
      'denied',
      'allowed',
    ]);
    expect(events.at(-1)?.details).toMatchObject({ wrappingKeyId: wrapId, format: 'RAW', algorithm: 'RSA-OAEP-256' });
    // nothing in the audit trail carries material
    expect(JSON.stringify(events)).not.toMatch(/"k"/);
  });
});

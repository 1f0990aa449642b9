import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from 'jose';
import { backends, openTestKms, dbOf } from '@polykms/core/testing';
import { generateKeyPairDetached, type Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { OPENSSL_TIMEOUT_MS, opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import { parseCseConfig, resourceKeyHash, startCseServer, type CseServer } from '../src/index.ts';
import { baseConfig, call, tempDir, testIssuers, type Issuers } from './helpers.ts';

const KACLS = 'https://kacls.example.test/v1';

/** A DER TLV (short and long lengths), enough to build RFC 5652 SignedAttributes. */
const tlv = (tag: number, content: Buffer) => {
  const n = content.length;
  const len = n < 128 ? Buffer.from([n]) : n < 256 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
};
const oid = (hex: string) => tlv(0x06, Buffer.from(hex, 'hex'));
const PKCS9 = '2a864886f70d0109';

/** The SignedAttributes an S/MIME client signs (RFC 5652 §5.3, §11): contentType, signingTime, messageDigest, DER SET. */
function signedAttributes(content: Buffer): Buffer {
  const attr = (type: Buffer, value: Buffer) => tlv(0x30, Buffer.concat([type, tlv(0x31, value)]));
  const attrs = [
    attr(oid(`${PKCS9}03`), oid('2a864886f70d010701')),
    attr(oid(`${PKCS9}05`), tlv(0x17, Buffer.from('260102030405Z'))),
    attr(oid(`${PKCS9}04`), tlv(0x04, createHash('sha256').update(content).digest())),
  ].sort(Buffer.compare);
  return tlv(0x31, Buffer.concat(attrs));
}

describe.each(backends())('CSE KACLS over HTTPS on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let server: CseServer;
  let ca: string;
  let is: Issuers;
  const user = 'Alice@Example.com';
  const admin = 'admin@example.com';

  const api = (path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST', headers?: Record<string, string>) =>
    call(server.url, ca, method, path, body, headers);
  const authn = (email = user, extra: Record<string, unknown> = {}) => is.idp.mint({ email, ...extra }, { aud: 'client-web' });
  const authz = (role: string, resource_name: string, extra: Record<string, unknown> = {}, email = 'alice@example.com') =>
    is.drive.mint({ email, role, resource_name, kacls_url: KACLS, perimeter_id: '', ...extra }, { aud: 'cse-authorization' });

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const gw = await gatewayCa(kms);
    ca = gw.certPem;
    is = await testIssuers(tempDir());
    server = await startCseServer(kms, gw, {
      host: '127.0.0.1',
      port: 0,
      config: parseCseConfig(baseConfig(KACLS, is)),
    });
  });
  afterAll(async () => {
    await server?.close();
    await kms?.close();
    await drop?.();
  });

  it('answers status and certs, at the kacls_url path and at the root, with CORS for Workspace', async () => {
    for (const p of ['/status', '/v1/status']) {
      const s = await api(p);
      expect(s.status).toBe(200);
      expect(s.json).toEqual({
        name: 'test KACLS',
        vendor_id: 'polykms',
        version: '0.1.0',
        server_type: 'KACLS',
        operations_supported: expect.arrayContaining(['wrap', 'unwrap', 'privatekeysign', 'rewrap', 'delegate']),
      });
    }
    const certs = await api('/v1/certs');
    expect(certs.json.keys).toHaveLength(1);
    expect(certs.json.keys[0]).toMatchObject({
      kty: 'RSA',
      use: 'sig',
      alg: 'RS256',
      kid: expect.any(String),
      n: expect.any(String),
      e: 'AQAB',
    });
    expect(certs.json.keys[0].d).toBeUndefined();

    const pre = await api('/v1/wrap', undefined, 'OPTIONS', {
      origin: 'https://client-side-encryption.google.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    });
    expect(pre.status).toBe(204);
    expect(pre.headers['access-control-allow-origin']).toBe('https://client-side-encryption.google.com');
    expect(String(pre.headers['access-control-allow-methods'])).toContain('POST');
    expect(pre.headers['access-control-allow-headers']).toBe('Content-Type,Authorization');
    expect(pre.headers['access-control-max-age']).toBe('3600');
    expect(pre.headers.vary).toBe('Origin, Access-Control-Request-Headers');
    expect(pre.headers['content-length']).toBeUndefined();
    const other = await api('/v1/wrap', undefined, 'OPTIONS', {
      origin: 'https://evil.example',
      'access-control-request-method': 'POST',
    });
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    // The answers themselves, and the refusals, are readable by Workspace's browser client.
    for (const [path, status] of [
      ['/v1/status', 200],
      ['/v1/wrap', 400],
    ] as const) {
      const r = await api(path, path.endsWith('wrap') ? {} : undefined, undefined, {
        origin: 'https://client-side-encryption.google.com',
      });
      expect(r.status).toBe(status);
      expect([r.headers['access-control-allow-origin'], r.headers['access-control-expose-headers'], r.headers.vary]).toEqual([
        'https://client-side-encryption.google.com',
        'X-Request-Id',
        'Origin',
      ]);
      expect(
        (await api(path, path.endsWith('wrap') ? {} : undefined, undefined, { origin: 'https://evil.example' })).headers[
          'access-control-allow-origin'
        ],
      ).toBeUndefined();
    }
    const missing = await api('/v1/nope');
    expect(missing.status).toBe(404);
    expect(Object.keys(missing.json).sort()).toEqual(['code', 'details', 'message']);
    expect((await api('/v1/wrap')).status).toBe(405);
  });

  it('wrap then unwrap returns the DEK (writer wraps, reader unwraps), standard padded base64 both ways', async () => {
    const dek = randomBytes(32);
    const rn = '//googleapis.com/drive/files/abc123';
    const w = await api('/v1/wrap', {
      authentication: await authn(),
      authorization: await authz('writer', rn),
      key: dek.toString('base64'),
      reason: "{client:'drive' op:'write'}",
    });
    expect(w.status, w.text).toBe(200);
    expect(Object.keys(w.json)).toEqual(['wrapped_key']);
    expect(w.json.wrapped_key).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(w.json.wrapped_key.length % 4).toBe(0);
    expect(Buffer.from(w.json.wrapped_key, 'base64').length).toBeLessThanOrEqual(1024);
    const u = await api('/v1/unwrap', {
      authentication: await authn(),
      authorization: await authz('reader', rn),
      wrapped_key: w.json.wrapped_key,
      reason: "{client:'drive' op:'read'}",
    });
    expect(u.status, u.text).toBe(200);
    expect(u.json).toEqual({ key: dek.toString('base64') });
    // upgrader wraps; a 128-byte DEK is the maximum; an unpadded url-safe key is tolerated.
    const big = randomBytes(128);
    const w2 = await api('/wrap', {
      authentication: await authn(),
      authorization: await authz('upgrader', rn),
      key: big.toString('base64url'),
      reason: '',
    });
    expect(w2.status, w2.text).toBe(200);
    const u2 = await api('/unwrap', {
      authentication: await authn(),
      authorization: await authz('writer', rn),
      wrapped_key: w2.json.wrapped_key,
    });
    expect(u2.json.key).toBe(big.toString('base64'));
    // The reason lands in the audit trail, sanitized.
    await kms.audit.flush();
    const ev = await dbOf(kms)
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'key.encrypt')
      .where('dialect', '=', 'cse')
      .where('outcome', '=', 'allowed')
      .execute();
    expect(
      ev.some(
        (e) =>
          (e.details as any)?.method === 'wrap' &&
          (e.details as any)?.reason === "{client:'drive' op:'write'}" &&
          (e.details as any)?.resource_name === rn &&
          e.principal === user,
      ),
    ).toBe(true);
  });

  it('digest gives the resource key hash of the wrapped DEK; published vectors hold', async () => {
    const vectors: [string, string, string, string][] = [
      [
        '6a68079290123ed8f23c845cc8bda91cd961c0246b79446662919e336920cbef',
        '//googleapis.com/testcase/hJB0PzRI7nl79LC18qaV8WMDCBALBSs9BREcq79MfVw',
        '',
        '4d9aafeb06cd0e812d0f3c10f18573a5aee4c86300a104fad9b258f0b71bd813',
      ],
      [
        '05b62b91cb66f19e27789fb69eb680fac113a70a120178d6cfa6b1b4cb11bb95',
        '//googleapis.com/testcase/od8yfZiS5ZF2RN27X4ClalsV6LobL2FwKRk4qOJxWdE',
        'perimeter1',
        '1b6231a171bc10ef99dd3b08f0742620811a59191570284d32b674c531cc2da5',
      ],
    ];
    for (const [dek, rn, perimeter, hex] of vectors) {
      const w = await api('/v1/privilegedwrap', {
        authentication: await authn(admin),
        key: Buffer.from(dek, 'hex').toString('base64'),
        resource_name: rn,
        perimeter_id: perimeter,
        reason: 'import',
      });
      if (perimeter) {
        // perimeter1 has no rule here: refused, fail closed.
        expect(w.status).toBe(403);
        continue;
      }
      expect(w.status, w.text).toBe(200);
      const verifier = await is.migration.mint(
        { email: 'alice@example.com', role: 'verifier', resource_name: rn, kacls_url: KACLS },
        { aud: 'cse-authorization' },
      );
      const d = await api('/v1/digest', {
        authorization: verifier,
        wrapped_key: w.json.wrapped_key,
        reason: 'migration',
      });
      expect(d.status, d.text).toBe(200);
      expect(d.json).toEqual({ resource_key_hash: Buffer.from(hex, 'hex').toString('base64') });
    }
    expect(resourceKeyHash(Buffer.from(vectors[1]![0], 'hex'), vectors[1]![1], vectors[1]![2])).toBe(
      Buffer.from(vectors[1]![3], 'hex').toString('base64'),
    );
  });

  it('privilegedwrap and privilegedunwrap for an allowlisted admin (email case-insensitive); the blob also unwraps for a reader', async () => {
    const dek = randomBytes(32);
    const rn = '//googleapis.com/drive/files/imported';
    const w = await api('/v1/privilegedwrap', {
      authentication: await authn('ADMIN@example.com'),
      key: dek.toString('base64'),
      resource_name: rn,
      reason: 'import',
    });
    expect(w.status, w.text).toBe(200);
    const u = await api('/v1/privilegedunwrap', {
      authentication: await authn(admin),
      wrapped_key: w.json.wrapped_key,
      resource_name: rn,
      reason: 'takeout',
    });
    expect(u.json).toEqual({ key: dek.toString('base64') });
    const r = await api('/v1/unwrap', {
      authentication: await authn(),
      authorization: await authz('reader', rn),
      wrapped_key: w.json.wrapped_key,
    });
    expect(r.json).toEqual({ key: dek.toString('base64') });
  });

  it('a perimeter binds: wrapped inside finance, unwrapped only by finance people', async () => {
    const rn = '//googleapis.com/drive/files/budget';
    const fin = 'bob@finance.example.com';
    const dek = randomBytes(32);
    const w = await api('/v1/wrap', {
      authentication: await authn(fin),
      authorization: await authz('writer', rn, { perimeter_id: 'finance' }, fin),
      key: dek.toString('base64'),
    });
    expect(w.status, w.text).toBe(200);
    expect(
      (
        await api('/v1/unwrap', {
          authentication: await authn(fin),
          authorization: await authz('reader', rn, {}, fin),
          wrapped_key: w.json.wrapped_key,
        })
      ).json,
    ).toEqual({ key: dek.toString('base64') });
    const out = await api('/v1/unwrap', {
      authentication: await authn(),
      authorization: await authz('reader', rn),
      wrapped_key: w.json.wrapped_key,
    });
    expect(out.status).toBe(403);
    expect(out.json.details).toBe('perimeter');
    // Wrapping into the perimeter is refused to outsiders too.
    expect(
      (
        await api('/v1/wrap', {
          authentication: await authn(),
          authorization: await authz('writer', rn, { perimeter_id: 'finance' }),
          key: dek.toString('base64'),
        })
      ).status,
    ).toBe(403);
  });

  it('the KEK rotates in core and old wrapped keys still unwrap', async () => {
    const rn = '//googleapis.com/drive/files/rotated';
    const dek = randomBytes(32);
    const w1 = await api('/v1/wrap', {
      authentication: await authn(),
      authorization: await authz('writer', rn),
      key: dek.toString('base64'),
    });
    const tenantId = (await kms.tenants.resolve('cse', KACLS))!;
    // The KEK is the cse dialect's own key: only a cse caller finds it.
    const asCse = { tenantId, dialect: 'cse', principal: 'test' };
    const kekId = (await kms.listKeys(asCse)).keys.find((k) => k.name === 'google-cse-kek')!.id;
    const before = Buffer.from(w1.json.wrapped_key, 'base64').readUInt32BE(17);
    await expect(kms.rotate({ tenantId, dialect: 'test', principal: 'test' }, kekId)).rejects.toMatchObject({
      kind: 'not_found',
    });
    await kms.rotate(asCse, kekId);
    const w2 = await api('/v1/wrap', {
      authentication: await authn(),
      authorization: await authz('writer', rn),
      key: dek.toString('base64'),
    });
    expect(Buffer.from(w2.json.wrapped_key, 'base64').readUInt32BE(17)).toBe(before + 1);
    for (const wk of [w1.json.wrapped_key, w2.json.wrapped_key]) {
      expect(
        (
          await api('/v1/unwrap', {
            authentication: await authn(),
            authorization: await authz('reader', rn),
            wrapped_key: wk,
          })
        ).json.key,
      ).toBe(dek.toString('base64'));
    }
  });

  describe('Gmail S/MIME', () => {
    const { privateKey, publicKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const pubPem = publicKey.export({ format: 'pem', type: 'spki' }) as string;
    const spki = createHash('sha256')
      .update(publicKey.export({ format: 'der', type: 'spki' }))
      .digest('base64');
    const rn = '//gmail.googleapis.com/gmail/users/alice%40example.com/settings/cse/keypairs/kp1';
    let wrapped: string;
    const gmailAuthz = (role: string, extra: Record<string, unknown> = {}) =>
      is.gmail.mint(
        {
          email: 'alice@example.com',
          role,
          resource_name: rn,
          kacls_url: KACLS,
          perimeter_id: '',
          message_id: '<m1@mail.gmail.com>',
          spki_hash: spki,
          spki_hash_algorithm: 'SHA-256',
          ...extra,
        },
        { aud: 'cse-authorization' },
      );

    beforeAll(async () => {
      const w = await api('/v1/wrapprivatekey', {
        authentication: await authn(admin),
        perimeter_id: '',
        private_key: privateKey.export({ format: 'pem', type: 'pkcs1' }),
      });
      expect(w.status, w.text).toBe(200);
      wrapped = w.json.wrapped_private_key;
      expect(Buffer.from(wrapped, 'base64').length).toBeLessThanOrEqual(8192);
    });

    it('wrapprivatekey takes PKCS#8 too, and refuses what is not an RSA private key', async () => {
      const p8 = await api('/v1/wrapprivatekey', {
        authentication: await authn(admin),
        private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }),
      });
      expect(p8.status, p8.text).toBe(200);
      const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' });
      const bad = await api('/v1/wrapprivatekey', { authentication: await authn(admin), private_key: ec });
      expect(bad.status).toBe(400);
      expect(bad.json.message).toMatch(/RSA/);
      expect(
        (
          await api('/v1/wrapprivatekey', {
            authentication: await authn(admin),
            private_key: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----',
          })
        ).status,
      ).toBe(400);
      expect(
        (
          await api('/v1/wrapprivatekey', {
            authentication: await authn(user),
            private_key: privateKey.export({ format: 'pem', type: 'pkcs8' }),
          })
        ).status,
      ).toBe(403);
    });

    it('privatekeysign signs a real SignedAttributes digest; openssl verifies PKCS#1 v1.5 and PSS', async () => {
      const attrs = signedAttributes(Buffer.from('Content-Type: text/plain\r\n\r\nhello S/MIME\r\n'));
      const cases: [string, string, string[], number | undefined][] = [
        ['SHA256withRSA', 'sha256', [], undefined],
        ['SHA1withRSA', 'sha1', [], undefined],
        ['SHA512withRSA', 'sha512', [], undefined],
        ['SHA256withRSA/PSS', 'sha256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32'], undefined],
        ['SHA256withRSA/PSS', 'sha256', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:20'], 20],
        ['SHA512withRSA/PSS', 'sha512', ['-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:64'], undefined],
      ];
      for (const [algorithm, hash, opts, salt] of cases) {
        const digest = createHash(hash).update(attrs).digest();
        const r = await api('/v1/privatekeysign', {
          authentication: await authn(),
          authorization: await gmailAuthz('signer'),
          algorithm,
          digest: digest.toString('base64'),
          ...(salt !== undefined ? { rsa_pss_salt_length: salt } : {}),
          reason: 'sign',
          wrapped_private_key: wrapped,
        });
        expect(r.status, r.text).toBe(200);
        expect(Object.keys(r.json)).toEqual(['signature']);
        const v = opensslVerify(pubPem, attrs, Buffer.from(r.json.signature, 'base64'), hash, opts);
        expect(v.ok, `${algorithm}: ${v.out}`).toBe(true);
        // The wrong salt length does not verify: the field is honoured.
        if (salt !== undefined)
          expect(
            opensslVerify(pubPem, attrs, Buffer.from(r.json.signature, 'base64'), hash, [
              '-sigopt',
              'rsa_padding_mode:pss',
              '-sigopt',
              'rsa_pss_saltlen:32',
            ]).ok,
          ).toBe(false);
      }
      // A SHA-256 algorithm with a SHA-1 sized digest is bad input.
      const short = await api('/v1/privatekeysign', {
        authentication: await authn(),
        authorization: await gmailAuthz('signer'),
        algorithm: 'SHA256withRSA',
        digest: randomBytes(20).toString('base64'),
        wrapped_private_key: wrapped,
      });
      expect(short.status).toBe(400);
    });

    it('privatekeydecrypt recovers DEKs encrypted by openssl pkeyutl: PKCS#1 v1.5 and OAEP (with a label)', async () => {
      const dek = randomBytes(32);
      const modes: [string, string[], string | undefined][] = [
        ['RSA/ECB/PKCS1Padding', ['-pkeyopt', 'rsa_padding_mode:pkcs1'], undefined],
        [
          'RSA/ECB/OAEPwithSHA-1andMGF1Padding',
          ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha1', '-pkeyopt', 'rsa_mgf1_md:sha1'],
          undefined,
        ],
        [
          'RSA/ECB/OAEPwithSHA-256andMGF1Padding',
          [
            '-pkeyopt',
            'rsa_padding_mode:oaep',
            '-pkeyopt',
            'rsa_oaep_md:sha256',
            '-pkeyopt',
            'rsa_mgf1_md:sha256',
            '-pkeyopt',
            'rsa_oaep_label:6c6162656c',
          ],
          'label',
        ],
        [
          'RSA/ECB/OAEPwithSHA-512andMGF1Padding',
          ['-pkeyopt', 'rsa_padding_mode:oaep', '-pkeyopt', 'rsa_oaep_md:sha512', '-pkeyopt', 'rsa_mgf1_md:sha512'],
          undefined,
        ],
      ];
      // pkeyutl writes the ciphertext to a file (binary output through a string would be lossy).
      const { execFileSync } = await import('node:child_process');
      const { readFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const dir = tempDir();
      const { write } = await import('./helpers.ts');
      write(dir, 'pub.pem', pubPem);
      write(dir, 'dek.bin', dek);
      for (const [algorithm, opts, label] of modes) {
        execFileSync('openssl', ['pkeyutl', '-encrypt', '-pubin', '-inkey', 'pub.pem', ...opts, '-in', 'dek.bin', '-out', 'ct.bin'], {
          cwd: dir,
          timeout: OPENSSL_TIMEOUT_MS,
        });
        const ct = readFileSync(join(dir, 'ct.bin'));
        const r = await api('/v1/privatekeydecrypt', {
          authentication: await authn(),
          authorization: await gmailAuthz('decrypter'),
          algorithm,
          encrypted_data_encryption_key: ct.toString('base64'),
          ...(label ? { rsa_oaep_label: Buffer.from(label).toString('base64') } : {}),
          reason: 'decrypt',
          wrapped_private_key: wrapped,
        });
        expect(r.status, `${algorithm}: ${r.text}`).toBe(200);
        expect(r.json).toEqual({ data_encryption_key: dek.toString('base64') });
        // Privileged form, with the key's SPKI hash in the request.
        const p = await api('/v1/privilegedprivatekeydecrypt', {
          authentication: await authn(admin),
          algorithm,
          encrypted_data_encryption_key: ct.toString('base64'),
          ...(label ? { rsa_oaep_label: Buffer.from(label).toString('base64') } : {}),
          spki_hash: spki,
          spki_hash_algorithm: 'SHA-256',
          wrapped_private_key: wrapped,
          reason: 'takeout',
        });
        expect(p.json, p.text).toEqual({ data_encryption_key: dek.toString('base64') });
      }
      const wrongSpki = await api('/v1/privilegedprivatekeydecrypt', {
        authentication: await authn(admin),
        algorithm: 'RSA/ECB/PKCS1Padding',
        encrypted_data_encryption_key: Buffer.concat([Buffer.from([0]), randomBytes(255)]).toString('base64'),
        spki_hash: createHash('sha256').update('x').digest('base64'),
        spki_hash_algorithm: 'SHA-256',
        wrapped_private_key: wrapped,
      });
      expect(wrongSpki.status).toBe(400);
      // A token for another key pair (spki_hash) is refused before the key is used.
      const other = await api('/v1/privatekeydecrypt', {
        authentication: await authn(),
        authorization: await gmailAuthz('decrypter', { spki_hash: createHash('sha256').update('x').digest('base64') }),
        algorithm: 'RSA/ECB/PKCS1Padding',
        encrypted_data_encryption_key: Buffer.concat([Buffer.from([0]), randomBytes(255)]).toString('base64'),
        wrapped_private_key: wrapped,
      });
      expect(other.status).toBe(403);
      expect(other.json.details).toBe('spki_hash');
      // Signer may not decrypt, and a Drive token cannot act for Gmail.
      expect(
        (
          await api('/v1/privatekeydecrypt', {
            authentication: await authn(),
            authorization: await gmailAuthz('signer'),
            algorithm: 'RSA/ECB/PKCS1Padding',
            encrypted_data_encryption_key: Buffer.concat([Buffer.from([0]), randomBytes(255)]).toString('base64'),
            wrapped_private_key: wrapped,
          })
        ).status,
      ).toBe(403);
      expect(
        (
          await api('/v1/privatekeysign', {
            authentication: await authn(),
            authorization: await authz('signer', rn),
            algorithm: 'SHA256withRSA',
            digest: randomBytes(32).toString('base64'),
            wrapped_private_key: wrapped,
          })
        ).status,
      ).toBe(403);
    });
  });

  it('delegate issues a short-lived token this KACLS accepts for that resource only', async () => {
    const rn = '//googleapis.com/meet/rooms/r1';
    const dek = randomBytes(32);
    const w = await api('/v1/wrap', {
      authentication: await authn(),
      authorization: await authz('writer', rn),
      key: dek.toString('base64'),
    });
    const d = await api('/v1/delegate', {
      authentication: await authn(),
      authorization: await authz('reader', rn, { delegated_to: 'bot@example.com' }),
      reason: "{client:'meet' op:'delegate_access'}",
    });
    expect(d.status, d.text).toBe(200);
    const token = d.json.delegated_authentication as string;
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({
      iss: KACLS,
      aud: KACLS,
      email: user,
      delegated_to: 'bot@example.com',
      resource_name: rn,
    });
    expect(claims.exp! - claims.iat!).toBe(900);
    const jwks = (await api('/v1/certs')).json;
    await jwtVerify(
      token,
      await importJWK(
        jwks.keys.find((k: { kid: string }) => k.kid === decodeProtectedHeader(token).kid),
        'RS256',
      ),
    );
    const ok = await api('/v1/unwrap', {
      authentication: token,
      authorization: await authz('reader', rn, { delegated_to: 'BOT@example.com' }),
      wrapped_key: w.json.wrapped_key,
    });
    expect(ok.json, ok.text).toEqual({ key: dek.toString('base64') });
    const otherRn = await api('/v1/unwrap', {
      authentication: token,
      authorization: await authz('reader', `${rn}x`, { delegated_to: 'bot@example.com' }),
      wrapped_key: w.json.wrapped_key,
    });
    expect(otherRn.status).toBe(403);
    const noDelegation = await api('/v1/unwrap', {
      authentication: token,
      authorization: await authz('reader', rn),
      wrapped_key: w.json.wrapped_key,
    });
    expect(noDelegation.status).toBe(403);
    expect((await api('/v1/delegate', { authentication: await authn(), authorization: await authz('reader', rn) })).status).toBe(403);
  });
});

describe('CSE without POLYKMS_CSE_CONFIG', () => {
  it('answers /status and refuses every token', async () => {
    const { kms, drop } = await openTestKms('pglite');
    const gw = await gatewayCa(kms);
    const { loadCseConfig } = await import('../src/index.ts');
    const server = await startCseServer(kms, gw, {
      host: '127.0.0.1',
      port: 0,
      config: await loadCseConfig(undefined),
    });
    try {
      const s = await call(server.url, gw.certPem, 'GET', '/status');
      expect(s.json).toMatchObject({ vendor_id: 'polykms', server_type: 'KACLS', operations_supported: [] });
      const is = await testIssuers(tempDir());
      const w = await call(server.url, gw.certPem, 'POST', '/wrap', {
        authentication: await is.idp.mint({ email: 'a@b.c' }, { aud: 'x' }),
        authorization: await is.drive.mint({}, { aud: 'cse-authorization' }),
        key: 'AAAA',
      });
      expect(w.status).toBe(401);
      expect(w.json.details).toBe('not_configured');
      expect(await kms.tenants.inDialect('cse')).toEqual([]);
    } finally {
      await server.close();
      await kms.close();
      await drop();
    }
  });
});

import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateKeyPair } from 'jose';
import { dbOf, openTestKms } from '@polykms/core/testing';
import { expectRefusalsBounded } from '../../../packages/core/src/test-expect.ts';
import { generateKeyPairDetached, type Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { parseCseConfig, startCseServer, type CseServer } from '../src/index.ts';
import { baseConfig, call, tempDir, testIssuers, type Issuers, type Reply } from './helpers.ts';

const KACLS = 'https://kacls.example.test/v1';
const RN = '//googleapis.com/drive/files/secret';
const GMAIL_RN = '//gmail.googleapis.com/gmail/users/alice%40example.com/settings/cse/keypairs/kp1';
const USER = 'alice@example.com';
const ADMIN = 'admin@example.com';

type Tokens = { authn?: string; authz?: string };
interface Route {
  name: string;
  authn: boolean;
  authz: boolean;
  privileged: boolean;
  /** The role a valid authorization carries, and one that is not enough. */
  role?: string;
  wrongRole?: string;
  gmail?: boolean;
  body: (t: Tokens) => Record<string, unknown>;
}

/**
 * The common security cases, run against every KACLS method: a token that is expired, for another
 * audience, from an unknown issuer, badly signed, from the future or not a JWT is refused (401 for
 * authentication, 403 for authorization); a role that is not enough, another kacls_url, another user,
 * a guest, a non-privileged user -> 403. Every refusal is Google's `{code, message, details}`.
 */
describe('every CSE method refuses who it should', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let server: CseServer;
  let ca: string;
  let is: Issuers;
  let wrappedKey: string;
  let wrappedPrivateKey: string;
  let spki: string;
  let otherKey: import('jose').CryptoKey;

  const api = (path: string, body: unknown, headers?: Record<string, string>) => call(server.url, ca, 'POST', path, body, headers);
  const authn = (email = USER, o: Parameters<Issuers['idp']['mint']>[1] = {}) => is.idp.mint({ email }, { aud: 'client-web', ...o });
  const authzFor = (r: Route, claims: Record<string, unknown> = {}, o: Parameters<Issuers['idp']['mint']>[1] = {}) =>
    (r.gmail ? is.gmail : r.role === 'migrator' || r.role === 'verifier' ? is.migration : is.drive).mint(
      {
        email: USER,
        role: r.role ?? 'reader',
        resource_name: r.gmail ? GMAIL_RN : RN,
        kacls_url: KACLS,
        perimeter_id: '',
        ...(r.gmail ? { spki_hash: spki, spki_hash_algorithm: 'SHA-256' } : {}),
        ...(r.name === 'delegate' ? { delegated_to: 'bot@example.com' } : {}),
        ...claims,
      },
      { aud: 'cse-authorization', ...o },
    );

  const routes: Route[] = [
    {
      name: 'wrap',
      authn: true,
      authz: true,
      privileged: false,
      role: 'writer',
      wrongRole: 'reader',
      body: (t) => ({ ...tok(t), key: randomBytes(32).toString('base64'), reason: 'r' }),
    },
    {
      name: 'unwrap',
      authn: true,
      authz: true,
      privileged: false,
      role: 'reader',
      wrongRole: 'upgrader',
      body: (t) => ({ ...tok(t), wrapped_key: wrappedKey }),
    },
    {
      name: 'digest',
      authn: false,
      authz: true,
      privileged: false,
      role: 'verifier',
      wrongRole: 'migrator',
      body: (t) => ({ authorization: t.authz, wrapped_key: wrappedKey }),
    },
    {
      name: 'rewrap',
      authn: false,
      authz: true,
      privileged: false,
      role: 'migrator',
      wrongRole: 'verifier',
      body: (t) => ({
        authorization: t.authz,
        wrapped_key: wrappedKey,
        original_kacls_url: 'https://old.example.test/v1',
      }),
    },
    {
      name: 'privatekeysign',
      authn: true,
      authz: true,
      privileged: false,
      gmail: true,
      role: 'signer',
      wrongRole: 'decrypter',
      body: (t) => ({
        ...tok(t),
        algorithm: 'SHA256withRSA',
        digest: randomBytes(32).toString('base64'),
        wrapped_private_key: wrappedPrivateKey,
      }),
    },
    {
      name: 'privatekeydecrypt',
      authn: true,
      authz: true,
      privileged: false,
      gmail: true,
      role: 'decrypter',
      wrongRole: 'signer',
      body: (t) => ({
        ...tok(t),
        algorithm: 'RSA/ECB/OAEPwithSHA-256andMGF1Padding',
        encrypted_data_encryption_key: belowModulus(),
        wrapped_private_key: wrappedPrivateKey,
      }),
    },
    {
      name: 'delegate',
      authn: true,
      authz: true,
      privileged: false,
      role: 'reader',
      body: (t) => ({ ...tok(t), reason: 'r' }),
    },
    {
      name: 'privilegedwrap',
      authn: true,
      authz: false,
      privileged: true,
      body: (t) => ({ authentication: t.authn, key: randomBytes(32).toString('base64'), resource_name: RN }),
    },
    {
      name: 'privilegedunwrap',
      authn: true,
      authz: false,
      privileged: true,
      body: (t) => ({ authentication: t.authn, wrapped_key: wrappedKey, resource_name: RN }),
    },
    {
      name: 'privilegedprivatekeydecrypt',
      authn: true,
      authz: false,
      privileged: true,
      body: (t) => ({
        authentication: t.authn,
        algorithm: 'RSA/ECB/PKCS1Padding',
        encrypted_data_encryption_key: belowModulus(),
        spki_hash: spki,
        spki_hash_algorithm: 'SHA-256',
        wrapped_private_key: wrappedPrivateKey,
      }),
    },
    {
      name: 'wrapprivatekey',
      authn: true,
      authz: false,
      privileged: true,
      body: (t) => ({ authentication: t.authn, private_key: pkcs1Pem }),
    },
  ];
  /** A random RSA-2048 ciphertext that is below any 2048-bit modulus (first byte 0). */
  const belowModulus = () => Buffer.concat([Buffer.from([0]), randomBytes(255)]).toString('base64');
  const tok = (t: Tokens) => ({ authentication: t.authn, authorization: t.authz });
  const { privateKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
  const pkcs1Pem = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
  const validTokens = async (r: Route): Promise<Tokens> => ({
    authn: r.authn ? await authn(r.privileged ? ADMIN : USER) : undefined,
    authz: r.authz ? await authzFor(r) : undefined,
  });

  const expectError = (r: Reply, status: number, what: string) => {
    expect(r.status, `${what}: ${r.text}`).toBe(status);
    expect(Object.keys(r.json).sort(), what).toEqual(['code', 'details', 'message']);
    expect(r.json.code).toBe(status);
    expect(typeof r.json.message).toBe('string');
  };

  const started = Date.now();
  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    const gw = await gatewayCa(kms);
    ca = gw.certPem;
    is = await testIssuers(tempDir());
    otherKey = (await generateKeyPair('RS256')).privateKey;
    server = await startCseServer(kms, gw, {
      host: '127.0.0.1',
      port: 0,
      config: parseCseConfig(baseConfig(KACLS, is)),
    });
    const w = await api('/v1/wrap', {
      authentication: await authn(),
      authorization: await is.drive.mint(
        { email: USER, role: 'writer', resource_name: RN, kacls_url: KACLS },
        { aud: 'cse-authorization' },
      ),
      key: randomBytes(32).toString('base64'),
    });
    wrappedKey = w.json.wrapped_key;
    const p = await api('/v1/wrapprivatekey', { authentication: await authn(ADMIN), private_key: pkcs1Pem });
    wrappedPrivateKey = p.json.wrapped_private_key;
    spki = createHash('sha256')
      .update(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
      .digest('base64');
  });
  afterAll(async () => {
    await server?.close();
    await kms?.close();
    await drop?.();
  });

  it("refuses another site's browser on every method (403 cross_site), and lets Workspace's configured origin through", async () => {
    const google = 'https://client-side-encryption.google.com';
    for (const r of routes) {
      for (const h of [
        { origin: 'https://evil.example' },
        { 'sec-fetch-site': 'cross-site' },
        { origin: 'null', 'content-type': 'text/plain' },
      ] as Record<string, string>[]) {
        const res = await api(`/v1/${r.name}`, r.body(await validTokens(r)), h);
        expectError(res, 403, `${r.name} ${JSON.stringify(h)}`);
        expect(res.json.details).toBe('cross_site');
        expect(res.headers['access-control-allow-origin']).toBeUndefined();
      }
      // Workspace's client: cross-site by nature, a "simple" text/plain request, its origin configured.
      const ok = await api(`/v1/${r.name}`, JSON.stringify(r.body(await validTokens(r))), {
        origin: google,
        'sec-fetch-site': 'cross-site',
        'content-type': 'text/plain;charset=UTF-8',
      });
      expect(ok.status, `${r.name}: ${ok.text}`).toBe(r.name === 'rewrap' ? 403 : r.name === 'privatekeydecrypt' ? 400 : 200);
      expect(ok.json.details ?? 'none').not.toBe('cross_site');
      expect(ok.headers['access-control-allow-origin']).toBe(google);
    }
    // A page of the KACLS's own origin is not cross-site.
    const own = new URL(server.url).origin;
    expect(
      (
        await api('/v1/wrap', routes[0]!.body(await validTokens(routes[0]!)), {
          origin: own,
          'sec-fetch-site': 'same-origin',
        })
      ).status,
    ).toBe(200);
  });

  it('each method accepts its valid caller (the baseline of every refusal below)', async () => {
    for (const r of routes) {
      const res = await api(`/v1/${r.name}`, r.body(await validTokens(r)));
      // rewrap reaches for a peer that is not allowlisted; privatekeydecrypt gets a random ciphertext.
      const expected = r.name === 'rewrap' ? 403 : r.name === 'privatekeydecrypt' ? 400 : 200;
      expect(res.status, `${r.name}: ${res.text}`).toBe(expected);
    }
  });

  it('authentication token: expired, wrong audience, unknown issuer, bad signature, from the future, no exp, unsigned, garbage -> 401', async () => {
    const cases: [string, (email: string) => Promise<string>][] = [
      ['expired', (e) => authn(e, { expIn: -120, iatOffset: -3720 })],
      ['wrong audience', (e) => authn(e, { aud: 'someone-else' })],
      ['no audience', (e) => is.idp.mint({ email: e })],
      ['unknown issuer', (e) => is.stranger.mint({ email: e }, { aud: 'client-web' })],
      ['bad signature', (e) => is.idp.mint({ email: e }, { aud: 'client-web', key: otherKey })],
      ['iat in the future', (e) => authn(e, { iatOffset: 600, expIn: 3600 })],
      ['no exp', (e) => authn(e, { noExp: true })],
      [
        'unsigned (alg none)',
        async (e) =>
          `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: is.idp.iss, aud: 'client-web', email: e, exp: 9999999999, iat: 1 })).toString('base64url')}.`,
      ],
      ['not a JWT', async () => 'not-a-token'],
      ['no email', () => is.idp.mint({ sub: 'x' }, { aud: 'client-web' })],
    ];
    for (const r of routes.filter((x) => x.authn)) {
      const valid = await validTokens(r);
      for (const [what, make] of cases) {
        const res = await api(`/v1/${r.name}`, r.body({ ...valid, authn: await make(r.privileged ? ADMIN : USER) }));
        expectError(res, 401, `${r.name} / ${what}`);
      }
    }
  });

  it('authorization token: expired, wrong audience, unknown issuer, bad signature, wrong kacls_url, wrong role -> 403', async () => {
    for (const r of routes.filter((x) => x.authz)) {
      const valid = await validTokens(r);
      const cases: [string, () => Promise<string>][] = [
        ['expired', () => authzFor(r, {}, { expIn: -120, iatOffset: -3720 })],
        ['wrong audience', () => authzFor(r, {}, { aud: 'cse-authentication' })],
        [
          'unknown issuer',
          () => is.stranger.mint({ email: USER, role: r.role, resource_name: RN, kacls_url: KACLS }, { aud: 'cse-authorization' }),
        ],
        ['bad signature', () => authzFor(r, {}, { key: otherKey })],
        ['wrong kacls_url', () => authzFor(r, { kacls_url: 'https://mitm.example.test/v1' })],
        ['no role', () => authzFor(r, { role: undefined })],
        [
          'drive token for another application',
          () => is.drive.mint({ email: USER, role: r.role, resource_name: RN, kacls_url: KACLS }, { aud: 'cse-authorization' }),
        ],
      ];
      if (r.wrongRole) cases.push(['wrong role', () => authzFor(r, { role: r.wrongRole })]);
      for (const [what, make] of cases) {
        if (what === 'drive token for another application' && !(r.gmail || r.role === 'migrator' || r.role === 'verifier')) continue;
        const res = await api(`/v1/${r.name}`, r.body({ ...valid, authz: await make() }));
        expectError(res, 403, `${r.name} / ${what}`);
      }
    }
  });

  it('both tokens must name the same user; guests are refused unless enabled', async () => {
    for (const r of routes.filter((x) => x.authn && x.authz)) {
      const valid = await validTokens(r);
      const mismatch = await api(`/v1/${r.name}`, r.body({ ...valid, authz: await authzFor(r, { email: 'mallory@example.com' }) }));
      expectError(mismatch, 403, `${r.name} / email mismatch`);
      expect(mismatch.json.details).toBe('email_mismatch');
      for (const type of ['google-visitor', 'customer-idp']) {
        const guest = await api(`/v1/${r.name}`, r.body({ ...valid, authz: await authzFor(r, { email_type: type }) }));
        expectError(guest, 403, `${r.name} / guest ${type}`);
        expect(guest.json.details).toBe('guest');
      }
      // Case does not matter; google_email wins over email.
      const upper = await api(
        `/v1/${r.name}`,
        r.body({
          ...valid,
          authn: await is.idp.mint({ email: 'other@idp.example', google_email: 'ALICE@example.com' }, { aud: 'client-desktop' }),
        }),
      );
      expect([200, 400], `${r.name}: ${upper.text}`).toContain(upper.status);
    }
  });

  it('privileged methods refuse a user who is not in privilegedUsers', async () => {
    for (const r of routes.filter((x) => x.privileged)) {
      const res = await api(`/v1/${r.name}`, r.body({ authn: await authn(USER) }));
      expectError(res, 403, r.name);
      expect(res.json.details).toBe('privileged');
    }
  });

  it('unwrap refuses a wrapped key presented with another resource name', async () => {
    const u = await api('/v1/unwrap', {
      authentication: await authn(),
      authorization: await is.drive.mint(
        { email: USER, role: 'reader', resource_name: `${RN}-other`, kacls_url: KACLS },
        { aud: 'cse-authorization' },
      ),
      wrapped_key: wrappedKey,
    });
    expectError(u, 403, 'unwrap resource mismatch');
    expect(u.json.details).toBe('resource_name');
    const p = await api('/v1/privilegedunwrap', {
      authentication: await authn(ADMIN),
      wrapped_key: wrappedKey,
      resource_name: `${RN}-other`,
    });
    expectError(p, 403, 'privilegedunwrap resource mismatch');
    const d = await api('/v1/digest', {
      authorization: await is.migration.mint(
        { email: USER, role: 'verifier', resource_name: `${RN}-other`, kacls_url: KACLS },
        { aud: 'cse-authorization' },
      ),
      wrapped_key: wrappedKey,
    });
    expectError(d, 403, 'digest resource mismatch');
  });

  it('refuses oversized fields, malformed base64, altered or foreign blobs, non-JSON bodies', async () => {
    const t = await validTokens(routes[0]!);
    const wrap = (extra: Record<string, unknown>) =>
      api('/v1/wrap', {
        authentication: t.authn,
        authorization: t.authz,
        key: randomBytes(32).toString('base64'),
        ...extra,
      });
    expectError(await wrap({ key: randomBytes(129).toString('base64') }), 400, 'key of 129 bytes');
    expectError(await wrap({ key: randomBytes(600).toString('base64') }), 400, 'key of 600 bytes');
    expectError(await wrap({ key: '' }), 400, 'empty key');
    expectError(await wrap({ key: 'abc$def=' }), 400, 'key not base64');
    expectError(await wrap({ key: 'QUJD=A==' }), 400, 'key with inner padding');
    expectError(await wrap({ reason: 'x'.repeat(1025) }), 400, 'reason over 1 KB');
    expectError(await wrap({ reason: 'é'.repeat(513) }), 400, 'reason over 1 KB in UTF-8');
    expectError(await wrap({ key: 42 }), 400, 'key not a string');
    const un = (wrapped_key: string) => api('/v1/unwrap', { authentication: t.authn, authorization: t.authz, wrapped_key });
    expectError(await un(randomBytes(1025).toString('base64')), 400, 'wrapped_key over 1 KB');
    expectError(await un('%%%%'), 400, 'wrapped_key not base64');
    const altered = Buffer.from(wrappedKey, 'base64');
    altered[altered.length - 1]! ^= 1;
    expectError(await un(altered.toString('base64')), 400, 'altered wrapped_key');
    expectError(await un(wrappedPrivateKey.slice(0, 1300)), 400, 'private key blob as wrapped_key');
    const sign = await api('/v1/privatekeysign', {
      authentication: await authn(),
      authorization: await authzFor(routes[4]!),
      algorithm: 'SHA256withRSA',
      digest: randomBytes(32).toString('base64'),
      wrapped_private_key: randomBytes(8193).toString('base64'),
    });
    expectError(sign, 400, 'wrapped_private_key over 8 KB');
    const alg = await api('/v1/privatekeysign', {
      authentication: await authn(),
      authorization: await authzFor(routes[4]!),
      algorithm: 'MD5withRSA',
      digest: randomBytes(16).toString('base64'),
      wrapped_private_key: wrappedPrivateKey,
    });
    expectError(alg, 400, 'unknown algorithm');
    expect(alg.json.message).toMatch(/algorithm: must be one of SHA1withRSA/);
    const dek = await api('/v1/privatekeydecrypt', {
      authentication: await authn(),
      authorization: await authzFor(routes[5]!),
      algorithm: 'RSA/ECB/PKCS1Padding',
      encrypted_data_encryption_key: randomBytes(1025).toString('base64'),
      wrapped_private_key: wrappedPrivateKey,
    });
    expectError(dek, 400, 'encrypted DEK over 1 KB');
    expectError(
      await api('/v1/privilegedwrap', {
        authentication: await authn(ADMIN),
        key: 'AAAA',
        resource_name: 'r'.repeat(129),
      }),
      400,
      'resource_name over 128 bytes',
    );
    expectError(await api('/v1/wrap', '{"authentication": '), 400, 'not JSON');
    expectError(await api('/v1/wrap', '[]'), 400, 'not an object');
    expectError(await api('/v1/wrap', { key: 'AAAA' }), 400, 'no tokens');
    expectError(await api('/v1/wrap', JSON.stringify({ a: 1 }), { 'content-type': 'application/xml' }), 415, 'XML');
    expectError(await api('/v1/wrap', JSON.stringify({ pad: 'x'.repeat(70 * 1024) })), 413, 'body over 64 KB');
  });

  it('rewrap never calls a URL that is not an allowlisted peer', async () => {
    const r = routes.find((x) => x.name === 'rewrap')!;
    for (const url of [
      'https://169.254.169.254/latest/meta-data',
      'http://127.0.0.1:1/',
      'file:///etc/passwd',
      'https://old.example.test/v1/../admin',
      'not a url',
    ]) {
      const res = await api('/v1/rewrap', {
        authorization: await authzFor(r),
        wrapped_key: wrappedKey,
        original_kacls_url: url,
      });
      expectError(res, 403, `rewrap to ${url}`);
      expect(res.json.details).toBe('original_kacls_url');
    }
  });

  it('a peer-looking migration token from an unconfigured KACLS is not a privileged user', async () => {
    const fake = await is.stranger.mint(
      { kacls_url: KACLS, resource_name: RN },
      { aud: 'kacls-migration', iss: 'https://evil.example.test' },
    );
    expectError(
      await api('/v1/privilegedunwrap', { authentication: fake, wrapped_key: wrappedKey, resource_name: RN }),
      401,
      'unknown peer',
    );
  });

  it('every refusal is audited as denied, with the method and the reason it failed', async () => {
    await kms.audit.flush();
    const denied = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['action', 'error_kind'])
      .where('dialect', '=', 'cse')
      .where('outcome', '=', 'denied')
      .execute();
    const actions = new Set(denied.map((d) => d.action));
    for (const r of routes) expect(actions, r.name).toContain(`cse.${r.name}`);
    expect(denied.some((d) => d.error_kind === '401 authentication_expired')).toBe(true);
    expect(denied.some((d) => d.error_kind === '403 kacls_url')).toBe(true);
  });
  it('counts every authentication refusal, and audits them within a per-source bound: one event each up to it, one summary of the rest', async () => {
    await expectRefusalsBounded(kms, 'cse', {
      atLeast: 20,
      since: started,
      isRefusal: (action, kind) => action.startsWith('cse.') && !!kind?.startsWith('401'),
    });
  });
});

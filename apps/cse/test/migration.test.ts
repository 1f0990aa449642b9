import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, openTestKms } from '@polykms/core/testing';
import type { Kms } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { parseCseConfig, startCseServer, type CseServer } from '../src/index.ts';
import { baseConfig, call, tempDir, testIssuers, write, type Issuers } from './helpers.ts';

/**
 * KACLS-to-KACLS migration (https://developers.google.com/workspace/cse/reference/rewrap): the new
 * KACLS (B) gets `rewrap` with Google's migrator token, calls the original KACLS (A) `privilegedunwrap`
 * with a JWT it signs itself, A fetches B's keys from B's /certs over TLS and checks the token, and B
 * re-wraps the DEK under its own KEK.
 */
describe('rewrap between two KACLS', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let a: CseServer;
  let b: CseServer;
  let ca: string;
  let is: Issuers;
  let urlA: string;
  let urlB: string;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
    const gw = await gatewayCa(kms);
    ca = gw.certPem;
    const dir = tempDir();
    const caFile = write(dir, 'ca.pem', ca);
    is = await testIssuers(dir);
    const [pa, pb] = [await freePort(), await freePort()];
    urlA = `https://localhost:${pa}/v1`;
    urlB = `https://localhost:${pb}/v1`;
    a = await startCseServer(kms, gw, {
      host: '127.0.0.1',
      port: pa,
      config: parseCseConfig(baseConfig(urlA, is, { peers: [{ url: urlB, caFile }] })),
    });
    b = await startCseServer(kms, gw, {
      host: '127.0.0.1',
      port: pb,
      config: parseCseConfig(baseConfig(urlB, is, { peers: [{ url: urlA, caFile }] })),
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await kms?.close();
    await drop?.();
  });

  /** An authorization for alice@example.com from Drive's or the migration issuer, with these claims. */
  const alice = (issuer: 'drive' | 'migration', claims: Record<string, unknown>) =>
    is[issuer].mint({ email: 'alice@example.com', ...claims }, { aud: 'cse-authorization' });

  it('moves a DEK from A to B; both agree on the resource key hash; each KACLS is its own tenant', async () => {
    const rn = '//googleapis.com/drive/files/migrating';
    const dek = randomBytes(32);
    const authn = await is.idp.mint({ email: 'alice@example.com' }, { aud: 'client-web' });
    const w = await call(urlA, ca, 'POST', '/v1/wrap', {
      authentication: authn,
      authorization: await alice('drive', { role: 'writer', resource_name: rn, kacls_url: urlA }),
      key: dek.toString('base64'),
    });
    expect(w.status, w.text).toBe(200);
    // B cannot open A's blob itself: different tenant, different KEK.
    const direct = await call(urlB, ca, 'POST', '/v1/unwrap', {
      authentication: authn,
      authorization: await alice('drive', { role: 'reader', resource_name: rn, kacls_url: urlB }),
      wrapped_key: w.json.wrapped_key,
    });
    expect(direct.status).toBe(400);

    const migrator = await alice('migration', { role: 'migrator', resource_name: rn, kacls_url: urlB, perimeter_id: '' });
    const r = await call(urlB, ca, 'POST', '/v1/rewrap', {
      authorization: migrator,
      original_kacls_url: `${urlA}/`,
      wrapped_key: w.json.wrapped_key,
      reason: 'migration',
    });
    expect(r.status, r.text).toBe(200);
    expect(Object.keys(r.json).sort()).toEqual(['resource_key_hash', 'wrapped_key']);
    const verifierA = await alice('migration', { role: 'verifier', resource_name: rn, kacls_url: urlA });
    const dA = await call(urlA, ca, 'POST', '/v1/digest', {
      authorization: verifierA,
      wrapped_key: w.json.wrapped_key,
    });
    expect(dA.json.resource_key_hash).toBe(r.json.resource_key_hash);
    const u = await call(urlB, ca, 'POST', '/v1/unwrap', {
      authentication: authn,
      authorization: await alice('drive', { role: 'reader', resource_name: rn, kacls_url: urlB }),
      wrapped_key: r.json.wrapped_key,
    });
    expect(u.json).toEqual({ key: dek.toString('base64') });

    // A migrator token for another resource: A refuses to unwrap it (the blob is bound to rn).
    const other = await alice('migration', { role: 'migrator', resource_name: `${rn}-x`, kacls_url: urlB });
    const bad = await call(urlB, ca, 'POST', '/v1/rewrap', {
      authorization: other,
      original_kacls_url: urlA,
      wrapped_key: w.json.wrapped_key,
    });
    expect(bad.status).toBe(502);
    expect(bad.json.message).toMatch(/403/);
    expect((await kms.tenants.inDialect('cse')).map((x) => x.external_id).sort()).toEqual([urlA, urlB].sort());
  });

  it("A refuses a migration token that claims to be B but is not signed with B's keys (from B's /certs)", async () => {
    const rn = '//googleapis.com/drive/files/m2';
    const authn = await is.idp.mint({ email: 'alice@example.com' }, { aud: 'client-web' });
    const w = await call(urlA, ca, 'POST', '/v1/wrap', {
      authentication: authn,
      authorization: await alice('drive', { role: 'writer', resource_name: rn, kacls_url: urlA }),
      key: randomBytes(16).toString('base64'),
    });
    // Forged: claims to be B, signed by someone else.
    const forged = await is.stranger.mint({ kacls_url: urlA, resource_name: rn }, { aud: 'kacls-migration', iss: urlB });
    const res = await call(urlA, ca, 'POST', '/v1/privilegedunwrap', {
      authentication: forged,
      wrapped_key: w.json.wrapped_key,
      resource_name: rn,
    });
    expect(res.status).toBe(401);
  });
});

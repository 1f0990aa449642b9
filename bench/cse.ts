import { createHash, createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayCa } from '@polykms/pki';
import { parseCseConfig, startCseServer } from '@polykms/cse';
import { TestIssuer } from '@polykms/cse/testing';
import { openBenchKms } from './store.ts';
import { compareMany, type Row } from './harness.ts';
import { echoBaseline, gcmOpen, gcmSeal, rawSign, type Operation } from './baselines.ts';
import { LoadClient } from './client.ts';
import { RemoteClient } from './load.ts';

/**
 * Google CSE KACLS methods over real HTTPS with keep-alive, every request verifying both RS256 tokens
 * (IdP and Google-style authorization, JWKS from files), next to their baselines in one run.
 */
export async function benchCse(opts: { ms: number; concurrency: number }): Promise<Row[]> {
  const { kms, obs, close } = await openBenchKms('cse');
  const ca = await gatewayCa(kms);
  const dir = mkdtempSync(join(tmpdir(), 'polykms-bench-cse-'));
  const issuer = async (iss: string) => {
    const t = await TestIssuer.create(dir, iss);
    return { iss, jwksUri: t.jwksUri, mint: (claims: Record<string, unknown>, aud: string) => t.mint(claims, { aud, expIn: 7200 }) };
  };
  const idp = await issuer('https://idp.bench.test');
  const drive = await issuer('gsuitecse-tokenissuer-drive@system.gserviceaccount.com');
  const gmail = await issuer('gsuitecse-tokenissuer-gmail@system.gserviceaccount.com');
  const kaclsUrl = 'https://kacls.bench.test/v1';
  const config = parseCseConfig({
    kaclsUrl,
    identityProviders: [{ issuer: idp.iss, jwksUri: idp.jwksUri, audiences: ['bench'] }],
    authorizationIssuers: [
      { issuer: drive.iss, jwksUri: drive.jwksUri, application: 'drive' },
      { issuer: gmail.iss, jwksUri: gmail.jwksUri, application: 'gmail' },
    ],
    privilegedUsers: ['admin@bench.test'],
  });
  const server = await startCseServer(kms, ca, { host: '127.0.0.1', port: 0, config, ...obs });
  const tls = { ca: ca.certPem, servername: 'localhost' };
  const client = new LoadClient(server.port, tls, opts.concurrency);
  const post = async (path: string, body: unknown) => JSON.parse(await client.post(`/v1/${path}`, body));
  /** The measured load comes from its own thread. */
  const load = new RemoteClient(server.port, tls, opts.concurrency);
  const rows: Row[] = [];
  const o = { ...opts, settle: () => kms.sealAudit() };

  const rn = '//googleapis.com/drive/files/bench';
  const authentication = await idp.mint({ email: 'user@bench.test' }, 'bench');
  const writer = await drive.mint({ email: 'user@bench.test', role: 'writer', resource_name: rn, kacls_url: kaclsUrl }, 'cse-authorization');
  const reader = await drive.mint({ email: 'user@bench.test', role: 'reader', resource_name: rn, kacls_url: kaclsUrl }, 'cse-authorization');
  const dek = randomBytes(32);
  const wrapBody = { authentication, authorization: writer, key: dek.toString('base64'), reason: "{client:'drive' op:'write'}" };
  const { wrapped_key } = await post('wrap', wrapBody);
  // Issue 7's baselines: the bare echo behind the same TLS for wrap/unwrap, raw async RSA for signing;
  // beside them, the same server doing the row's crypto alone (no token checked).
  const ops: Record<string, Operation> = {};
  const echo = await echoBaseline(ca, { mtls: false, tls, concurrency: opts.concurrency }, ops);
  const kek = randomBytes(32);
  const b64 = (s: string) => Buffer.from(s, 'base64');
  ops.wrap = (b) => ({ wrapped_key: gcmSeal(kek, b64(b.key)).toString('base64') });
  ops.unwrap = (b) => ({ key: gcmOpen(kek, b64(b.wrapped_key)).toString('base64') });
  rows.push(
    await compareMany(
      'cse.wrap',
      [{ name: 'echo over TLS', run: echo.post(wrapBody) }, { name: 'AES-GCM alone over TLS', run: echo.op('wrap', wrapBody) }],
      load.post('/v1/wrap', wrapBody),
      o,
    ),
  );
  const unwrapBody = { authentication, authorization: reader, wrapped_key, reason: "{client:'drive' op:'read'}" };
  const aloneUnwrapBody = { ...unwrapBody, wrapped_key: gcmSeal(kek, dek).toString('base64') };
  rows.push(
    await compareMany(
      'cse.unwrap',
      [{ name: 'echo over TLS', run: echo.post(unwrapBody) }, { name: 'AES-GCM alone over TLS', run: echo.op('unwrap', aloneUnwrapBody) }],
      load.post('/v1/unwrap', unwrapBody),
      o,
    ),
  );

  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
  const admin = await idp.mint({ email: 'admin@bench.test' }, 'bench');
  const { wrapped_private_key } = await post('wrapprivatekey', { authentication: admin, private_key: pem });
  const spki = createHash('sha256').update(createPublicKey(privateKey).export({ format: 'der', type: 'spki' })).digest('base64');
  const signer = await gmail.mint({ email: 'user@bench.test', role: 'signer', resource_name: '//gmail.googleapis.com/bench', kacls_url: kaclsUrl, spki_hash: spki, spki_hash_algorithm: 'SHA-256' }, 'cse-authorization');
  const digest = createHash('sha256').update(randomBytes(256)).digest();
  ops.sign = async (b) => ({ signature: (await rawSign('sha256', b64(b.digest), privateKey)).toString('base64') });
  const signBody = { authentication, authorization: signer, algorithm: 'SHA256withRSA', digest: digest.toString('base64'), reason: 'sign', wrapped_private_key };
  rows.push(
    await compareMany(
      'cse.privatekeysign.RSA-2048',
      [{ name: 'node:crypto sign (async)', run: () => rawSign('sha256', digest, privateKey) }, { name: 'RSA sign alone over TLS', run: echo.op('sign', signBody) }],
      load.post('/v1/privatekeysign', signBody),
      o,
    ),
  );

  await echo.close();
  await load.close();
  await client.close();
  await server.close();
  await close();
  return rows;
}


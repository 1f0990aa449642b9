import { randomBytes } from 'node:crypto';
import { Agent, request } from 'undici';
import { Kms, type Caller } from '@polykms/core';
import { createTestDatabase, silentLogger, testKeyring } from '@polykms/core/testing';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp, startOvhServer } from '@polykms/ovh';
import { compareMany, type Row } from './harness.ts';
import { echoBaseline, rawSign } from './baselines.ts';

/**
 * OVH operations over real HTTPS with a client certificate and keep-alive, next to the same operation
 * through core in-process (same store, same key), in one run.
 */
export async function benchOvh(opts: { ms: number; concurrency: number }): Promise<Row[]> {
  const db = await createTestDatabase(process.env.DATABASE_URL ? 'postgres' : 'pglite');
  const kms = await Kms.open({ databaseUrl: db.url, inMemory: true, keyring: testKeyring(), logger: silentLogger() });
  console.error(`ovh: storage ${kms.store.driver}`);
  const ca = await gatewayCa(kms);
  const server = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0 });
  const control = ovhControlApp(kms, async () => ca, { restEndpoint: server.url, swaggerEndpoint: server.url });
  const ctl = async (path: string, body: unknown) => (await control.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
  const domain = await ctl('/v2/okms/resource', { region: 'eu-west-rbx' });
  const cred = await ctl(`/v2/okms/resource/${domain.id}/credential`, { name: 'bench', identityURNs: ['urn:v1:eu:identity:account:bench'] });
  const got = await (await control.request(`/v2/okms/resource/${domain.id}/credential/${cred.id}`)).json() as any;
  const dispatcher = new Agent({ connect: { ca: ca.certPem, cert: got.certificatePEM, key: cred.privateKeyPEM, servername: 'localhost' }, connections: opts.concurrency, pipelining: 1 });
  const post = async (path: string, body: unknown) => {
    const r = await request(`https://127.0.0.1:${server.port}${path}`, { method: 'POST', dispatcher, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.body.text();
    if (r.statusCode >= 300) throw new Error(`${path}: ${r.statusCode} ${text}`);
    return text;
  };
  const tenantId = (await kms.resolveTenant('ovh', domain.id))!;
  const c: Caller = { tenantId, dialect: 'bench', principal: 'bench' };
  const create = async (body: unknown) => JSON.parse(await post(`/api/${domain.id}/v1/servicekey`, body)).id as string;
  const rows: Row[] = [];
  const o = { ...opts, settle: () => kms.sealAudit() };

  // Issue 7's baselines: raw async crypto for RSA, the bare echo behind the same mTLS for the rest;
  // core in-process is reported beside them.
  const echo = await echoBaseline(ca, { mtls: true, connect: { connect: { ca: ca.certPem, cert: got.certificatePEM, key: cred.privateKeyPEM, servername: 'localhost' }, connections: opts.concurrency, pipelining: 1 } });
  const core = (run: () => Promise<unknown>) => ({ name: 'core in-process', run });

  const aes = await create({ name: 'aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
  const kib = randomBytes(1024);
  const encBody = { plaintext: kib.toString('base64') };
  rows.push(await compareMany('ovh.encrypt.1KiB', [{ name: 'echo over mTLS', run: () => echo.post(encBody) }, core(() => kms.encrypt(c, aes, kib))], () => post(`/api/${domain.id}/v1/servicekey/${aes}/encrypt`, encBody), o));

  const msg = randomBytes(256);
  const rsa = await create({ name: 'rsa', type: 'RSA', size: 2048, operations: ['sign', 'verify'] });
  const rs256 = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
  await kms.sign(c, rsa, rs256, msg);
  const rsaKey = kms.cache.get(rsa, 1)!.key;
  const rsBody = { alg: 'RS256', message: msg.toString('base64') };
  rows.push(await compareMany('ovh.sign.RS256', [{ name: 'node:crypto sign (async)', run: () => rawSign('sha256', msg, rsaKey) }, core(() => kms.sign(c, rsa, rs256, msg))], () => post(`/api/${domain.id}/v1/servicekey/${rsa}/sign`, rsBody), o));

  const ec = await create({ name: 'ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] });
  const esBody = { alg: 'ES256', message: msg.toString('base64') };
  rows.push(
    await compareMany(
      'ovh.sign.ES256',
      [{ name: 'echo over mTLS', run: () => echo.post(esBody) }, core(() => kms.sign(c, ec, { scheme: 'ECDSA', hash: 'SHA-256', ecdsaFormat: 'p1363' }, msg))],
      () => post(`/api/${domain.id}/v1/servicekey/${ec}/sign`, esBody),
      o,
    ),
  );
  rows.push(await compareMany('ovh.datakey', [{ name: 'echo over mTLS', run: () => echo.post({ size: 256 }) }, core(() => kms.generateDataKey(c, aes, 32))], () => post(`/api/${domain.id}/v1/servicekey/${aes}/datakey`, { size: 256 }), o));

  await echo.close();
  await dispatcher.close();
  await server.close();
  await kms.close();
  await db.drop();
  return rows;
}

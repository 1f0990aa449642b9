import { randomBytes } from 'node:crypto';
import { type Caller } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp, startOvhServer } from '@polykms/ovh';
import { openBenchKms } from './store.ts';
import { compareMany, type Row } from './harness.ts';
import { echoBaseline, gcmSeal, rawSign, type Operation } from './baselines.ts';
import { LoadClient } from './client.ts';
import { RemoteClient } from './load.ts';

/**
 * OVH operations over real HTTPS with a client certificate and keep-alive, next to their baselines in
 * one run. (The same operations through core in-process are the core suite's rows: run here, their
 * ~100k audit events a second weighed on the slices after them.)
 */
/** The OVH data plane on a bench store, one domain and one access credential, and a client speaking with it. */
export async function ovhBenchSetup(suite: string, concurrency: number) {
  const { kms, obs, close } = await openBenchKms(suite);
  const ca = await gatewayCa(kms);
  const server = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0, ...obs });
  const control = ovhControlApp(kms, async () => ca, { restEndpoint: server.url, swaggerEndpoint: server.url });
  const ctl = async (path: string, body: unknown) => (await control.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
  const domain = await ctl('/v2/okms/resource', { region: 'eu-west-rbx' });
  const cred = await ctl(`/v2/okms/resource/${domain.id}/credential`, { name: 'bench', identityURNs: ['urn:v1:eu:identity:account:bench'] });
  const got = (await (await control.request(`/v2/okms/resource/${domain.id}/credential/${cred.id}`)).json()) as any;
  const tls = { ca: ca.certPem, cert: got.certificatePEM, key: cred.privateKeyPEM, servername: 'localhost' };
  const client = new LoadClient(server.port, tls, concurrency);
  const post = (path: string, body: unknown) => client.post(path, body);
  const create = async (body: unknown) => JSON.parse(await post(`/api/${domain.id}/v1/servicekey`, body)).id as string;
  /** The measured load comes from its own thread. */
  const load = new RemoteClient(server.port, tls, concurrency);
  return { kms, ca, server, okmsId: domain.id as string, tls, client, load, post, create, close };
}

export async function benchOvh(opts: { ms: number; concurrency: number }): Promise<Row[]> {
  const { kms, ca, server, okmsId, tls, client, load, create, close } = await ovhBenchSetup('ovh', opts.concurrency);
  const tenantId = (await kms.tenants.resolve('ovh', okmsId))!;
  const c: Caller = { tenantId, dialect: 'bench', principal: 'bench' };
  const rows: Row[] = [];
  const o = { ...opts, settle: () => kms.sealAudit() };

  // Issue 7's baselines: raw async crypto for RSA, the bare echo behind the same mTLS for the rest;
  // beside them, the same server doing the row's crypto alone.
  const ops: Record<string, Operation> = {};
  const echo = await echoBaseline(ca, { mtls: true, tls, concurrency: opts.concurrency }, ops);
  const aesKey = randomBytes(32);
  const b64 = (s: string) => Buffer.from(s, 'base64');

  const aes = await create({ name: 'aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
  const kib = randomBytes(1024);
  const encBody = { plaintext: kib.toString('base64') };
  ops.encrypt = (b) => ({ ciphertext: gcmSeal(aesKey, b64(b.plaintext)).toString('base64url') });
  rows.push(
    await compareMany(
      'ovh.encrypt.1KiB',
      [{ name: 'echo over mTLS', run: echo.post(encBody) }, { name: 'AES-GCM alone over mTLS', run: echo.op('encrypt', encBody) }],
      load.post(`/api/${okmsId}/v1/servicekey/${aes}/encrypt`, encBody),
      o,
    ),
  );

  const msg = randomBytes(256);
  const rsa = await create({ name: 'rsa', type: 'RSA', size: 2048, operations: ['sign', 'verify'] });
  const rs256 = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
  await kms.sign(c, rsa, rs256, msg);
  const rsaKey = kms.cache.get(rsa, 1)!.key;
  const rsBody = { alg: 'RS256', message: msg.toString('base64') };
  ops.rs256 = async (b) => ({ signature: (await rawSign('sha256', b64(b.message), rsaKey)).toString('base64') });
  rows.push(
    await compareMany(
      'ovh.sign.RS256',
      [{ name: 'node:crypto sign (async)', run: () => rawSign('sha256', msg, rsaKey) }, { name: 'RSA sign alone over mTLS', run: echo.op('rs256', rsBody) }],
      load.post(`/api/${okmsId}/v1/servicekey/${rsa}/sign`, rsBody),
      o,
    ),
  );

  const ec = await create({ name: 'ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] });
  const esBody = { alg: 'ES256', message: msg.toString('base64') };
  await kms.sign(c, ec, { scheme: 'ECDSA', hash: 'SHA-256' }, msg);
  const ecKey = kms.cache.get(ec, 1)!.key;
  ops.es256 = async (b) => ({ signature: (await rawSign('sha256', b64(b.message), ecKey, 'ieee-p1363')).toString('base64') });
  rows.push(
    await compareMany(
      'ovh.sign.ES256',
      [{ name: 'echo over mTLS', run: echo.post(esBody) }, { name: 'ECDSA sign alone over mTLS', run: echo.op('es256', esBody) }],
      load.post(`/api/${okmsId}/v1/servicekey/${ec}/sign`, esBody),
      o,
    ),
  );
  ops.datakey = (b) => {
    const k = randomBytes(b.size / 8);
    return { key: gcmSeal(aesKey, k).toString('base64url'), plaintext: k.toString('base64') };
  };
  rows.push(
    await compareMany(
      'ovh.datakey',
      [{ name: 'echo over mTLS', run: echo.post({ size: 256 }) }, { name: 'random + AES-GCM alone over mTLS', run: echo.op('datakey', { size: 256 }) }],
      load.post(`/api/${okmsId}/v1/servicekey/${aes}/datakey`, { size: 256 }),
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

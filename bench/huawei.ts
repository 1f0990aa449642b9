import { createHash, randomBytes } from 'node:crypto';
import { type Caller } from '@polykms/core';
import { gatewayCa } from '@polykms/pki';
import { huaweiAdminApp, startHuaweiServer } from '@polykms/huawei';
import { openBenchKms } from './store.ts';
import { compareMany, type Row } from './harness.ts';
import { echoBaseline, gcmSeal, rawSign, type Operation } from './baselines.ts';
import { LoadClient, header } from './client.ts';
import { RemoteClient } from './load.ts';

/**
 * Huawei KMS operations over real HTTPS with keep-alive, with an IAM token and with AK/SK signing,
 * next to their baselines in one run.
 */
export async function benchHuawei(opts: { ms: number; concurrency: number }): Promise<Row[]> {
  const { kms, obs, close } = await openBenchKms('huawei');
  const ca = await gatewayCa(kms);
  const server = await startHuaweiServer(kms, ca, { host: '127.0.0.1', port: 0, ...obs });
  const admin = huaweiAdminApp(kms);
  const project = '0123456789abcdef0123456789abcdef';
  const adm = async (path: string, body: unknown) => (await admin.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
  const user = await adm('/admin/huawei/users', { domain: 'bench', name: 'bench', password: 'bench-password', projects: [{ id: project, roles: ['KMS Administrator'] }] });
  const ak = await adm(`/admin/huawei/users/${user.id}/access-keys`, {});
  const tls = { ca: ca.certPem, servername: 'localhost' };
  const client = new LoadClient(server.port, tls, opts.concurrency);
  const send = (path: string, headers: Record<string, string>, body: string) => client.post(path, body, headers);
  const auth = await client.request(
    'POST',
    '/v3/auth/tokens?nocatalog=true',
    JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name: 'bench', password: 'bench-password', domain: { name: 'bench' } } } }, scope: { project: { id: project } } } }),
    { 'content-type': 'application/json' },
  );
  const token = header(auth, 'x-subject-token')!;
  const post = (verb: string, body: unknown) => send(`/v1.0/${project}/kms/${verb}`, { 'x-auth-token': token }, JSON.stringify(body));
  /** The measured load comes from its own thread, with the token or signed with AK/SK per request. */
  const load = new RemoteClient(server.port, tls, opts.concurrency);
  const withToken = (verb: string, body: unknown) => load.post(`/v1.0/${project}/kms/${verb}`, body, { 'x-auth-token': token });
  const signed = (verb: string, body: unknown) =>
    load.load({ method: 'POST', path: `/v1.0/${project}/kms/${verb}`, body: JSON.stringify(body), aksk: { access: ak.access, secret: ak.secret, project } });
  const tenantId = (await kms.tenants.resolve('huawei', project))!;
  const c: Caller = { tenantId, dialect: 'bench', principal: 'bench' };
  const create = async (body: unknown) => JSON.parse(await post('create-key', body)).key_info.key_id as string;
  const rows: Row[] = [];
  const o = { ...opts, settle: () => kms.sealAudit() };

  // Issue 7's baselines: raw async crypto for RSA, the bare echo behind the same TLS for the rest;
  // beside them, the same server doing the row's crypto alone.
  const ops: Record<string, Operation> = {};
  const echo = await echoBaseline(ca, { mtls: false, tls, concurrency: opts.concurrency }, ops);
  const aesKey = randomBytes(32);
  const b64 = (s: string) => Buffer.from(s, 'base64');

  const aes = await create({ key_alias: 'aes' });
  const text = randomBytes(512).toString('hex');
  const encBody = { key_id: aes, plain_text: text };
  ops.encrypt = (b) => ({ key_id: b.key_id, cipher_text: gcmSeal(aesKey, Buffer.from(b.plain_text)).toString('base64') });
  rows.push(
    await compareMany(
      'huawei.encrypt-data',
      [{ name: 'echo over TLS', run: echo.post(encBody) }, { name: 'AES-GCM alone over TLS', run: echo.op('encrypt', encBody) }],
      withToken('encrypt-data', encBody),
      o,
    ),
  );

  const digest = createHash('sha256').update(randomBytes(256)).digest();
  const rsa = await create({ key_alias: 'rsa', key_spec: 'RSA_2048', key_usage: 'SIGN_VERIFY' });
  const rsaBody = { key_id: rsa, signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256', message_type: 'DIGEST', message: digest.toString('base64') };
  const rs256 = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256', prehashed: true } as const;
  await kms.sign(c, rsa, rs256, digest);
  const rsaKey = kms.cache.get(rsa, 1)!.key;
  const raw = { name: 'node:crypto sign (async)', run: () => rawSign('sha256', digest, rsaKey) };
  ops.rsa = async (b) => ({ key_id: b.key_id, signature: (await rawSign('sha256', b64(b.message), rsaKey)).toString('base64') });
  const rsaAlone = { name: 'RSA sign alone over TLS', run: echo.op('rsa', rsaBody) };
  rows.push(await compareMany('huawei.sign.RSASSA_PKCS1_V1_5_SHA_256', [raw, rsaAlone], withToken('sign', rsaBody), o));
  const ec = await create({ key_alias: 'ec', key_spec: 'EC_P256', key_usage: 'SIGN_VERIFY' });
  const ecBody = { key_id: ec, signing_algorithm: 'ECDSA_SHA_256', message_type: 'DIGEST', message: digest.toString('base64') };
  await kms.sign(c, ec, { scheme: 'ECDSA', hash: 'SHA-256', prehashed: true }, digest);
  const ecKey = kms.cache.get(ec, 1)!.key;
  // node:crypto cannot sign a digest as is: it hashes the 32 bytes once more, which costs nothing here.
  ops.ecdsa = async (b) => ({ key_id: b.key_id, signature: (await rawSign('sha256', b64(b.message), ecKey)).toString('base64') });
  rows.push(
    await compareMany(
      'huawei.sign.ECDSA_SHA_256',
      [{ name: 'echo over TLS', run: echo.post(ecBody) }, { name: 'ECDSA sign alone over TLS', run: echo.op('ecdsa', ecBody) }],
      withToken('sign', ecBody),
      o,
    ),
  );
  rows.push(await compareMany('huawei.sign.RSASSA_PKCS1_V1_5_SHA_256.aksk', [raw, rsaAlone], signed('sign', rsaBody), o));

  await echo.close();
  await load.close();
  await client.close();
  await server.close();
  await close();
  return rows;
}

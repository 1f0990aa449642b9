import { createHash, randomBytes } from 'node:crypto';
import { gatewayCa } from '@polykms/pki';
import { huaweiAdminApp, startHuaweiServer } from '@polykms/huawei';
import { openBenchKms } from './store.ts';
import { gcmSeal, rawSign, referenceKeys, referenceMaterial, referenceRequest, type Operation } from './baselines.ts';
import { LoadClient, header } from './client.ts';
import type { LoadRequest } from './load.ts';
import { caMaterial, postRequest, type DialectSuite, type PlannedRow } from './dialect.ts';

/**
 * Huawei KMS operations over real HTTPS with keep-alive, with an IAM token and with AK/SK signing,
 * next to their references in one run.
 */
export const huaweiSuite: DialectSuite = {
  async setup(concurrency) {
    const { kms, obs, close } = await openBenchKms('huawei');
    const ca = await gatewayCa(kms);
    const server = await startHuaweiServer(kms, ca, { host: '127.0.0.1', port: 0, ...obs });
    const admin = huaweiAdminApp(kms);
    const project = '0123456789abcdef0123456789abcdef';
    const adm = async (path: string, body: unknown) =>
      (await admin.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
    const user = await adm('/admin/huawei/users', {
      domain: 'bench',
      name: 'bench',
      password: 'bench-password',
      projects: [{ id: project, roles: ['KMS Administrator'] }],
    });
    const ak = await adm(`/admin/huawei/users/${user.id}/access-keys`, {});
    const tls = { ca: ca.certPem, servername: 'localhost' };
    const client = new LoadClient(server.port, tls, concurrency);
    const auth = await client.request(
      'POST',
      '/v3/auth/tokens?nocatalog=true',
      JSON.stringify({
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name: 'bench', password: 'bench-password', domain: { name: 'bench' } } },
          },
          scope: { project: { id: project } },
        },
      }),
      { 'content-type': 'application/json' },
    );
    const token = header(auth, 'x-subject-token')!;
    const path = (verb: string) => `/v1.0/${project}/kms/${verb}`;
    const create = async (body: unknown) =>
      JSON.parse(await client.post(path('create-key'), body, { 'x-auth-token': token })).key_info.key_id as string;
    /** With the token, or signed with AK/SK per request by the load generator. */
    const withToken = (verb: string, body: unknown) => postRequest(path(verb), body, { 'x-auth-token': token });
    const signed = (verb: string, body: unknown): LoadRequest => ({
      method: 'POST',
      path: path(verb),
      body: JSON.stringify(body),
      aksk: { access: ak.access, secret: ak.secret, project },
    });
    const echo = (body: unknown) => ({ name: 'echo over TLS', request: referenceRequest(undefined, body) });
    const rows: PlannedRow[] = [];

    const aes = await create({ key_alias: 'aes' });
    const encBody = { key_id: aes, plain_text: randomBytes(512).toString('hex') };
    rows.push({
      scenario: 'huawei.encrypt-data',
      subject: withToken('encrypt-data', encBody),
      references: [{ name: 'AES-GCM alone over TLS', request: referenceRequest('encrypt', encBody) }, echo(encBody)],
    });

    const msg = randomBytes(256);
    const digest = createHash('sha256').update(msg).digest();
    const rsa = await create({ key_alias: 'rsa', key_spec: 'RSA_2048', key_usage: 'SIGN_VERIFY' });
    const rsaBody = {
      key_id: rsa,
      signing_algorithm: 'RSASSA_PKCS1_V1_5_SHA_256',
      message_type: 'DIGEST',
      message: digest.toString('base64'),
    };
    const rsaAlone = { name: 'RSA sign alone over TLS', request: referenceRequest('rsa', rsaBody) };
    rows.push({
      scenario: 'huawei.sign.RSASSA_PKCS1_V1_5_SHA_256',
      subject: withToken('sign', rsaBody),
      references: [rsaAlone, echo(rsaBody)],
    });

    const ec = await create({ key_alias: 'ec', key_spec: 'EC_P256', key_usage: 'SIGN_VERIFY' });
    const ecBody = {
      key_id: ec,
      signing_algorithm: 'ECDSA_SHA_256',
      message_type: 'RAW',
      message: msg.toString('base64'),
    };
    rows.push({
      scenario: 'huawei.sign.ECDSA_SHA_256',
      subject: withToken('sign', ecBody),
      references: [{ name: 'ECDSA sign alone over TLS', request: referenceRequest('ecdsa', ecBody) }, echo(ecBody)],
    });
    const ecDigestBody = { ...ecBody, message_type: 'DIGEST', message: digest.toString('base64') };
    rows.push({
      scenario: 'huawei.sign.ECDSA_SHA_256.DIGEST',
      subject: withToken('sign', ecDigestBody),
      references: [{ name: 'ECDSA sign alone over TLS', request: referenceRequest('ecdsa', ecDigestBody) }, echo(ecDigestBody)],
    });

    rows.push({
      scenario: 'huawei.sign.RSASSA_PKCS1_V1_5_SHA_256.aksk',
      subject: signed('sign', rsaBody),
      references: [rsaAlone, echo(rsaBody)],
    });

    return {
      plan: { port: server.port, tls, mtls: false, ca: await caMaterial(kms), material: referenceMaterial(), rows },
      settle: () => kms.sealAudit(),
      async close() {
        await client.close();
        await server.close();
        await close();
      },
    };
  },

  referenceOps(m) {
    const k = referenceKeys(m);
    const b64 = (s: string) => Buffer.from(s, 'base64');
    // node:crypto cannot sign a given digest as is: it hashes the 32 bytes once more, which costs
    // nothing next to the signature. Huawei's ECDSA signatures are DER.
    return {
      encrypt: (b) => ({ key_id: b.key_id, cipher_text: gcmSeal(k.aes, Buffer.from(b.plain_text)).toString('base64') }),
      rsa: async (b) => ({
        key_id: b.key_id,
        signature: (await rawSign('sha256', b64(b.message), k.rsa)).toString('base64'),
      }),
      ecdsa: async (b) => ({
        key_id: b.key_id,
        signature: (await rawSign('sha256', b64(b.message), k.ec)).toString('base64'),
      }),
    } satisfies Record<string, Operation>;
  },
};

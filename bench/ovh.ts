import { randomBytes } from 'node:crypto';
import { gatewayCa } from '@polykms/pki';
import { ovhControlApp, startOvhServer } from '@polykms/ovh';
import { openBenchKms } from './store.ts';
import { gcmSeal, rawSign, referenceKeys, referenceMaterial, referenceRequest, type Operation } from './baselines.ts';
import { LoadClient } from './client.ts';
import { RemoteClient } from './load.ts';
import { caMaterial, postRequest, type DialectSuite, type PlannedRow } from './dialect.ts';

/**
 * OVH operations over real HTTPS with a client certificate and keep-alive, next to their references in
 * one run. (The same operations through core in-process are the core suite's rows.)
 */
/** The OVH data plane on a bench store, one domain and one access credential, and a client speaking with it. */
export async function ovhBenchSetup(suite: string, concurrency: number) {
  const { kms, obs, close } = await openBenchKms(suite);
  const ca = await gatewayCa(kms);
  const server = await startOvhServer(kms, ca, { host: '127.0.0.1', port: 0, ...obs });
  const control = ovhControlApp(kms, async () => ca, { restEndpoint: server.url, swaggerEndpoint: server.url });
  const ctl = async (path: string, body: unknown) =>
    (await control.request(path, { method: 'POST', body: JSON.stringify(body) })).json() as Promise<any>;
  const domain = await ctl('/v2/okms/resource', { region: 'eu-west-rbx' });
  const cred = await ctl(`/v2/okms/resource/${domain.id}/credential`, {
    name: 'bench',
    identityURNs: ['urn:v1:eu:identity:account:bench'],
  });
  const got = (await (await control.request(`/v2/okms/resource/${domain.id}/credential/${cred.id}`)).json()) as any;
  const tls = {
    ca: ca.certPem,
    cert: got.certificatePEM as string,
    key: cred.privateKeyPEM as string,
    servername: 'localhost',
  };
  const client = new LoadClient(server.port, tls, concurrency);
  const post = (path: string, body: unknown) => client.post(path, body);
  const create = async (body: unknown) => JSON.parse(await post(`/api/${domain.id}/v1/servicekey`, body)).id as string;
  let load: RemoteClient | undefined;
  return {
    kms,
    ca,
    server,
    okmsId: domain.id as string,
    tls,
    client,
    /** A load generator on its own thread, made on first use. */
    get load() {
      load ??= new RemoteClient(server.port, tls, concurrency);
      return load;
    },
    post,
    create,
    close,
  };
}

export const ovhSuite: DialectSuite = {
  async setup(concurrency) {
    const { kms, server, okmsId, tls, client, create, close } = await ovhBenchSetup('ovh', concurrency);
    const key = (id: string, verb: string) => `/api/${okmsId}/v1/servicekey/${id}/${verb}`;
    const echo = (body: unknown) => ({ name: 'echo over mTLS', request: referenceRequest(undefined, body) });
    const rows: PlannedRow[] = [];

    const aes = await create({ name: 'aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] });
    const encBody = { plaintext: randomBytes(1024).toString('base64') };
    rows.push({
      scenario: 'ovh.encrypt.1KiB',
      subject: postRequest(key(aes, 'encrypt'), encBody),
      references: [{ name: 'AES-GCM alone over mTLS', request: referenceRequest('encrypt', encBody) }, echo(encBody)],
    });

    const msg = randomBytes(256).toString('base64');
    const rsa = await create({ name: 'rsa', type: 'RSA', size: 2048, operations: ['sign', 'verify'] });
    const rsBody = { alg: 'RS256', message: msg };
    rows.push({
      scenario: 'ovh.sign.RS256',
      subject: postRequest(key(rsa, 'sign'), rsBody),
      references: [{ name: 'RSA sign alone over mTLS', request: referenceRequest('rs256', rsBody) }, echo(rsBody)],
    });

    const ec = await create({ name: 'ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] });
    const esBody = { alg: 'ES256', message: msg };
    rows.push({
      scenario: 'ovh.sign.ES256',
      subject: postRequest(key(ec, 'sign'), esBody),
      references: [{ name: 'ECDSA sign alone over mTLS', request: referenceRequest('es256', esBody) }, echo(esBody)],
    });

    const dkBody = { size: 256 };
    rows.push({
      scenario: 'ovh.datakey',
      subject: postRequest(key(aes, 'datakey'), dkBody),
      references: [{ name: 'random + AES-GCM alone over mTLS', request: referenceRequest('datakey', dkBody) }, echo(dkBody)],
    });

    return {
      plan: { port: server.port, tls, mtls: true, ca: await caMaterial(kms), material: referenceMaterial(), rows },
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
    return {
      encrypt: (b) => ({ ciphertext: gcmSeal(k.aes, b64(b.plaintext)).toString('base64url') }),
      rs256: async (b) => ({ signature: (await rawSign('sha256', b64(b.message), k.rsa)).toString('base64') }),
      es256: async (b) => ({
        signature: (await rawSign('sha256', b64(b.message), k.ec, 'ieee-p1363')).toString('base64'),
      }),
      datakey: (b) => {
        const dk = randomBytes(b.size / 8);
        return { key: gcmSeal(k.aes, dk).toString('base64url'), plaintext: dk.toString('base64') };
      },
    } satisfies Record<string, Operation>;
  },
};

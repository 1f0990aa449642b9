import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type Backend } from '@polykms/core/testing';
import { TestIssuer } from '../../apps/cse/src/testing.ts';
import { Client, type Reply, type TlsCreds } from './http.ts';
import { ACCOUNT, Admin, USER } from './ovh.ts';
import { adminToken, startChild, type Child } from './proc.ts';

export const P1 = '0123456789abcdef0123456789abcdef';
export const P2 = 'fedcba9876543210fedcba9876543210';
export const KACLS_A = 'https://kacls-a.example.test/v1';
export const KACLS_B = 'https://kacls-b.example.test/v1';

export interface OvhPrincipal {
  name: string;
  domain: 'A' | 'B';
  client: Client;
  /** Which OVH actions a policy grants (undefined: an account, allowed everything). */
  grants?: string[] | undefined;
}

export interface HuaweiPrincipal {
  name: string;
  project: string;
  roles: string[];
  token: string;
}

/**
 * One host process serving OVH, Huawei and two CSE instances on one store, and the people who use it:
 * OVH domains A and B (an account credential each, and in A users with narrow IAM policies), Huawei
 * projects P1 and P2 (an administrator each and a read-only user in P1), CSE instances A and B.
 */
export interface World {
  child: Child;
  admin: Admin;
  ca: string;
  urls: { admin: string; ovh: string; huawei: string; cse: string[] };
  ovh: { okms: { A: string; B: string }; who: Record<string, OvhPrincipal>; anonymous: Client };
  huawei: {
    client: Client;
    who: Record<string, HuaweiPrincipal>;
    call(token: string | undefined, verb: string, body?: unknown, project?: string, method?: string): Promise<Reply>;
  };
  cse: {
    clients: Client[];
    issuers: Awaited<ReturnType<typeof makeIssuers>>;
    authn(email: string): Promise<string>;
    authz(instance: 0 | 1, role: string, resource: string, email: string): Promise<string>;
  };
  /** SQL on the host's store (tamper scenario). */
  sql(text: string): Promise<any[]>;
  close(): Promise<void>;
}

async function makeIssuers(dir: string) {
  return {
    idp: await TestIssuer.create(dir, 'https://idp.example.test'),
    drive: await TestIssuer.create(dir, 'gsuitecse-tokenissuer-drive@system.gserviceaccount.com'),
  };
}

const cseConfig = (kaclsUrl: string, is: Awaited<ReturnType<typeof makeIssuers>>) => ({
  kaclsUrl,
  name: `reliability ${kaclsUrl}`,
  identityProviders: [{ issuer: is.idp.iss, jwksUri: is.idp.jwksUri, audiences: ['client-web'] }],
  authorizationIssuers: [{ issuer: is.drive.iss, jwksUri: is.drive.jwksUri, application: 'drive' }],
  privilegedUsers: ['admin@example.com'],
  allowGuests: false,
  perimeters: {},
});

/** The OVH principals of the isolation matrix and what their policies allow. */
export const OVH_POLICIES: Record<string, string[]> = {
  encryptor: [
    'okms:apikms:serviceKey/encrypt',
    'okms:apikms:serviceKey/decrypt',
    'okms:apikms:serviceKey/dataKey/create',
    'okms:apikms:serviceKey/dataKey/decrypt',
  ],
  reader: ['okms:apikms:serviceKey/get'],
  signer: ['okms:apikms:serviceKey/sign', 'okms:apikms:serviceKey/verify'],
  nobody: [],
};

export async function openWorld(backend: Backend = 'pglite'): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-reliability-'));
  const db = backend === 'postgres' ? await createTestDatabase('postgres') : { url: undefined, drop: async () => {} };
  const issuers = await makeIssuers(dir);
  const token = adminToken();
  const child = await startChild(
    ['--import', 'tsx', 'reliability/lib/host.ts'],
    {
      RELIABILITY_ADMIN_TOKEN: token,
      RELIABILITY_CSE_CONFIGS: JSON.stringify([cseConfig(KACLS_A, issuers), cseConfig(KACLS_B, issuers)]),
      DATABASE_URL: db.url ?? '',
      POLYKMS_TEST_LOG: 'error',
    },
    (j) => j.hostReady === true,
  );
  const urls = child.ready.urls as World['urls'];
  const admin = new Admin(urls.admin, token);
  const ca = await admin.caPem();

  const okms = { A: await admin.createDomain('eu-west-rbx'), B: await admin.createDomain('eu-west-gra') };
  const who: Record<string, OvhPrincipal> = {};
  const cred = async (domain: 'A' | 'B', urn: string): Promise<TlsCreds> => admin.credential(okms[domain], [urn], ca);
  who.rootA = { name: 'rootA', domain: 'A', client: new Client(urls.ovh, await cred('A', ACCOUNT('xx1111-ovh'))) };
  who.rootB = { name: 'rootB', domain: 'B', client: new Client(urls.ovh, await cred('B', ACCOUNT('yy2222-ovh'))) };
  for (const [name, actions] of Object.entries(OVH_POLICIES)) {
    const urn = USER('xx1111-ovh', name);
    if (actions.length)
      await admin.policy(okms.A, name, {
        identities: [urn],
        resources: [{ urn: `urn:v1:eu:resource:okms:${okms.A}` }],
        permissions: { allow: actions.map((action) => ({ action })) },
      });
    who[name] = { name, domain: 'A', client: new Client(urls.ovh, await cred('A', urn)), grants: actions };
  }

  const hw = new Client(urls.huawei, { ca });
  const hwWho: Record<string, HuaweiPrincipal> = {};
  const users: [string, string, string[]][] = [
    ['adminP1', P1, ['KMS Administrator']],
    ['readerP1', P1, ['KMS CMKReadOnlyAccess']],
    ['adminP2', P2, ['KMS Administrator']],
  ];
  for (const [name, project, roles] of users) {
    await admin.ok('POST', '/admin/huawei/users', {
      domain: 'acme',
      name,
      password: `${name}-password`,
      projects: [{ id: project, roles }],
    });
    const r = await hw.send({
      method: 'POST',
      path: '/v3/auth/tokens?nocatalog=true',
      json: {
        auth: {
          identity: {
            methods: ['password'],
            password: { user: { name, password: `${name}-password`, domain: { name: 'acme' } } },
          },
          scope: { project: { id: project } },
        },
      },
    });
    if (r.status !== 201) throw new Error(`huawei token for ${name}: ${r.status} ${r.text}`);
    hwWho[name] = { name, project, roles, token: String(r.headers['x-subject-token']) };
  }
  const hwCall = (t: string | undefined, verb: string, body: unknown = {}, project = P1, method = 'POST') =>
    hw.send({
      method,
      path: `/v1.0/${project}/kms/${verb}`,
      json: method === 'GET' || method === 'DELETE' ? undefined : body,
      headers: t ? { 'X-Auth-Token': t } : {},
    });

  const cseClients = urls.cse.map((u) => new Client(u, { ca }));
  const kaclsOf = [KACLS_A, KACLS_B];
  return {
    child,
    admin,
    ca,
    urls,
    ovh: { okms, who, anonymous: new Client(urls.ovh, { ca }) },
    huawei: { client: hw, who: hwWho, call: hwCall },
    cse: {
      clients: cseClients,
      issuers,
      authn: (email) => issuers.idp.mint({ email }, { aud: 'client-web' }),
      authz: (instance, role, resource_name, email) =>
        issuers.drive.mint({ email, role, resource_name, kacls_url: kaclsOf[instance]!, perimeter_id: '' }, { aud: 'cse-authorization' }),
    },
    async sql(text) {
      return (await admin.ok('POST', '/reliability/sql', { sql: text })).rows;
    },
    async close() {
      await Promise.all([
        admin.close(),
        hw.close(),
        ...cseClients.map((c) => c.close()),
        ...Object.values(who).map((p) => p.client.close()),
      ]);
      await child.stop(5_000);
      await db.drop().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Isolation matrix: every principal x every operation x a key of its own tenant and a key of another
 * tenant, per dialect. Only what policy (OVH IAM) or role (Huawei) allows succeeds; another tenant's
 * key is always "not found" (never forbidden, never served), and it is unchanged afterwards.
 * Leaks: a denied operation that succeeded, or another tenant's key answered with anything but 404.
 * An allowed operation refused counts as a consistency failure.
 */
import { randomBytes } from 'node:crypto';
import type { Client, Reply } from '../lib/http.ts';
import { OVH_POLICIES, P1, P2, openWorld, type World } from '../lib/world.ts';
import { fail } from '../lib/tally.ts';
import { preview, type Ctx, type Scenario } from '../lib/scenario.ts';

const NAME = 'isolation';

interface OvhOp {
  name: string;
  action: string;
  /** Which kind of key the operation needs. */
  key: 'aes' | 'ec';
  send(c: Client, id: string, prefix: string, fixtures: Record<string, string>): Promise<Reply>;
}

const OVH_OPS: OvhOp[] = [
  {
    name: 'get',
    action: 'okms:apikms:serviceKey/get',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'GET', path: `${p}/v1/servicekey/${id}` }),
  },
  {
    name: 'get jwk',
    action: 'okms:apikms:serviceKey/get',
    key: 'ec',
    send: (c, id, p) => c.send({ method: 'GET', path: `${p}/v1/servicekey/${id}?format=jwk` }),
  },
  {
    name: 'rename',
    action: 'okms:apikms:serviceKey/update',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'PATCH', path: `${p}/v1/servicekey/${id}`, json: { name: 'renamed' } }),
  },
  {
    name: 'encrypt',
    action: 'okms:apikms:serviceKey/encrypt',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/encrypt`, json: { plaintext: 'aGVsbG8=' } }),
  },
  {
    name: 'decrypt',
    action: 'okms:apikms:serviceKey/decrypt',
    key: 'aes',
    send: (c, id, p, f) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/decrypt`, json: { ciphertext: f[`ct:${id}`] } }),
  },
  {
    name: 'datakey',
    action: 'okms:apikms:serviceKey/dataKey/create',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/datakey`, json: { size: 256 } }),
  },
  {
    name: 'datakey decrypt',
    action: 'okms:apikms:serviceKey/dataKey/decrypt',
    key: 'aes',
    send: (c, id, p, f) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/datakey/decrypt`, json: { key: f[`dk:${id}`] } }),
  },
  {
    name: 'sign',
    action: 'okms:apikms:serviceKey/sign',
    key: 'ec',
    send: (c, id, p) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/sign`, json: { alg: 'ES256', message: 'aGVsbG8=' } }),
  },
  {
    name: 'verify',
    action: 'okms:apikms:serviceKey/verify',
    key: 'ec',
    send: (c, id, p, f) =>
      c.send({
        method: 'POST',
        path: `${p}/v1/servicekey/${id}/verify`,
        json: { alg: 'ES256', message: 'aGVsbG8=', signature: f[`sig:${id}`] },
      }),
  },
  {
    name: 'deactivate',
    action: 'okms:apikms:serviceKey/deactivate',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/deactivate`, json: { reason: 'unspecified' } }),
  },
  {
    name: 'activate',
    action: 'okms:apikms:serviceKey/activate',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'POST', path: `${p}/v1/servicekey/${id}/activate` }),
  },
  {
    name: 'delete',
    action: 'okms:apikms:serviceKey/delete',
    key: 'aes',
    send: (c, id, p) => c.send({ method: 'DELETE', path: `${p}/v1/servicekey/${id}` }),
  },
];

/** Keys made by a domain's account, with a ciphertext, a data key and a signature of each. */
async function ovhKeys(root: Client, f: Record<string, string>) {
  const aes = (
    await root.send({
      method: 'POST',
      path: '/v1/servicekey',
      json: { name: 'iso', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
    })
  ).json.id as string;
  const ec = (
    await root.send({
      method: 'POST',
      path: '/v1/servicekey',
      json: { name: 'iso-ec', type: 'EC', curve: 'P-256', operations: ['sign', 'verify'] },
    })
  ).json.id as string;
  f[`ct:${aes}`] = (
    await root.send({ method: 'POST', path: `/v1/servicekey/${aes}/encrypt`, json: { plaintext: 'aGVsbG8=' } })
  ).json.ciphertext;
  f[`dk:${aes}`] = (await root.send({ method: 'POST', path: `/v1/servicekey/${aes}/datakey`, json: { size: 256 } })).json.key;
  f[`sig:${ec}`] = (
    await root.send({ method: 'POST', path: `/v1/servicekey/${ec}/sign`, json: { alg: 'ES256', message: 'aGVsbG8=' } })
  ).json.signature;
  return { aes, ec };
}

async function ovhMatrix(ctx: Ctx, w: World) {
  const t = ctx.tally;
  const f: Record<string, string> = {};
  const rootA = w.ovh.who.rootA!.client;
  const rootB = w.ovh.who.rootB!.client;
  const foreign = await ovhKeys(rootB, f);
  const before = (await rootB.send({ method: 'GET', path: `/v1/servicekey/${foreign.aes}` })).json;
  for (const [name, p] of Object.entries(w.ovh.who)) {
    if (p.domain !== 'A') continue;
    for (const op of OVH_OPS) {
      // A fresh own key per case, so state-changing operations do not disturb each other; deactivate
      // first where the operation needs it (activate, delete).
      const own = await ovhKeys(rootA, f);
      const ownId = own[op.key];
      if (op.name === 'activate' || op.name === 'delete')
        await rootA.send({
          method: 'POST',
          path: `/v1/servicekey/${ownId}/deactivate`,
          json: { reason: 'unspecified' },
        });
      const allowed = p.grants === undefined || (OVH_POLICIES[name] ?? []).includes(op.action);
      for (const prefix of ['', `/api/${w.ovh.okms.A}`]) {
        const r = await op.send(p.client, ownId, prefix, f);
        t.isolationCases++;
        if (allowed && r.status >= 300)
          fail(
            t,
            'consistency',
            NAME,
            `ovh ${name} ${op.name} own key${prefix ? ' (/api form)' : ''}: allowed by policy, got ${r.status} ${preview(r.text)}`,
          );
        if (!allowed && r.status < 300) fail(t, 'leaks', NAME, `ovh ${name} ${op.name} own key: policy denies it, got ${r.status}`);
        if (!allowed && r.status !== 403)
          fail(t, 'consistency', NAME, `ovh ${name} ${op.name} own key: denied should be 403, got ${r.status} ${preview(r.text)}`);
        if (op.name === 'delete' || op.name === 'activate') break; // state changed: the /api form would test another state
      }
      // Another tenant's key: through the caller's own domain, and naming the other domain in the path.
      for (const prefix of ['', `/api/${w.ovh.okms.A}`, `/api/${w.ovh.okms.B}`]) {
        const r = await op.send(p.client, foreign[op.key], prefix, f);
        t.isolationCases++;
        if (r.status !== 404)
          fail(
            t,
            'leaks',
            NAME,
            `ovh ${name} ${op.name} on domain B's key via '${prefix || '/v1'}': expected 404, got ${r.status} ${preview(r.text)}`,
          );
      }
    }
    // Listing and creating: scoped to the caller's domain.
    const list = await p.client.send({ method: 'GET', path: '/v1/servicekey?max=100' });
    t.isolationCases++;
    if (list.status === 200 && list.json.objects_list.some((k: { id: string }) => k.id === foreign.aes || k.id === foreign.ec))
      fail(t, 'leaks', NAME, `ovh ${name}: list shows domain B's keys`);
  }
  const after = (await rootB.send({ method: 'GET', path: `/v1/servicekey/${foreign.aes}` })).json;
  if (JSON.stringify(before) !== JSON.stringify(after))
    fail(t, 'leaks', NAME, `ovh: domain B's key changed during the matrix: ${preview(before)} -> ${preview(after)}`);
  // Key ids are per domain (no oracle): A may take B's id for a key of its own, which leaves B's key alone.
  const created = await rootA.send({
    method: 'POST',
    path: '/v1/servicekey',
    json: { id: foreign.aes, name: "A's key, B's id", type: 'oct', size: 256 },
  });
  t.isolationCases++;
  if (created.status !== 201 && created.status !== 409)
    fail(
      t,
      'consistency',
      NAME,
      `ovh: domain A creating a key at domain B's key id: expected 201 (ids are per domain), got ${created.status} ${preview(created.text)}`,
    );
  const still = (await rootB.send({ method: 'GET', path: `/v1/servicekey/${foreign.aes}` })).json;
  if (JSON.stringify(before) !== JSON.stringify(still))
    fail(t, 'leaks', NAME, `ovh: domain A's key at B's id changed B's key: ${preview(before)} -> ${preview(still)}`);
  // A ciphertext of B decrypted under A's own key id.
  const own = await ovhKeys(rootA, f);
  const x = await rootA.send({
    method: 'POST',
    path: `/v1/servicekey/${own.aes}/decrypt`,
    json: { ciphertext: f[`ct:${foreign.aes}`] },
  });
  t.isolationCases++;
  if (x.status < 300) fail(t, 'leaks', NAME, `ovh: domain A decrypted domain B's ciphertext through its own key id`);
}

const HW_OPS: [string, 'read' | 'write', (id: string, ct: string) => Record<string, unknown>][] = [
  ['describe-key', 'read', (id) => ({ key_id: id })],
  ['encrypt-data', 'write', (id) => ({ key_id: id, plain_text: 'hello' })],
  ['decrypt-data', 'write', (_id, ct) => ({ cipher_text: ct })],
  ['create-datakey', 'write', (id) => ({ key_id: id, datakey_length: '256' })],
  ['update-key-alias', 'write', (id) => ({ key_id: id, key_alias: `renamed-${randomBytes(4).toString('hex')}` })],
  ['update-key-description', 'write', (id) => ({ key_id: id, key_description: 'x' })],
  ['get-key-rotation-status', 'read', (id) => ({ key_id: id })],
  ['rotate-on-demand', 'write', (id) => ({ key_id: id })],
  ['disable-key', 'write', (id) => ({ key_id: id })],
  ['schedule-key-deletion', 'write', (id) => ({ key_id: id, pending_days: '7' })],
];

async function huaweiMatrix(ctx: Ctx, w: World) {
  const t = ctx.tally;
  const admin1 = w.huawei.who.adminP1!.token;
  const admin2 = w.huawei.who.adminP2!.token;
  const mk = async (tok: string, project: string) => {
    const id = (await w.huawei.call(tok, 'create-key', { key_alias: `iso-${randomBytes(6).toString('hex')}` }, project)).json.key_info
      .key_id as string;
    const ct = (await w.huawei.call(tok, 'encrypt-data', { key_id: id, plain_text: 'hello' }, project)).json.cipher_text as string;
    return { id, ct };
  };
  const foreignOf: Record<string, { id: string; ct: string; project: string; tok: string }> = {
    P1: { ...(await mk(admin2, P2)), project: P2, tok: admin2 },
    P2: { ...(await mk(admin1, P1)), project: P1, tok: admin1 },
  };
  const before = Object.fromEntries(
    await Promise.all(
      Object.values(foreignOf).map(
        async (k) => [k.id, (await w.huawei.call(k.tok, 'describe-key', { key_id: k.id }, k.project)).json] as const,
      ),
    ),
  );
  for (const p of Object.values(w.huawei.who)) {
    const ownerTok = p.project === P1 ? admin1 : admin2;
    const writer = p.roles.some((r) => r === 'KMS Administrator' || r === 'KMS CMKFullAccess');
    for (const [verb, kind, body] of HW_OPS) {
      const own = await mk(ownerTok, p.project);
      const r = await w.huawei.call(p.token, verb, body(own.id, own.ct), p.project);
      t.isolationCases++;
      const allowed = kind === 'read' || writer;
      if (allowed && r.status >= 300)
        fail(t, 'consistency', NAME, `huawei ${p.name} ${verb} own key: its role allows it, got ${r.status} ${preview(r.text)}`);
      if (!allowed && r.status < 300) fail(t, 'leaks', NAME, `huawei ${p.name} ${verb} own key: its role denies it, got ${r.status}`);
      const foreign = foreignOf[p.project === P1 ? 'P1' : 'P2']!;
      const x = await w.huawei.call(p.token, verb, body(foreign.id, foreign.ct), p.project);
      t.isolationCases++;
      // Another project's key is not found (a read-only role may be refused first: never served).
      if (x.status < 300 || (x.status !== 404 && !(x.status === 403 && !allowed) && !(verb === 'decrypt-data' && x.status === 400)))
        fail(t, 'leaks', NAME, `huawei ${p.name} ${verb} on another project's key: expected 404, got ${x.status} ${preview(x.text)}`);
      // The other project's path with this token: refused, never served.
      const other = p.project === P1 ? P2 : P1;
      const y = await w.huawei.call(p.token, verb, body(foreign.id, foreign.ct), other);
      t.isolationCases++;
      if (y.status < 300) fail(t, 'leaks', NAME, `huawei ${p.name} ${verb} through project ${other}'s path: served (${y.status})`);
    }
  }
  for (const k of Object.values(foreignOf)) {
    const now = (await w.huawei.call(k.tok, 'describe-key', { key_id: k.id }, k.project)).json;
    if (JSON.stringify(now) !== JSON.stringify(before[k.id]))
      fail(t, 'leaks', NAME, `huawei: project ${k.project}'s key changed during the matrix`);
  }
}

async function cseMatrix(ctx: Ctx, w: World) {
  const t = ctx.tally;
  const rn = '//googleapis.com/drive/files/iso';
  const email = 'alice@example.com';
  const [a, b] = w.cse.clients as [Client, Client];
  const authn = await w.cse.authn(email);
  const wrapped = (
    await a.send({
      method: 'POST',
      path: '/v1/wrap',
      json: {
        authentication: authn,
        authorization: await w.cse.authz(0, 'writer', rn, email),
        key: randomBytes(32).toString('base64'),
      },
    })
  ).json.wrapped_key as string;
  for (const role of ['reader', 'writer', 'upgrader']) {
    // Instance B, with B's own valid authorization, must not open A's wrapped key.
    const r = await b.send({
      method: 'POST',
      path: '/v1/unwrap',
      json: { authentication: authn, authorization: await w.cse.authz(1, role, rn, email), wrapped_key: wrapped },
    });
    t.isolationCases++;
    if (r.status < 300) fail(t, 'leaks', NAME, `cse: instance B unwrapped instance A's key (role ${role})`);
    // Instance A, with an authorization issued for B: refused.
    const s = await a.send({
      method: 'POST',
      path: '/v1/unwrap',
      json: { authentication: authn, authorization: await w.cse.authz(1, role, rn, email), wrapped_key: wrapped },
    });
    t.isolationCases++;
    if (s.status < 300) fail(t, 'leaks', NAME, `cse: instance A accepted an authorization issued for instance B (role ${role})`);
  }
  const digest = await b.send({
    method: 'POST',
    path: '/v1/digest',
    json: { authorization: await w.cse.authz(1, 'reader', rn, email), wrapped_key: wrapped },
  });
  t.isolationCases++;
  if (digest.status < 300) fail(t, 'leaks', NAME, `cse: instance B computed the digest of instance A's wrapped key`);
}

export const isolation: Scenario = {
  name: NAME,
  title: 'principal x operation x own/other tenant key, every dialect',
  async run(ctx) {
    const w = await openWorld('pglite');
    try {
      const n0 = ctx.tally.isolationCases;
      await ovhMatrix(ctx, w);
      const n1 = ctx.tally.isolationCases;
      await huaweiMatrix(ctx, w);
      const n2 = ctx.tally.isolationCases;
      await cseMatrix(ctx, w);
      ctx.log(`isolation: ${n1 - n0} OVH, ${n2 - n1} Huawei, ${ctx.tally.isolationCases - n2} CSE cases`);
    } finally {
      await w.close();
    }
  },
};

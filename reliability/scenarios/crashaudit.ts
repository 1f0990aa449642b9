/**
 * Crash audit: no operation is acknowledged before its audit event is durable. Clients run OVH
 * encrypts, decrypts, gets and state changes concurrently; the gateway gets SIGKILL at a random moment
 * and is started again on the same data. Every answer a client received with a 2xx must then have its
 * audit event, found by its request id (X-Request-Id) among its key's events; one missing counts as
 * `unaudited`. A request cut by the kill had no answer and may have gone either way. The trail must
 * still verify after all the kills. On PGlite, and on PostgreSQL when DATABASE_URL is set.
 */
import { randomBytes } from 'node:crypto';
import type { Backend } from '@polykms/core/testing';
import { Client, NoAnswer, type Reply } from '../lib/http.ts';
import { GatewayUnderTest } from '../lib/gw.ts';
import { fail } from '../lib/tally.ts';
import { rng, sleep, type Ctx, type Scenario } from '../lib/scenario.ts';

const NAME = 'crashaudit';

interface Acked {
  reqId: string;
  keyId: string;
  what: string;
}

async function load(
  ctx: Ctx,
  client: Client,
  shared: string[],
  own: { id: string; active: boolean },
  ciphers: { keyId: string; ciphertext: string }[],
  acked: Acked[],
  seed: number,
  stop: { stopped: boolean },
) {
  const r = rng(seed);
  const send = async (keyId: string, what: string, req: () => Promise<Reply>, ok?: (res: Reply) => void) => {
    try {
      const res = await req();
      if (res.status >= 300) return;
      const reqId = res.headers['x-request-id'];
      if (typeof reqId !== 'string') return fail(ctx.tally, 'badBody', NAME, `${what}: a ${res.status} answer without X-Request-Id`);
      acked.push({ reqId, keyId, what });
      ok?.(res);
    } catch (e) {
      if (!(e instanceof NoAnswer)) throw e;
    }
  };
  while (!stop.stopped) {
    const op = r.pick(['encrypt', 'encrypt', 'encrypt', 'decrypt', 'get', 'toggle'] as const);
    const k = r.pick(shared);
    if (op === 'encrypt') {
      await send(
        k,
        'encrypt',
        () =>
          client.send({
            method: 'POST',
            path: `/v1/servicekey/${k}/encrypt`,
            json: { plaintext: randomBytes(r.int(1, 48)).toString('base64') },
          }),
        (res) => {
          if (ciphers.length < 200) ciphers.push({ keyId: k, ciphertext: res.json.ciphertext });
        },
      );
    } else if (op === 'decrypt' && ciphers.length) {
      const c = r.pick(ciphers);
      await send(c.keyId, 'decrypt', () =>
        client.send({ method: 'POST', path: `/v1/servicekey/${c.keyId}/decrypt`, json: { ciphertext: c.ciphertext } }),
      );
    } else if (op === 'get') {
      await send(k, 'get', () => client.send({ method: 'GET', path: `/v1/servicekey/${k}` }));
    } else if (op === 'toggle') {
      // A change, audited in its own transaction: its state may be in doubt after a kill, so it is read back first.
      const action = own.active ? 'deactivate' : 'activate';
      await send(
        own.id,
        action,
        () =>
          client.send({
            method: 'POST',
            path: `/v1/servicekey/${own.id}/${action}`,
            json: action === 'deactivate' ? { reason: 'unspecified' } : undefined,
          }),
        () => (own.active = !own.active),
      );
    }
  }
}

/** The request ids among `keyId`'s audit events, newest first, until every wanted one is found. */
async function auditedIds(gw: GatewayUnderTest, keyId: string, wanted: Set<string>): Promise<Set<string>> {
  const seen = new Set<string>();
  let before: string | null = null;
  for (let page = 0; page < 50; page++) {
    const q = new URLSearchParams({ key: keyId, limit: '1000', ...(before ? { before } : {}) });
    const r: { events: { requestId: string | null }[]; nextBefore: string | null } = await gw.admin.ok('GET', `/admin/audit?${q}`);
    for (const e of r.events) if (e.requestId) seen.add(e.requestId);
    if (![...wanted].some((id) => !seen.has(id)) || !r.nextBefore) break;
    before = r.nextBefore;
  }
  return seen;
}

async function runBackend(ctx: Ctx, backend: Backend, cycles: number) {
  const gw = await GatewayUnderTest.create(backend);
  let acknowledged = 0;
  try {
    await gw.start();
    const { creds, client: setup } = await gw.domainWithRoot();
    const mk = async (name: string) =>
      (
        await setup.send({
          method: 'POST',
          path: '/v1/servicekey',
          json: { name, type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
        })
      ).json.id as string;
    const shared = [await mk('audited-1'), await mk('audited-2'), await mk('audited-3')];
    const own = await Promise.all(
      Array.from({ length: ctx.profile.killClients }, async (_, i) => ({ id: await mk(`toggled-${i}`), active: true })),
    );
    await setup.close();
    const ciphers: { keyId: string; ciphertext: string }[] = [];
    const r = rng(ctx.profile.seed + 7 + (backend === 'postgres' ? 1 : 0));
    for (let cycle = 1; cycle <= cycles; cycle++) {
      const acked: Acked[] = [];
      const clients = own.map(() => new Client(gw.urls.ovh, creds, 2));
      const stop = { stopped: false };
      const running = clients.map((c, i) => load(ctx, c, shared, own[i]!, ciphers, acked, ctx.profile.seed * 1000 + cycle * 53 + i, stop));
      // The kill comes once the load is flowing (connections made, answers coming), at a random moment after.
      for (const until = Date.now() + 10_000; acked.length < clients.length * 2 && Date.now() < until; ) await sleep(20);
      await sleep(r.int(...ctx.profile.auditKillWindowMs));
      await gw.kill();
      stop.stopped = true;
      await Promise.all(running);
      await Promise.all(clients.map((c) => c.close()));
      try {
        await gw.start();
      } catch (e) {
        fail(
          ctx.tally,
          'recovery',
          NAME,
          `${backend} cycle ${cycle}: the gateway did not start again after SIGKILL: ${(e as Error).message.slice(0, 600)}`,
        );
        return;
      }
      ctx.tally.kills++;
      // A toggle cut by the kill may have happened: adopt the state the restarted gateway shows.
      const checker = new Client(gw.urls.ovh, creds);
      for (const k of own)
        k.active = (await checker.send({ method: 'GET', path: `/v1/servicekey/${k.id}` })).json?.attributes?.state === 'active';
      await checker.close();
      const byKey = new Map<string, Set<string>>();
      for (const a of acked) (byKey.get(a.keyId) ?? byKey.set(a.keyId, new Set()).get(a.keyId)!).add(a.reqId);
      for (const [keyId, wanted] of byKey) {
        const seen = await auditedIds(gw, keyId, wanted);
        for (const a of acked.filter((x) => x.keyId === keyId && !seen.has(x.reqId)))
          fail(
            ctx.tally,
            'unaudited',
            NAME,
            `${backend} cycle ${cycle}: an acknowledged ${a.what} of key ${keyId} (request ${a.reqId}) has no audit event after the restart`,
          );
      }
      acknowledged += acked.length;
      ctx.tally.auditedChecked += acked.length;
    }
    const v = await gw.admin.verifyAudit();
    if (!v.ok)
      fail(
        ctx.tally,
        'consistency',
        NAME,
        `${backend}: after ${cycles} kills the audit trail does not verify: ${JSON.stringify(v.problems).slice(0, 400)}`,
      );
    ctx.log(
      `crashaudit ${backend}: ${cycles} kills, ${acknowledged} acknowledged operations checked against the trail (${v.checked} events verified)`,
    );
  } finally {
    await gw.dispose();
  }
}

export const crashAudit: Scenario = {
  name: NAME,
  title: 'SIGKILL under concurrent load, restart, every acknowledged operation has its audit event',
  async run(ctx) {
    await runBackend(ctx, 'pglite', ctx.profile.auditKills);
    if (ctx.databaseUrl) await runBackend(ctx, 'postgres', ctx.profile.auditKills);
    else ctx.log('crashaudit: PostgreSQL skipped (DATABASE_URL not set)');
  },
};

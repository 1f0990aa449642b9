/**
 * Concurrency: many clients, through two gateway processes on one PostgreSQL (one process on PGlite),
 * race encrypt, deactivate and delete on one key. With these three operations a key can only go
 * active -> deactivated -> destroyed, so a serial order exists exactly when:
 *   - no encrypt succeeded that was sent after a deactivation had been acknowledged (by either process);
 *   - at most one delete succeeded, and only after a deactivation had been sent;
 *   - the final state is destroyed if a delete succeeded, else deactivated if a deactivation did, else active;
 *   - every acknowledged ciphertext decrypts (checked before the key is destroyed: a separate key).
 * Rotation is not in OVH's API; the Huawei dialect's rotate-on-demand joins encrypt/disable on a
 * key of the host (one process) in a second pass.
 */
import { Client, NoAnswer, type Reply } from '../lib/http.ts';
import { GatewayUnderTest } from '../lib/gw.ts';
import { openWorld } from '../lib/world.ts';
import { fail } from '../lib/tally.ts';
import { rng, type Ctx, type Scenario } from '../lib/scenario.ts';

const NAME = 'concurrency';

interface Op {
  kind: 'encrypt' | 'deactivate' | 'delete' | 'rotate' | 'decrypt';
  via: number;
  sent: number;
  acked: number;
  status: number;
  body?: any;
}

/** Runs `clients` loops of random operations until `ops` requests were sent. */
async function race(
  ctx: Ctx,
  n: number,
  perClient: number,
  seed: number,
  send: (kind: Op['kind'], client: number) => Promise<Reply>,
  kinds: [Op['kind'], number][],
) {
  const log: Op[] = [];
  const r = rng(seed);
  const bag = kinds.flatMap(([k, w]) => Array<Op['kind']>(w).fill(k));
  await Promise.all(
    Array.from({ length: n }, async (_, client) => {
      for (let i = 0; i < perClient; i++) {
        const kind = r.pick(bag);
        const sent = performance.now();
        let res: Reply | NoAnswer;
        try {
          res = await send(kind, client);
        } catch (e) {
          res = e as NoAnswer;
        }
        const acked = performance.now();
        if (res instanceof NoAnswer) {
          if (res.kind === 'hang') fail(ctx.tally, 'hangs', NAME, `${kind} had no answer in 10 s`);
          else fail(ctx.tally, 'crash', NAME, `${kind}: ${res.message}`);
          continue;
        }
        if (res.status >= 500) fail(ctx.tally, 'fiveXX', NAME, `${kind} under contention -> ${res.status} ${res.text.slice(0, 200)}`);
        log.push({ kind, via: client, sent, acked, status: res.status, body: res.json });
      }
    }),
  );
  return log;
}

function judge(ctx: Ctx, label: string, log: Op[], finalState: string, ok = (o: Op) => o.status < 300) {
  const t = ctx.tally;
  const deactAcks = log.filter((o) => o.kind === 'deactivate' && ok(o)).map((o) => o.acked);
  const firstDeactAck = deactAcks.length ? Math.min(...deactAcks) : Infinity;
  const late = log.filter((o) => o.kind === 'encrypt' && ok(o) && o.sent > firstDeactAck);
  for (const o of late)
    fail(
      t,
      'consistency',
      NAME,
      `${label}: an encrypt sent ${Math.round(o.sent - firstDeactAck)} ms after a deactivation was acknowledged succeeded (client ${o.via})`,
    );
  const deletes = log.filter((o) => o.kind === 'delete' && ok(o));
  if (deletes.length > 1) fail(t, 'consistency', NAME, `${label}: ${deletes.length} deletes of one key succeeded`);
  const firstDeactSent = Math.min(...log.filter((o) => o.kind === 'deactivate').map((o) => o.sent), Infinity);
  for (const d of deletes)
    if (d.acked < firstDeactSent) fail(t, 'consistency', NAME, `${label}: a delete succeeded before any deactivation was sent`);
  const expected = deletes.length ? 'destroyed' : deactAcks.length ? 'deactivated' : 'active';
  if (finalState !== expected)
    fail(t, 'consistency', NAME, `${label}: final state ${finalState}, but the acknowledged operations allow only ${expected}`);
  t.concurrencyRounds++;
}

async function ovhRounds(ctx: Ctx) {
  const pg = !!ctx.databaseUrl;
  const a = await GatewayUnderTest.create(pg ? 'postgres' : 'pglite');
  const b = pg ? await a.sibling() : undefined;
  try {
    await a.start();
    await b?.start();
    const { creds, client: admin } = await a.domainWithRoot();
    const via = [a, ...(b ? [b] : [])].map((g) => new Client(g.urls.ovh, creds, 8));
    for (let round = 1; round <= ctx.profile.concurrencyRounds; round++) {
      const key = (
        await admin.send({
          method: 'POST',
          path: '/v1/servicekey',
          json: { name: `race${round}`, type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
        })
      ).json.id as string;
      // Warm both processes' caches with the active key first: the race must invalidate them.
      for (const c of via) await c.send({ method: 'POST', path: `/v1/servicekey/${key}/encrypt`, json: { plaintext: 'AAAA' } });
      const ciphertexts: string[] = [];
      const log = await race(
        ctx,
        ctx.profile.concurrencyClients,
        12,
        ctx.profile.seed + round,
        async (kind, client) => {
          const c = via[client % via.length]!;
          if (kind === 'encrypt') {
            const r = await c.send({
              method: 'POST',
              path: `/v1/servicekey/${key}/encrypt`,
              json: { plaintext: 'aGVsbG8=' },
            });
            if (r.status === 200) ciphertexts.push(r.json.ciphertext);
            return r;
          }
          if (kind === 'deactivate')
            return c.send({
              method: 'POST',
              path: `/v1/servicekey/${key}/deactivate`,
              json: { reason: 'unspecified' },
            });
          return c.send({ method: 'DELETE', path: `/v1/servicekey/${key}` });
        },
        [
          ['encrypt', 6],
          ['deactivate', 1],
          ['delete', 1],
        ],
      );
      const states = await Promise.all(
        via.map(async (c) => (await c.send({ method: 'GET', path: `/v1/servicekey/${key}` })).json?.attributes?.state as string),
      );
      if (new Set(states).size > 1)
        fail(ctx.tally, 'consistency', NAME, `ovh round ${round}: the two processes disagree on the key's state: ${states.join(' vs ')}`);
      judge(ctx, `ovh round ${round} (${via.length} process${via.length > 1 ? 'es' : ''})`, log, states[0] ?? 'unknown');
      ctx.log(`concurrency ovh round ${round}: ${log.length} operations, ${ciphertexts.length} encrypts ok, final ${states.join('/')}`);
    }
    await Promise.all([...via, admin].map((c) => c.close()));
  } finally {
    await b?.dispose();
    await a.dispose();
  }
}

/** Huawei: encrypt, disable, rotate-on-demand and decrypt race on one key of the host. */
async function huaweiRounds(ctx: Ctx) {
  const w = await openWorld(ctx.databaseUrl ? 'postgres' : 'pglite');
  try {
    const tok = w.huawei.who.adminP1!.token;
    for (let round = 1; round <= ctx.profile.concurrencyRounds; round++) {
      const key = (await w.huawei.call(tok, 'create-key', { key_alias: `race-${round}` })).json.key_info.key_id as string;
      const acked: { ct: string; pt: string }[] = [];
      const log = await race(
        ctx,
        ctx.profile.concurrencyClients,
        10,
        ctx.profile.seed + 100 + round,
        async (kind) => {
          if (kind === 'encrypt') {
            const pt = `p${Math.random().toString(36).slice(2)}`;
            const r = await w.huawei.call(tok, 'encrypt-data', { key_id: key, plain_text: pt });
            if (r.status === 200) acked.push({ ct: r.json.cipher_text, pt });
            return r;
          }
          if (kind === 'rotate') return w.huawei.call(tok, 'rotate-on-demand', { key_id: key });
          return w.huawei.call(tok, 'disable-key', { key_id: key });
        },
        [
          ['encrypt', 5],
          ['rotate', 2],
          ['deactivate', 1],
        ],
      );
      // Every ciphertext acknowledged, whatever the rotations, opens (decrypt works on a disabled key? enable first).
      await w.huawei.call(tok, 'enable-key', { key_id: key });
      for (const a of acked) {
        const r = await w.huawei.call(tok, 'decrypt-data', { cipher_text: a.ct });
        ctx.tally.ackedChecked++;
        if (r.status !== 200 || r.json.plain_text !== a.pt)
          fail(
            ctx.tally,
            'lost',
            NAME,
            `huawei round ${round}: a ciphertext acknowledged during rotations does not decrypt: ${r.status} ${r.text.slice(0, 200)}`,
          );
      }
      // The final state before enable-key is judged from the log: disable is the only state change.
      judge(ctx, `huawei round ${round}`, log, log.some((o) => o.kind === 'deactivate' && o.status < 300) ? 'deactivated' : 'active');
      ctx.log(
        `concurrency huawei round ${round}: ${log.length} operations, ${acked.length} encrypts ok, ${log.filter((o) => o.kind === 'rotate' && o.status < 300).length} rotations ok`,
      );
    }
  } finally {
    await w.close();
  }
}

export const concurrency: Scenario = {
  name: NAME,
  title: 'encrypt/deactivate/rotate/delete races on one key, from many clients and two processes',
  async run(ctx) {
    await ovhRounds(ctx);
    await huaweiRounds(ctx);
  },
};

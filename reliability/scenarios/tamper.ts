/**
 * Audit tampering: after real traffic through the dialects, the stored audit trail is tampered with
 * (the kinds of core's auditchain.test.ts: an edited principal, outcome or details, a deleted event in
 * the middle, deleted events at the end with or without the head moved back, the head put back to an
 * older copy of itself, its MAC removed, a forged "legacy" event (id -1, or under a raised legacy
 * bound), a forged event, two events swapped), each checked through the
 * gateway's own `POST /admin/audit/verify`, then undone. A tampering the verifier reports as ok is
 * missed. On PGlite, and on PostgreSQL when DATABASE_URL is set.
 */
import type { Backend } from '@polykms/core/testing';
import { openWorld, type World } from '../lib/world.ts';
import { fail } from '../lib/tally.ts';
import type { Ctx, Scenario } from '../lib/scenario.ts';

const NAME = 'tamper';

const q = (v: unknown) => (v === null || v === undefined ? 'null' : `'${String(v).replace(/'/g, "''")}'`);

async function tamperings(w: World): Promise<[string, () => Promise<() => Promise<void>>][]> {
  const ids = async () =>
    (await w.sql(`select id, seq from audit_events where seq is not null order by seq`)) as {
      id: string;
      seq: string;
    }[];
  /** Deleted rows are kept aside in a table of the same shape, so they go back exactly. */
  let n = 0;
  const deleteKept = async (where: string) => {
    const table = `reliability_kept_${++n}_${Date.now()}`;
    await w.sql(`create table ${table} as select * from audit_events where ${where}`);
    await w.sql(`delete from audit_events where ${where}`);
    return async () => {
      await w.sql(`insert into audit_events select * from ${table}`);
      await w.sql(`drop table ${table}`);
    };
  };
  /** The head row as it is now, kept aside; the function puts it back. */
  const keepHead = async () => {
    const table = `reliability_head_${++n}_${Date.now()}`;
    await w.sql(`create table ${table} as select * from audit_chain_head`);
    return async () => {
      await w.sql(
        `update audit_chain_head h set seq = k.seq, chain = k.chain, mac = k.mac, legacy_max_id = k.legacy_max_id from ${table} k where h.id = k.id`,
      );
      await w.sql(`drop table ${table}`);
    };
  };
  return [
    [
      'an edited principal',
      async () => {
        const r = (await ids())[5]!;
        const [old] = await w.sql(`select principal from audit_events where id = ${q(r.id)}`);
        await w.sql(`update audit_events set principal = 'mallory' where id = ${q(r.id)}`);
        return async () => void (await w.sql(`update audit_events set principal = ${q(old.principal)} where id = ${q(r.id)}`));
      },
    ],
    [
      'a denial turned into an allow',
      async () => {
        const [r] = await w.sql(`select id from audit_events where outcome = 'denied' and seq is not null limit 1`);
        if (!r) throw new Error('no denied event to edit');
        await w.sql(`update audit_events set outcome = 'allowed' where id = ${q(r.id)}`);
        return async () => void (await w.sql(`update audit_events set outcome = 'denied' where id = ${q(r.id)}`));
      },
    ],
    [
      'edited details',
      async () => {
        const [r] = await w.sql(`select id, details from audit_events where details is not null and seq is not null limit 1`);
        await w.sql(`update audit_events set details = '{"forged": true}'::jsonb where id = ${q(r.id)}`);
        return async () =>
          void (await w.sql(`update audit_events set details = ${q(JSON.stringify(r.details))}::jsonb where id = ${q(r.id)}`));
      },
    ],
    [
      'a deleted event in the middle',
      async () => {
        const r = (await ids())[7]!;
        return deleteKept(`id = ${q(r.id)}`);
      },
    ],
    [
      'deleted events at the end',
      async () => {
        const last = (await ids()).slice(-2);
        return deleteKept(`id in (${last.map((r) => q(r.id)).join(', ')})`);
      },
    ],
    [
      'deleted events at the end, the head moved back to the last surviving event',
      async () => {
        const all = await ids();
        const survivor = all[all.length - 4]!;
        const head = await keepHead();
        const events = await deleteKept(
          `id in (${all
            .slice(-3)
            .map((r) => q(r.id))
            .join(', ')})`,
        );
        await w.sql(`update audit_chain_head set seq = x.seq, chain = x.chain from audit_events x where x.id = ${q(survivor.id)}`);
        return async () => {
          await events();
          await head();
        };
      },
    ],
    [
      'the head put back to an older copy of itself (MAC and all), the events after it deleted',
      async () => {
        const old = await keepHead();
        const [{ seq }] = await w.sql(`select seq from audit_chain_head`);
        await traffic(w);
        const now = await keepHead();
        const events = await deleteKept(`seq > ${Number(seq)}`);
        await old();
        return async () => {
          await events();
          await now();
        };
      },
    ],
    [
      'the head MAC removed',
      async () => {
        const head = await keepHead();
        await w.sql(`update audit_chain_head set mac = null`);
        return head;
      },
    ],
    [
      'an unsealed event with id -1 (passed as "legacy" before)',
      async () => {
        await w.sql(
          `insert into audit_events (id, at, dialect, principal, action, outcome) values (-1, now(), 'ovh', 'mallory', 'key.destroy', 'allowed')`,
        );
        return async () => void (await w.sql(`delete from audit_events where id = -1`));
      },
    ],
    [
      'the legacy bound raised over a forged unsealed event',
      async () => {
        const head = await keepHead();
        const [r] = await w.sql(
          `insert into audit_events (at, dialect, principal, action, outcome) values (now(), 'ovh', 'mallory', 'key.destroy', 'allowed') returning id`,
        );
        await w.sql(`update audit_chain_head set legacy_max_id = ${q(r.id)}`);
        return async () => {
          await w.sql(`delete from audit_events where id = ${q(r.id)}`);
          await head();
        };
      },
    ],
    [
      'two events swapped in the sequence',
      async () => {
        const [a, b] = (await ids()).slice(3, 5);
        const swap = async (x: typeof a, y: typeof a) => {
          await w.sql(`update audit_events set seq = -1 where id = ${q(x!.id)}`);
          await w.sql(`update audit_events set seq = ${x!.seq} where id = ${q(y!.id)}`);
          await w.sql(`update audit_events set seq = ${y!.seq} where id = ${q(x!.id)}`);
        };
        await swap(a, b);
        return async () => {
          await w.sql(`update audit_events set seq = -1 where id = ${q(a!.id)}`);
          await w.sql(`update audit_events set seq = ${b!.seq} where id = ${q(b!.id)}`);
          await w.sql(`update audit_events set seq = ${a!.seq} where id = ${q(a!.id)}`);
        };
      },
    ],
    [
      'a forged event (inserted without a MAC, then sealed by the gateway)',
      async () => {
        const [r] = await w.sql(
          `insert into audit_events (at, dialect, principal, action, outcome) values (now(), 'ovh', 'mallory', 'key.destroy', 'allowed') returning id`,
        );
        await w.admin.ok('POST', '/reliability/seal');
        // The gateway never seals a row it did not write: the forgery stays outside the chain.
        return async () => void (await w.sql(`delete from audit_events where id = ${q(r.id)}`));
      },
    ],
  ];
}

async function traffic(w: World) {
  const a = w.ovh.who.rootA!.client;
  const k = (
    await a.send({
      method: 'POST',
      path: '/v1/servicekey',
      json: { name: 'audited', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'] },
    })
  ).json.id as string;
  for (let i = 0; i < 12; i++) await a.send({ method: 'POST', path: `/v1/servicekey/${k}/encrypt`, json: { plaintext: 'aGVsbG8=' } });
  await w.ovh.who.nobody!.client.send({ method: 'GET', path: `/v1/servicekey/${k}` }); // a denial
  await w.huawei.call(w.huawei.who.readerP1!.token, 'create-key', { key_alias: 'denied' }); // another
  await w.huawei.call(w.huawei.who.adminP1!.token, 'gen-random', { random_data_length: '64' });
}

async function runBackend(ctx: Ctx, backend: Backend) {
  const w = await openWorld(backend);
  try {
    await traffic(w);
    await w.admin.ok('POST', '/reliability/seal');
    const clean = await w.admin.verifyAudit();
    if (!clean.ok) {
      fail(
        ctx.tally,
        'tamperMissed',
        NAME,
        `${backend}: the untouched trail does not verify: ${JSON.stringify(clean.problems).slice(0, 300)}`,
      );
      return;
    }
    for (const [name, tamper] of await tamperings(w)) {
      const undo = await tamper();
      ctx.tally.tamperings++;
      const v = await w.admin.verifyAudit();
      if (v.ok || !v.problems.length) fail(ctx.tally, 'tamperMissed', NAME, `${backend}: ${name} was not detected (checked ${v.checked})`);
      await undo();
      const again = await w.admin.verifyAudit();
      if (!again.ok)
        ctx.log(`tamper ${backend}: after undoing '${name}' the trail still reports: ${JSON.stringify(again.problems).slice(0, 200)}`);
    }
    ctx.log(`tamper ${backend}: ${clean.checked} events checked; ${ctx.tally.tamperings} tamperings made so far`);
  } finally {
    await w.close();
  }
}

export const tamper: Scenario = {
  name: NAME,
  title: 'the audit verifier catches every tampering of a gateway store',
  async run(ctx) {
    await runBackend(ctx, 'pglite');
    if (ctx.databaseUrl) await runBackend(ctx, 'postgres');
  },
};

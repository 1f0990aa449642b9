import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql, type Kysely } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { JournaledAuditTrail } from './audit-journaled.ts';
import { journalDir, journalToPrimary, replayWorkerJournal, serveWorkerJournal, workerJournal, workerJournals } from './audit-worker.ts';
import { verifyAuditChain } from './auditchain.ts';
import { openStore } from './db/connect.ts';
import type { Database } from './db/schema.ts';
import type { Peer } from './db/pglite-shared.ts';
import type { KmsError } from './errors.ts';
import { silentLogger, testKeyring, testAuditEvent } from './testing.ts';
import { Kms } from './kms.ts';

const event = testAuditEvent;
const settle = (p: Promise<void>) =>
  p.then(
    () => 'stored',
    (e: KmsError) => e.kind,
  );

/** Two ends of an IPC channel: a message is cloned when sent (as Node's advanced serialization does) and delivered in a later turn. */
function ipc() {
  const ends = [new EventEmitter(), new EventEmitter()] as const;
  const sent = [0, 0];
  const end = (i: 0 | 1): Peer & { disconnect(): void } => ({
    send: (m) => {
      const copy = structuredClone(m);
      sent[i]!++;
      setImmediate(() => ends[1 - i]!.emit('message', copy));
      return true;
    },
    // biome-ignore lint/suspicious/noExplicitAny: one listener type per event name
    on: (e: string, f: any) => ends[i]!.on(e, f),
    disconnect: () => ends[i]!.emit('disconnect'),
  });
  return { worker: end(0), primary: end(1), sent };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('worker audit journals (serve --workers on the embedded store)', () => {
  const key = randomBytes(32);
  // No timer drains in these tests: `flush` does, so each step is explicit.
  const quiet = { maxBatch: 500, maxBehind: 1000, maxQueued: 1000, drainMs: 3_600_000, retryMs: 3_600_000 };

  /** The primary: the store and its own journaled trail, which stores the worker journals. */
  async function primary() {
    const dataDir = mkdtempSync(join(tmpdir(), 'polykms-workerjournal-'));
    dirs.push(dataDir);
    const store = await openStore({ dataDir });
    const trail = new JournaledAuditTrail(store.db, silentLogger(), journalDir(dataDir), quiet);
    await trail.useKey(key);
    const rows = async () => (await store.db.selectFrom('audit_events').select('action').orderBy('seq').execute()).map((r) => r.action);
    // As text: PGlite gives int8 as a number, PostgreSQL as a string.
    const mark = async (name: string) =>
      String((await store.db.selectFrom('audit_journal_marks').select('mark').where('journal', '=', name).executeTakeFirst())?.mark);
    const verify = async () => (await verifyAuditChain(store.db, key, { atLeast: trail.highestSeen })).problems;
    return { dataDir, store, trail, rows, mark, verify };
  }

  /** A worker in `slot`, its store being the primary's (a worker reaches it through the primary in the gateway). */
  async function worker(p: Awaited<ReturnType<typeof primary>>, slot: number) {
    const channel = ipc();
    const name = workerJournal(slot);
    serveWorkerJournal(channel.primary, name, p.trail);
    const trail = new JournaledAuditTrail(p.store.db, silentLogger(), journalDir(p.dataDir, name), {
      ...quiet,
      worker: { name, store: journalToPrimary(channel.worker) },
    });
    await trail.useKey(key);
    return { trail, channel };
  }

  it('answers from its own journal without a message to the primary, which stores the batch with the journal mark', async () => {
    const p = await primary();
    const w = await worker(p, 1);
    await Promise.all([1, 2, 3].map((i) => w.trail.record(event(i))));
    expect(w.channel.sent).toEqual([0, 0]);
    expect(await p.rows()).toEqual([]);
    await w.trail.flush();
    // One batch each way for the three events.
    expect(w.channel.sent).toEqual([1, 1]);
    expect(await p.rows()).toEqual(['a1', 'a2', 'a3']);
    expect(await p.mark('worker-1')).toBe('3');
    expect(await p.verify()).toEqual([]);
    await w.trail.close();
    await p.trail.close();
    await p.store.close();
  });

  it('a worker that died: the primary stores its journal once, and the next worker in the slot goes on after it', async () => {
    const p = await primary();
    const a = await worker(p, 2);
    await a.trail.record(event(1));
    await a.trail.record(event(2));
    // The worker dies here: its events are answered and only in its journal.
    expect(workerJournals(p.dataDir)).toEqual(['worker-2']);
    expect(await replayWorkerJournal(p.trail, p.dataDir, 'worker-2')).toBe(2);
    expect(await p.rows()).toEqual(['a1', 'a2']);
    expect(await replayWorkerJournal(p.trail, p.dataDir, 'worker-2')).toBe(0);
    // A batch of the dead worker that arrives late is not stored again.
    await p.trail.storeJournaled('worker-2', [
      { ordinal: 1n, event: event(1) },
      { ordinal: 2n, event: event(2) },
    ]);
    expect(await p.rows()).toEqual(['a1', 'a2']);

    const b = await worker(p, 2);
    await b.trail.record(event(3));
    await b.trail.flush();
    expect(await p.rows()).toEqual(['a1', 'a2', 'a3']);
    expect(await p.mark('worker-2')).toBe('3');
    // Another slot's journal has a mark of its own.
    const c = await worker(p, 3);
    await c.trail.record(event(4));
    await c.trail.flush();
    expect(await p.mark('worker-3')).toBe('1');
    expect(await p.verify()).toEqual([]);
    for (const t of [b.trail, c.trail, p.trail]) await t.close();
    await p.store.close();
  });

  it('fails closed when the primary cannot store its batch, and stores it once the store takes events again', async () => {
    const p = await primary();
    const w = await worker(p, 1);
    await sql`alter table audit_events add constraint refuse_audit check (false) not valid`.execute(p.store.db);
    expect(await settle(w.trail.record(event(1)))).toBe('stored');
    await w.trail.flush();
    expect(await settle(w.trail.record(event(2)))).toBe('unavailable');
    await sql`alter table audit_events drop constraint refuse_audit`.execute(p.store.db);
    await w.trail.flush();
    expect(await settle(w.trail.record(event(3)))).toBe('stored');
    await w.trail.flush();
    expect(await p.rows()).toEqual(['a1', 'a3']);
    expect(await p.verify()).toEqual([]);
    await w.trail.close();
    await p.trail.close();
    await p.store.close();
  });

  it('keeps its events when the primary is gone, refuses new operations, and the primary stores them at its next start', async () => {
    const p = await primary();
    const w = await worker(p, 1);
    await w.trail.record(event(1));
    w.channel.worker.disconnect();
    await w.trail.flush();
    expect(await settle(w.trail.record(event(2)))).toBe('unavailable');
    expect(await p.rows()).toEqual([]);
    for (const name of workerJournals(p.dataDir)) await replayWorkerJournal(p.trail, p.dataDir, name);
    expect(await p.rows()).toEqual(['a1']);
    await p.trail.close();
    await p.store.close();
  });

  it('sends an event IPC cannot clone as its journal line holds it, instead of failing the batch for ever', async () => {
    const p = await primary();
    const w = await worker(p, 1);
    await w.trail.record({ ...event(1), details: { i: 1, f: () => 1 } });
    await w.trail.flush();
    expect(await settle(w.trail.record(event(2)))).toBe('stored');
    await w.trail.flush();
    const rows = await p.store.db.selectFrom('audit_events').select(['action', 'details']).orderBy('seq').execute();
    expect(rows).toEqual([
      { action: 'a1', details: { i: 1 } },
      { action: 'a2', details: { i: 2 } },
    ]);
    expect(await p.verify()).toEqual([]);
    await w.trail.close();
    await p.trail.close();
    await p.store.close();
  });

  it('a gateway started without workers stores what the workers of the last run left in their journals', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'polykms-workerjournal-'));
    dirs.push(dataDir);
    const keyring = testKeyring();
    const first = await Kms.open({ dataDir, keyring, logger: silentLogger() });
    // A worker of that run: its events journaled and answered, never stored (its primary was killed).
    // The worker reached the store through its primary; here, through the first gateway's own connection.
    const db = (first.audit as unknown as { db: Kysely<Database> }).db;
    const trail = new JournaledAuditTrail(db, silentLogger(), journalDir(dataDir, 'worker-1'), {
      ...quiet,
      worker: { name: 'worker-1', store: () => Promise.reject(new Error('the primary is gone')) },
    });
    await trail.useKey(first.audit.macKey!);
    await Promise.all([1, 2].map((i) => trail.record(event(i))));
    await trail.close();
    await first.close();

    const next = await Kms.open({ dataDir, keyring, logger: silentLogger() });
    const { events } = await next.audit.list({ limit: 10 });
    expect(events.map((e) => e.action).sort()).toEqual(['a1', 'a2']);
    expect((await next.verifyAudit()).problems).toEqual([]);
    await next.close();
  });

  it('refuses a slot that is not a whole number from 1', () => {
    expect(() => workerJournal(Number(undefined))).toThrow(/whole number/);
    expect(() => workerJournal(0)).toThrow(/whole number/);
    expect(workerJournal(4)).toBe('worker-4');
  });
});

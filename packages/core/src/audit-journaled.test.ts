import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditJournal } from './audit-journal.ts';
import { JournaledAuditTrail } from './audit-journaled.ts';
import type { AuditEvent } from './audit-text.ts';
import { verifyAuditChain } from './auditchain.ts';
import { openStore } from './db/connect.ts';
import type { KmsError } from './errors.ts';
import { silentLogger, testAuditEvent } from './testing.ts';

const event = testAuditEvent;
const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'polykms-journal-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const segments = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.ndjson'));
const settle = (p: Promise<void>) =>
  p.then(
    () => 'stored',
    (e: KmsError) => e.kind,
  );

describe('audit journal (files)', () => {
  const key = randomBytes(32);

  it('gives back, in order, the events after the mark; a torn last line is skipped, an altered line reported', () => {
    const dir = tempDir();
    const { journal } = AuditJournal.open(dir, key, 0n);
    expect(journal.append([event(1), event(2)])).toBe(1n);
    expect(journal.append([event(3)])).toBe(3n);
    journal.close();
    const again = AuditJournal.open(dir, key, 1n);
    expect(again.problems).toEqual([]);
    expect(again.unstored.map((j) => [j.ordinal, j.event])).toEqual([
      [2n, event(2)],
      [3n, event(3)],
    ]);
    // Ordinals go on after what the journal holds, in a new segment.
    expect(again.journal.append([event(4)])).toBe(4n);
    again.journal.close();
    const [file] = segments(dir).sort();
    const path = join(dir, file!);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"action":"a3"', '"action":"a9"'));
    appendFileSync(path, '{"o":"5","m":"');
    const read = AuditJournal.open(dir, key, 0n);
    expect(read.unstored.map((j) => j.event.action)).toEqual(['a1', 'a2', 'a4']);
    expect(read.problems).toEqual([
      { file, line: 2, problem: expect.stringMatching(/MAC does not match/), torn: false },
      { file, line: 3, problem: expect.stringMatching(/cut short/), torn: true },
      { file: '', line: 0, problem: 'events 3 to 3 are missing (lines or segments deleted)', torn: false },
    ]);
    // Another audit key (another gateway's journal) verifies nothing.
    expect(AuditJournal.open(dir, randomBytes(32), 0n).unstored).toEqual([]);
  });

  it('leaves nothing of a line it could not write whole, and deletes a segment once all its events are stored', () => {
    const dir = tempDir();
    let fail = false;
    const write = ((fd: number, b: Buffer, off: number, len: number, pos: number) => {
      if (!fail) return writeSync(fd, b, off, len, pos);
      writeSync(fd, b, off, len >> 1, pos);
      throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
    }) as typeof writeSync;
    const { journal } = AuditJournal.open(dir, key, 0n, write);
    journal.append([event(1)]);
    fail = true;
    expect(() => journal.append([event(2)])).toThrow(/no space/);
    fail = false;
    expect(journal.append([event(3)])).toBe(2n);
    journal.close();
    const read = AuditJournal.open(dir, key, 0n);
    expect(read.problems).toEqual([]);
    expect(read.unstored.map((j) => [j.ordinal, j.event.action])).toEqual([
      [1n, 'a1'],
      [2n, 'a3'],
    ]);
    read.journal.release(1n);
    expect(segments(dir)).toHaveLength(1);
    read.journal.release(2n);
    expect(segments(dir)).toEqual([]);
  });
});

describe('journaled audit trail (embedded store in a data directory)', () => {
  const key = randomBytes(32);
  const quiet = { maxBatch: 500, maxBehind: 500, maxQueued: 1000, drainMs: 3_600_000, retryMs: 3_600_000 };
  async function open(dir: string, opts: Partial<typeof quiet & { write: typeof writeSync }> = {}, Trail = JournaledAuditTrail) {
    const store = await openStore({ dataDir: dir });
    const trail = new Trail(store.db, silentLogger(), join(dir, 'audit-journal'), { ...quiet, ...opts });
    await trail.useKey(key);
    const rows = async () =>
      (await store.db.selectFrom('audit_events').select(['action', 'outcome']).orderBy('seq').execute()).map((r) =>
        r.outcome === 'allowed' ? r.action : `${r.action}:${r.outcome}`,
      );
    return { store, trail, rows, verify: () => verifyAuditChain(store.db, key, { atLeast: trail.highestSeen }) };
  }

  it('answers once an event is journaled; what the store had not taken when the process stopped is stored at the next open, once', async () => {
    const dir = tempDir();
    const a = await open(dir);
    await Promise.all([1, 2, 3].map((i) => a.trail.record(event(i))));
    await a.trail.record(event(4));
    expect(await a.rows()).toEqual([]); // answered, not yet in the store
    expect(a.trail.pending).toBe(4);
    // The process dies: the store goes without the trail writing anything more.
    await a.store.close();

    const b = await open(dir);
    expect(await b.rows()).toEqual(['a1', 'a2', 'a3', 'a4']);
    await b.trail.record(event(5));
    await b.trail.flush();
    expect(await b.rows()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    // Stored and then stopped before the journal was cleaned up: the mark keeps it from being stored twice.
    await b.store.close();
    expect(segments(join(dir, 'audit-journal')).length).toBeGreaterThan(0);

    const c = await open(dir);
    expect(await c.rows()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    expect(segments(join(dir, 'audit-journal'))).toEqual([]);
    expect((await c.verify()).problems).toEqual([]);
    await c.trail.close();
    await c.store.close();
  });

  it('marks a journal line that does not verify in the trail (the verifier reports it), and skips a torn one', async () => {
    const dir = tempDir();
    const a = await open(dir);
    await a.trail.record(event(1));
    await a.trail.record(event(2));
    await a.store.close();
    const jdir = join(dir, 'audit-journal');
    const [file] = segments(jdir);
    const path = join(jdir, file!);
    writeFileSync(path, readFileSync(path, 'utf8').replace('"action":"a2"', '"action":"a0"'));
    appendFileSync(path, '{"o":"3","m":"00');

    const b = await open(dir);
    expect(await b.rows()).toEqual(['audit.journal_rejected:failed', 'a1']);
    const problems = (await b.verify()).problems.map((p) => p.problem);
    expect(problems).toEqual([expect.stringMatching(/^audit journal: its MAC does not match .*line 2\)$/)]);
    await b.trail.close();
    await b.store.close();
  });

  it('fails closed: once the store refuses a batch, new operations are refused; the journaled events are stored when it is back', async () => {
    const dir = tempDir();
    const a = await open(dir);
    await sql`alter table audit_events add constraint refuse_audit check (false) not valid`.execute(a.store.db);
    // Answered: they are in the journal.
    expect(await Promise.all([1, 2].map((i) => settle(a.trail.record(event(i)))))).toEqual(['stored', 'stored']);
    await a.trail.flush();
    expect(await settle(a.trail.record(event(3)))).toBe('unavailable');
    expect(a.trail.dropped).toBe(1);
    await sql`alter table audit_events drop constraint refuse_audit`.execute(a.store.db);
    await a.trail.flush();
    expect(await settle(a.trail.record(event(4)))).toBe('stored');
    await a.trail.flush();
    expect(await a.rows()).toEqual(['a1', 'a2', 'a4']);
    expect((await a.verify()).problems).toEqual([]);
    await a.trail.close();
    await a.store.close();
  });

  it('holds new events back while the store is a batch behind, and answers them once it has caught up', async () => {
    const dir = tempDir();
    const a = await open(dir, { maxBatch: 2, maxBehind: 2 });
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // A transaction holds the embedded store's one connection: the drain waits behind it.
    const busy = a.store.db.transaction().execute(() => gate);
    await Promise.all([1, 2].map((i) => a.trail.record(event(i))));
    let third = 'waiting';
    const p = a.trail.record(event(3)).then(() => (third = 'stored'));
    for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
    expect(third).toBe('waiting');
    expect(a.trail.pending).toBe(3);
    release();
    await busy;
    await p;
    await a.trail.flush();
    expect(await a.rows()).toEqual(['a1', 'a2', 'a3']);
    await a.trail.close();
    await a.store.close();
  });

  it('leaves the events that came during a statement for the next drain, unless a full batch waits', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const statements: number[] = [];
    let done = 0;
    // Each statement waits for the gate: what arrives meanwhile is what a busy store sees.
    class Gated extends JournaledAuditTrail {
      protected override async write(events: AuditEvent[], mark: bigint | null = null, journal: string | null = null) {
        statements.push(events.length);
        await gate;
        return super.write(events, mark, journal).finally(() => done++);
      }
    }
    const { store, trail, rows } = await open(tempDir(), { maxBatch: 2 }, Gated);
    // Three in one turn: a full batch starts a drain at once, and one event is left for later.
    await Promise.all([1, 2, 3].map((i) => trail.record(event(i))));
    while (!statements.length) await new Promise((r) => setImmediate(r));
    expect(statements).toEqual([2]);
    release();
    // A statement's end, and one more turn: a drain that went on would have started its next one.
    const settled = async (n: number) => {
      while (done < n) await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
    };
    await settled(1);
    expect([statements, trail.pending]).toEqual([[2], 1]);
    // Two more make a full batch waiting: the drain they start stores one batch, the rest waits again.
    await Promise.all([4, 5].map((i) => trail.record(event(i))));
    await settled(2);
    expect(statements).toEqual([2, 2]);
    await trail.flush(); // stores everything, as a close does
    expect(statements).toEqual([2, 2, 1]);
    expect(await rows()).toEqual(['a1', 'a2', 'a3', 'a4', 'a5']);
    await trail.close();
    await store.close();
  });

  it('drains on its own timer, and reports journal lines deleted between crashes', async () => {
    const dir = tempDir();
    const a = await open(dir, { drainMs: 10 });
    await a.trail.record(event(1));
    for (let t = 0; t < 600 && (await a.rows()).length === 0; t++) await new Promise((r) => setTimeout(r, 50));
    expect(await a.rows()).toEqual(['a1']);
    expect(a.trail.pending).toBe(0);
    await a.trail.close();
    await a.store.close();

    const b = await open(dir);
    for (const i of [2, 3, 4]) await b.trail.record(event(i));
    await b.store.close();
    const jdir = join(dir, 'audit-journal');
    const [file] = segments(jdir).sort().slice(-1);
    const path = join(jdir, file!);
    const lines = readFileSync(path, 'utf8').split('\n');
    writeFileSync(path, [lines[0], lines[2], ''].join('\n'));
    const c = await open(dir);
    expect(await c.rows()).toEqual(['a1', 'audit.journal_rejected:failed', 'a2', 'a4']);
    expect((await c.verify()).problems.map((p) => p.problem)).toEqual([
      'audit journal: events 3 to 3 are missing (lines or segments deleted)',
    ]);
    await c.trail.close();
    await c.store.close();
  });

  it('stores an event the database refuses for its content as audit.event_unstorable, and each of the others once', async () => {
    const dir = tempDir();
    const a = await open(dir);
    const bad = { ...event(2), keyId: 'not-a-uuid' };
    expect(await Promise.all([event(1), bad, event(3)].map((e) => settle(a.trail.record(e))))).toEqual(['stored', 'stored', 'stored']);
    await a.trail.flush();
    expect(await a.rows()).toEqual(['a1', 'audit.event_unstorable:failed', 'a3']);
    expect((await a.verify()).problems).toEqual([]);
    await a.trail.close();
    await a.store.close();
  });

  it('refuses the operations of a turn whose journal line could not be written', async () => {
    const dir = tempDir();
    let fail = false;
    const write = ((...args: Parameters<typeof writeSync>) => {
      if (fail) throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      return (writeSync as (...a: unknown[]) => number)(...args);
    }) as typeof writeSync;
    const a = await open(dir, { write });
    await a.trail.record(event(1));
    fail = true;
    expect(await Promise.all([2, 3].map((i) => settle(a.trail.record(event(i)))))).toEqual(['unavailable', 'unavailable']);
    fail = false;
    await a.trail.record(event(4));
    await a.trail.flush();
    expect(await a.rows()).toEqual(['a1', 'a4']);
    await a.trail.close();
    await a.store.close();
  });
});

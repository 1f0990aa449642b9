import type { writeSync } from 'node:fs';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AuditTrail, isDataError, type AuditEvent, type AuditTrailOptions } from './audit.ts';
import { openJournal, type AuditJournal, type JournaledEvent } from './audit-journal.ts';
import { readJournalMark } from './audit-sql.ts';
import { storable, systemEvent } from './audit-text.ts';
import { perTurn } from './runtime/per-turn.ts';
import type { Database } from './db/schema.ts';
import { KmsError } from './errors.ts';

/**
 * `maxBatch` is the events of one statement: much of a PGlite statement's cost is fixed, so large ones
 * cost less per event (sealing yields between chunks: auditseal.ts). A full statement's worth is stored
 * at once, and a timed drain stores only full ones after its first.
 */
export interface JournaledOptions extends AuditTrailOptions {
  /** Unstored events past which new ones wait to be journaled until the store catches up (back-pressure). */
  maxBehind: number;
  /** How long answered events wait in the journal for more to share their statement. */
  drainMs: number;
  /** After the store refused a batch: when to try again (new operations are refused meanwhile). */
  retryMs: number;
  /** The journal's file write (tests make it fail). */
  write?: typeof writeSync;
  /**
   * A worker of `serve --workers` on the embedded store: its journal's name, and where its batches go
   * (the primary, which stores them with `storeJournaled`; audit-worker.ts). Without it, this process
   * stores its journal itself.
   */
  worker?: { name: string; store: (batch: JournaledEvent[]) => Promise<void> };
}

export const JOURNAL_DEFAULTS: JournaledOptions = { maxBatch: 1024, maxBehind: 4000, maxQueued: 20_000, drainMs: 200, retryMs: 1000 };

interface Waiter {
  e: AuditEvent;
  resolve: () => void;
  reject: (err: KmsError) => void;
}

/**
 * The audit trail of the embedded store. An operation is answered once its event is in the journal
 * (audit-journal.ts: as durable as a PGlite commit), one write for every event of an event-loop turn;
 * the store takes the journal's events every `drainMs` in one statement, which is what a PGlite
 * statement's fixed cost needs. An event that reached the journal is stored before the gateway next
 * serves, even after a crash. While the store refuses the events, they stay in the journal and new
 * operations fail with `unavailable` (fail closed); so does everything past `maxQueued` unstored events.
 * A worker of `serve --workers` keeps a journal of its own the same way, and the primary stores it: an
 * operation waits for no other process.
 */
export class JournaledAuditTrail extends AuditTrail {
  private journal: AuditJournal | undefined;
  /** Events admitted in this turn, not yet in the journal. */
  private inTurn = 0;
  private readonly toJournal = perTurn<Waiter>((batch) => this.appendTurn(batch));
  /** Recorded while the store is `maxBehind` events behind: journaled (and answered) once it catches up. */
  private held: Waiter[] = [];
  private unstored: JournaledEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private draining: Promise<void> | undefined;
  /** Why the store refused the last batch; cleared once it takes one. */
  private failing: string | undefined;
  /** The last event of each journal this process stored ('' its own): a batch sent again is stored once. */
  private readonly marks = new Map<string, bigint>();
  /** Stores of journals run one at a time, so each sees the marks of those before it. */
  private storing: Promise<unknown> = Promise.resolve();

  constructor(
    db: Kysely<Database>,
    log: Logger,
    private readonly dir: string,
    private readonly jopts: JournaledOptions = JOURNAL_DEFAULTS,
  ) {
    super(db, log, jopts);
  }

  override get pending() {
    return this.inTurn + this.held.length + this.unstored.length + super.pending;
  }

  /** After the key: reads the journal back and stores what the last process answered but did not store. */
  override async useKey(key: Buffer) {
    await super.useKey(key);
    this.journal?.close();
    const mark = await readJournalMark(this.db, this.jopts.worker?.name ?? null);
    const { journal, unstored } = openJournal(this.dir, key, mark, this.log, this.jopts.write);
    this.journal = journal;
    this.unstored = unstored;
    if (!this.unstored.length) return journal.release(mark);
    this.log.warn({ events: this.unstored.length }, 'audit journal: storing the events of answered operations the last run did not store');
    await this.drainJournal(true);
    if (!this.failing) return;
    const why = this.failing;
    await this.close();
    throw new KmsError('unavailable', `the audit journal could not be stored (${why}); it is kept for the next start`);
  }

  /**
   * The primary of `serve --workers`: stores what worker journal `name` holds in `dir` past the store's
   * mark (its worker stopped or died) and deletes the stored segments, before another worker takes the
   * name. Returns how many events it stored.
   */
  replay(name: string, dir: string): Promise<number> {
    return this.serially(async () => {
      const { journal, unstored } = openJournal(dir, this.macKey!, await this.markOf(name), this.log, this.jopts.write);
      try {
        for (let i = 0; i < unstored.length; i += this.jopts.maxBatch)
          await this.storeSplit(name, unstored.slice(i, i + this.jopts.maxBatch));
        journal.release(await this.markOf(name));
      } finally {
        journal.close();
      }
      if (unstored.length) this.log.warn({ journal: name, events: unstored.length }, 'audit journal: stored what a stopped worker had not');
      return unstored.length;
    });
  }

  /**
   * Stores events of journal `name` ('' this process's own; on the primary, a worker's) that the store
   * does not hold yet: a batch sent again after a failure is stored once.
   */
  storeJournaled(name: string, batch: JournaledEvent[]): Promise<void> {
    return this.serially(async () => {
      const mark = await this.markOf(name);
      const fresh = batch.filter((j) => j.ordinal > mark || j.report);
      if (fresh.length) await this.storeSplit(name, fresh);
    });
  }

  private serially<T>(f: () => Promise<T>): Promise<T> {
    const run = this.storing.then(f);
    this.storing = run.catch(() => undefined);
    return run;
  }

  private async markOf(name: string) {
    const known = this.marks.get(name);
    if (known !== undefined) return known;
    const mark = await readJournalMark(this.db, name || null);
    this.marks.set(name, mark);
    return mark;
  }

  override record(event: AuditEvent): Promise<void> {
    if (!this.journal) return super.record(event);
    const e = storable(event);
    const refused = this.closed
      ? 'the audit trail is closed'
      : this.failing
        ? `the audit store refused the last batch: ${this.failing}`
        : this.pending >= this.jopts.maxQueued
          ? `${this.pending} audit events are already waiting for the store`
          : undefined;
    if (refused) return Promise.reject(this.refuse([e], refused));
    const p = new Promise<void>((resolve, reject) => {
      // Back-pressure: the journal grows no faster than the store takes it, so load slows down
      // instead of meeting `maxQueued` refusals.
      if (this.unstored.length >= this.jopts.maxBehind) this.held.push({ e, resolve, reject });
      else this.admit([{ e, resolve, reject }]);
    });
    p.catch(() => undefined);
    return p;
  }

  /** One journal line for every event recorded in this turn. */
  private admit(waiters: Waiter[]) {
    this.inTurn += waiters.length;
    for (const w of waiters) this.toJournal(w);
  }

  private appendTurn(batch: Waiter[]) {
    this.inTurn -= batch.length;
    const events = batch.map((w) => w.e);
    let first: bigint;
    try {
      if (!this.journal) throw new Error('the audit trail is closed');
      first = this.journal.append(events);
    } catch (err) {
      const refusal = this.refuse(events, 'the audit journal could not be written', err);
      for (const w of batch) w.reject(refusal);
      return;
    }
    for (const [i, e] of events.entries()) this.unstored.push({ ordinal: first + BigInt(i), event: e });
    for (const w of batch) w.resolve();
    if (this.unstored.length >= this.jopts.maxBatch) void this.drainJournal();
    else if (!this.timer && !this.draining && !this.failing) this.schedule(this.jopts.drainMs);
  }

  private schedule(ms: number) {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.drainJournal(), ms);
    this.timer.unref();
  }

  /**
   * Stores what the journal holds, a statement per `maxBatch` events; one store at a time. Under load,
   * events keep coming while a statement runs: a timed drain stops once less than a full batch is left,
   * so the next statement waits `drainMs` for more rather than taking the few that gathered meanwhile
   * (a statement's fixed cost is what its events share). `all` (flush, start) stores everything.
   */
  private drainJournal(all = false): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.draining ??= this.storeAll(all).finally(() => {
      this.draining = undefined;
      if (this.closed) return;
      if (this.failing) this.schedule(this.jopts.retryMs);
      else if (this.unstored.length) this.schedule(this.jopts.drainMs);
    });
    return this.draining;
  }

  private async storeAll(all: boolean) {
    try {
      for (let first = true; this.unstored.length && (first || all || this.unstored.length >= this.jopts.maxBatch); first = false) {
        await this.commit(this.unstored.slice(0, this.jopts.maxBatch));
        this.failing = undefined;
        if (this.unstored.length < this.jopts.maxBehind) this.admit(this.held.splice(0));
      }
      this.admit(this.held.splice(0));
    } catch (err) {
      const why = (err as Error).message;
      if (this.failing !== why)
        this.log.error(
          { err: why, waiting: this.unstored.length },
          'the audit store refused a batch; kept in the journal, new operations refused',
        );
      this.failing = why;
      const held = this.held.splice(0);
      const refusal = held.length
        ? this.refuse(
            held.map((w) => w.e),
            `the audit store refused the last batch: ${why}`,
          )
        : undefined;
      for (const w of held) w.reject(refusal!);
    }
  }

  /** Stores `batch`, the head of `unstored` (through the primary, for a worker), and takes it off. */
  private async commit(batch: JournaledEvent[]) {
    await (this.jopts.worker ? this.jopts.worker.store(batch) : this.storeJournaled('', batch));
    this.unstored.splice(0, batch.length);
    this.journal?.release(batch.at(-1)!.ordinal);
  }

  /**
   * A batch the store refuses for its content goes an event at a time; one event refused alone was
   * answered all the same, so an `audit.event_unstorable` event takes its place (the event itself is on
   * the error line).
   */
  private async storeSplit(name: string, batch: JournaledEvent[]): Promise<void> {
    try {
      await this.storeNow(name, batch);
    } catch (err) {
      if (!isDataError(err)) throw err;
      if (batch.length > 1) {
        for (const j of batch) await this.storeSplit(name, [j]);
        return;
      }
      const { ordinal, event: e } = batch[0]!;
      const why = (err as Error).message.slice(0, 200);
      this.log.error({ audit: true, recorded: false, event: e, err: why }, 'audit event refused by the store for its content; replaced');
      const stand = { ...systemEvent('audit.event_unstorable', 'failed', { ordinal: String(ordinal), err: why }), errorKind: 'unstorable' };
      await this.storeNow(name, [{ ordinal, event: stand }]);
    }
  }

  private async storeNow(name: string, batch: JournaledEvent[]) {
    const events = batch.map((j) => j.event);
    const last = batch.at(-1)!.ordinal;
    const head = await this.write(events, last, name || null);
    this.batches++;
    this.written += events.length;
    await this.committed(events, head);
    if (last > (this.marks.get(name) ?? 0n)) this.marks.set(name, last);
    // Stored once: a report still in this process's `unstored` is not stored again if a later part of its batch fails.
    for (const j of batch) j.report = false;
  }

  /** Writes every answered event to the store; while the store refuses them they stay in the journal. */
  override async flush(): Promise<void> {
    await super.flush();
    for (;;) {
      while (this.inTurn) await new Promise((r) => setImmediate(r));
      if (!this.unstored.length && !this.held.length && !this.draining) return;
      await this.drainJournal(true);
      if (this.failing) return;
    }
  }

  override async close(): Promise<void> {
    await super.close();
    clearTimeout(this.timer);
    this.journal?.close();
    this.journal = undefined;
  }
}

import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.ts';
import { KmsError } from './errors.ts';
import { eventColumns } from './auditchain.ts';
import { listAuditEvents, type AuditQuery, type StoredAuditEvent } from './audit-list.ts';
import { storable, systemEvent } from './audit-text.ts';
import { headProblem, insertEvents, moveHeadAndInsert, readHead, type Head } from './audit-sql.ts';
import type { AuditEvent } from './audit-text.ts';

export { likeContains, type AuditQuery, type StoredAuditEvent } from './audit-list.ts';
export { unstorableText, type AuditEvent } from './audit-text.ts';
import { headMac, sealBatch, unsealedRows } from './auditseal.ts';
import { nextTurn, yieldsBefore } from './runtime/per-turn.ts';

/** SQLSTATE class 22: the data itself was refused (bad encoding, bad value), not the database. */
export const isDataError = (err: unknown) => /^22/.test(String((err as { code?: unknown } | null)?.code ?? ''));

interface Waiter {
  e: AuditEvent;
  resolve: () => void;
  reject: (err: KmsError) => void;
}

export interface AuditTrailOptions {
  /** Events per insert statement. */
  maxBatch: number;
  /** Events waiting for the store (each an operation not answered yet); past it new ones are refused, never dropped. */
  maxQueued: number;
}

/**
 * No operation is answered before its audit event is durable. Changes write their event in their own
 * transaction (`inTransaction`). Reads, crypto operations and refusals `record()` theirs and wait for
 * it: group commit, so a busy gateway still pays one statement for many requests. A write starts at
 * the end of the event-loop turn when none is in flight; while one is, the events of every request
 * finishing meanwhile gather into the next one (no timer). If the store cannot take a batch, each of its operations fails with
 * `unavailable` (fail closed); nothing is dropped without its operation failing and an error line.
 */
export class AuditTrail {
  private queue: Waiter[] = [];
  private inFlight = 0;
  private writing: Promise<void> | undefined;
  protected closed = false;
  /** Events not recorded (store refusing, queue full, trail closed): each one's operation failed, and it was logged at error level. */
  dropped = 0;
  /** Batches and events written so far: their ratio is how much the group commit gathered. */
  batches = 0;
  written = 0;
  /** Events waiting for the store or being written. */
  get pending() {
    return this.queue.length + this.inFlight;
  }

  /** The MAC key of the tamper-evident chain (set by `useKey` once the store is open). */
  macKey: Buffer | undefined;
  /** The head this process last committed or verified, for the one-statement append. */
  private head: Head | undefined;
  /** The highest sequence number this process saw committed: a head below it was rolled back. */
  highestSeen = 0n;

  constructor(
    protected readonly db: Kysely<Database>,
    protected readonly log: Logger,
    protected readonly opts: AuditTrailOptions = { maxBatch: 500, maxQueued: 20_000 },
  ) {}

  /**
   * Sets the MAC key. On the first open after the upgrade that gave the head its MAC (`adopt_pending`,
   * set by that migration alone), the head is MACed as found, once, with a warning line and
   * (when the trail is not empty) an `audit.head_adopted` event; any later head without a valid MAC is
   * reported by the verifier and marked by the next write.
   */
  async useKey(key: Buffer) {
    this.macKey = key;
    await this.db.transaction().execute(async (trx) => {
      const head = await readHead(trx);
      const h = head.head;
      if (h.mac || !head.adoptPending) {
        const problem = headProblem(this.macKey!, this.highestSeen, h);
        if (problem)
          this.log.error({ seq: h.seq, problem }, 'audit chain head does not verify: the trail was tampered with (polykms audit verify)');
        return;
      }
      const adopted = { ...h, mac: headMac(key, h.seq, h.chain, h.legacy) };
      await trx.updateTable('audit_chain_head').set({ mac: adopted.mac, adopt_pending: false }).where('id', '=', 1).execute();
      const empty = h.seq === '0' && !(await trx.selectFrom('audit_events').select('id').limit(1).executeTakeFirst());
      if (empty) return;
      this.log.warn(
        { auditHead: { seq: h.seq, chain: h.chain.toString('hex'), legacyMaxId: h.legacy } },
        'audit chain head authenticated as found (first open after the upgrade); this happens once: another such line means the head was reset in the database',
      );
      const r = await this.append(trx, adopted, [systemEvent('audit.head_adopted', 'allowed', { seq: h.seq, legacyMaxId: h.legacy })]);
      if (!r.stored) throw new KmsError('internal', 'the audit event was not stored');
    });
  }

  /**
   * Seals `events` after `from` and moves the head, in one statement. A head that does not verify is
   * extended all the same (refusing would let any database writer stop the service), but only after an
   * `audit.head_rejected` event that the verifier reports for ever: the tampering cannot be laundered.
   */
  private async append(
    db: Kysely<Database> | Transaction<Database>,
    from: Head,
    events: AuditEvent[],
    checked = false,
    mark: bigint | null = null,
    journal: string | null = null,
  ) {
    const key = this.macKey!;
    const problem = checked ? undefined : headProblem(this.macKey!, this.highestSeen, from);
    if (problem) {
      this.log.error(
        { seq: from.seq, legacyMaxId: from.legacy, problem },
        'audit chain head does not verify: the trail was tampered with; marked in the trail',
      );
      events = [systemEvent('audit.head_rejected', 'failed', { problem, seq: from.seq, legacyMaxId: from.legacy }), ...events];
    }
    const columns = events.map(eventColumns);
    const head = { seq: from.seq, chain: from.chain };
    const sealed = await sealBatch(key, head, columns);
    const chain = sealed.chain;
    const to: Head = { seq: sealed.seq, chain, legacy: from.legacy, mac: headMac(key, sealed.seq, chain, from.legacy) };
    const inserted = await moveHeadAndInsert(db, from, to, sealed.rows, mark, journal);
    return { to, stored: inserted === columns.length, marked: !!problem };
  }

  /** A change's event, in the change's own transaction (the chain head locked after the key row: no lock cycle). */
  async inTransaction(trx: Transaction<Database>, event: AuditEvent) {
    const e = storable(event);
    // Logged as it is sealed: the transaction commits after this line (the row is the durable record).
    this.logEvent(e);
    if (!this.macKey) return void (await insertEvents(trx, unsealedRows([eventColumns(e)])));
    const { head } = await readHead(trx);
    // The head is locked: not stored means the store did not take the row, and the change must not commit.
    if (!(await this.append(trx, head, [e])).stored) throw new KmsError('internal', 'the audit event was not stored');
  }

  /**
   * Records an event; resolves once it is durable, rejects with `unavailable` when the store cannot
   * take it (the caller then fails its operation). Callers that do not wait still get the event written,
   * and a failure logged.
   */
  record(event: AuditEvent): Promise<void> {
    const e = storable(event);
    let p: Promise<void>;
    if (this.closed) p = Promise.reject(this.refuse([e], 'the audit trail is closed'));
    else if (this.queue.length >= this.opts.maxQueued)
      p = Promise.reject(this.refuse([e], `${this.queue.length} audit events are already waiting for the store`));
    else {
      p = new Promise<void>((resolve, reject) => this.queue.push({ e, resolve, reject }));
      // The write starts at the end of this event-loop turn, so every request finishing in the turn
      // shares its statement (the first one alone would otherwise pay a whole batch).
      this.writing ??= new Promise<void>((next) => setImmediate(next)).then(() => this.drain());
    }
    p.catch(() => undefined);
    return p;
  }

  /** The one writer: a batch at a time, each batch whatever gathered while the previous one was written. */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length) {
        const batch = this.queue.splice(0, this.opts.maxBatch);
        this.inFlight = batch.length;
        await this.writeBatch(batch);
        this.inFlight = 0;
      }
    } finally {
      this.inFlight = 0;
      this.writing = undefined;
    }
  }

  /** Writes a batch and settles its waiters; never throws. */
  private async writeBatch(batch: Waiter[]): Promise<void> {
    const events = batch.map((w) => w.e);
    try {
      const sealed = await this.write(events);
      this.batches++;
      this.written += events.length;
      await this.committed(events, sealed);
      for (const w of batch) w.resolve();
    } catch (err) {
      // A batch the database refused for its content (a value `storable` did not foresee): each event
      // alone, so one bad event fails its own operation, not the others'.
      if (isDataError(err) && batch.length > 1) {
        for (const w of batch) await this.writeBatch([w]);
        return;
      }
      const refusal = this.refuse(events, 'the audit store did not take the events', err);
      for (const w of batch) w.reject(refusal);
    }
  }

  /**
   * One batch: a single statement that moves the head only if it is still where this process left it;
   * when a change or another process moved it meanwhile, the head is locked and read again. `mark`: the
   * last audit-journal event among `events` (audit-journaled.ts), recorded with them as `journal`'s.
   */
  protected async write(events: AuditEvent[], mark: bigint | null = null, journal: string | null = null): Promise<Head | undefined> {
    if (!this.macKey) return void (await insertEvents(this.db, unsealedRows(events.map(eventColumns))));
    if (this.head) {
      const r = await this.append(this.db, this.head, events, true, mark, journal);
      if (r.stored) return (this.head = r.to);
      this.head = undefined;
    }
    const r = await this.db
      .transaction()
      .execute(async (trx) => this.append(trx, (await readHead(trx)).head, events, false, mark, journal));
    if (!r.stored) throw new KmsError('internal', 'the audit chain head moved while it was locked');
    return (this.head = r.to);
  }

  /**
   * After a commit: the log lines, the last one with the head (seq, chain) so it can be anchored outside
   * the database. Written synchronously, so a large batch's lines are spread over turns.
   */
  protected async committed(events: AuditEvent[], head: Head | undefined) {
    if (head && BigInt(head.seq) > this.highestSeen) this.highestSeen = BigInt(head.seq);
    const last = head ? BigInt(head.seq) : 0n;
    for (const [i, e] of events.entries()) {
      if (yieldsBefore(i)) await nextTurn();
      const end = i === events.length - 1;
      this.logEvent(
        e,
        head
          ? {
              seq: String(last - BigInt(events.length - 1 - i)),
              ...(end ? { head: { seq: head.seq, chain: head.chain.toString('hex') } } : {}),
            }
          : undefined,
      );
    }
  }

  protected refuse(events: AuditEvent[], why: string, err?: unknown): KmsError {
    this.dropped += events.length;
    for (const e of events)
      this.log.error(
        {
          audit: true,
          recorded: false,
          tenant: e.tenantId,
          dialect: e.dialect,
          principal: e.principal,
          action: e.action,
          key: e.keyId,
          outcome: e.outcome,
          errorKind: e.errorKind,
          reqId: e.requestId,
          err: err === undefined ? undefined : (err as Error).message,
          dropped: this.dropped,
        },
        `audit event not recorded (${why}); its operation is refused`,
      );
    return new KmsError('unavailable', 'the audit trail cannot record this operation right now; it was not carried out');
  }

  /** Resolves once every event recorded so far is written (or refused). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** Recent events, newest first (see audit-list.ts); what this process has recorded is written first. */
  async list(q: AuditQuery = {}): Promise<{ events: StoredAuditEvent[]; nextBefore: string | null }> {
    await this.flush();
    return listAuditEvents(this.db, q);
  }

  private logEvent(e: AuditEvent, sealed?: { seq: string; head?: { seq: string; chain: string } }) {
    this.log.info(
      {
        audit: true,
        tenant: e.tenantId,
        dialect: e.dialect,
        principal: e.principal,
        action: e.action,
        key: e.keyId,
        outcome: e.outcome,
        errorKind: e.errorKind,
        reqId: e.requestId,
        ...sealed,
      },
      'audit',
    );
  }

  /** Refuses new events, and resolves once those already recorded are written (or refused). */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }
}

import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.ts';
import { KmsError, invalid } from './errors.ts';
import { isUuid } from './ciphertext.ts';
import { eventColumns } from './auditchain.ts';
import { headMac, sealBatch, unsealedRows } from './auditseal.mjs';
import { offloadAudit } from './runtime/offload.ts';

export interface AuditEvent {
  at: Date;
  tenantId: string | null;
  dialect: string;
  principal: string;
  action: string;
  keyId: string | null;
  outcome: 'allowed' | 'denied' | 'failed';
  errorKind?: string | null | undefined;
  requestId?: string | null | undefined;
  details?: Record<string, unknown> | null | undefined;
}

/** An event as stored, with its position in the trail. */
export interface StoredAuditEvent extends AuditEvent {
  id: string;
  errorKind: string | null;
  requestId: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditQuery {
  /** Only this tenant's events (a uuid); all tenants when absent. */
  tenantId?: string | undefined;
  keyId?: string | undefined;
  limit?: number | undefined;
  /** Events older than this position (`nextBefore` of the previous page). */
  before?: string | undefined;
  dialect?: string | undefined;
  /** Principals containing this text (case-insensitive). */
  principal?: string | undefined;
  action?: string | undefined;
  outcome?: AuditEvent['outcome'] | undefined;
  /** Events at or after `since` and before `until`. */
  since?: Date | undefined;
  until?: Date | undefined;
  /**
   * Leaves out one caller's successful events with these actions: an operator tool's own reads
   * (every page it shows is a `key.get` or `key.list`) would otherwise bury what others did.
   */
  hide?: { dialect: string; principal: string; actions: readonly string[] } | undefined;
}

/** `%`, `_` and the escape character itself, matched literally by LIKE. */
export const likeContains = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * One statement per batch, whatever its size: the rows as one JSON document, spread by
 * `jsonb_to_recordset`. A multi-row VALUES list costs a bind parameter per cell and a parse and plan
 * that grow with the batch; one array per column (`unnest`) costs the driver a text encoding per cell.
 * Measured here per event (CPU of the whole process): VALUES 53 us on PostgreSQL and 70 on PGlite,
 * unnest 22 and 65, JSON 13 and 36.
 */
function insertEvents(db: Kysely<Database> | Transaction<Database>, rows: string) {
  return sql`insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
    select at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, decode(mac, 'hex'), seq, decode(chain, 'hex')
    from jsonb_to_recordset(${rows}::jsonb) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text, key_id uuid,
      outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text)`.execute(db);
}

/**
 * Moves the chain head from `from` to `to` and inserts the sealed rows, in one statement and only if the
 * head is still at `from` (another writer may have moved it: then nothing is inserted).
 */
function moveHeadAndInsert(db: Kysely<Database> | Transaction<Database>, from: Head, to: Head, rows: string) {
  return sql`with moved as (
      update audit_chain_head set seq = ${to.seq}, chain = ${to.chain}, mac = ${to.mac}
      where id = 1 and seq = ${from.seq} and chain = ${from.chain} returning 1)
    insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
    select at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, decode(mac, 'hex'), seq, decode(chain, 'hex')
    from jsonb_to_recordset(${rows}::jsonb) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text, key_id uuid,
      outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text)
    where exists (select 1 from moved)`.execute(db);
}

/** SQLSTATE class 22: the data itself was refused (bad encoding, bad value), not the database. */
const isDataError = (err: unknown) => /^22/.test(String((err as { code?: unknown } | null)?.code ?? ''));

/** NUL, and UTF-16 halves without their pair (which no UTF-8 text can hold). */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const UNSTORABLE_ONE = new RegExp(UNSTORABLE.source);
/** True when PostgreSQL could not store this text (see `storable`): names and descriptions with it are refused. */
export const unstorableText = (s: string) => UNSTORABLE_ONE.test(s);
const MAYBE = /\u0000|[\uD800-\uDFFF]/;
/** The same in JSON text: JSON.stringify escapes both (`\u0000`, `\ud800`). */
const MAYBE_JSON = /\\u0000|\\ud[89a-f][0-9a-f]{2}/i;
/**
 * PostgreSQL stores no NUL character and no unpaired surrogate in text or jsonb: one in a token's
 * claim, a header or a request's `reason` would fail its whole batch, again at every retry. Each
 * becomes U+FFFD before the event is MACed and buffered.
 */
function storable(e: AuditEvent): AuditEvent {
  const strings = [e.dialect, e.principal, e.action, e.errorKind, e.requestId];
  let details = '';
  try {
    details = e.details ? JSON.stringify(e.details) : '';
  } catch {
    // BigInt or a cycle: keep what can be said about it rather than fail the caller or the batch.
    return storable({ ...e, details: { unserializable: true } });
  }
  if (!strings.some((v) => v !== undefined && v !== null && MAYBE.test(v)) && !MAYBE_JSON.test(details)) return e;
  const clean = <T,>(v: T): T =>
    (typeof v === 'string'
      ? v.replace(UNSTORABLE, '\ufffd')
      : Array.isArray(v)
        ? v.map(clean)
        : v && typeof v === 'object' && !(v instanceof Date)
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [clean(k), clean(x)]))
          : v) as T;
  return {
    ...e,
    dialect: clean(e.dialect),
    principal: clean(e.principal),
    action: clean(e.action),
    errorKind: clean(e.errorKind),
    requestId: clean(e.requestId),
    details: clean(e.details),
  };
}

/** The chain head as this process last wrote or verified it. */
interface Head {
  seq: string;
  chain: Buffer;
  legacy: string;
  mac: Buffer | null;
}

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
  /** Batches of at least this many events are sealed on the audit worker thread. */
  offThreadFrom?: number;
}

/**
 * No operation is answered before its audit event is durable. Changes write their event in their own
 * transaction (`inTransaction`). Reads, crypto operations and refusals `record()` theirs and wait for
 * it: group commit, so a busy gateway still pays one statement for many requests. A write starts at
 * once when none is in flight; while one is, the events of every request finishing meanwhile gather
 * into the next one (no timer). If the store cannot take a batch, each of its operations fails with
 * `unavailable` (fail closed); nothing is dropped without its operation failing and an error line.
 */
export class AuditTrail {
  private queue: Waiter[] = [];
  private inFlight = 0;
  private writing: Promise<void> | undefined;
  private closed = false;
  /** Events not recorded (store refusing, queue full, trail closed): each one's operation failed, and it was logged at error level. */
  dropped = 0;
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
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly opts: AuditTrailOptions = { maxBatch: 500, maxQueued: 20_000, offThreadFrom: 8 },
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
      const head = await this.readHead(trx);
      const h = head.head;
      if (h.mac || !head.adoptPending) {
        const problem = this.headProblem(h);
        if (problem) this.log.error({ seq: h.seq, problem }, 'audit chain head does not verify: the trail was tampered with (polykms audit verify)');
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
      await this.append(trx, adopted, [this.systemEvent('audit.head_adopted', 'allowed', { seq: h.seq, legacyMaxId: h.legacy })]);
    });
  }

  private systemEvent(action: string, outcome: AuditEvent['outcome'], details: Record<string, unknown>): AuditEvent {
    return { at: new Date(), tenantId: null, dialect: 'core', principal: 'polykms', action, keyId: null, outcome, errorKind: outcome === 'failed' ? 'tampered' : null, details };
  }

  private async readHead(db: Kysely<Database> | Transaction<Database>) {
    const h = await db.selectFrom('audit_chain_head').select(['seq', 'chain', 'legacy_max_id', 'mac', 'adopt_pending']).where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
    return { head: { seq: String(h.seq), chain: Buffer.from(h.chain), legacy: String(h.legacy_max_id), mac: h.mac ? Buffer.from(h.mac) : null } as Head, adoptPending: h.adopt_pending };
  }

  /** Why the head as read cannot be extended as is (see verifyAuditChain), or undefined. */
  private headProblem(h: Head): string | undefined {
    if (!h.mac) return 'the chain head had no MAC';
    const want = headMac(this.macKey!, h.seq, h.chain, h.legacy);
    if (want.length !== h.mac.length || !timingSafeEqual(want, h.mac)) return 'the chain head did not match its MAC (moved, or its legacy bound changed)';
    if (BigInt(h.seq) < this.highestSeen) return `the chain head went back from ${this.highestSeen} to ${h.seq}`;
    return undefined;
  }

  /**
   * Seals `events` after `from` and moves the head, in one statement. A head that does not verify is
   * extended all the same (refusing would let any database writer stop the service), but only after an
   * `audit.head_rejected` event that the verifier reports for ever: the tampering cannot be laundered.
   */
  private async append(db: Kysely<Database> | Transaction<Database>, from: Head, events: AuditEvent[], offThread = false, checked = false) {
    const key = this.macKey!;
    const problem = checked ? undefined : this.headProblem(from);
    if (problem) {
      this.log.error({ seq: from.seq, legacyMaxId: from.legacy, problem }, 'audit chain head does not verify: the trail was tampered with; marked in the trail');
      events = [this.systemEvent('audit.head_rejected', 'failed', { problem, seq: from.seq, legacyMaxId: from.legacy }), ...events];
    }
    const columns = events.map(eventColumns);
    const head = { seq: from.seq, chain: from.chain };
    const sealed = offThread ? await offloadAudit<ReturnType<typeof sealBatch>>({ op: 'auditSeal', key, head, events: columns }) : sealBatch(key, head, columns);
    const chain = Buffer.from(sealed.chain);
    const to: Head = { seq: sealed.seq, chain, legacy: from.legacy, mac: headMac(key, sealed.seq, chain, from.legacy) };
    const r = await moveHeadAndInsert(db, from, to, sealed.rows);
    return { to, stored: Number(r.numAffectedRows ?? 0) === columns.length, marked: !!problem };
  }

  /** A change's event, in the change's own transaction (the chain head locked after the key row: no lock cycle). */
  async inTransaction(trx: Transaction<Database>, event: AuditEvent) {
    const e = storable(event);
    // Logged as it is sealed: the transaction commits after this line (the row is the durable record).
    this.logEvent(e);
    if (!this.macKey) return void (await insertEvents(trx, unsealedRows([eventColumns(e)])));
    const { head } = await this.readHead(trx);
    await this.append(trx, head, [e]);
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
    else if (this.queue.length >= this.opts.maxQueued) p = Promise.reject(this.refuse([e], `${this.queue.length} audit events are already waiting for the store`));
    else {
      p = new Promise<void>((resolve, reject) => this.queue.push({ e, resolve, reject }));
      this.writing ??= this.drain();
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
      this.committed(events, sealed);
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
   * when a change or another process moved it meanwhile, the head is locked and read again.
   */
  private async write(events: AuditEvent[]): Promise<Head | undefined> {
    if (!this.macKey) return void (await insertEvents(this.db, unsealedRows(events.map(eventColumns))));
    const offThread = events.length >= (this.opts.offThreadFrom ?? Infinity);
    if (this.head) {
      const r = await this.append(this.db, this.head, events, offThread, true);
      if (r.stored) return (this.head = r.to);
      this.head = undefined;
    }
    const r = await this.db.transaction().execute(async (trx) => this.append(trx, (await this.readHead(trx)).head, events, offThread));
    if (!r.stored) throw new KmsError('internal', 'the audit chain head moved while it was locked');
    return (this.head = r.to);
  }

  /** After a commit: the log lines, the last one with the head (seq, chain) so it can be anchored outside the database. */
  private committed(events: AuditEvent[], head: Head | undefined) {
    if (head && BigInt(head.seq) > this.highestSeen) this.highestSeen = BigInt(head.seq);
    const last = head ? BigInt(head.seq) : 0n;
    events.forEach((e, i) => {
      const end = i === events.length - 1;
      this.logEvent(e, head ? { seq: String(last - BigInt(events.length - 1 - i)), ...(end ? { head: { seq: head.seq, chain: head.chain.toString('hex') } } : {}) } : undefined);
    });
  }

  private refuse(events: AuditEvent[], why: string, err?: unknown): KmsError {
    this.dropped += events.length;
    for (const e of events)
      this.log.error(
        { audit: true, recorded: false, tenant: e.tenantId, dialect: e.dialect, principal: e.principal, action: e.action, key: e.keyId, outcome: e.outcome, errorKind: e.errorKind, reqId: e.requestId, err: err === undefined ? undefined : (err as Error).message, dropped: this.dropped },
        `audit event not recorded (${why}); its operation is refused`,
      );
    return new KmsError('unavailable', 'the audit trail cannot record this operation right now; it was not carried out');
  }

  /** Resolves once every event recorded so far is written (or refused). */
  async flush(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /**
   * Recent events, newest first by event time (buffered events are inserted after later changes, so
   * the id alone is not time order); keyset on (at, id), so a page costs the same at any depth.
   * Buffered events are written first, so a read sees everything this process has recorded.
   */
  async list(q: AuditQuery = {}): Promise<{ events: StoredAuditEvent[]; nextBefore: string | null }> {
    const limit = q.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('a page holds 1 to 1000 audit events', 'limit');
    for (const [field, v] of [['tenant', q.tenantId], ['key', q.keyId]] as const) if (v !== undefined && !isUuid(v)) throw invalid(`a ${field} id is a UUID`, field);
    const before = q.before === undefined ? undefined : decodeAuditPosition(q.before);
    await this.flush();
    let sel = this.db.selectFrom('audit_events').selectAll();
    if (q.tenantId !== undefined) sel = sel.where('tenant_id', '=', q.tenantId);
    if (q.keyId !== undefined) sel = sel.where('key_id', '=', q.keyId);
    for (const [field, v] of [['dialect', q.dialect], ['principal', q.principal], ['action', q.action]] as const) {
      if (v !== undefined && (typeof v !== 'string' || v.length < 1 || v.length > 256 || unstorableText(v))) throw invalid(`a ${field} filter is 1 to 256 characters`, field);
    }
    if (q.outcome !== undefined && !['allowed', 'denied', 'failed'].includes(q.outcome)) throw invalid('an outcome is allowed, denied or failed', 'outcome');
    for (const [field, v] of [['since', q.since], ['until', q.until]] as const) if (v !== undefined && !(v instanceof Date && !Number.isNaN(v.getTime()))) throw invalid(`${field} is not a valid time`, field);
    if (q.dialect !== undefined) sel = sel.where('dialect', '=', q.dialect);
    if (q.principal !== undefined) sel = sel.where('principal', 'ilike', likeContains(q.principal));
    if (q.action !== undefined) sel = sel.where('action', '=', q.action);
    if (q.outcome !== undefined) sel = sel.where('outcome', '=', q.outcome);
    if (q.since !== undefined) sel = sel.where('at', '>=', q.since);
    if (q.until !== undefined) sel = sel.where('at', '<', q.until);
    const hide = q.hide;
    if (hide?.actions.length)
      sel = sel.where((w) => w.not(w.and([w('dialect', '=', hide.dialect), w('principal', '=', hide.principal), w('outcome', '=', 'allowed'), w('action', 'in', [...hide.actions])])));
    if (before) sel = sel.where((w) => w.or([w('at', '<', before.at), w.and([w('at', '=', before.at), w('id', '<', before.id)])]));
    const rows = await sel.orderBy('at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
    const events = rows.slice(0, limit).map((r) => ({
      id: String(r.id),
      at: r.at,
      tenantId: r.tenant_id,
      dialect: r.dialect,
      principal: r.principal,
      action: r.action,
      keyId: r.key_id,
      outcome: r.outcome as AuditEvent['outcome'],
      errorKind: r.error_kind,
      requestId: r.request_id,
      details: r.details,
    }));
    const last = events[events.length - 1];
    return { events, nextBefore: rows.length > limit && last ? Buffer.from(`${last.at.toISOString()}|${last.id}`).toString('base64url') : null };
  }

  private logEvent(e: AuditEvent, sealed?: { seq: string; head?: { seq: string; chain: string } }) {
    this.log.info(
      { audit: true, tenant: e.tenantId, dialect: e.dialect, principal: e.principal, action: e.action, key: e.keyId, outcome: e.outcome, errorKind: e.errorKind, reqId: e.requestId, ...sealed },
      'audit',
    );
  }

  /** Refuses new events; those already queued are still written (`flush`). */
  close() {
    this.closed = true;
  }
}

function decodeAuditPosition(pos: string): { at: Date; id: string } {
  const bad = () => invalid('the audit position is not valid', 'before');
  if (typeof pos !== 'string' || pos.length > 100 || !/^[A-Za-z0-9_-]+$/.test(pos)) throw bad();
  const [iso, id] = Buffer.from(pos, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (Number.isNaN(at.getTime()) || !/^[1-9][0-9]{0,17}$/.test(id ?? '')) throw bad();
  return { at, id: id! };
}

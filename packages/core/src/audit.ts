import { sql, type Kysely, type Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.ts';
import { invalid } from './errors.ts';
import { isUuid } from './ciphertext.ts';
import { eventColumns } from './auditchain.ts';
import { sealBatch, unsealedRows } from './auditseal.mjs';
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

/**
 * Changes write their audit event in their own transaction (`inTransaction`). Reads and crypto
 * operations, which change nothing, go through a small buffer flushed in one multi-row insert, so the
 * hot path pays no extra round trip; `flush()` runs on shutdown.
 */
export class AuditTrail {
  private buffer: AuditEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  private failures = 0;
  private closed = false;
  dropped = 0;
  /** Events recorded and not yet written. */
  get pending() {
    return this.buffer.length;
  }

  /** The MAC key of the tamper-evident chain (set once the store is open). */
  macKey: Buffer | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly opts: { flushMs: number; maxBatch: number; maxBuffered: number; highWater?: number } = { flushMs: 100, maxBatch: 500, maxBuffered: 100_000, highWater: 5_000 },
  ) {}

  private waiters: (() => void)[] = [];

  /**
   * Back-pressure: nothing to wait for while the writer keeps up; once more than `highWater` events
   * wait (a slow or busy database under a flood), a promise that resolves when it has caught up, so
   * requests slow down instead of events piling up to `maxBuffered` and being dropped. Never waits
   * while the database is failing, nor more than a second: then requests go on and the buffer is the
   * only protection.
   */
  room(): Promise<void> | undefined {
    if (this.closed || this.failures > 0 || this.buffer.length <= (this.opts.highWater ?? Infinity)) return undefined;
    // At most a second: a writer stuck (not failing) on a lock or a dead connection must not stop
    // every request in the process.
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      setTimeout(resolve, 1000).unref();
    });
  }

  private release() {
    if (!this.waiters.length || (this.failures === 0 && !this.closed && this.buffer.length > (this.opts.highWater ?? Infinity))) return;
    const w = this.waiters;
    this.waiters = [];
    for (const resolve of w) resolve();
  }

  async inTransaction(trx: Transaction<Database>, event: AuditEvent) {
    const e = storable(event);
    this.logEvent(e);
    await this.append(trx, [e]);
  }

  /**
   * Inserts events with their MAC, numbered and chained (see auditchain.ts), in the caller's
   * transaction, the chain head locked; unsealed while the MAC key is not set yet. A buffered batch is
   * sealed on the audit worker (`offThread`): its MACs, links and JSON cost the event loop ~50 us an
   * event otherwise.
   */
  private async append(db: Kysely<Database> | Transaction<Database>, events: AuditEvent[], offThread = false) {
    const key = this.macKey;
    const columns = events.map(eventColumns);
    if (!key) return void (await insertEvents(db, unsealedRows(columns)));
    const h = await db.selectFrom('audit_chain_head').select(['seq', 'chain']).where('id', '=', 1).forUpdate().executeTakeFirstOrThrow();
    const head = { seq: String(h.seq), chain: h.chain };
    const sealed = offThread ? await offloadAudit<ReturnType<typeof sealBatch>>({ op: 'auditSeal', key, head, events: columns }) : sealBatch(key, head, columns);
    await db.updateTable('audit_chain_head').set({ seq: sealed.seq, chain: Buffer.from(sealed.chain) }).where('id', '=', 1).execute();
    await insertEvents(db, sealed.rows);
  }

  record(event: AuditEvent) {
    const e = storable(event);
    this.logEvent(e);
    if (this.buffer.length >= this.opts.maxBuffered) {
      this.dropped++;
      this.log.error({ dropped: this.dropped }, 'audit buffer full; the database is not accepting audit events');
      return;
    }
    this.buffer.push(e);
    if (this.buffer.length >= this.opts.maxBatch) this.kick(0);
    else this.kick(this.opts.flushMs);
  }

  /** One writer loop at a time; a failed insert keeps its events and waits before the next try. */
  private kick(delayMs: number) {
    if (this.closed || this.flushing) return;
    if (delayMs > 0) {
      if (!this.timer) {
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.kick(0);
        }, delayMs);
        this.timer.unref();
      }
      return;
    }
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.flushing = this.drain()
      .catch(() => undefined)
      .finally(() => {
        this.flushing = undefined;
      });
  }

  private async drain(): Promise<void> {
    while (this.buffer.length) {
      const batch = this.buffer.splice(0, this.opts.maxBatch);
      try {
        try {
          await this.write(batch);
        } catch (err) {
          if (!isDataError(err)) throw err;
          await this.writeOneByOne(batch);
        }
        this.failures = 0;
        this.release();
      } catch (err) {
        this.buffer.unshift(...batch);
        this.failures++;
        this.release();
        this.log.warn({ err: (err as Error).message, pending: this.buffer.length }, 'audit flush failed; will retry');
        if (!this.closed) {
          this.timer = setTimeout(() => {
            this.timer = undefined;
            this.kick(0);
          }, Math.min(5000, 200 * 2 ** Math.min(this.failures, 5)));
          this.timer.unref();
        }
        throw err;
      }
    }
  }

  private write(batch: AuditEvent[]) {
    return this.macKey ? this.db.transaction().execute((trx) => this.append(trx, batch, batch.length > 1)) : this.append(this.db, batch);
  }

  /**
   * A batch the database refused for its content (a value `storable` did not foresee): each event
   * alone, so one bad event is set aside, loudly, instead of blocking every later one at every retry.
   */
  private async writeOneByOne(batch: AuditEvent[]) {
    for (const [i, e] of batch.entries()) {
      try {
        await this.write([e]);
      } catch (err) {
        if (!isDataError(err)) {
          batch.splice(0, i);
          throw err;
        }
        this.dropped++;
        this.log.error({ err: (err as Error).message, action: e.action, reqId: e.requestId, dropped: this.dropped }, 'audit event refused by the database; set aside');
      }
    }
  }

  /** Writes everything buffered; resolves when nothing is pending or in flight (rejects if the store refuses). */
  async flush(): Promise<void> {
    for (let i = 0; i < 1000; i++) {
      if (this.flushing) {
        await this.flushing.catch(() => undefined);
        continue;
      }
      if (!this.buffer.length) return;
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = undefined;
      }
      this.flushing = this.drain().finally(() => {
        this.flushing = undefined;
      });
      await this.flushing;
    }
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
    await this.flush().catch(() => undefined);
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

  private logEvent(e: AuditEvent) {
    this.log.info(
      { audit: true, tenant: e.tenantId, dialect: e.dialect, principal: e.principal, action: e.action, key: e.keyId, outcome: e.outcome, errorKind: e.errorKind, reqId: e.requestId },
      'audit',
    );
  }

  close() {
    this.closed = true;
    this.release();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
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

import type { Kysely, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from './db/schema.ts';

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

const toRow = (e: AuditEvent) => ({
  at: e.at,
  tenant_id: e.tenantId,
  dialect: e.dialect,
  principal: e.principal,
  action: e.action,
  key_id: e.keyId,
  outcome: e.outcome,
  error_kind: e.errorKind ?? null,
  request_id: e.requestId ?? null,
  details: e.details ? JSON.stringify(e.details) : null,
});

/**
 * Changes write their audit event in their own transaction (`inTransaction`). Reads and crypto
 * operations, which change nothing, go through a small buffer flushed in one multi-row insert, so the
 * hot path pays no extra round trip; `flush()` runs on shutdown.
 */
export class AuditTrail {
  private buffer: AuditEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> | undefined;
  dropped = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly log: Logger,
    private readonly opts: { flushMs: number; maxBatch: number; maxBuffered: number } = { flushMs: 100, maxBatch: 500, maxBuffered: 100_000 },
  ) {}

  async inTransaction(trx: Transaction<Database>, e: AuditEvent) {
    this.logEvent(e);
    await trx.insertInto('audit_events').values(toRow(e)).execute();
  }

  record(e: AuditEvent) {
    this.logEvent(e);
    if (this.buffer.length >= this.opts.maxBuffered) {
      this.dropped++;
      this.log.error({ dropped: this.dropped }, 'audit buffer full; the database is not accepting audit events');
      return;
    }
    this.buffer.push(e);
    if (this.buffer.length >= this.opts.maxBatch) void this.flush();
    else if (!this.timer) this.timer = setTimeout(() => void this.flush(), this.opts.flushMs);
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.flushing) await this.flushing;
    if (this.buffer.length === 0) return;
    const batch = this.buffer.splice(0, this.opts.maxBatch);
    this.flushing = this.db
      .insertInto('audit_events')
      .values(batch.map(toRow))
      .execute()
      .then(
        () => undefined,
        (err) => {
          // Keep the events and retry later rather than lose them.
          this.buffer.unshift(...batch);
          this.log.warn({ err: (err as Error).message }, 'audit flush failed; will retry');
          if (!this.timer) this.timer = setTimeout(() => void this.flush(), 1000);
        },
      )
      .finally(() => {
        this.flushing = undefined;
      });
    await this.flushing;
    if (this.buffer.length >= this.opts.maxBatch) await this.flush();
  }

  private logEvent(e: AuditEvent) {
    this.log.info(
      { audit: true, tenant: e.tenantId, dialect: e.dialect, principal: e.principal, action: e.action, key: e.keyId, outcome: e.outcome, errorKind: e.errorKind, reqId: e.requestId },
      'audit',
    );
  }

  close() {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

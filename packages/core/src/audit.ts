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
  private failures = 0;
  private closed = false;
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
        await this.db.insertInto('audit_events').values(batch.map(toRow)).execute();
        this.failures = 0;
      } catch (err) {
        this.buffer.unshift(...batch);
        this.failures++;
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

  private logEvent(e: AuditEvent) {
    this.log.info(
      { audit: true, tenant: e.tenantId, dialect: e.dialect, principal: e.principal, action: e.action, key: e.keyId, outcome: e.outcome, errorKind: e.errorKind, reqId: e.requestId },
      'audit',
    );
  }

  close() {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

import type { Logger } from 'pino';
import type { AuditTrail } from './audit.ts';

/** One refused authentication (a certificate, token, signature or JWT that did not pass), as a dialect saw it. */
export interface AuthRefusal {
  dialect: string;
  /** Where it came from (the client's address): the unit of the rate bound. */
  source: string;
  /** Why, in the words the client was given (cut to 300 characters). */
  reason: string;
  /** Who it claimed to be, when the credential said (an AK, a certificate fingerprint). */
  principal?: string | undefined;
  tenantId?: string | null | undefined;
  requestId?: string | undefined;
  /** The event's action and error kind when the dialect names the refused method (`auth.refused`, `unauthenticated` otherwise). */
  action?: string | undefined;
  errorKind?: string | undefined;
  keyId?: string | null | undefined;
  details?: Record<string, unknown> | undefined;
}

export interface AuthFailureOptions {
  /** Refusals audited at once per source, then `perMinute` a minute. */
  burst: number;
  perMinute: number;
  /** Sources followed one by one; past it, the rest of a dialect's share one bound. */
  maxSources: number;
  /** How often the count of refusals over the bound is written as one summary event per source. */
  summaryMs: number;
}

interface Bucket {
  dialect: string;
  source: string;
  tokens: number;
  at: number;
  suppressed: number;
  since: Date | undefined;
}

const clip = (s: string, n = 300) => (s.length > n ? `${s.slice(0, n)}...` : s);

/**
 * Authentication refusals of every dialect: each is counted; within a per-source token bucket each is
 * logged and audited (`auth.refused`, outcome denied); over it, it is only counted, and the count is
 * written as one `auth.refused_summary` event per source (when the source has room again, or at the
 * next summary tick), so a flood of bad credentials cannot fill the trail or the log. The refusal
 * itself never waits for the trail: its answer does not depend on the store.
 */
export class AuthFailures {
  /** Every refusal, by dialect (audited or over the bound). */
  readonly counts: Record<string, number> = {};
  /** Refusals over the bound (counted in a summary event instead of one each). */
  suppressed = 0;
  private readonly buckets = new Map<string, Bucket>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly audit: AuditTrail,
    private readonly log: Logger,
    private readonly opts: AuthFailureOptions = { burst: 20, perMinute: 10, maxSources: 10_000, summaryMs: 60_000 },
    private readonly now: () => number = Date.now,
  ) {}

  refused(r: AuthRefusal): void {
    this.counts[r.dialect] = (this.counts[r.dialect] ?? 0) + 1;
    const b = this.bucket(r.dialect, r.source);
    const t = this.now();
    b.tokens = Math.min(this.opts.burst, b.tokens + ((t - b.at) * this.opts.perMinute) / 60_000);
    b.at = t;
    if (b.tokens < 1) {
      this.suppressed++;
      if (b.suppressed++ === 0) {
        b.since = new Date(t);
        this.log.warn(
          { authFailure: true, dialect: b.dialect, source: b.source },
          'authentication refusals over the audit bound for this source: counted, summarized later',
        );
      }
      this.timer ??= setInterval(() => this.sweep(), this.opts.summaryMs).unref();
      return;
    }
    b.tokens -= 1;
    this.summarize(b);
    const reason = clip(r.reason);
    this.log.info(
      { authFailure: true, dialect: r.dialect, source: r.source, principal: r.principal, reason, reqId: r.requestId },
      'authentication refused',
    );
    void this.audit.record({
      at: new Date(t),
      tenantId: r.tenantId ?? null,
      dialect: r.dialect,
      principal: r.principal ? clip(r.principal, 200) : 'anonymous',
      action: r.action ?? 'auth.refused',
      keyId: r.keyId ?? null,
      outcome: 'denied',
      errorKind: r.errorKind ?? 'unauthenticated',
      requestId: r.requestId,
      details: { ...r.details, source: r.source, reason },
    });
  }

  private bucket(dialect: string, source: string): Bucket {
    let id = `${dialect} ${source}`;
    let b = this.buckets.get(id);
    if (b) return b;
    if (this.buckets.size >= this.opts.maxSources) {
      id = `${dialect} *`;
      source = '*';
      b = this.buckets.get(id);
      if (b) return b;
    }
    b = { dialect, source, tokens: this.opts.burst, at: this.now(), suppressed: 0, since: undefined };
    this.buckets.set(id, b);
    return b;
  }

  /** The refusals of `b` over the bound since the last summary, as one event. */
  private summarize(b: Bucket) {
    if (!b.suppressed) return;
    const n = b.suppressed;
    const since = b.since;
    b.suppressed = 0;
    b.since = undefined;
    this.log.warn(
      { authFailure: true, dialect: b.dialect, source: b.source, suppressed: n, since },
      'authentication refusals over the audit bound',
    );
    void this.audit.record({
      at: new Date(this.now()),
      tenantId: null,
      dialect: b.dialect,
      principal: 'anonymous',
      action: 'auth.refused_summary',
      keyId: null,
      outcome: 'denied',
      errorKind: 'unauthenticated',
      details: { source: b.source, refused: n, since: since?.toISOString() },
    });
  }

  /** Summaries of every source with refusals over the bound; forgets sources that are quiet again. */
  sweep() {
    const t = this.now();
    for (const [id, b] of this.buckets) {
      this.summarize(b);
      if (b.tokens + ((t - b.at) * this.opts.perMinute) / 60_000 >= this.opts.burst) this.buckets.delete(id);
    }
    if (!this.buckets.size && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  close() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

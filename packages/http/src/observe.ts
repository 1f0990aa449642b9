import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { clientGone } from './body.ts';
import { matchedRoutes } from 'hono/route';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Requests and errors per dialect in each of the last `minutes` minutes, in this process: what the
 * console's dashboard charts. A ring of per-minute slots, each stamped with the minute it holds, so
 * a quiet minute reads as zero and nothing needs a timer. Prometheus keeps the long history.
 */
export class RecentCounts {
  private readonly series = new Map<string, { stamp: Float64Array; requests: Uint32Array; errors: Uint32Array }>();

  constructor(
    readonly minutes = 60,
    private readonly now: () => number = Date.now,
  ) {}

  add(dialect: string, error: boolean) {
    const m = Math.floor(this.now() / 60_000);
    let s = this.series.get(dialect);
    if (!s) {
      s = {
        stamp: new Float64Array(this.minutes).fill(-1),
        requests: new Uint32Array(this.minutes),
        errors: new Uint32Array(this.minutes),
      };
      this.series.set(dialect, s);
    }
    const i = m % this.minutes;
    if (s.stamp[i] !== m) {
      s.stamp[i] = m;
      s.requests[i] = 0;
      s.errors[i] = 0;
    }
    s.requests[i]!++;
    if (error) s.errors[i]!++;
  }

  /** Oldest minute first; `from` is the start of the first minute. */
  snapshot(): { from: string; minutes: number; dialects: Record<string, { requests: number[]; errors: number[] }> } {
    const m = Math.floor(this.now() / 60_000);
    const first = m - this.minutes + 1;
    const dialects: Record<string, { requests: number[]; errors: number[] }> = {};
    for (const [d, s] of this.series) {
      const requests: number[] = [];
      const errors: number[] = [];
      for (let k = first; k <= m; k++) {
        const i = k % this.minutes;
        const live = s.stamp[i] === k;
        requests.push(live ? s.requests[i]! : 0);
        errors.push(live ? s.errors[i]! : 0);
      }
      dialects[d] = { requests, errors };
    }
    return { from: new Date(first * 60_000).toISOString(), minutes: this.minutes, dialects };
  }
}

/**
 * Prometheus metrics of one gateway process: requests, latency and errors per dialect and operation,
 * and the key cache's hits and misses (read when scraped).
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'dialect' | 'operation' | 'status'>;
  readonly errors: Counter<'dialect' | 'operation' | 'status'>;
  readonly latency: Histogram<'dialect' | 'operation'>;
  /** The last hour per minute, for the console. */
  readonly recent: RecentCounts;

  constructor(
    opts: {
      keyCache?: () => { hits: number; misses: number; size: number };
      authFailures?: () => Record<string, number>;
      now?: () => number;
    } = {},
  ) {
    this.recent = new RecentCounts(60, opts.now);
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'polykms_process_' });
    this.requests = new Counter({
      name: 'polykms_requests_total',
      help: 'Requests answered, by dialect, operation and status code',
      labelNames: ['dialect', 'operation', 'status'],
      registers,
    });
    this.errors = new Counter({
      name: 'polykms_request_errors_total',
      help: 'Requests answered with a 4xx or 5xx status',
      labelNames: ['dialect', 'operation', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'polykms_request_duration_seconds',
      help: 'Time from request to response headers, by dialect and operation',
      labelNames: ['dialect', 'operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    const cache = opts.keyCache;
    if (cache) {
      new Counter({
        name: 'polykms_key_cache_hits_total',
        help: 'Parsed key versions found in the cache',
        registers,
        collect() {
          this.reset();
          this.inc(cache().hits);
        },
      });
      new Counter({
        name: 'polykms_key_cache_misses_total',
        help: 'Parsed key versions loaded from the store',
        registers,
        collect() {
          this.reset();
          this.inc(cache().misses);
        },
      });
    }
    const refused = opts.authFailures;
    if (refused) {
      new Counter({
        name: 'polykms_auth_failures_total',
        help: 'Authentication refusals (certificate, token, signature, JWT), by dialect, audited or over the audit bound',
        labelNames: ['dialect'],
        registers,
        collect() {
          this.reset();
          for (const [dialect, n] of Object.entries(refused())) this.inc({ dialect }, n);
        },
      });
    }
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** The route pattern that answered (bounded label values), or `unmatched`. */
function operationOf(c: Parameters<MiddlewareHandler>[0]): string {
  const routes = matchedRoutes(c).filter((r) => r.method !== 'ALL');
  return routes.at(-1)?.path ?? 'unmatched';
}

/**
 * First middleware of every dialect: a request id (kept in `requestId` and sent back as `X-Request-Id`),
 * one JSON log line per request (method, route pattern, status, duration; never bodies, headers or
 * query strings, which can carry key material and tokens), and the metrics above.
 */
export function observe(dialect: string, opts: { log?: Logger | undefined; metrics?: Metrics | undefined }): MiddlewareHandler {
  return async (c, next) => {
    const start = process.hrtime.bigint();
    if (!c.get('requestId' as never)) c.set('requestId' as never, randomUUID() as never);
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const operation = `${c.req.method} ${operationOf(c)}`;
      const status = String(c.res.status);
      if (opts.metrics) {
        opts.metrics.requests.inc({ dialect, operation, status });
        if (c.res.status >= 400) opts.metrics.errors.inc({ dialect, operation, status });
        opts.metrics.latency.observe({ dialect, operation }, seconds);
        opts.metrics.recent.add(dialect, c.res.status >= 400);
      }
      opts.log?.info(
        {
          reqId: c.get('requestId' as never),
          dialect,
          operation,
          status: c.res.status,
          ms: Math.round(seconds * 1e4) / 10,
        },
        'request',
      );
    }
  };
}

/**
 * A request body over `maxSize` is refused with the dialect's error, and the connection is closed
 * (`Connection: close`): the client may still be sending the rest of that body, so the connection
 * cannot carry another request, and a keep-alive client must know before it tries. A declared
 * Content-Length is judged from the header alone (Node's parser holds the client to it; `readBody`
 * then reads it directly); a chunked body is counted as it streams (hono's bodyLimit).
 */
export function limitBody(maxSize: number, refuse: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const tooLarge = (c: Context) => {
    c.header('Connection', 'close');
    return refuse(c);
  };
  const streamed = bodyLimit({ maxSize, onError: tooLarge });
  return async (c, next) => {
    const headers = (c.env as { incoming?: IncomingMessage } | undefined)?.incoming?.headers;
    const declared = headers?.['content-length'];
    // hono's limit reads a chunked body whole before `next`: a client gone in the middle of it is
    // the client's error (see `clientGone`), not the store's.
    if (declared === undefined || headers?.['transfer-encoding'] !== undefined)
      return streamed(c, next).catch((e: unknown) => {
        throw clientGone(c, e);
      });
    if (Number(declared) > maxSize) return tooLarge(c);
    await next();
  };
}

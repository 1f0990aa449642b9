import type { Context } from 'hono';

/**
 * Password logins cost a scrypt each, so they are a CPU lever against the whole gateway. Failed
 * logins are limited per user name and per source address (token buckets: a burst, then one more try
 * per interval, so a locked-out user is never locked out for good), and at most a few hashes run at
 * once, with a short queue; a login beyond that is refused (429) rather than queued without bound.
 * The state is per process: several processes each allow their own share.
 */
export interface BucketRule {
  /** Tries allowed in a burst. */
  burst: number;
  /** One more try every this many milliseconds. */
  everyMs: number;
}

/** Token buckets by key, bounded in number (a full bucket carries nothing and is dropped first). */
export class TokenBuckets {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    private readonly rule: BucketRule,
    private readonly max = 10_000,
  ) {}

  private level(key: string, now: number) {
    const b = this.buckets.get(key);
    return b ? Math.min(this.rule.burst, b.tokens + (now - b.at) / this.rule.everyMs) : this.rule.burst;
  }

  /** Takes one try: 0 when it was there, otherwise the milliseconds until one is. */
  take(key: string, now: number): number {
    const level = this.level(key, now);
    if (level < 1) return Math.ceil((1 - level) * this.rule.everyMs);
    this.buckets.delete(key);
    this.buckets.set(key, { tokens: level - 1, at: now });
    if (this.buckets.size > this.max) this.prune(now);
    return 0;
  }

  /** Gives a try back (the login succeeded, or was never tried). */
  give(key: string, now: number) {
    const level = Math.min(this.rule.burst, this.level(key, now) + 1);
    if (level >= this.rule.burst) this.buckets.delete(key);
    else this.buckets.set(key, { tokens: level, at: now });
  }

  private prune(now: number) {
    for (const k of this.buckets.keys()) if (this.level(k, now) >= this.rule.burst) this.buckets.delete(k);
    // Still full (many keys failing at once): forget the least recently used; that only gives back tries.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.max) break;
      this.buckets.delete(k);
    }
  }

  get size() {
    return this.buckets.size;
  }
}

export interface LoginGuardOptions {
  now?: () => number;
  perUser?: BucketRule;
  perSource?: BucketRule;
  /** Password hashes computed at once (each takes a thread of libuv's pool, shared with crypto). */
  hashing?: number;
  /** Logins that may wait for a hashing slot; beyond that they are refused. */
  waiting?: number;
}

export type Refusal = { ok: false; retryAfterSeconds: number; message: string };
export type Admission = { ok: true; succeeded(): void; notTried(): void };

/** A login the guard refused before any hash was computed. */
export class LoginBusy extends Error {
  readonly retryAfterSeconds = 1;
  constructor() {
    super('too many logins are being checked at this moment; retry after 1 second');
  }
}

export class LoginGuard {
  private readonly now: () => number;
  private readonly users: TokenBuckets;
  private readonly sources: TokenBuckets;
  private readonly hashing: number;
  private readonly waiting: number;
  private active = 0;
  private readonly queue: (() => void)[] = [];

  constructor(opts: LoginGuardOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.users = new TokenBuckets(opts.perUser ?? { burst: 10, everyMs: 6_000 });
    this.sources = new TokenBuckets(opts.perSource ?? { burst: 30, everyMs: 2_000 });
    this.hashing = opts.hashing ?? 2;
    this.waiting = opts.waiting ?? 16;
  }

  /**
   * Reserves a try for this user name from this source. The name is the one asked for, known or not,
   * so a refusal says nothing about which users exist. The caller gives the try back on success.
   */
  admit(user: string, source: string): Admission | Refusal {
    const now = this.now();
    const waitSource = this.sources.take(source, now);
    if (waitSource) return refusal(waitSource, 'too many failed logins from this address');
    const waitUser = this.users.take(user, now);
    if (waitUser) {
      this.sources.give(source, now);
      return refusal(waitUser, 'too many failed logins for this user');
    }
    const giveBack = () => {
      const t = this.now();
      this.users.give(user, t);
      this.sources.give(source, t);
    };
    return { ok: true, succeeded: giveBack, notTried: giveBack };
  }

  /** Runs a password hash in one of the few slots; throws LoginBusy when all are taken and the queue is full. */
  async hash<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.hashing) {
      if (this.queue.length >= this.waiting) throw new LoginBusy();
      await new Promise<void>((r) => this.queue.push(r));
    } else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }
}

const refusal = (ms: number, why: string): Refusal => {
  const s = Math.max(1, Math.ceil(ms / 1000));
  return { ok: false, retryAfterSeconds: s, message: `${why}; retry after ${s} second${s === 1 ? '' : 's'}` };
};

/** The caller's address as the listener saw it; an IPv6 client is counted by its /64, which one host usually has whole. */
export function sourceOf(c: Context): string {
  const addr = (c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined)?.incoming?.socket?.remoteAddress;
  if (!addr) return 'unknown';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped) return mapped[1]!;
  if (!addr.includes(':')) return addr;
  const [head = '', tail] = addr.replace(/%.*$/, '').toLowerCase().split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(Math.max(0, 8 - h.length - t.length)).fill('0'), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

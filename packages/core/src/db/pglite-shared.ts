import { EventEmitter } from 'node:events';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';
import type { PgliteThread } from './pglite-thread.ts';

/**
 * Embedded PGlite shared by the worker processes of one gateway (`polykms serve --workers N`). PGlite
 * is one database session in one process: the primary process owns it, and each worker reaches it over
 * the cluster's IPC channel. A kysely connection of a worker is a session: its queries run one after
 * another with nobody else's in between (a transaction stays whole), sessions take turns in arrival
 * order, and a worker that dies holding the turn has its transaction rolled back.
 */

/** The IPC end of the other process: `process` in a worker, a `cluster` Worker in the primary. */
export interface Peer {
  send(message: unknown): unknown;
  on(event: 'message', listener: (message: any) => void): unknown;
}

type ToPrimary =
  | { kind: 'query'; id: number; session: number; sql: string; params: unknown[] }
  | { kind: 'release'; session: number }
  | { kind: 'listen'; id: number; channel: string }
  | { kind: 'unlisten'; id: number; sub: number }
  | { kind: 'fence'; id: number; channel: string; payload: string }
  | { kind: 'fenced'; fence: number };
type ToWorker =
  | { id: number; result?: unknown; error?: Record<string, unknown> }
  | { notify: number; payload: string }
  | { fence: number; channel: string; payload: string };

const TAG = 'polykmsStore';
/** How long a fence waits for a worker before that worker is taken out of service. */
const FENCE_MS = 10_000;
const errorOf = (e: unknown) => {
  const out: Record<string, unknown> = { message: e instanceof Error ? e.message : String(e), name: (e as Error)?.name ?? 'Error' };
  for (const k of ['code', 'detail', 'constraint', 'table', 'column', 'severity'])
    if ((e as Record<string, unknown>)?.[k] !== undefined) out[k] = (e as Record<string, unknown>)[k];
  return out;
};

interface Turn {
  peer: Peer;
  session: number;
  /** The session's first query, run once it has the turn. */
  first: Extract<ToPrimary, { kind: 'query' }>;
}

/** The primary's side: runs the workers' sessions on its PGlite thread, one at a time. */
export class PgliteBroker {
  private holder: { peer: Peer; session: number } | undefined;
  private readonly waiting: Turn[] = [];
  private readonly subs = new Map<Peer, Map<number, () => Promise<void>>>();
  private readonly peers = new Set<Peer>();
  private fences = 0;
  private readonly fencing = new Map<number, { waiting: Set<Peer>; done: () => void }>();

  /** `onStuck`: a worker did not take a fence in time; it must not serve again (the cluster kills it). */
  constructor(
    private readonly pglite: PgliteThread,
    private readonly onStuck: (peer: Peer) => void = () => {},
  ) {}

  /** Serves a worker's store requests; call `detach` when it exits. */
  attach(peer: Peer) {
    this.peers.add(peer);
    this.subs.set(peer, new Map());
    peer.on('message', (m) => {
      const msg = m?.[TAG] as ToPrimary | undefined;
      if (msg) void this.handle(peer, msg);
    });
  }

  /** A worker ended: its turn (rolled back if a transaction was open), its queued sessions and its listeners go. */
  async detach(peer: Peer) {
    this.peers.delete(peer);
    for (const f of this.fencing.values()) if (f.waiting.delete(peer) && !f.waiting.size) f.done();
    for (let i = this.waiting.length - 1; i >= 0; i--) if (this.waiting[i]!.peer === peer) this.waiting.splice(i, 1);
    for (const unlisten of this.subs.get(peer)?.values() ?? []) await unlisten().catch(() => undefined);
    this.subs.delete(peer);
    if (this.holder?.peer === peer) {
      await this.pglite.query('rollback').catch(() => undefined);
      this.next();
    }
  }

  private reply(peer: Peer, m: ToWorker) {
    try {
      peer.send({ [TAG]: m });
    } catch {
      // The worker is gone; `detach` cleans up after it.
    }
  }

  private async run(peer: Peer, q: Extract<ToPrimary, { kind: 'query' }>) {
    try {
      const r = await this.pglite.query(q.sql, q.params);
      this.reply(peer, { id: q.id, result: r });
    } catch (e) {
      this.reply(peer, { id: q.id, error: errorOf(e) });
    }
  }

  private next() {
    this.holder = undefined;
    const t = this.waiting.shift();
    if (!t) return;
    this.holder = { peer: t.peer, session: t.session };
    void this.run(t.peer, t.first);
  }

  private async handle(peer: Peer, m: ToPrimary) {
    switch (m.kind) {
      case 'query': {
        const mine = this.holder && this.holder.peer === peer && this.holder.session === m.session;
        if (mine) return this.run(peer, m);
        this.waiting.push({ peer, session: m.session, first: m });
        if (!this.holder) this.next();
        return;
      }
      case 'release':
        if (this.holder?.peer === peer && this.holder.session === m.session) this.next();
        return;
      case 'listen':
        try {
          const unlisten = await this.pglite.listen(m.channel, (payload) => this.reply(peer, { notify: m.id, payload }));
          this.subs.get(peer)?.set(m.id, unlisten);
          this.reply(peer, { id: m.id, result: null });
        } catch (e) {
          this.reply(peer, { id: m.id, error: errorOf(e) });
        }
        return;
      case 'fence': {
        // Every other worker has applied it (dropped what it cached of the key) before the change is answered.
        const waiting = new Set([...this.peers].filter((p) => p !== peer));
        const fid = ++this.fences;
        await new Promise<void>((done) => {
          if (!waiting.size) return done();
          const timer = setTimeout(() => {
            for (const p of waiting) this.onStuck(p);
            done();
          }, FENCE_MS);
          this.fencing.set(fid, {
            waiting,
            done: () => {
              clearTimeout(timer);
              done();
            },
          });
          for (const p of waiting) this.reply(p, { fence: fid, channel: m.channel, payload: m.payload });
        });
        this.fencing.delete(fid);
        this.reply(peer, { id: m.id, result: null });
        return;
      }
      case 'fenced': {
        const f = this.fencing.get(m.fence);
        if (f?.waiting.delete(peer) && !f.waiting.size) f.done();
        return;
      }
      case 'unlisten': {
        const unlisten = this.subs.get(peer)?.get(m.sub);
        this.subs.get(peer)?.delete(m.sub);
        await unlisten?.().catch(() => undefined);
        this.reply(peer, { id: m.id, result: null });
        return;
      }
    }
  }
}

/** A worker's side: kysely and LISTEN over the primary's PGlite. */
export class PgliteClient {
  private seq = 0;
  private sessions = 0;
  private readonly calls = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  private readonly subs = new Map<number, { channel: string; onPayload: (payload: string) => void }>();

  constructor(private readonly peer: Peer) {
    peer.on('message', (m) => {
      const msg = m?.[TAG] as ToWorker | undefined;
      if (!msg) return;
      if ('notify' in msg) return void this.subs.get(msg.notify)?.onPayload(msg.payload);
      if ('fence' in msg) {
        for (const s of this.subs.values()) if (s.channel === msg.channel) s.onPayload(msg.payload);
        return void this.peer.send({ [TAG]: { kind: 'fenced', fence: msg.fence } satisfies ToPrimary });
      }
      const c = this.calls.get(msg.id);
      if (!c) return;
      this.calls.delete(msg.id);
      if (msg.error) c.reject(Object.assign(new Error(String(msg.error.message)), msg.error));
      else c.resolve(msg.result);
    });
  }

  private call<T>(m: ToPrimary): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.calls.set((m as { id: number }).id, { resolve, reject });
      this.peer.send({ [TAG]: m });
    });
  }

  query(session: number, sql: string, params: readonly unknown[]) {
    return this.call<{ rows: Record<string, unknown>[]; affectedRows?: number }>({
      kind: 'query',
      id: ++this.seq,
      session,
      sql,
      params: [...params],
    });
  }

  /** Resolves once every other worker has run its `channel` listeners with `payload`. */
  fence(channel: string, payload: string): Promise<void> {
    return this.call({ kind: 'fence', id: ++this.seq, channel, payload });
  }

  openSession() {
    return ++this.sessions;
  }

  release(session: number) {
    this.peer.send({ [TAG]: { kind: 'release', session } satisfies ToPrimary });
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    const id = ++this.seq;
    this.subs.set(id, { channel, onPayload });
    await this.call({ kind: 'listen', id, channel });
    return async () => {
      this.subs.delete(id);
      await this.call({ kind: 'unlisten', id: ++this.seq, sub: id }).catch(() => undefined);
    };
  }

  dialect(): Dialect {
    const client = this;
    const driver: Driver = {
      async init() {},
      async acquireConnection() {
        return new SessionConnection(client, client.openSession());
      },
      async beginTransaction(c) {
        await c.executeQuery(CompiledQuery.raw('begin'));
      },
      async commitTransaction(c) {
        await c.executeQuery(CompiledQuery.raw('commit'));
      },
      async rollbackTransaction(c) {
        await c.executeQuery(CompiledQuery.raw('rollback'));
      },
      async releaseConnection(c) {
        (c as SessionConnection).release();
      },
      async destroy() {},
    };
    return {
      createAdapter: () => new PostgresAdapter(),
      createDriver: () => driver,
      createQueryCompiler: () => new PostgresQueryCompiler(),
      createIntrospector: (db: Kysely<any>) => new PostgresIntrospector(db),
    };
  }
}

/** One kysely connection: a session at the primary, which holds the turn from its first query to its release. */
class SessionConnection implements DatabaseConnection {
  private used = false;
  constructor(
    private readonly client: PgliteClient,
    private readonly session: number,
  ) {}

  async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
    this.used = true;
    const r = await this.client.query(this.session, q.sql, q.parameters);
    for (const row of r.rows)
      for (const k in row) {
        const v = row[k];
        if (v instanceof Uint8Array && !Buffer.isBuffer(v)) row[k] = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      }
    return { rows: r.rows as R[], ...(r.affectedRows ? { numAffectedRows: BigInt(r.affectedRows) } : {}) };
  }

  // biome-ignore lint/correctness/useYield: streaming is not offered; kysely only calls it for .stream()
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('streaming queries are not available on the shared embedded store');
  }

  release() {
    // A session that never queried never took the turn.
    if (this.used) this.client.release(this.session);
  }
}

/** Two ends of an in-process channel, as cluster IPC behaves: later, and a copy. (The primary's own store.) */
export function localChannel(): [Peer, Peer] {
  const a = new EventEmitter();
  const b = new EventEmitter();
  const end = (self: EventEmitter, other: EventEmitter): Peer => ({
    send: (m) => setImmediate(() => other.emit('message', structuredClone(m))),
    on: (e, f) => self.on(e, f),
  });
  return [end(a, b), end(b, a)];
}

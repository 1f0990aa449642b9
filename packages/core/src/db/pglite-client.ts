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
import { TAG, type Peer, type ToPrimary, type ToWorker } from './pglite-shared.ts';

/** A worker's side: kysely and LISTEN over the primary's PGlite. */
export class PgliteClient {
  private seq = 0;
  private sessions = 0;
  private readonly calls = new Map<number, { resolve: (v: any) => void; reject: (e: unknown) => void }>();
  private readonly subs = new Map<number, { channel: string; onPayload: (payload: string) => void }>();

  constructor(private readonly peer: Peer) {
    peer.on('disconnect', () => {
      const gone = Object.assign(new Error('the gateway primary, which holds the embedded database, is gone'), { code: 'ECONNREFUSED' });
      for (const c of this.calls.values()) c.reject(gone);
      this.calls.clear();
    });
    peer.on('message', (m) => {
      const msg = m?.[TAG] as ToWorker | undefined;
      if (!msg) return;
      if ('notify' in msg) return void this.subs.get(msg.notify)?.onPayload(msg.payload);
      if ('fence' in msg) {
        for (const s of this.subs.values()) if (s.channel === msg.channel) s.onPayload(msg.payload);
        try {
          this.peer.send({ [TAG]: { kind: 'fenced', fence: msg.fence } satisfies ToPrimary });
        } catch {
          // The primary is gone.
        }
        return;
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
      const id = (m as { id: number }).id;
      this.calls.set(id, { resolve, reject });
      try {
        this.peer.send({ [TAG]: m });
      } catch (e) {
        this.calls.delete(id);
        reject(Object.assign(e as Error, { code: 'ECONNREFUSED' }));
      }
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
    try {
      this.peer.send({ [TAG]: { kind: 'release', session } satisfies ToPrimary });
    } catch {
      // The primary is gone, and the session with it.
    }
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
    // biome-ignore lint/suspicious/noExplicitAny: one listener type per event name
    on: (e: string, f: any) => self.on(e, f),
  });
  return [end(a, b), end(b, a)];
}

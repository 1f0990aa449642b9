import { Worker } from 'node:worker_threads';

interface Waiter {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

/** A database error as PGlite raised it, with its SQLSTATE `code`, `constraint`, ... */
const rebuild = (e: { message: string; name: string } & Record<string, unknown>) => Object.assign(new Error(e.message), e);

/** Bytes come back from the thread as plain Uint8Array; the store hands out Buffers, as it did. */
function buffers(rows: Record<string, unknown>[]) {
  for (const row of rows)
    for (const k in row)
      if (row[k] instanceof Uint8Array && !Buffer.isBuffer(row[k]))
        row[k] = Buffer.from(row[k].buffer, row[k].byteOffset, row[k].byteLength);
  return rows;
}

/**
 * Embedded PostgreSQL (PGlite) on a worker thread, with the slice of PGlite's interface the store
 * uses: `query`, `listen`, `close`. PGlite executes each statement synchronously in WebAssembly; on the
 * main thread, writing a batch of audit events stopped every request for milliseconds (profiled: 36 us
 * per event, about 40% of an encrypt request). Here the statements run on the other core. The thread
 * keeps the process alive only while a statement is in flight.
 */
export class PgliteThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private readonly subs = new Map<number, (payload: string) => void>();
  private seq = 0;
  readonly waitReady: Promise<void>;
  private dead: Error | undefined;

  private closing = false;

  /** `onDeath`: the thread stopped without `close()` (a crash of PGlite): nothing can be stored any more. */
  constructor(
    dataDir: string | undefined,
    private readonly onDeath: (e: Error) => void = () => {},
  ) {
    this.worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: { dataDir } });
    this.waitReady = new Promise((resolve, reject) => {
      this.worker.once('message', (m: { type: 'ready'; error?: never }) => (m.error ? reject(rebuild(m.error)) : resolve()));
      this.worker.once('error', reject);
      this.worker.once('exit', (code) => reject(new Error(`the embedded database thread stopped while starting (exit code ${code})`)));
    });
    this.worker.on('message', (m: { id?: number; type?: string; sub?: number; payload?: string; result?: unknown; error?: never }) => {
      if (m.type === 'notify') return void this.subs.get(m.sub!)?.(m.payload ?? '');
      const w = m.id === undefined ? undefined : this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id!);
      if (this.waiting.size === 0) this.worker.unref();
      if (m.error) w.reject(rebuild(m.error));
      else w.resolve(m.result);
    });
    const fail = (e: Error) => {
      this.dead = e;
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      const e = Object.assign(new Error(`the embedded database thread stopped (exit code ${code})`), {
        code: 'ECONNREFUSED',
      });
      fail(e);
      if (!this.closing) this.onDeath(e);
    });
  }

  private call<T>(m: Record<string, unknown>): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = ++this.seq;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        this.worker.postMessage({ ...m, id });
      } catch (e) {
        // A value that cannot cross to the thread: nothing was sent, nothing must stay waiting.
        this.waiting.delete(id);
        if (this.waiting.size === 0) this.worker.unref();
        reject(e);
      }
    });
  }

  async query(sql: string, params: unknown[] = []): Promise<{ rows: Record<string, unknown>[]; affectedRows?: number }> {
    // A Buffer is often a view into Node's shared 8 KiB pool: copying the view alone keeps the rest of
    // that pool (other requests' bytes) out of the database thread.
    const own = params.map((p) => (p instanceof Uint8Array && p.byteLength !== p.buffer.byteLength ? new Uint8Array(p) : p));
    const r = await this.call<{ rows: Record<string, unknown>[]; affectedRows?: number }>({
      type: 'query',
      sql,
      params: own,
    });
    buffers(r.rows);
    return r;
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    const id = this.seq + 1;
    this.subs.set(id, onPayload);
    try {
      await this.call({ type: 'listen', channel });
    } catch (e) {
      this.subs.delete(id);
      throw e;
    }
    return async () => {
      this.subs.delete(id);
      if (!this.dead) await this.call({ type: 'unlisten', sub: id });
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    if (!this.dead) await this.call({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}

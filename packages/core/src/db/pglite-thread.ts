import { Worker } from 'node:worker_threads';

interface Waiter {
  resolve: (v: any) => void;
  reject: (e: unknown) => void;
}

/** A database error as PGlite raised it, with its SQLSTATE `code`, `constraint`, ... */
const rebuild = (e: { message: string; name: string } & Record<string, unknown>) => Object.assign(new Error(e.message), e);

/** Bytes come back from the thread as plain Uint8Array; the store hands out Buffers, as it did. */
function buffers(rows: Record<string, unknown>[]) {
  for (const row of rows) for (const k in row) if (row[k] instanceof Uint8Array && !Buffer.isBuffer(row[k])) row[k] = Buffer.from(row[k].buffer, row[k].byteOffset, row[k].byteLength);
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

  constructor(dataDir: string | undefined) {
    this.worker = new Worker(new URL('./pglite-worker.mjs', import.meta.url), { workerData: { dataDir } });
    this.waitReady = new Promise((resolve, reject) => {
      this.worker.once('message', (m: { type: 'ready'; error?: never }) => (m.error ? reject(rebuild(m.error)) : resolve()));
      this.worker.once('error', reject);
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
    this.worker.on('exit', (code) => fail(Object.assign(new Error(`the embedded database thread stopped (exit code ${code})`), { code: 'ECONNREFUSED' })));
  }

  private call<T>(m: Record<string, unknown>): Promise<T> {
    if (this.dead) return Promise.reject(this.dead);
    const id = ++this.seq;
    if (this.waiting.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...m, id });
    });
  }

  async query(sql: string, params: unknown[] = []): Promise<{ rows: Record<string, unknown>[]; affectedRows?: number }> {
    const r = await this.call<{ rows: Record<string, unknown>[]; affectedRows?: number }>({ type: 'query', sql, params });
    buffers(r.rows);
    return r;
  }

  async listen(channel: string, onPayload: (payload: string) => void): Promise<() => Promise<void>> {
    const id = this.seq + 1;
    this.subs.set(id, onPayload);
    await this.call({ type: 'listen', channel });
    return async () => {
      this.subs.delete(id);
      if (!this.dead) await this.call({ type: 'unlisten', sub: id });
    };
  }

  async close(): Promise<void> {
    if (!this.dead) await this.call({ type: 'close' }).catch(() => undefined);
    await this.worker.terminate();
  }
}

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/**
 * A small pool of worker threads for the private-key operations Node has no asynchronous form of
 * (`privateEncrypt`/`privateDecrypt`, and ECDSA over a given digest), and for P-256 signatures, too
 * short to be worth a libuv thread's wake-up each. Without it, one RSA-2048 private
 * operation (about a millisecond) blocks the event loop, so pre-hashed signing ran on one core while
 * every other request waited. KeyObjects are passed by structured clone; idle workers do not keep the
 * process alive. Requests are posted once per event-loop turn per worker, as one batch: a message
 * each way cost the event loop ~35 us per operation, which is what a busy gateway is short of.
 */
type Request =
  | { op: 'privateEncrypt'; key: unknown; padding: number; data: Uint8Array }
  | {
      op: 'privateDecrypt';
      key: unknown;
      padding: number;
      data: Uint8Array;
      oaepHash?: string | undefined;
      oaepLabel?: Uint8Array | undefined;
    }
  | { op: 'ecdsaSign'; curve: string; key: unknown; digest: Uint8Array; format: 'der' | 'compact' }
  | {
      op: 'ecdsaVerify';
      curve: string;
      point: Uint8Array;
      digest: Uint8Array;
      signature: Uint8Array;
      format: 'der' | 'compact';
    }
  | { op: 'sign'; alg: string; key: unknown; data: Uint8Array; dsaEncoding?: 'der' | 'ieee-p1363' | undefined };

interface Slot {
  worker: Worker;
  pending: number;
  batch: (Request & { id: number })[];
}

export class OffloadError extends Error {}

class Pool {
  private slots: Slot[] = [];
  private readonly waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; slot: Slot }>();
  private seq = 0;
  private flushing = false;

  constructor(private readonly size: number) {}

  private start(): Slot {
    const worker = new Worker(new URL('./offload-worker.mjs', import.meta.url));
    const slot: Slot = { worker, pending: 0, batch: [] };
    worker.unref();
    worker.on('message', (answers: { id: number; result?: unknown; error?: string }[]) => {
      for (const m of answers) {
        const w = this.waiting.get(m.id);
        if (!w) continue;
        this.waiting.delete(m.id);
        if (--w.slot.pending === 0) w.slot.worker.unref();
        if (m.error !== undefined) w.reject(new OffloadError(m.error));
        else
          w.resolve(
            m.result instanceof Uint8Array && !Buffer.isBuffer(m.result)
              ? Buffer.from(m.result.buffer, m.result.byteOffset, m.result.byteLength)
              : m.result,
          );
      }
    });
    const fail = (e: unknown) => {
      // A dead worker fails what it held; the next call starts a fresh one.
      this.slots = this.slots.filter((s) => s !== slot);
      for (const [id, w] of this.waiting) {
        if (w.slot !== slot) continue;
        this.waiting.delete(id);
        w.reject(e);
      }
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new OffloadError(`crypto worker exited (${code})`)));
    this.slots.push(slot);
    return slot;
  }

  run<T>(req: Request): Promise<T> {
    let slot = this.slots.reduce<Slot | undefined>((best, s) => (!best || s.pending < best.pending ? s : best), undefined);
    if (!slot || (slot.pending > 0 && this.slots.length < this.size)) slot = this.start();
    const id = ++this.seq;
    if (slot.pending++ === 0) slot.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (v: unknown) => void, reject, slot: slot! });
      slot!.batch.push({ ...req, id });
      if (!this.flushing) {
        this.flushing = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** After the turn's I/O: one message per worker with everything asked of it meanwhile. */
  private flush() {
    this.flushing = false;
    for (const slot of this.slots) {
      if (!slot.batch.length) continue;
      const batch = slot.batch;
      slot.batch = [];
      try {
        slot.worker.postMessage(batch);
      } catch {
        // A parameter that cannot be cloned fails its own request, not the others of its turn.
        for (const r of batch) {
          try {
            slot.worker.postMessage([r]);
          } catch (e) {
            const w = this.waiting.get(r.id);
            if (!w) continue;
            this.waiting.delete(r.id);
            if (--slot.pending === 0) slot.worker.unref();
            w.reject(e);
          }
        }
      }
    }
  }

  async close() {
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}

let pool: Pool | undefined;
const shared = () => (pool ??= new Pool(Math.max(1, Math.min(4, availableParallelism()))));
/**
 * RSA private operations (~1 ms each) get a pool of their own, four threads as libuv's default pool
 * has for the RSA that `sign` runs: in smaller batches over four threads the cores stay busier (Huawei
 * RSA over a digest: eight A/B pairs, each faster, by 5-30%). The short ECDSA signatures did worse
 * spread over four (OVH ES256, three pairs), and keep theirs.
 */
let rsaPool: Pool | undefined;
const RSA_OPS = new Set(['privateEncrypt', 'privateDecrypt']);

export const offload = <T>(req: Request): Promise<T> => (RSA_OPS.has(req.op) ? (rsaPool ??= new Pool(4)) : shared()).run<T>(req);

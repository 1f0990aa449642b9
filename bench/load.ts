import { Worker } from 'node:worker_threads';
import type { ConnectionOptions } from 'node:tls';
import type { Measure } from './harness.ts';

/** One request a load generator sends over and over (the body as sent; AK/SK signing done per request). */
export interface LoadRequest {
  method: string;
  path: string;
  body: string;
  headers?: Record<string, string>;
  aksk?: { access: string; secret: string; project: string };
}

/** Something the harness can measure for `ms` at `concurrency`. */
export interface Load {
  measure(concurrency: number, ms: number): Promise<Measure>;
}

/**
 * The load generator on its own thread, as wrk would be in its own process on the same machine: it
 * shares the two cores with the server but not the server's event loop. (`bench/client.ts` is its
 * HTTP/1.1 client.)
 */
export class RemoteClient {
  private readonly worker: Worker;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  constructor(port: number, tls: ConnectionOptions, connections: number) {
    this.worker = new Worker(new URL('./worker-boot.mjs', import.meta.url), {
      workerData: { entry: new URL('./load-worker.ts', import.meta.url).href, port, tls, connections },
    });
    this.worker.on('message', (m: { id: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m);
    });
    this.worker.on('error', (e) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    });
  }

  private call(m: object): Promise<any> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, ...m });
    });
  }

  /** A load sending `request`; a non-2xx reply fails the measurement. */
  load(request: LoadRequest): Load {
    return { measure: async (concurrency, ms) => (await this.call({ request, concurrency, ms })).measure };
  }

  /** A JSON POST of `body` (a string is sent as is). */
  post(path: string, body: unknown, headers: Record<string, string> = {}): Load {
    return this.load({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body), headers });
  }

  async close() {
    await this.call({ close: true });
    await this.worker.terminate();
  }
}

import { Worker } from 'node:worker_threads';
import type { ConnectionOptions } from 'node:tls';
import type { ChildProcess } from 'node:child_process';
import type { Measure } from './harness.ts';
import { spawnNode } from './pin.ts';
import { Rpc } from './rpc.ts';

/** One request a load generator sends over and over (the body as sent; AK/SK signing done per request). */
export interface LoadRequest {
  method: string;
  path: string;
  body: string;
  headers?: Record<string, string>;
  aksk?: { access: string; secret: string; project: string };
}

/** Closes a helper process's IPC channel (all it waits on once its work is closed) and waits for it to exit. */
export function exitOf(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  const gone = new Promise<void>((r) => p.once('exit', () => r()));
  if (p.connected) p.disconnect();
  return gone;
}

/** Something the harness can measure for `ms` (or `requests`) at `concurrency`. */
export interface Load {
  measure(concurrency: number, ms: number, requests?: number): Promise<Measure>;
}

/**
 * The load generator (`bench/client.ts` is its HTTP/1.1 client), as wrk would be: on its own thread
 * (sharing the machine's cores with the server but not its event loop), or with `cpus` in its own
 * process pinned to those CPUs, so that it takes nothing from the server's.
 */
export class RemoteClient {
  private readonly peer: Worker | ChildProcess;
  private readonly rpc: Rpc;

  /** `staleMs`: how long a connection may stay idle and still be used (client.ts). */
  constructor(
    port: number,
    tls: ConnectionOptions,
    connections: number,
    opts: { cpus?: number[] | undefined; staleMs?: number | undefined } = {},
  ) {
    const entry = new URL('./load-worker.ts', import.meta.url);
    const data = { port, tls, connections, staleMs: opts.staleMs };
    this.peer = opts.cpus
      ? spawnNode([entry.pathname, JSON.stringify(data)], opts.cpus)
      : new Worker(new URL('./worker-boot.mjs', import.meta.url), { workerData: { entry: entry.href, ...data } });
    this.rpc = new Rpc(this.peer, 'the load generator');
  }

  /** The load generator's process id (its own process only). */
  get pid(): number | undefined {
    return 'pid' in this.peer ? this.peer.pid : undefined;
  }

  /**
   * A load sending `request`; a non-2xx reply fails the measurement. With `perSec`, requests start at
   * that fixed rate (harness.ts `openLoop`), at most `concurrency` in flight; otherwise in closed loops.
   */
  load(request: LoadRequest, perSec?: number): Load {
    return {
      measure: async (concurrency, ms, requests) => (await this.rpc.call({ request, concurrency, ms, requests, perSec })).measure,
    };
  }

  /** A JSON POST of `body` (a string is sent as is). */
  post(path: string, body: unknown, headers: Record<string, string> = {}): Load {
    return this.load({ method: 'POST', path, body: typeof body === 'string' ? body : JSON.stringify(body), headers });
  }

  async close() {
    await this.rpc.call({ close: true });
    if ('terminate' in this.peer) await this.peer.terminate();
    else await exitOf(this.peer);
  }
}

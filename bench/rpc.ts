import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:worker_threads';

/**
 * Calls to a bench helper on another thread or in another process: `{ id, ...message }` out, `{ id,
 * ...answer }` or `{ id, error }` back. A process that dies fails what it was asked.
 */
export class Rpc {
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();

  constructor(
    private readonly peer: Worker | ChildProcess,
    private readonly label: string,
  ) {
    peer.on('message', (m: { id: number; error?: string }) => {
      const w = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      if (m.error !== undefined) w?.reject(new Error(m.error));
      else w?.resolve(m);
    });
    const failAll = (e: Error) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    };
    peer.on('error', failAll);
    peer.on('exit', (code: number | null, signal?: string | null) =>
      failAll(new Error(`${label} exited (${signal ?? code}) before answering`)),
    );
  }

  call(m: object): Promise<any> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      if ('postMessage' in this.peer) this.peer.postMessage({ id, ...m });
      else if (!this.peer.send({ id, ...m })) reject(new Error(`${this.label}: its IPC channel is closed`));
    });
  }
}

/** The other end, in the helper: answers each call with `handle`'s result, or its error's message. */
export function serveRpc(
  port: { on(e: 'message', f: (m: any) => void): unknown },
  send: (m: object) => void,
  handle: (m: any) => Promise<object | undefined>,
) {
  port.on('message', async (m: { id: number }) => {
    try {
      send({ id: m.id, ...((await handle(m)) ?? {}) });
    } catch (e) {
      send({ id: m.id, error: e instanceof Error ? e.message : String(e) });
    }
  });
}

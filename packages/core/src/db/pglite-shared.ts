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
  /** The channel closed (the primary died): nothing sent will be answered. */
  on(event: 'disconnect', listener: () => void): unknown;
}

export type ToPrimary =
  | { kind: 'query'; id: number; session: number; sql: string; params: unknown[] }
  | { kind: 'release'; session: number }
  | { kind: 'listen'; id: number; channel: string }
  | { kind: 'unlisten'; id: number; sub: number }
  | { kind: 'fence'; id: number; channel: string; payload: string }
  | { kind: 'fenced'; fence: number };
export type ToWorker =
  | { id: number; result?: unknown; error?: Record<string, unknown> }
  | { notify: number; payload: string }
  | { fence: number; channel: string; payload: string };

export const TAG = 'polykmsStore';
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

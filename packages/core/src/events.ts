import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Store } from './db/connect.ts';

const EVENT_CHANNEL = 'polykms_events';

/**
 * Tells this process at once, and every other process on the store through LISTEN/NOTIFY, that
 * something a cache may hold has changed (a credential revoked, a policy replaced, a binding moved).
 */
export class EventBus {
  private readonly instance = randomUUID();
  private readonly subscribers = new Map<string, Set<(payload: string) => void>>();
  private unlisten: (() => Promise<void>) | undefined;

  constructor(private readonly store: Store) {}

  async start() {
    this.unlisten = await this.store.listen(EVENT_CHANNEL, (raw) => {
      try {
        const { from, topic, payload } = JSON.parse(raw) as { from: string; topic: string; payload: string };
        if (from !== this.instance) this.deliver(topic, payload);
      } catch {
        /* not ours */
      }
    });
  }

  async stop() {
    await this.unlisten?.().catch(() => {});
  }

  private deliver(topic: string, payload: string) {
    for (const cb of this.subscribers.get(topic) ?? []) cb(payload);
  }

  async publish(topic: string, payload = '') {
    this.deliver(topic, payload);
    await sql`select pg_notify(${EVENT_CHANNEL}, ${JSON.stringify({ from: this.instance, topic, payload })})`.execute(this.store.db);
  }

  subscribe(topic: string, cb: (payload: string) => void): () => void {
    let set = this.subscribers.get(topic);
    if (!set) {
      set = new Set();
      this.subscribers.set(topic, set);
    }
    set.add(cb);
    return () => set.delete(cb);
  }
}

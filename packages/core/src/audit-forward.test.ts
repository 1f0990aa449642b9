import { EventEmitter } from 'node:events';
import type { Kysely } from 'kysely';
import { describe, expect, it } from 'vitest';
import { ForwardingAuditTrail, serveForwardedAudit } from './audit-forward.ts';
import type { AuditEvent, AuditTrail } from './audit.ts';
import type { Database } from './db/schema.ts';
import type { Peer } from './db/pglite-shared.ts';
import { KmsError } from './errors.ts';
import { silentLogger } from './testing.ts';

const event = (action: string, details?: Record<string, unknown>): AuditEvent => ({
  at: new Date(),
  tenantId: null,
  dialect: 't',
  principal: 'p',
  action,
  keyId: null,
  outcome: 'allowed',
  ...(details ? { details } : {}),
});

/** Two ends of an IPC channel: a message is cloned when sent (as Node's advanced serialization does) and delivered in a later turn. */
function ipc() {
  const ends = [new EventEmitter(), new EventEmitter()] as const;
  const sent = [0, 0];
  const end = (i: 0 | 1): Peer & { disconnect(): void } => ({
    send: (m) => {
      const copy = structuredClone(m);
      sent[i]!++;
      setImmediate(() => ends[1 - i]!.emit('message', copy));
      return true;
    },
    // biome-ignore lint/suspicious/noExplicitAny: one listener type per event name
    on: (e: string, f: any) => ends[i]!.on(e, f),
    disconnect: () => ends[i]!.emit('disconnect'),
  });
  return { worker: end(0), primary: end(1), sent };
}

/** The primary's trail: records what it is given, refusing the actions in `refuse`; `release()` lets the held ones through. */
function primaryTrail(refuse: string[] = []) {
  const recorded: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const trail = {
    async record(e: AuditEvent) {
      await gate;
      if (refuse.includes(e.action)) throw new KmsError('unavailable', `the store refused ${e.action}`);
      recorded.push(e.action);
    },
  } as unknown as AuditTrail;
  return { trail, recorded, release };
}

function setup(refuse: string[] = []) {
  const { worker, primary, sent } = ipc();
  const { trail: atPrimary, recorded, release } = primaryTrail(refuse);
  serveForwardedAudit(primary, atPrimary);
  const trail = new ForwardingAuditTrail({} as Kysely<Database>, silentLogger(), worker);
  return { trail, worker, sent, recorded, release };
}

const settled = (ps: Promise<void>[]) => Promise.allSettled(ps);

describe('a worker forwarding its audit events to the primary', () => {
  it('sends the events of one turn in one message, and gets the answers of one batch in one message', async () => {
    const { trail, sent, recorded, release } = setup();
    const ps = ['a', 'b', 'c', 'd'].map((a) => trail.record(event(a)));
    let done = 0;
    for (const p of ps) void p.then(() => done++);
    await new Promise((r) => setTimeout(r, 20));
    // Nothing is acknowledged before the primary stored it.
    expect(done).toBe(0);
    expect(trail.pending).toBe(4);
    expect(sent).toEqual([1, 0]);
    release();
    await Promise.all(ps);
    expect(recorded).toEqual(['a', 'b', 'c', 'd']);
    expect(sent).toEqual([1, 1]);
    expect(trail.pending).toBe(0);
  });

  it("fails only the operation whose event the primary could not store, with the primary's reason", async () => {
    const { trail, release } = setup(['b']);
    const ps = ['a', 'b', 'c'].map((a) => trail.record(event(a)));
    release();
    const r = await settled(ps);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const err = (r[1] as PromiseRejectedResult).reason;
    expect(err).toBeInstanceOf(KmsError);
    expect(err).toMatchObject({ kind: 'unavailable', message: 'the store refused b' });
  });

  it('fails an event that cannot be sent on its own, and still sends the others of its turn', async () => {
    const { trail, recorded, release, sent } = setup();
    release();
    const ps = [trail.record(event('a')), trail.record(event('bad', { f: () => 1 })), trail.record(event('c'))];
    const r = await settled(ps);
    expect(r.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((r[1] as PromiseRejectedResult).reason).toMatchObject({ kind: 'unavailable' });
    expect(recorded).toEqual(['a', 'c']);
    // The turn's message failed; each event was then sent alone (the bad one could not be).
    expect(sent[0]).toBe(2);
  });

  it('fails every waiting operation, and every later one, once the primary is gone', async () => {
    const { trail, worker } = setup();
    const waiting = trail.record(event('a'));
    await new Promise((r) => setTimeout(r, 5));
    worker.disconnect();
    await expect(waiting).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(trail.record(event('b'))).rejects.toMatchObject({ kind: 'unavailable' });
    expect(trail.pending).toBe(0);
  });
});

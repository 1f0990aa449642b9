import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AuditTrail, type AuditEvent } from './audit.ts';
import type { Database } from './db/schema.ts';
import type { Peer } from './db/pglite-shared.ts';
import { KmsError, type ErrorKind } from './errors.ts';

/**
 * The audit trail of a worker of `serve --workers` on the shared embedded database: its events go to
 * the primary, whose one trail writes every worker's events in the same group commit (on PGlite a
 * statement costs far more than an event in it). `record` still resolves only once the event is
 * stored, and rejects with `unavailable` when it was not. A change's event is written in the change's
 * own transaction, as everywhere.
 */
export class ForwardingAuditTrail extends AuditTrail {
  private seq = 0;
  private readonly outstanding = new Set<Promise<void>>();
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: KmsError) => void }>();

  constructor(
    db: Kysely<Database>,
    log: Logger,
    private readonly peer: Peer,
  ) {
    super(db, log);
    peer.on('disconnect', () => {
      for (const w of this.waiting.values()) w.reject(new KmsError('unavailable', 'the audit trail is gone (the gateway primary stopped)'));
      this.waiting.clear();
    });
    peer.on('message', (m) => {
      const r = m?.[TAG] as { id: number; error?: { kind: ErrorKind; message: string } } | undefined;
      const w = r && this.waiting.get(r.id);
      if (!w) return;
      this.waiting.delete(r!.id);
      if (r!.error) w.reject(new KmsError(r!.error.kind, r!.error.message));
      else w.resolve();
    });
  }

  override get pending() {
    return this.waiting.size;
  }

  override record(event: AuditEvent): Promise<void> {
    const id = ++this.seq;
    const p = new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      try {
        this.peer.send({ [TAG]: { id, event } });
      } catch {
        this.waiting.delete(id);
        reject(new KmsError('unavailable', 'the audit trail cannot record this operation right now; it was not carried out'));
      }
    });
    this.outstanding.add(p);
    p.then(
      () => this.outstanding.delete(p),
      () => this.outstanding.delete(p),
    );
    return p;
  }

  override async flush(): Promise<void> {
    await Promise.allSettled([...this.outstanding]);
    await super.flush();
  }
}

const TAG = 'polykmsAudit';

/** The primary's side: records each event a worker sends in `trail`, and answers once it is stored. */
export function serveForwardedAudit(peer: Peer, trail: AuditTrail) {
  peer.on('message', (m) => {
    const r = m?.[TAG] as { id: number; event: AuditEvent } | undefined;
    if (!r?.event) return;
    trail.record(r.event).then(
      () => send(peer, { id: r.id }),
      (e: unknown) => {
        const k = e instanceof KmsError ? e : new KmsError('unavailable', 'the audit trail cannot record this operation right now');
        send(peer, { id: r.id, error: { kind: k.kind, message: k.message } });
      },
    );
  });
}

const send = (peer: Peer, m: unknown) => {
  try {
    peer.send({ [TAG]: m });
  } catch {
    // The worker is gone; nobody waits for the answer.
  }
};

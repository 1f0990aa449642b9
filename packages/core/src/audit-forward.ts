import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import { AuditTrail, type AuditEvent } from './audit.ts';
import type { Database } from './db/schema.ts';
import type { Peer } from './db/pglite-shared.ts';
import { KmsError, type ErrorKind } from './errors.ts';
import { perTurn } from './runtime/per-turn.ts';

/** An event on its way to the primary, and the primary's answer for it. */
type Forwarded = { id: number; event: AuditEvent };
type Answer = { id: number; error?: { kind: ErrorKind; message: string } };

const TAG = 'polykmsAudit';
const cannotRecord = () => new KmsError('unavailable', 'the audit trail cannot record this operation right now; it was not carried out');

/**
 * The audit trail of a worker of `serve --workers` on the shared embedded database: its events go to
 * the primary, whose one trail writes every worker's events in the same group commit (on PGlite a
 * statement costs far more than an event in it). `record` still resolves only once the event is
 * stored, and rejects with `unavailable` when it was not. A change's event is written in the change's
 * own transaction, as everywhere. Events and answers travel as one message a turn each way.
 */
export class ForwardingAuditTrail extends AuditTrail {
  private seq = 0;
  private gone = false;
  private readonly outstanding = new Set<Promise<void>>();
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: KmsError) => void }>();
  private readonly forward = perTurn<Forwarded>((events) => this.send(events));

  constructor(
    db: Kysely<Database>,
    log: Logger,
    private readonly peer: Peer,
  ) {
    super(db, log);
    peer.on('disconnect', () => {
      this.gone = true;
      for (const w of this.waiting.values()) w.reject(new KmsError('unavailable', 'the audit trail is gone (the gateway primary stopped)'));
      this.waiting.clear();
    });
    peer.on('message', (m) => {
      const answers = m?.[TAG] as Answer[] | undefined;
      if (!Array.isArray(answers)) return;
      for (const a of answers) {
        const w = this.waiting.get(a.id);
        if (!w) continue;
        this.waiting.delete(a.id);
        if (a.error) w.reject(new KmsError(a.error.kind, a.error.message));
        else w.resolve();
      }
    });
  }

  override get pending() {
    return this.waiting.size;
  }

  override record(event: AuditEvent): Promise<void> {
    if (this.gone) return Promise.reject(new KmsError('unavailable', 'the audit trail is gone (the gateway primary stopped)'));
    const id = ++this.seq;
    const p = new Promise<void>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.forward({ id, event });
    });
    this.outstanding.add(p);
    p.then(
      () => this.outstanding.delete(p),
      () => this.outstanding.delete(p),
    );
    return p;
  }

  /** A turn's events in one message; if that fails, each alone, so one that cannot be sent fails only its own operation. */
  private send(events: Forwarded[]) {
    if (trySend(this.peer, events)) return;
    for (const f of events) {
      if (events.length > 1 && trySend(this.peer, [f])) continue;
      const w = this.waiting.get(f.id);
      this.waiting.delete(f.id);
      w?.reject(cannotRecord());
    }
  }

  override async flush(): Promise<void> {
    await Promise.allSettled([...this.outstanding]);
    await super.flush();
  }
}

/** The primary's side: records each event a worker sends in `trail`, and answers once it is stored. */
export function serveForwardedAudit(peer: Peer, trail: AuditTrail) {
  // The answers of one turn (a committed batch settles all its events at once) go back together.
  const answer = perTurn<Answer>((answers) => void trySend(peer, answers));
  peer.on('message', (m) => {
    const events = m?.[TAG] as Forwarded[] | undefined;
    if (!Array.isArray(events)) return;
    for (const { id, event } of events)
      trail.record(event).then(
        () => answer({ id }),
        (e: unknown) => {
          const k = e instanceof KmsError ? e : cannotRecord();
          answer({ id, error: { kind: k.kind, message: k.message } });
        },
      );
  });
}

/** False when the message could not be sent (a value that cannot be cloned); a closed channel is the peer's `disconnect`. */
function trySend(peer: Peer, items: unknown[]): boolean {
  try {
    peer.send({ [TAG]: items });
    return true;
  } catch {
    return false;
  }
}

import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { JournaledEvent } from './audit-journal.ts';
import { JournaledAuditTrail } from './audit-journaled.ts';
import type { AuditTrail } from './audit.ts';
import type { Peer } from './db/pglite-shared.ts';

/**
 * `serve --workers` on the embedded store: each worker journals its own audit events and answers once
 * they are in its journal, as a lone gateway does; its drain sends the journal's batches to the
 * primary, which stores them with that journal's mark (a change's event still goes in the change's own
 * transaction). No request waits for another process. A worker that dies leaves its journal, which the
 * primary stores before the name serves again (`JournaledAuditTrail.replay`); whatever process opens
 * the store next stores every worker journal it finds (`Kms.open`).
 */
const BATCH = 'polykmsJournal';
const STORED = 'polykmsJournalStored';
type Batch = { id: number; batch: JournaledEvent[] };
type Stored = { id: number; error?: string };

/** Where the store owner's journal is, or worker journal `name`'s. */
export const journalDir = (dataDir: string, name?: string) => resolve(dataDir, 'audit-journal', ...(name ? [name] : []));

/** The name of the journal of the worker in `slot` (the primary numbers them from 1). */
export function workerJournal(slot: number) {
  if (!Number.isInteger(slot) || slot < 1) throw new Error(`a worker's slot is a whole number from 1; got ${slot}`);
  return `worker-${slot}`;
}

/** The worker journals in `dataDir`, whichever workers (and however many) wrote them. */
export function workerJournals(dataDir: string): string[] {
  try {
    return readdirSync(journalDir(dataDir), { withFileTypes: true })
      .filter((d) => d.isDirectory() && /^worker-\d+$/.test(d.name))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

const asJournaled = (j: JournaledEvent): JournaledEvent =>
  j.event.details ? { ...j, event: { ...j.event, details: JSON.parse(JSON.stringify(j.event.details)) } } : j;

/** A worker's side: a batch of its journal goes to the primary; resolves once it is stored there. */
export function journalToPrimary(peer: Peer): (batch: JournaledEvent[]) => Promise<void> {
  let seq = 0;
  let gone = false;
  const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  const stopped = () => new Error('the gateway primary stopped; the events stay in this worker journal');
  peer.on('disconnect', () => {
    gone = true;
    for (const w of waiting.values()) w.reject(stopped());
    waiting.clear();
  });
  peer.on('message', (m) => {
    const a = m?.[STORED] as Stored | undefined;
    const w = a && waiting.get(a.id);
    if (!w) return;
    waiting.delete(a.id);
    if (a.error === undefined) w.resolve();
    else w.reject(new Error(a.error));
  });
  return (batch) =>
    new Promise<void>((resolve, reject) => {
      if (gone) return reject(stopped());
      const id = ++seq;
      waiting.set(id, { resolve, reject });
      try {
        try {
          peer.send({ [BATCH]: { id, batch } satisfies Batch });
        } catch {
          // A value IPC cannot clone (a function in some event's details): the details as the journal
          // line holds them, JSON, rather than a batch that fails for ever and blocks the worker.
          peer.send({ [BATCH]: { id, batch: batch.map(asJournaled) } satisfies Batch });
        }
      } catch (e) {
        waiting.delete(id);
        reject(e as Error);
      }
    });
}

/** The primary's side: stores the batches of worker journal `name` in `trail` (its own), and answers each. */
export function serveWorkerJournal(peer: Peer, name: string, trail: AuditTrail) {
  if (!(trail instanceof JournaledAuditTrail)) throw new Error('worker journals are stored by the embedded store owner’s journaled trail');
  const answer = (a: Stored) => {
    try {
      peer.send({ [STORED]: a });
    } catch {} // the worker is gone: what it sent is stored, and what it did not is in its journal
  };
  peer.on('message', (m) => {
    const b = m?.[BATCH] as Batch | undefined;
    if (!b || !Array.isArray(b.batch)) return;
    trail.storeJournaled(name, b.batch).then(
      () => answer({ id: b.id }),
      (e: unknown) => answer({ id: b.id, error: (e as Error).message }),
    );
  });
}

/** The primary's side: stores what worker journal `name` holds (its worker stopped), before the name serves again. */
export function replayWorkerJournal(trail: AuditTrail, dataDir: string, name: string): Promise<number> {
  if (!(trail instanceof JournaledAuditTrail)) throw new Error('worker journals are stored by the embedded store owner’s journaled trail');
  return trail.replay(name, journalDir(dataDir, name));
}

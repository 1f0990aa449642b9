// The audit trail's seal (see auditchain.ts for what it proves): each event's MAC, its link in the
// chain, and the batch as the one JSON document the insert spreads. The writer and the verifier share it.
import { createHmac } from 'node:crypto';
import type { Selectable } from 'kysely';
import type { AuditEventsTable } from './db/schema.ts';
import { nextTurn, yieldsBefore } from './runtime/per-turn.ts';

/** An audit event as its row's columns, before it is sealed. */
export type SealInput = Omit<Selectable<AuditEventsTable>, 'id' | 'mac' | 'seq' | 'chain'>;

const canonical = (v: unknown): unknown =>
  Array.isArray(v)
    ? v.map(canonical)
    : v && typeof v === 'object' && !(v instanceof Date)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
        )
      : v;

/** HMAC-SHA256 over the event's columns in a fixed order, details with sorted keys. */
export function eventMac(key: Uint8Array, e: Omit<SealInput, 'at'> & { at: Date | string }): Buffer {
  const content = JSON.stringify([
    'polykms-audit-v1',
    typeof e.at === 'string' ? e.at : e.at.toISOString(),
    e.tenant_id,
    e.dialect,
    e.principal,
    e.action,
    e.key_id,
    e.outcome,
    e.error_kind,
    e.request_id,
    canonical(e.details),
  ]);
  return createHmac('sha256', key).update(content).digest();
}

/** chain(n) = HMAC(key, chain(n-1) || n as 8 bytes big-endian || mac(n)). */
export function link(key: Uint8Array, prev: Uint8Array, seq: bigint, mac: Uint8Array): Buffer {
  const n = Buffer.alloc(8);
  n.writeBigUInt64BE(seq);
  return createHmac('sha256', key).update(prev).update(n).update(mac).digest();
}

/**
 * The head's MAC: the sequence, the chain value and the legacy bound (the last event id from before the
 * chain existed), so none of them can be moved without the audit key.
 */
export function headMac(key: Uint8Array, seq: string | bigint, chain: Uint8Array, legacyMaxId: string | bigint): Buffer {
  return createHmac('sha256', key)
    .update(JSON.stringify(['polykms-audit-head-v1', String(seq), Buffer.from(chain).toString('hex'), String(legacyMaxId)]))
    .digest();
}

/** `events` as the one JSON text the insert spreads, unsealed (a store whose MAC key is not set yet). */
export const unsealedRows = (events: SealInput[]): string =>
  JSON.stringify(events.map((e) => ({ ...e, mac: null, seq: null, chain: null })));

/**
 * Seals `events` (rows as the table names its columns) after the chain head `head`: the rows with
 * mac, seq and chain as one JSON text, and the new head.
 */
export async function sealBatch(key: Uint8Array, head: { seq: string; chain: Uint8Array }, events: SealInput[]) {
  let seq = BigInt(head.seq);
  let chain: Buffer = Buffer.from(head.chain);
  // Each row's JSON with its three seal columns appended (`{...}` is never empty: an event has columns).
  const rows: string[] = [];
  for (const [i, e] of events.entries()) {
    // However large the statement, requests wait for at most `ITEMS_A_TURN` seals (see `yieldsBefore`).
    if (yieldsBefore(i)) await nextTurn();
    // The time as text once, for the MAC and the row: JSON.stringify would call the Date's toJSON again.
    const row = { ...e, at: e.at.toISOString() };
    const mac = eventMac(key, row);
    seq += 1n;
    chain = link(key, chain, seq, mac);
    rows.push(`${JSON.stringify(row).slice(0, -1)},"mac":"${mac.toString('hex')}","seq":"${seq}","chain":"${chain.toString('hex')}"}`);
  }
  return { rows: `[${rows.join(',')}]`, seq: String(seq), chain };
}

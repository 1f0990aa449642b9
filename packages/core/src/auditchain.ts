import { timingSafeEqual } from 'node:crypto';
import type { Kysely, } from 'kysely';
import type { AuditEvent } from './audit.ts';
import type { Database } from './db/schema.ts';
import { eventMac, link, type SealInput } from './auditseal.mjs';

/**
 * Tamper evidence for the audit trail:
 * 1. every event carries a MAC over its content, under a key sealed with the root key (someone with
 *    database access alone cannot forge or edit an event);
 * 2. events are appended to one chain in the transaction that writes them: the head row (n, chain_n) is
 *    locked, each event gets the next sequence number and chain_n = HMAC(k, chain_{n-1} || n || mac_n),
 *    and the head moves. Removing events anywhere, including at the end, breaks the chain. Batches of
 *    buffered events take the lock once per batch; a change takes it after its key row, so there is no
 *    lock cycle.
 * What it cannot show: a whole database rolled back to an older copy (head and all); keep the pino
 * audit log lines elsewhere for that.
 */
export const AUDIT_KEY_SECRET = 'audit/mac-key';
const GENESIS = Buffer.alloc(32);

type MacInput = SealInput;
export { eventMac, link };

export const eventColumns = (e: AuditEvent): MacInput => ({
  at: e.at,
  tenant_id: e.tenantId,
  dialect: e.dialect,
  principal: e.principal,
  action: e.action,
  key_id: e.keyId,
  outcome: e.outcome,
  error_kind: e.errorKind ?? null,
  request_id: e.requestId ?? null,
  details: e.details ?? null,
});

export const macOfEvent = (key: Buffer, e: AuditEvent) => eventMac(key, eventColumns(e));

export interface AuditVerification {
  ok: boolean;
  /** Sealed events whose MAC and chain were checked. */
  checked: number;
  /** Events outside the chain (none once every writer chains; kept for the report's shape). */
  pending: number;
  /** Events from before the chain existed (no MAC; chained as they were). */
  legacy: number;
  problems: { id: string | null; seq: string | null; problem: string }[];
}

/** Walks the whole trail: every MAC, every link, no gap in the sequence, and the head at the end. */
export async function verifyAuditChain(db: Kysely<Database>, key: Buffer, opts: { pageSize?: number; maxProblems?: number } = {}): Promise<AuditVerification> {
  const pageSize = opts.pageSize ?? 2000;
  const maxProblems = opts.maxProblems ?? 100;
  const out: AuditVerification = { ok: true, checked: 0, pending: 0, legacy: 0, problems: [] };
  const problem = (id: string | null, seq: string | null, p: string) => {
    if (out.problems.length < maxProblems) out.problems.push({ id, seq, problem: p });
    out.ok = false;
  };
  const head = await db.selectFrom('audit_chain_head').selectAll().where('id', '=', 1).executeTakeFirst();
  if (!head) {
    problem(null, null, 'the chain head row is missing');
    return out;
  }
  const legacyMax = BigInt(head.legacy_max_id);
  const checkMac = (r: MacInput & { id: string | number; mac: Buffer | null; seq: string | null }) => {
    if (!r.mac) {
      if (BigInt(r.id) <= legacyMax) out.legacy++;
      else problem(String(r.id), r.seq, 'no MAC: this event was not written by polykms');
      return;
    }
    const want = eventMac(key, r);
    if (want.length !== r.mac.length || !timingSafeEqual(want, r.mac)) problem(String(r.id), r.seq, 'content does not match its MAC: the event was edited');
  };
  let prevSeq = 0n;
  let chain: Buffer = GENESIS;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .selectAll()
      .where('seq', 'is not', null)
      .where('seq', '>', String(prevSeq))
      .orderBy('seq')
      .limit(pageSize)
      .execute();
    for (const r of rows) {
      const seq = BigInt(r.seq!);
      if (seq !== prevSeq + 1n) {
        problem(String(r.id), r.seq, `events ${prevSeq + 1n} to ${seq - 1n} of the chain are missing: deleted`);
        // Resynchronize on this row's stored link so one cut is reported once.
        chain = link(key, chain, seq, r.mac ?? GENESIS);
        if (!r.chain || !timingSafeEqual(chain, r.chain)) chain = r.chain ? Buffer.from(r.chain) : chain;
      } else {
        chain = link(key, chain, seq, r.mac ?? GENESIS);
        if (!r.chain || r.chain.length !== 32 || !timingSafeEqual(chain, r.chain)) {
          problem(String(r.id), r.seq, 'the chain link does not match: an event before it was changed or the link was rewritten');
          if (r.chain) chain = Buffer.from(r.chain);
        }
      }
      checkMac(r as never);
      out.checked++;
      prevSeq = seq;
    }
    if (rows.length < pageSize) break;
  }
  if (prevSeq !== BigInt(head.seq)) problem(null, String(prevSeq), `the chain head says ${head.seq} events were sealed but the trail ends at ${prevSeq}: events at the end were deleted`);
  else if (prevSeq > 0n && !timingSafeEqual(chain, head.chain)) problem(null, String(prevSeq), 'the chain head does not match the last event');
  const unchained = await db.selectFrom('audit_events').selectAll().where('seq', 'is', null).limit(maxProblems + 1).execute();
  for (const r of unchained) {
    if (BigInt(r.id) <= legacyMax) out.legacy++;
    else if (!r.mac) problem(String(r.id), null, 'no MAC and not in the chain: this event was not written by polykms');
    else problem(String(r.id), null, 'not in the chain: this event was inserted outside polykms');
  }
  return out;
}

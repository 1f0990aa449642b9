import { timingSafeEqual } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { AuditEvent } from './audit.ts';
import type { Database } from './db/schema.ts';
import { eventMac, headMac, link, type SealInput } from './auditseal.ts';

/**
 * Tamper evidence for the audit trail:
 * 1. every event carries a MAC over its content, under a key sealed with the root key (someone with
 *    database access alone cannot forge or edit an event);
 * 2. events are appended to one chain in the transaction that writes them: the head row (n, chain_n) is
 *    locked, each event gets the next sequence number and chain_n = HMAC(k, chain_{n-1} || n || mac_n),
 *    and the head moves. Removing events anywhere breaks the chain;
 * 3. the head (n, chain_n, legacy bound) carries its own MAC, so cutting the tail and moving the head
 *    back to the last surviving event, or raising the legacy bound to pass forged unsealed rows as
 *    "legacy", shows. A writer that finds a head that does not verify marks it in the chain
 *    (`audit.head_rejected`, reported for ever) rather than extend it silently; a line of the embedded
 *    store's audit journal that does not verify is marked the same way (`audit.journal_rejected`).
 * What it cannot show from the database alone: the database (or the head row with the events after it)
 * put back to an older copy of itself, whose head verified then. The running gateway notices a head
 * older than one it wrote; otherwise compare with an anchor kept outside (every committed batch logs
 * its head as `head: {seq, chain}` on its last audit line; `anchor` below checks one).
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
  /** The head as stored (compare it with the last anchor kept outside the database). */
  head?: { seq: string; chain: string } | undefined;
}

export interface VerifyOptions {
  pageSize?: number;
  maxProblems?: number;
  /** The highest sequence number this process saw committed (a head below it was rolled back). */
  atLeast?: bigint;
  /** A head recorded outside the database (a log line's `head`): that event must still be in the chain with that value. */
  anchor?: { seq: string; chain: string } | undefined;
}

/** Walks the whole trail: every MAC, every link, no gap in the sequence, and the head at the end. */
export async function verifyAuditChain(db: Kysely<Database>, key: Buffer, opts: VerifyOptions = {}): Promise<AuditVerification> {
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
  out.head = { seq: String(head.seq), chain: Buffer.from(head.chain).toString('hex') };
  // The legacy bound is trusted only through the head's MAC.
  const wantHead = headMac(key, String(head.seq), head.chain, String(head.legacy_max_id));
  const headOk = !!head.mac && head.mac.length === wantHead.length && timingSafeEqual(wantHead, head.mac);
  if (!head.mac)
    problem(
      null,
      String(head.seq),
      head.adopt_pending
        ? 'the chain head is not authenticated yet (it is at the next start of the gateway)'
        : 'the chain head has no MAC: it was rewritten',
    );
  else if (!headOk)
    problem(
      null,
      String(head.seq),
      'the chain head does not match its MAC: it was moved (events cut at the end) or its legacy bound was changed',
    );
  if (opts.atLeast !== undefined && BigInt(head.seq) < opts.atLeast)
    problem(
      null,
      String(head.seq),
      `the chain head went back: this gateway sealed up to ${opts.atLeast}, the head says ${head.seq} (events cut and an older head put back)`,
    );
  const legacyMax = headOk ? BigInt(head.legacy_max_id) : 0n;
  // Legacy: from before the chain (no MAC, no place in it), a real id, within the authenticated bound.
  const checkMac = (r: MacInput & { id: string | number; mac: Buffer | null; seq: string | null }) => {
    if (!r.mac) return problem(String(r.id), r.seq, 'no MAC: this event was not written by polykms');
    const want = eventMac(key, r);
    if (want.length !== r.mac.length || !timingSafeEqual(want, r.mac))
      problem(String(r.id), r.seq, 'content does not match its MAC: the event was edited');
    else if (r.dialect === 'core' && r.action === 'audit.head_rejected')
      problem(
        String(r.id),
        r.seq,
        `the gateway found the chain head rewritten before this event (${String((r.details as { problem?: unknown } | null)?.problem ?? '')}): events before it may have been cut or forged`,
      );
    else if (r.dialect === 'core' && r.action === 'audit.journal_rejected') {
      const d = (r.details ?? {}) as { file?: unknown; line?: unknown; problem?: unknown };
      problem(
        String(r.id),
        r.seq,
        `audit journal: ${String(d.problem ?? '')}${d.file ? ` (${String(d.file)}, line ${String(d.line)})` : ''}`,
      );
    }
    // The head is adopted once, at the upgrade; again means its MAC and the migration's flag were reset.
    else if (r.dialect === 'core' && r.action === 'audit.head_adopted' && ++adoptions > 1)
      problem(
        String(r.id),
        r.seq,
        'the chain head was authenticated as found a second time: it had been reset in the database, and events before this one may have been cut',
      );
  };
  let adoptions = 0;
  let anchorSeen = false;
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
      if (opts.anchor && String(r.seq) === opts.anchor.seq) {
        anchorSeen = true;
        if (!r.chain || Buffer.from(r.chain).toString('hex') !== opts.anchor.chain.toLowerCase())
          problem(
            String(r.id),
            r.seq,
            'the event at the anchor has another chain value: the trail was rewritten since the anchor was taken',
          );
      }
      out.checked++;
      prevSeq = seq;
    }
    if (rows.length < pageSize) break;
  }
  if (prevSeq !== BigInt(head.seq))
    problem(
      null,
      String(prevSeq),
      `the chain head says ${head.seq} events were sealed but the trail ends at ${prevSeq}: events at the end were deleted`,
    );
  else if (prevSeq > 0n && !timingSafeEqual(chain, head.chain))
    problem(null, String(prevSeq), 'the chain head does not match the last event');
  if (opts.anchor && !anchorSeen)
    problem(
      null,
      opts.anchor.seq,
      `the anchored event ${opts.anchor.seq} is not in the chain: the trail was cut or put back to an older copy`,
    );
  const legacyRow = (w: any) => w.and([w('mac', 'is', null), w('id', '>=', '1'), w('id', '<=', String(legacyMax))]);
  if (legacyMax > 0n) {
    const n = await db
      .selectFrom('audit_events')
      .select((e) => e.fn.countAll<string>().as('n'))
      .where('seq', 'is', null)
      .where(legacyRow)
      .executeTakeFirstOrThrow();
    out.legacy = Number(n.n);
  }
  const unchained = await db
    .selectFrom('audit_events')
    .selectAll()
    .where('seq', 'is', null)
    .where((w) => w.not(legacyRow(w)))
    .orderBy('id')
    .limit(maxProblems + 1)
    .execute();
  for (const r of unchained) {
    if (!r.mac) problem(String(r.id), null, 'no MAC and not in the chain: this event was not written by polykms');
    else problem(String(r.id), null, 'not in the chain: this event was inserted outside polykms');
  }
  return out;
}

import { timingSafeEqual } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import { headMac } from './auditseal.ts';
import type { Database } from './db/schema.ts';

/** The chain head as this process last wrote or verified it. */
export interface Head {
  seq: string;
  chain: Buffer;
  legacy: string;
  mac: Buffer | null;
}

/**
 * One statement per batch, whatever its size: the rows as one JSON document, spread by
 * `jsonb_to_recordset`. A multi-row VALUES list costs a bind parameter per cell and a parse and plan
 * that grow with the batch; one array per column (`unnest`) costs the driver a text encoding per cell.
 * Measured here per event (CPU of the whole process): VALUES 53 us on PostgreSQL and 70 on PGlite,
 * unnest 22 and 65, JSON 13 and 36.
 */
export function insertEvents(db: Kysely<Database> | Transaction<Database>, rows: string) {
  return sql`insert into audit_events (at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, mac, seq, chain)
    select at, tenant_id, dialect, principal, action, key_id, outcome, error_kind, request_id, details, decode(mac, 'hex'), seq, decode(chain, 'hex')
    from jsonb_to_recordset(${rows}::jsonb) as x(at timestamptz, tenant_id uuid, dialect text, principal text, action text, key_id uuid,
      outcome text, error_kind text, request_id text, details jsonb, mac text, seq bigint, chain text)`.execute(db);
}

/**
 * Moves the chain head from `from` to `to` and inserts the sealed rows, in one statement and only if the
 * head is still at `from` (another writer may have moved it: then nothing is inserted and it returns 0).
 * The statement is `polykms_audit_append` (migrations 0013 to 0015), so its plan is made once per
 * connection; `mark` is the last audit-journal event among the rows (audit-journal.ts), if any, and
 * `journal` whose it is (null: the store owner's own).
 */
export async function moveHeadAndInsert(
  db: Kysely<Database> | Transaction<Database>,
  from: Head,
  to: Head,
  rows: string,
  mark: bigint | null = null,
  journal: string | null = null,
) {
  const r = await sql<{ inserted: string }>`select polykms_audit_append(${from.seq}, ${from.chain}, ${to.seq}, ${to.chain}, ${to.mac},
    ${rows}::jsonb, ${mark === null ? null : String(mark)}::bigint, ${journal}::text) as inserted`.execute(db);
  return Number(r.rows[0]?.inserted ?? 0);
}

export async function readHead(db: Kysely<Database> | Transaction<Database>) {
  const h = await db
    .selectFrom('audit_chain_head')
    .select(['seq', 'chain', 'legacy_max_id', 'mac', 'adopt_pending', 'journal_mark'])
    .where('id', '=', 1)
    .forUpdate()
    .executeTakeFirstOrThrow();
  return {
    head: {
      seq: String(h.seq),
      chain: Buffer.from(h.chain),
      legacy: String(h.legacy_max_id),
      mac: h.mac ? Buffer.from(h.mac) : null,
    } as Head,
    adoptPending: h.adopt_pending,
    journalMark: BigInt(h.journal_mark),
  };
}

/** The last event of a worker's journal the store holds (0: none); null is the store owner's own journal. */
export async function readJournalMark(db: Kysely<Database>, journal: string | null): Promise<bigint> {
  if (journal === null) return (await readHead(db)).journalMark;
  const r = await db.selectFrom('audit_journal_marks').select('mark').where('journal', '=', journal).executeTakeFirst();
  return BigInt(r?.mark ?? 0);
}

/** Why the head as read cannot be extended as is (see verifyAuditChain), or undefined. */
export function headProblem(macKey: Buffer, highestSeen: bigint, h: Head): string | undefined {
  if (!h.mac) return 'the chain head had no MAC';
  const want = headMac(macKey, h.seq, h.chain, h.legacy);
  if (want.length !== h.mac.length || !timingSafeEqual(want, h.mac))
    return 'the chain head did not match its MAC (moved, or its legacy bound changed)';
  if (BigInt(h.seq) < highestSeen) return `the chain head went back from ${highestSeen} to ${h.seq}`;
  return undefined;
}

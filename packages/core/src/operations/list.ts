import { sql } from 'kysely';
import { isUuid } from '../ciphertext.ts';
import type { Core } from '../context.ts';
import { invalid } from '../errors.ts';
import { likeContains, unstorableText } from '../audit.ts';
import type { KeyKind } from '../keyspec.ts';
import type { KeyState } from '../states.ts';
import { NAME_MAX, type Caller, type KeyRecord, type ListInput } from '../types.ts';
import { authorize, checkTenant, event, run } from './pipeline.ts';
import { toRecord, visibleTo } from './rows.ts';

/** Keyset pagination over (created_at, id): pages cost the same at any depth. */
export async function listKeys(core: Core, c: Caller, input: ListInput = {}): Promise<{ keys: KeyRecord[]; nextCursor: string | null }> {
  return run(core, c, 'key.list', null, async () => {
    checkTenant(c);
    const limit = input.limit ?? 100;
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('a page holds 1 to 1000 keys', 'limit');
    await authorize(c, 'key.list');
    let q = core.db.selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId).where(visibleTo(c));
    if (input.states?.length) q = q.where('state', 'in', [...input.states]);
    if (input.kinds?.length) q = q.where('kind', 'in', [...input.kinds]);
    const search = input.search?.trim();
    if (search) {
      if (search.length > NAME_MAX || unstorableText(search)) throw invalid(`a search is at most ${NAME_MAX} characters`, 'search');
      const like = likeContains(search);
      q = q.where((w) =>
        w.or([
          w('name', 'ilike', like),
          w('description', 'ilike', like),
          w('alias', 'ilike', like),
          ...(isUuid(search) ? [w('id', '=', search.toLowerCase())] : []),
        ]),
      );
    }
    if (input.cursor) {
      const [at, id] = decodeCursor(input.cursor);
      // A row-value comparison, so the planner walks the (tenant_id, created_at, id) index from the cursor.
      q = q.where(sql<boolean>`(created_at, id) > (${at}, ${id}::uuid)`);
    }
    const rows = await q
      .orderBy('created_at')
      .orderBy('id')
      .limit(limit + 1)
      .execute();
    const page = rows.slice(0, limit).map(toRecord);
    const last = page[page.length - 1];
    await core.audit.record(event(core, c, 'key.list', null, 'allowed', undefined, { count: page.length }));
    return { keys: page, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
  });
}

/** A keyset position: after (created_at, id). Dialects that need a position of their own use this too. */
export function encodeCursor(at: Date, id: string) {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const bad = () => invalid('the continuation token is not valid', 'cursor');
  if (typeof cursor !== 'string' || cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (Number.isNaN(at.getTime()) || !isUuid(id)) throw bad();
  return [at, id];
}

/**
 * How many keys each tenant holds, by state and type: the operator's overview. Counts only, read as
 * the operator (no caller, not audited), like the tenant list.
 */
export async function countKeys(core: Core): Promise<{ tenantId: string; state: KeyState; kind: KeyKind; count: number }[]> {
  const rows = await core.db
    .selectFrom('keys')
    .select(['tenant_id', 'state', 'kind', (e) => e.fn.countAll<string>().as('n')])
    .groupBy(['tenant_id', 'state', 'kind'])
    .execute();
  return rows.map((r) => ({
    tenantId: r.tenant_id,
    state: r.state as KeyState,
    kind: r.kind as KeyKind,
    count: Number(r.n),
  }));
}

import { sql, type Kysely } from 'kysely';
import type { Database, KeysTable } from '../db/schema.ts';
import type { Selectable } from 'kysely';

export type KeyUseRow = Selectable<KeysTable> & {
  v_version: number | null;
  v_root: string | null;
  v_has_material: boolean | null;
};

interface Pending {
  tenantId: string;
  keyId: string;
  version: number | null;
  resolve: (r: KeyUseRow | undefined) => void;
  reject: (e: unknown) => void;
}

/**
 * Reads key rows for crypto operations in batches: every request that arrives while the event loop
 * turns joins one query. Each request's read still starts after the request arrived, so a state
 * change acknowledged before a request is always seen by it (no stale answers, unlike a TTL cache).
 *
 * With `cacheRows` (only for a store no other process can write: embedded PGlite, which holds a lock on
 * its directory) rows are also kept in memory. Every change to a key goes through this process and
 * calls `invalidate` after its commit and before it is acknowledged; a read that started before an
 * invalidation is not cached (epoch check), so a stale row can never be stored.
 */
export class KeyLoader {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private epoch = 0;
  private readonly rows = new Map<string, Map<string, KeyUseRow>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly opts: {
      cacheRows?: boolean;
      maxCachedKeys?: number;
      maxInFlight?: number;
      maxBatch?: number;
    } = {},
  ) {}

  private get maxInFlight() {
    return this.opts.maxInFlight ?? 4;
  }
  private get maxBatch() {
    return this.opts.maxBatch ?? 256;
  }

  load(tenantId: string, keyId: string, version: number | null): Promise<KeyUseRow | undefined> {
    if (this.opts.cacheRows) {
      const hit = this.rows.get(`${tenantId}/${keyId}`)?.get(`${version ?? ''}`);
      if (hit) return Promise.resolve(hit);
    }
    return new Promise((resolve, reject) => {
      const epoch = this.epoch;
      const done = !this.opts.cacheRows
        ? resolve
        : (r: KeyUseRow | undefined) => {
            if (r && epoch === this.epoch) this.remember(tenantId, keyId, version, r);
            resolve(r);
          };
      this.queue.push({ tenantId, keyId, version, resolve: done, reject });
      this.schedule();
    });
  }

  /** A key changed: drop its rows, and refuse to cache reads that started before now. */
  invalidate(tenantId: string, keyId: string) {
    this.epoch++;
    this.rows.delete(`${tenantId}/${keyId}`);
  }

  /** The same, for a key named as `tenantId/keyId` (what LISTEN/NOTIFY and fences carry). */
  forget(scoped: string) {
    this.epoch++;
    this.rows.delete(scoped);
  }

  private remember(tenantId: string, keyId: string, version: number | null, r: KeyUseRow) {
    // Key ids are unique per tenant only.
    const id = `${tenantId}/${keyId}`;
    let m = this.rows.get(id);
    if (!m) {
      if (this.rows.size >= (this.opts.maxCachedKeys ?? 50_000)) this.rows.delete(this.rows.keys().next().value!);
      this.rows.set(id, (m = new Map()));
    }
    m.set(`${version ?? ''}`, r);
  }

  private schedule() {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const batch = this.queue.splice(0, this.maxBatch);
      if (batch.length) void this.run(batch);
      this.schedule();
    });
  }

  private async run(batch: Pending[]) {
    this.inFlight++;
    try {
      await this.query(batch);
    } catch (e) {
      // One request must not fail the others it was batched with: retry each alone.
      if (batch.length === 1) batch[0]!.reject(e);
      else for (const p of batch) await this.query([p]).catch((err) => p.reject(err));
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }

  private async query(batch: Pending[]) {
    {
      const keySeen = new Set<string>();
      const keys = batch.filter((p) => !keySeen.has(`${p.tenantId}/${p.keyId}`) && keySeen.add(`${p.tenantId}/${p.keyId}`));
      // One row per key with its current version, plus any older versions asked for.
      const seen = new Set<string>();
      const versions = batch.filter(
        (p) => p.version !== null && !seen.has(`${p.keyId}/${p.version}`) && seen.add(`${p.keyId}/${p.version}`),
      );
      const rows = await this.db
        .selectFrom('keys as k')
        .leftJoin('key_versions as v', (j) =>
          j
            .onRef('v.tenant_id', '=', 'k.tenant_id')
            .onRef('v.key_id', '=', 'k.id')
            .on((w) =>
              versions.length
                ? w.or([
                    w('v.version', '=', w.ref('k.current_version')),
                    w(
                      w.refTuple('v.key_id', 'v.version'),
                      'in',
                      versions.map((p) => w.tuple(p.keyId, p.version!)),
                    ),
                  ])
                : w('v.version', '=', w.ref('k.current_version')),
            ),
        )
        .selectAll('k')
        .select(['v.version as v_version', 'v.root_key_id as v_root', sql<boolean>`v.material is not null`.as('v_has_material')])
        .where((w) =>
          w(
            w.refTuple('k.tenant_id', 'k.id'),
            'in',
            keys.map((p) => w.tuple(p.tenantId, p.keyId)),
          ),
        )
        .execute();
      for (const p of batch) {
        const want = p.version;
        const row = rows.find(
          (r) =>
            r.id === p.keyId && r.tenant_id === p.tenantId && (want === null ? r.v_version === r.current_version : r.v_version === want),
        );
        // A key of another tenant is simply not there.
        const keyExists = rows.some((r) => r.id === p.keyId && r.tenant_id === p.tenantId);
        p.resolve(
          row ??
            (keyExists
              ? ({
                  ...rows.find((r) => r.id === p.keyId && r.tenant_id === p.tenantId)!,
                  v_version: null,
                  v_root: null,
                  v_has_material: null,
                } as KeyUseRow)
              : undefined),
        );
      }
    }
  }
}

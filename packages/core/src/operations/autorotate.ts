import type { Core } from '../context.ts';
import { KmsError } from '../errors.ts';
import { generateMaterial } from '../material.ts';
import type { Caller } from '../types.ts';
import { notify } from './change.ts';
import { event, run } from './pipeline.ts';
import { newVersion } from './rotate.ts';
import { scopedKey, specOf, toRecord } from './rows.ts';

/** Who scheduled rotations are by, in the audit trail. */
export const ROTATION_PRINCIPAL = 'system:rotation-scheduler';

/** Keys looked at per sweep; the next sweep takes the rest. */
const BATCH = 500;

/**
 * Rotates the active keys whose next rotation is due, each in a transaction of its own; returns how
 * many rotated. Safe with any number of processes sweeping one database: a key is taken under its row
 * lock (`skip locked`: another process has it), still due and active, and its due date moves in the
 * same transaction as the new version, so each period makes exactly one version.
 */
export async function rotateDueKeys(core: Core): Promise<number> {
  const due = await core.db
    .selectFrom('keys')
    .select(['tenant_id', 'id', 'owner'])
    .where('next_rotation_at', '<=', core.now())
    .where('state', '=', 'active')
    .orderBy('next_rotation_at')
    .limit(BATCH)
    .execute();
  let n = 0;
  for (const k of due) {
    const c: Caller = { tenantId: k.tenant_id, dialect: k.owner ?? 'core', principal: ROTATION_PRINCIPAL };
    // One key's failure (audited by `run`) does not stop the others.
    if (await rotateIfDue(core, c, k.id).catch(() => false)) n++;
  }
  return n;
}

async function rotateIfDue(core: Core, c: Caller, keyId: string): Promise<boolean> {
  return run(core, c, 'key.rotate', keyId, async () => {
    const now = core.now();
    const done = await core.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('keys')
        .selectAll()
        .where('tenant_id', '=', c.tenantId)
        .where('id', '=', keyId)
        .where('state', '=', 'active')
        .where('next_rotation_at', '<=', now)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!row) return false;
      const patch = await newVersion(core, trx, row, await generateMaterial(specOf(toRecord(row))));
      // The claim: still due under the lock, or nothing changes (the version above rolls back with it).
      const claimed = await trx
        .updateTable('keys')
        .set({ ...patch, revision: row.revision + 1, updated_at: now })
        .where('tenant_id', '=', c.tenantId)
        .where('id', '=', keyId)
        .where('next_rotation_at', '<=', now)
        .where('state', '=', 'active')
        .executeTakeFirst();
      if (Number(claimed.numUpdatedRows) !== 1) throw new KmsError('conflict', 'the key changed while it was being rotated');
      await core.audit.inTransaction(
        trx,
        event(core, c, 'key.rotate', keyId, 'allowed', undefined, {
          scheduled: true,
          version: patch.current_version,
          due: row.next_rotation_at,
        }),
      );
      await notify(trx, c.tenantId, keyId);
      return true;
    });
    if (done) {
      core.loader.invalidate(c.tenantId, keyId);
      core.cache.evictKey(scopedKey(c.tenantId, keyId));
      await core.fence(scopedKey(c.tenantId, keyId));
    }
    return done;
  });
}

/** Sweeps for due rotations every `everyMs`; `sweep()` runs one at once (tests, the CLI). */
export class RotationScheduler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly core: Core) {}

  sweep(): Promise<number> {
    return rotateDueKeys(this.core);
  }

  start(everyMs = 60_000) {
    if (this.timer) clearInterval(this.timer);
    this.timer = setInterval(() => {
      // A sweep still running (a large batch, a slow database) is not doubled by the next tick.
      if (this.running) return;
      this.running = this.sweep()
        .catch((e) => {
          this.core.log.error({ err: e }, 'rotation sweep failed');
          return 0;
        })
        .finally(() => {
          this.running = undefined;
        });
    }, everyMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a sweep under way. */
  async stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}

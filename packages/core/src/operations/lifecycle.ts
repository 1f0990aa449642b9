import type { Core } from '../context.ts';
import { invalid, KmsError } from '../errors.ts';
import { DEACTIVATION_REASONS, nextState, type DeactivationReason, type KeyState } from '../states.ts';
import type { Caller } from '../types.ts';
import { change, transition } from './change.ts';

export async function activate(core: Core, c: Caller, keyId: string) {
  return change(core, c, 'key.activate', keyId, async (row) => {
    if (c.policy?.exactTransitions && (row.state === 'active' || row.state === 'pre_active'))
      throw new KmsError(
        'failed_precondition',
        `the key is ${row.state.replace('_', ' ')}: only a deactivated key can be activated`,
        'key_state',
      );
    const to = transition(row, 'activate');
    return {
      state: to,
      activated_at: row.state === 'active' ? row.activated_at : core.now(),
      deactivated_at: null,
      deactivation_reason: null,
      compromised_at: null,
    };
  });
}

export async function deactivate(core: Core, c: Caller, keyId: string, reason: DeactivationReason = 'unspecified') {
  return change(
    core,
    c,
    'key.deactivate',
    keyId,
    async (row) => {
      if (!DEACTIVATION_REASONS.includes(reason))
        throw invalid(`unknown deactivation reason '${reason}'; expected one of ${DEACTIVATION_REASONS.join(', ')}`, 'reason');
      if (c.policy?.exactTransitions && row.state !== 'active')
        throw new KmsError(
          'failed_precondition',
          `the key is ${row.state.replace('_', ' ')}: only an active key can be deactivated`,
          'key_state',
        );
      const to = transition(row, reason === 'key_compromise' ? 'compromise' : 'deactivate');
      const now = core.now();
      return {
        state: to,
        deactivated_at: row.deactivated_at ?? now,
        deactivation_reason:
          to === 'compromised' && row.state === 'compromised' && reason !== 'key_compromise' ? row.deactivation_reason : reason,
        compromised_at: to === 'compromised' ? (row.compromised_at ?? now) : null,
      };
    },
    { reason },
  );
}

/**
 * `deactivate`: an active or pre-active key is deactivated in the same transaction first, for
 * dialects whose vendor schedules deletion of an enabled key directly (Huawei).
 */
export async function scheduleDeletion(core: Core, c: Caller, keyId: string, pendingDays: number, opts: { deactivate?: boolean } = {}) {
  return change(
    core,
    c,
    'key.schedule_deletion',
    keyId,
    async (row) => {
      if (!Number.isInteger(pendingDays) || pendingDays < 0 || pendingDays > 3650)
        throw invalid('the pending period is 0 to 3650 days', 'pending_days');
      const now = core.now();
      if (opts.deactivate && (row.state === 'active' || row.state === 'pre_active')) {
        const to = nextState(nextState(row.state as KeyState, 'deactivate'), 'schedule_deletion');
        return {
          state: to,
          deactivated_at: row.deactivated_at ?? now,
          deactivation_reason: row.deactivation_reason ?? 'unspecified',
          deletion_due_at: new Date(now.getTime() + pendingDays * 86_400_000),
        };
      }
      return {
        state: transition(row, 'schedule_deletion'),
        deletion_due_at: new Date(now.getTime() + pendingDays * 86_400_000),
      };
    },
    { pendingDays },
  );
}

export async function cancelDeletion(core: Core, c: Caller, keyId: string) {
  return change(core, c, 'key.cancel_deletion', keyId, async (row, trx) => {
    transition(row, 'cancel_deletion');
    // A key scheduled for deletion while it waited for its material goes back to waiting.
    const material = await trx
      .selectFrom('key_versions')
      .select('version')
      .where('tenant_id', '=', row.tenant_id)
      .where('key_id', '=', keyId)
      .executeTakeFirst();
    if (!material) return { state: 'pending_import', deletion_due_at: null };
    return { state: row.compromised_at ? 'compromised' : 'deactivated', deletion_due_at: null };
  });
}

/** Erases every version's material; the metadata row stays for audit. */
export async function destroy(core: Core, c: Caller, keyId: string) {
  return change(core, c, 'key.destroy', keyId, async (row, trx) => {
    const to = transition(row, 'destroy');
    await trx
      .updateTable('key_versions')
      .set({ material: null, root_key_id: null })
      .where('tenant_id', '=', row.tenant_id)
      .where('key_id', '=', keyId)
      .execute();
    return { state: to, destroyed_at: core.now(), deletion_due_at: null };
  });
}

/** Destroys keys whose deletion date has passed (run periodically by the gateway). */
export async function destroyDueKeys(core: Core): Promise<number> {
  const due = await core.db
    .selectFrom('keys')
    .select(['id', 'tenant_id', 'owner'])
    .where('state', '=', 'pending_deletion')
    .where('deletion_due_at', '<=', core.now())
    .limit(1000)
    .execute();
  let n = 0;
  for (const k of due) {
    await destroy(core, { tenantId: k.tenant_id, dialect: k.owner ?? 'core', principal: 'system:deletion-scheduler' }, k.id).then(
      () => n++,
      () => undefined,
    );
  }
  return n;
}

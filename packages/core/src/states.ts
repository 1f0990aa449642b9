import { KmsError } from './errors.ts';
import type { KeyOp } from './keyspec.ts';

/** `pending_import`: a key created for material the customer brings, until it is imported (or after it expired). */
export const KEY_STATES = [
  'pre_active',
  'active',
  'deactivated',
  'compromised',
  'pending_deletion',
  'destroyed',
  'pending_import',
] as const;
export type KeyState = (typeof KEY_STATES)[number];

export const DEACTIVATION_REASONS = [
  'unspecified',
  'key_compromise',
  'ca_compromise',
  'affiliation_changed',
  'superseded',
  'cessation_of_operation',
  'privilege_withdrawn',
] as const;
export type DeactivationReason = (typeof DEACTIVATION_REASONS)[number];

export type Transition = 'activate' | 'deactivate' | 'compromise' | 'schedule_deletion' | 'cancel_deletion' | 'destroy';

/**
 * The one table of state rules. Each dialect only renames states. `activate` from compromised is
 * allowed because OVH allows it (and clears the compromise date); deletion needs a deactivated (or compromised) key.
 */
const TRANSITIONS: Record<Transition, Partial<Record<KeyState, KeyState>>> = {
  activate: { pre_active: 'active', active: 'active', deactivated: 'active', compromised: 'active' },
  deactivate: {
    pre_active: 'deactivated',
    active: 'deactivated',
    deactivated: 'deactivated',
    compromised: 'compromised',
  },
  compromise: {
    pre_active: 'compromised',
    active: 'compromised',
    deactivated: 'compromised',
    compromised: 'compromised',
  },
  schedule_deletion: { deactivated: 'pending_deletion', compromised: 'pending_deletion', pending_import: 'pending_deletion' },
  // Back to deactivated (or compromised, restored from compromised_at by the caller).
  cancel_deletion: { pending_deletion: 'deactivated' },
  destroy: { deactivated: 'destroyed', compromised: 'destroyed', pending_deletion: 'destroyed', pending_import: 'destroyed' },
};

const WHY: Record<Transition, string> = {
  activate: 'only a pre-active, deactivated or compromised key can be activated',
  deactivate: 'only a pre-active or active key can be deactivated',
  compromise: 'this key can no longer be marked compromised',
  schedule_deletion: 'only a deactivated key can be scheduled for deletion; deactivate it first',
  cancel_deletion: 'only a key pending deletion can have its deletion cancelled',
  destroy: 'only a deactivated key can be deleted; deactivate it first',
};

export function nextState(from: KeyState, t: Transition): KeyState {
  const to = TRANSITIONS[t][from];
  if (!to) throw new KmsError('failed_precondition', `the key is ${from.replace('_', ' ')}: ${WHY[t]}`, 'key_state');
  return to;
}

/**
 * Protecting new data (encrypt, sign, wrap, new data keys) needs an active key. Processing existing
 * data (decrypt, verify, unwrap) is also allowed on deactivated and compromised keys, as in KMIP and
 * NIST SP 800-57, unless the dialect asks for active-only (Huawei refuses any use of a disabled key).
 */
export type UseKind = 'protect' | 'process';

export const OP_USE: Record<KeyOp, UseKind> = {
  encrypt: 'protect',
  sign: 'protect',
  wrapKey: 'protect',
  decrypt: 'process',
  verify: 'process',
  unwrapKey: 'process',
  deriveBits: 'protect',
};

export function assertUsable(state: KeyState, use: UseKind, activeOnly = false) {
  if (state === 'active') return;
  if (use === 'process' && !activeOnly && (state === 'deactivated' || state === 'compromised')) return;
  const verb = use === 'protect' ? 'protect new data' : 'process data';
  throw new KmsError('failed_precondition', `the key is ${state.replace('_', ' ')} and cannot ${verb}`, 'key_state');
}

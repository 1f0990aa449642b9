import type { Curve, KeyKind, KeyOp, KeySpec, OkpCurve } from './keyspec.ts';
import type { ImportInput } from './material.ts';
import type { DeactivationReason, KeyState } from './states.ts';

/** Who is calling, on behalf of which tenant, through which dialect. */
export interface Caller {
  tenantId: string;
  /** Also decides which keys exist for the caller: the customer's, and the ones this dialect owns. */
  dialect: string;
  principal: string;
  requestId?: string | undefined;
  /** The dialect's policy (OVH IAM, Huawei roles ...): false means permission_denied, audited. */
  authorize?: ((action: Action, key?: KeyRecord) => boolean | Promise<boolean>) | undefined;
  /** Rules this dialect is stricter than core on, enforced by core under the key's row lock. */
  policy?: KeyPolicy | undefined;
  /** Extra audit details the dialect attaches to every event of this call (e.g. CSE's reason and resource). */
  details?: Record<string, unknown> | undefined;
  /**
   * Who the caller is for grants, and which granted operation this call is (in the dialect's words):
   * when `authorize` refuses a use of a key, a live grant of this dialect on that key naming one of
   * `principals` and listing `operation` allows it.
   */
  grants?: { principals: readonly string[]; operation: string } | undefined;
}

export interface KeyPolicy {
  /** Only an active key may be used, for decryption and verification too (Huawei). */
  activeOnly?: boolean | undefined;
  /** Activate only a deactivated key, deactivate only an active one (Huawei's enable/disable). */
  exactTransitions?: boolean | undefined;
}

export type Action =
  | 'key.create'
  | 'key.import'
  | 'key.get'
  | 'key.list'
  | 'key.update'
  | 'key.activate'
  | 'key.deactivate'
  | 'key.schedule_deletion'
  | 'key.cancel_deletion'
  | 'key.destroy'
  | 'key.rotate'
  | 'key.encrypt'
  | 'key.decrypt'
  | 'key.generate_data_key'
  | 'key.sign'
  | 'key.verify'
  | 'key.get_public_key'
  /** The key's material leaves, wrapped under a transport key (checked on the exported key). */
  | 'key.export'
  /** A transport key wraps another key's material for export (checked on the transport key). */
  | 'key.wrap'
  /** A transport key unwraps material the customer wrapped for import (checked on the transport key). */
  | 'key.unwrap'
  /** Imported material is deleted (by the caller, or by its expiry): the key is pending import again. */
  | 'key.delete_material'
  | 'key.create_grant'
  | 'key.list_grants'
  | 'key.revoke_grant'
  | 'key.retire_grant'
  /** ECDH with the key's private half and a peer's public key. */
  | 'key.derive_shared_secret'
  | 'random';

export interface KeyRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  alias: string | null;
  kind: KeyKind;
  size: number | null;
  curve: Curve | OkpCurve | null;
  ops: KeyOp[];
  origin: 'generated' | 'imported';
  state: KeyState;
  currentVersion: number;
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  activatedAt: Date | null;
  deactivatedAt: Date | null;
  deactivationReason: DeactivationReason | null;
  compromisedAt: Date | null;
  deletionDueAt: Date | null;
  destroyedAt: Date | null;
  attributes: Record<string, unknown>;
  /** null for a customer's key; the owning dialect for a key the gateway keeps for its own use. */
  owner: string | null;
  /** The material may be exported, wrapped under a transport key (never in clear). */
  extractable: boolean;
  /** The key has never been extractable (false for good once it was made so). */
  neverExtractable: boolean;
  /** An imported public key: no private half. */
  publicOnly: boolean;
  /** When the imported material expires (the key is then pending import again); null: never. */
  materialExpiresAt: Date | null;
  /** Scheduled rotation: the period in seconds (kept while off), the next due date (null: off), the last rotation. */
  rotation: { periodSeconds: number | null; nextAt: Date | null; lastAt: Date | null };
}

/** A change of a key's scheduled rotation; what is not given stays. */
export interface RotationInput {
  enabled?: boolean | undefined;
  periodSeconds?: number | undefined;
}

export interface CreateKeyInput {
  /** A caller-chosen key id (uuid); a fresh one otherwise. */
  id?: string | undefined;
  name: string;
  description?: string | undefined;
  alias?: string | null | undefined;
  spec: KeySpec;
  ops?: readonly string[] | undefined;
  /** Keys start active unless asked otherwise. */
  initialState?: 'active' | 'pre_active' | undefined;
  attributes?: Record<string, unknown> | undefined;
  /** May the material be exported (wrapped)? Default: no, except for a public key alone. */
  extractable?: boolean | undefined;
  /** No material yet: the key waits, pending import, for the material the customer brings (importKeyMaterial). */
  pendingImport?: boolean | undefined;
}

export interface ImportKeyInput extends Omit<CreateKeyInput, 'spec'> {
  material: ImportInput;
  /** What the caller said the key is; the material must agree. */
  expect?: Partial<KeySpec> | undefined;
}

export interface ListInput {
  limit?: number | undefined;
  cursor?: string | undefined;
  states?: readonly KeyState[] | undefined;
  kinds?: readonly KeyKind[] | undefined;
  /** Keys whose name, description or alias contains this text (case-insensitive), or whose id it is. */
  search?: string | undefined;
}

/** A grant: `grantee` may do `operations` (the dialect's words) with the key until revoked or retired. */
export interface GrantRecord {
  id: string;
  tenantId: string;
  keyId: string;
  dialect: string;
  name: string | null;
  grantee: string;
  operations: string[];
  /** Who besides the key's administrators may retire the grant. */
  retiring: string | null;
  issuer: string;
  createdAt: Date;
  attributes: Record<string, unknown>;
}

export interface CreateGrantInput {
  grantee: string;
  operations: readonly string[];
  name?: string | undefined;
  retiring?: string | undefined;
  attributes?: Record<string, unknown> | undefined;
}

/** A name a key can be used by (besides its id and its own `alias`), movable to another key. */
export interface AliasRecord {
  name: string;
  keyId: string;
  createdAt: Date;
  updatedAt: Date;
}

/** Grants per key, as Huawei's `grant_per_CMK` quota. */
export const MAX_GRANTS_PER_KEY = 100;

export const NAME_MAX = 256;
export const DESCRIPTION_MAX = 1024;
export const MAX_PLAINTEXT = 64 * 1024;
export const MAX_RANDOM = 8192;
export const MAX_DATA_KEY_BYTES = 512;

import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface TenantsTable {
  id: string;
  name: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

/** How a dialect's namespace (OVH okmsId, Huawei project_id, CSE instance) names a tenant. */
export interface TenantBindingsTable {
  dialect: string;
  external_id: string;
  tenant_id: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface SealedSecretsTable {
  id: string;
  root_key_id: string;
  sealed: Uint8Array;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface KeysTable {
  id: string;
  tenant_id: string;
  name: string;
  description: string;
  alias: string | null;
  kind: string;
  size: number | null;
  curve: string | null;
  ops: string[];
  origin: string;
  state: string;
  current_version: number;
  /** Bumped on every change; callers use it for optimistic checks and caches for staleness. */
  revision: number;
  created_at: Timestamp;
  updated_at: Timestamp;
  activated_at: Timestamp | null;
  deactivated_at: Timestamp | null;
  deactivation_reason: string | null;
  compromised_at: Timestamp | null;
  deletion_due_at: Timestamp | null;
  destroyed_at: Timestamp | null;
  /** Dialect-specific attributes core does not interpret (tags, rotation switches ...). */
  attributes: ColumnType<Record<string, unknown>, string | Record<string, unknown>, string | Record<string, unknown>>;
  /** null: a customer's key; a dialect's name: a key that dialect keeps for its own use (CSE's KEK), seen by no other. */
  owner: ColumnType<string | null, string | null | undefined, never>;
  /** The material may be exported (wrapped under a transport key). */
  extractable: ColumnType<boolean, boolean | undefined, boolean>;
  /** True until the key is first made extractable; never true again after that. */
  never_extractable: ColumnType<boolean, boolean | undefined, boolean>;
  /** An imported public key without its private half. */
  public_only: ColumnType<boolean, boolean | undefined, never>;
  /** Scheduled rotation's period, kept while rotation is off. */
  rotation_period_seconds: ColumnType<number | null, number | null | undefined, number | null>;
  /** When the next scheduled rotation is due; null: rotation is off. */
  next_rotation_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** When a new version last became current (scheduled or asked for). */
  rotated_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** When imported material stops being usable (the key is then pending import again); null: never. */
  material_expires_at: ColumnType<Date | null, Date | null | undefined, Date | null>;
  /** HMAC of imported material (import-fingerprint.ts): material brought back after a deletion must match it. */
  material_fingerprint: ColumnType<Uint8Array | null, Uint8Array | null | undefined, Uint8Array | null>;
}

export interface KeyVersionsTable {
  tenant_id: string;
  key_id: string;
  version: number;
  /** Id of the root key that wrapped `material`; null once the material is destroyed. */
  root_key_id: string | null;
  material: Uint8Array | null;
  public_spki: Uint8Array | null;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface RootKeysTable {
  id: string;
  /** HMAC check value, so a process started with the wrong root key fails at once, not on first use. */
  check_value: string;
  created_at: ColumnType<Date, Date | string | undefined, never>;
}

export interface AuditEventsTable {
  id: Generated<string>;
  at: Timestamp;
  tenant_id: string | null;
  dialect: string;
  principal: string;
  action: string;
  key_id: string | null;
  outcome: string;
  error_kind: string | null;
  request_id: string | null;
  details: ColumnType<Record<string, unknown> | null, string | null, string | null>;
  mac: Buffer | null;
  seq: ColumnType<string | null, string | undefined, string>;
  chain: ColumnType<Buffer | null, Buffer | undefined, Buffer>;
}

export interface AuditChainHeadTable {
  id: number;
  seq: string;
  chain: Buffer;
  legacy_max_id: string;
  /** HMAC over (seq, chain, legacy_max_id) under the audit key; null only until the first open after the upgrade. */
  mac: Buffer | null;
  /** Set by the migration that added `mac`: the one time the head may be MACed as found (see AuditTrail.useKey). */
  adopt_pending: boolean;
  /** The last audit-journal event stored (see audit-journal.ts); 0 when none ever was. */
  journal_mark: ColumnType<string, never, string>;
}

/** The last event of each worker's audit journal that the store holds (`serve --workers`, embedded store). */
export interface AuditJournalMarksTable {
  journal: string;
  mark: ColumnType<string, string, string>;
}

export interface KeyGrantsTable {
  tenant_id: string;
  id: string;
  key_id: string;
  /** Grants are in a dialect's words (principals, operations): only that dialect's callers match them. */
  dialect: string;
  name: string | null;
  grantee: string;
  operations: string[];
  retiring: string | null;
  issuer: string;
  created_at: Timestamp;
  attributes: ColumnType<Record<string, unknown>, string | Record<string, unknown>, string | Record<string, unknown>>;
}

export interface KeyAliasesTable {
  tenant_id: string;
  name: string;
  key_id: string;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface Database {
  tenants: TenantsTable;
  tenant_bindings: TenantBindingsTable;
  keys: KeysTable;
  key_versions: KeyVersionsTable;
  root_keys: RootKeysTable;
  audit_events: AuditEventsTable;
  audit_chain_head: AuditChainHeadTable;
  audit_journal_marks: AuditJournalMarksTable;
  sealed_secrets: SealedSecretsTable;
  key_grants: KeyGrantsTable;
  key_aliases: KeyAliasesTable;
  import_tokens: ImportTokensTable;
}

/** A wrapping key handed out for one import into one key (get-parameters-for-import). */
export interface ImportTokensTable {
  /** SHA-256 (hex) of the token the caller holds. */
  id: string;
  tenant_id: string;
  key_id: string;
  /** The RSA-OAEP hash the material must be wrapped with: SHA-1 or SHA-256. */
  hash: string;
  root_key_id: string;
  /** The wrapping key's PKCS#8, sealed under the root key. */
  material: Uint8Array;
  expires_at: Timestamp;
  created_at: Timestamp;
}

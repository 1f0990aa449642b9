import { type Kysely, type Migration, sql } from 'kysely';
import { auditAppend } from './migration-list-audit.ts';

/** Migrations live in code (not files on disk) so the same list runs from tsx, tests and a bundle. */
export const migrations: Record<string, Migration> = {
  '0001_initial': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('tenants')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('tenant_bindings')
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('external_id', 'text', (c) => c.notNull())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull().references('tenants.id'))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('tenant_bindings_pk', ['dialect', 'external_id'])
        .execute();
      await db.schema
        .createTable('root_keys')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('check_value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      await db.schema
        .createTable('keys')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull().references('tenants.id'))
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('alias', 'text')
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('size', 'integer')
        .addColumn('curve', 'text')
        .addColumn('ops', sql`text[]`, (c) => c.notNull())
        .addColumn('origin', 'text', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('current_version', 'integer', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(1))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addColumn('activated_at', 'timestamptz')
        .addColumn('deactivated_at', 'timestamptz')
        .addColumn('deactivation_reason', 'text')
        .addColumn('compromised_at', 'timestamptz')
        .addColumn('deletion_due_at', 'timestamptz')
        .addColumn('destroyed_at', 'timestamptz')
        .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
      // Keyset pagination walks (tenant, created_at, id); the state filter rides on the same order.
      await db.schema.createIndex('keys_tenant_page').on('keys').columns(['tenant_id', 'created_at', 'id']).execute();
      await db.schema.createIndex('keys_tenant_state_page').on('keys').columns(['tenant_id', 'state', 'created_at', 'id']).execute();
      await sql`create unique index keys_tenant_alias on keys (tenant_id, alias) where alias is not null`.execute(db);
      await sql`create index keys_deletion_due on keys (deletion_due_at) where state = 'pending_deletion'`.execute(db);
      await db.schema
        .createTable('key_versions')
        .addColumn('key_id', 'uuid', (c) => c.notNull().references('keys.id'))
        .addColumn('version', 'integer', (c) => c.notNull())
        .addColumn('root_key_id', 'text')
        .addColumn('material', 'bytea')
        .addColumn('public_spki', 'bytea')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .addPrimaryKeyConstraint('key_versions_pk', ['key_id', 'version'])
        .execute();
      await db.schema.createIndex('key_versions_root_key').on('key_versions').column('root_key_id').execute();
      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'bigserial', (c) => c.primaryKey())
        .addColumn('at', 'timestamptz', (c) => c.notNull())
        .addColumn('tenant_id', 'uuid')
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('principal', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('key_id', 'uuid')
        .addColumn('outcome', 'text', (c) => c.notNull())
        .addColumn('error_kind', 'text')
        .addColumn('request_id', 'text')
        .addColumn('details', 'jsonb')
        .execute();
      await db.schema.createIndex('audit_events_tenant_at').on('audit_events').columns(['tenant_id', 'at']).execute();
    },
  },
  '0002_access': {
    async up(db: Kysely<any>) {
      // Dialect metadata on a binding (an OVH domain's region, ...).
      await db.schema
        .alterTable('tenant_bindings')
        .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .execute();
      // Small secrets the gateway must read back (its CA key, AK/SK secrets), sealed like key material.
      await db.schema
        .createTable('sealed_secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('root_key_id', 'text', (c) => c.notNull())
        .addColumn('sealed', 'bytea', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      // Access credentials and policies were here; they are the OVH dialect's own tables now.
    },
  },
  '0003_huawei': {
    async up() {
      // Huawei's IAM tables are the Huawei dialect's own now (apps/huawei/src/store.ts); the name stays
      // so databases that ran it do not see an unknown migration.
    },
  },
  '0004_audit_chain': {
    async up(db: Kysely<any>) {
      // Tamper evidence: each event's MAC (written with the event), then its place in a MAC chain
      // (seq, chain) given by the sealer; the chain's head is kept apart so a cut tail shows.
      await db.schema.alterTable('audit_events').addColumn('mac', 'bytea').addColumn('seq', 'bigint').addColumn('chain', 'bytea').execute();
      await sql`create unique index audit_events_seq on audit_events (seq) where seq is not null`.execute(db);
      await sql`create index audit_events_unsealed on audit_events (id) where seq is null`.execute(db);
      await db.schema
        .createTable('audit_chain_head')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('seq', 'bigint', (c) => c.notNull())
        .addColumn('chain', 'bytea', (c) => c.notNull())
        .addColumn('legacy_max_id', 'bigint', (c) => c.notNull())
        .execute();
      await sql`insert into audit_chain_head (id, seq, chain, legacy_max_id) select 1, 0, decode(repeat('00', 32), 'hex'), coalesce(max(id), 0) from audit_events`.execute(
        db,
      );
    },
  },
  '0005_tenant_scoped_keys': {
    async up(db: Kysely<any>) {
      // Key ids are scoped by tenant: another tenant's id is as free as an unused one (no oracle), and
      // every key row and version is found by (tenant_id, id). Versions carry their tenant for the key.
      await sql`alter table key_versions add column tenant_id uuid`.execute(db);
      await sql`update key_versions v set tenant_id = k.tenant_id from keys k where k.id = v.key_id`.execute(db);
      await sql`alter table key_versions alter column tenant_id set not null`.execute(db);
      await sql`alter table key_versions drop constraint key_versions_key_id_fkey`.execute(db);
      await sql`alter table key_versions drop constraint key_versions_pk`.execute(db);
      await sql`alter table keys drop constraint keys_pkey`.execute(db);
      await sql`alter table keys add constraint keys_pk primary key (tenant_id, id)`.execute(db);
      await sql`alter table key_versions add constraint key_versions_pk primary key (tenant_id, key_id, version)`.execute(db);
      await sql`alter table key_versions add constraint key_versions_key_fk foreign key (tenant_id, key_id) references keys (tenant_id, id)`.execute(
        db,
      );
      // Keys the gateway keeps for its own use belong to a dialect (null: the customer's); a dialect
      // finds its own by name, so their ids are random and cannot be taken ahead of it.
      await sql`alter table keys add column owner text`.execute(db);
      await sql`create unique index keys_owner_name on keys (tenant_id, owner, name) where owner is not null`.execute(db);
      // Which existing keys a dialect owns is the dialect's to say (its own migrations, before first use).
    },
  },
  '0006_audit_head_mac': {
    async up(db: Kysely<any>) {
      // The head gets its own MAC (a database writer could otherwise cut the trail and move the head, or
      // raise the legacy bound). The migration has no audit key: the head as found here is MACed once, at
      // the next open, and `adopt_pending` says that this one adoption is still to come.
      await db.schema
        .alterTable('audit_chain_head')
        .addColumn('mac', 'bytea')
        .addColumn('adopt_pending', 'boolean', (c) => c.notNull().defaultTo(false))
        .execute();
      await sql`update audit_chain_head set adopt_pending = true where mac is null`.execute(db);
    },
  },
  '0007_extractable': {
    async up(db: Kysely<any>) {
      // Whether a key's material may leave the gateway (wrapped), and whether it ever could: once a key
      // is made extractable, never_extractable is false for good. A public key alone is its own class.
      await sql`alter table keys add column extractable boolean not null default false`.execute(db);
      await sql`alter table keys add column never_extractable boolean not null default true`.execute(db);
      await sql`alter table keys add column public_only boolean not null default false`.execute(db);
      // Imported public keys so far: a current version with a public key and no sealed material, not destroyed.
      await sql`update keys k set public_only = true, extractable = true, never_extractable = false
                where k.origin = 'imported' and k.state <> 'destroyed' and exists (select 1 from key_versions v
                  where v.tenant_id = k.tenant_id and v.key_id = k.id and v.version = k.current_version
                    and v.material is null and v.public_spki is not null)`.execute(db);
    },
  },
  '0008_key_grants': {
    async up(db: Kysely<any>) {
      // Grants let a principal use a key beyond its role until revoked or retired; a row is deleted when
      // it ends (the audit trail keeps its history).
      await db.schema
        .createTable('key_grants')
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('key_id', 'uuid', (c) => c.notNull())
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('grantee', 'text', (c) => c.notNull())
        .addColumn('operations', sql`text[]`, (c) => c.notNull())
        .addColumn('retiring', 'text')
        .addColumn('issuer', 'text', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addPrimaryKeyConstraint('key_grants_pk', ['tenant_id', 'id'])
        .addForeignKeyConstraint('key_grants_key_fk', ['tenant_id', 'key_id'], 'keys', ['tenant_id', 'id'])
        .execute();
      await db.schema.createIndex('key_grants_key').on('key_grants').columns(['tenant_id', 'key_id', 'created_at']).execute();
      await sql`create index key_grants_retiring on key_grants (tenant_id, retiring) where retiring is not null`.execute(db);
    },
  },
  '0009_key_aliases': {
    async up(db: Kysely<any>) {
      // Names a key may be used by, any number per key, unique per tenant, movable to another key
      // (keys.alias stays the key's own single alias).
      await db.schema
        .createTable('key_aliases')
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('key_id', 'uuid', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addPrimaryKeyConstraint('key_aliases_pk', ['tenant_id', 'name'])
        .addForeignKeyConstraint('key_aliases_key_fk', ['tenant_id', 'key_id'], 'keys', ['tenant_id', 'id'])
        .execute();
      await db.schema.createIndex('key_aliases_key').on('key_aliases').columns(['tenant_id', 'key_id', 'name']).execute();
    },
  },
  '0010_rotation': {
    async up(db: Kysely<any>) {
      // Scheduled rotation: the period (kept while rotation is off), when the next rotation is due
      // (null: off), and when the key last rotated. Processes claim a due key by moving
      // next_rotation_at under its row lock, so each period makes one version whoever sweeps.
      await sql`alter table keys add column rotation_period_seconds integer`.execute(db);
      await sql`alter table keys add column next_rotation_at timestamptz`.execute(db);
      await sql`alter table keys add column rotated_at timestamptz`.execute(db);
      await sql`create index keys_rotation_due on keys (next_rotation_at) where next_rotation_at is not null`.execute(db);
      // Rotation switches a dialect kept as attributes ({enabled, interval in days, last in ms}) before
      // core scheduled rotation become the columns; an enabled switch without an interval took 365 days.
      await sql`update keys set
          rotation_period_seconds = case when attributes->'rotation'->>'interval' ~ '^[0-9]{1,5}$'
            then (attributes->'rotation'->>'interval')::int * 86400
            when attributes->'rotation'->>'enabled' = 'true' then 365 * 86400 end,
          rotated_at = case when attributes->'rotation'->>'last' ~ '^[0-9]{1,15}$'
            then to_timestamp((attributes->'rotation'->>'last')::bigint / 1000.0) end
        where attributes ? 'rotation'`.execute(db);
      await sql`update keys set next_rotation_at = coalesce(rotated_at, now()) + make_interval(secs => rotation_period_seconds)
        where attributes->'rotation'->>'enabled' = 'true' and state <> 'destroyed' and rotation_period_seconds is not null`.execute(db);
      await sql`update keys set attributes = attributes - 'rotation' where attributes ? 'rotation'`.execute(db);
    },
  },
  '0011_byok': {
    async up(db: Kysely<any>) {
      // Imported material may carry an expiry (Huawei's expiration_time); past it, the key is pending import again.
      await db.schema.alterTable('keys').addColumn('material_expires_at', 'timestamptz').execute();
      // One row per import token: the RSA wrapping key's private half, sealed like key material, for one
      // key, until it expires or is used. The token itself is a bearer secret: only its SHA-256 is kept.
      await db.schema
        .createTable('import_tokens')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull())
        .addColumn('key_id', 'uuid', (c) => c.notNull())
        .addColumn('hash', 'text', (c) => c.notNull())
        .addColumn('root_key_id', 'text', (c) => c.notNull())
        .addColumn('material', 'bytea', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addForeignKeyConstraint('import_tokens_key_fk', ['tenant_id', 'key_id'], 'keys', ['tenant_id', 'id'])
        .execute();
      await db.schema.createIndex('import_tokens_key').on('import_tokens').columns(['tenant_id', 'key_id']).execute();
    },
  },
  '0012_material_fingerprint': {
    async up(db: Kysely<any>) {
      // Deleted imported material may come back only as itself: its keyed fingerprint outlives it.
      await db.schema.alterTable('keys').addColumn('material_fingerprint', 'bytea').execute();
    },
  },
  ...auditAppend,
};

import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { KmsError } from '../errors.ts';

/** Migrations live in code (not files on disk) so the same list runs from tsx, tests and a bundle. */
const migrations: Record<string, Migration> = {
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
      await db.schema.alterTable('tenant_bindings').addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`)).execute();
      // Small secrets the gateway must read back (its CA key, AK/SK secrets), sealed like key material.
      await db.schema
        .createTable('sealed_secrets')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('root_key_id', 'text', (c) => c.notNull())
        .addColumn('sealed', 'bytea', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
        .execute();
      // Access credentials (client certificates, access keys): who may call, as which identities.
      await db.schema
        .createTable('credentials')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull().references('tenants.id'))
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('identities', sql`text[]`, (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
        .addColumn('certificate_pem', 'text')
        .addColumn('serial', 'text')
        .addColumn('fingerprint', 'text')
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
        .addColumn('revoked_at', 'timestamptz')
        .execute();
      await sql`create unique index credentials_fingerprint on credentials (fingerprint) where fingerprint is not null`.execute(db);
      await db.schema.createIndex('credentials_tenant').on('credentials').columns(['tenant_id', 'dialect', 'created_at']).execute();
      // Access policies, as documents each dialect evaluates its own way (OVH IAM ...).
      await db.schema
        .createTable('policies')
        .addColumn('id', 'uuid', (c) => c.primaryKey())
        .addColumn('tenant_id', 'uuid', (c) => c.notNull().references('tenants.id'))
        .addColumn('dialect', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('document', 'jsonb', (c) => c.notNull())
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('policies_name', ['tenant_id', 'dialect', 'name'])
        .execute();
    },
  },
  '0003_huawei': {
    async up(db: Kysely<any>) {
      // Huawei IAM users: account-level (a domain), with roles per project; a project is a tenant binding.
      await db.schema
        .createTable('huawei_users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('domain_id', 'text', (c) => c.notNull())
        .addColumn('domain_name', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('projects', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
        .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
        .addUniqueConstraint('huawei_users_domain_name', ['domain_name', 'name'])
        .execute();
      // Access keys (AK); the secret (SK) is a sealed secret, since verifying an HMAC needs it back.
      await db.schema
        .createTable('huawei_access_keys')
        .addColumn('access', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('huawei_users.id').onDelete('cascade'))
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
        .addColumn('created_at', 'timestamptz', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('huawei_access_keys_user').on('huawei_access_keys').column('user_id').execute();
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
      await sql`insert into audit_chain_head (id, seq, chain, legacy_max_id) select 1, 0, decode(repeat('00', 32), 'hex'), coalesce(max(id), 0) from audit_events`.execute(db);
    },
  },
  '0005_audit_head_mac': {
    async up(db: Kysely<any>) {
      // The head gets its own MAC (a database writer could otherwise cut the trail and move the head, or
      // raise the legacy bound). The migration has no audit key: the head as found here is MACed once, at
      // the next open, and `adopt_pending` says that this one adoption is still to come.
      await db.schema.alterTable('audit_chain_head').addColumn('mac', 'bytea').addColumn('adopt_pending', 'boolean', (c) => c.notNull().defaultTo(false)).execute();
      await sql`update audit_chain_head set adopt_pending = true where mac is null`.execute(db);
    },
  },
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'polykms_migrations', migrationLockTableName: 'polykms_migrations_lock' });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw new KmsError('internal', `database migration failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every migration this code knows is applied (readiness). */
export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  const migrator = new Migrator({ db, provider, migrationTableName: 'polykms_migrations', migrationLockTableName: 'polykms_migrations_lock' });
  const list = await migrator.getMigrations();
  return list.every((m) => m.executedAt !== undefined);
}

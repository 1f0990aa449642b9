import type { DialectStorage, Kms } from '@polykms/core';
import { sql, type ColumnType, type Kysely } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface CredentialsTable {
  id: string;
  tenant_id: string;
  dialect: string;
  name: string;
  description: string;
  identities: string[];
  status: string;
  attributes: ColumnType<Record<string, unknown>, string | undefined, string>;
  certificate_pem: string | null;
  serial: string | null;
  fingerprint: string | null;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface PoliciesTable {
  id: string;
  tenant_id: string;
  dialect: string;
  name: string;
  document: ColumnType<unknown, string, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** Bearer tokens: only the SHA-256 of the secret is kept; the secret is shown once, at issue. */
export interface TokensTable {
  id: string;
  tenant_id: string;
  okms_id: string;
  name: string;
  description: string;
  identities: string[];
  token_sha256: string;
  created_at: Timestamp;
  expires_at: Timestamp;
  revoked_at: Timestamp | null;
}

export interface OvhDatabase {
  credentials: CredentialsTable;
  policies: PoliciesTable;
  tokens: TokensTable;
}

/**
 * The OVH dialect's tables: access certificates and IAM policies (created by core's 0002 before they
 * moved here), and bearer tokens, which bind identities to one domain as a certificate does.
 */
export const OVH_STORAGE: DialectStorage = {
  dialect: 'ovh',
  migrations: {
    '0001_access': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('credentials')
          .ifNotExists()
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
        await sql`create unique index if not exists credentials_fingerprint on credentials (fingerprint) where fingerprint is not null`.execute(
          db,
        );
        await db.schema
          .createIndex('credentials_tenant')
          .ifNotExists()
          .on('credentials')
          .columns(['tenant_id', 'dialect', 'created_at'])
          .execute();
        await db.schema
          .createTable('policies')
          .ifNotExists()
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
    '0002_tokens': {
      async up(db: Kysely<any>) {
        await db.schema
          .createTable('tokens')
          .addColumn('id', 'uuid', (c) => c.primaryKey())
          .addColumn('tenant_id', 'uuid', (c) => c.notNull().references('tenants.id'))
          .addColumn('okms_id', 'text', (c) => c.notNull())
          .addColumn('name', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('identities', sql`text[]`, (c) => c.notNull())
          .addColumn('token_sha256', 'text', (c) => c.notNull().unique())
          .addColumn('created_at', 'timestamptz', (c) => c.notNull())
          .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
          .addColumn('revoked_at', 'timestamptz')
          .execute();
        await db.schema.createIndex('tokens_domain').on('tokens').columns(['okms_id', 'created_at']).execute();
      },
    },
  },
};

/** Published when a credential, token or policy changes: every process empties its identity cache. */
export const ACCESS_TOPIC = 'ovh.access';

export const ovhDb = (kms: Kms): Promise<Kysely<OvhDatabase>> => kms.storage<OvhDatabase>(OVH_STORAGE);

/** A tenant's access certificates, oldest first (the admin API's view across dialects). */
export async function listCredentials(kms: Kms, tenantId: string) {
  return (await ovhDb(kms))
    .selectFrom('credentials')
    .select(['id', 'dialect', 'name', 'description', 'identities', 'status', 'fingerprint', 'created_at', 'expires_at', 'revoked_at'])
    .where('tenant_id', '=', tenantId)
    .orderBy('created_at')
    .execute();
}

import type { DialectStorage, Kms } from '@polykms/core';
import { sql, type ColumnType, type Kysely } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;

/** Huawei IAM users (dialect `huawei`): `projects` is [{id, name, roles}]. */
export interface HuaweiUsersTable {
  id: string;
  domain_id: string;
  domain_name: string;
  name: string;
  password_hash: string;
  projects: ColumnType<unknown, string, string>;
  enabled: boolean;
  created_at: Timestamp;
  updated_at: Timestamp;
  /** Raised when the password changes or the user is disabled: tokens carry it and die with it. */
  token_epoch: ColumnType<number, number | undefined, number>;
}

export interface HuaweiAccessKeysTable {
  access: string;
  user_id: string;
  status: string;
  description: string;
  created_at: Timestamp;
}

/** Huawei IAM tokens revoked (Keystone's DELETE /v3/auth/tokens), kept until they would expire. */
export interface HuaweiRevokedTokensTable {
  id: string;
  expires_at: Timestamp;
}

export interface HuaweiDatabase {
  huawei_users: HuaweiUsersTable;
  huawei_access_keys: HuaweiAccessKeysTable;
  huawei_revoked_tokens: HuaweiRevokedTokensTable;
}

/** The Huawei dialect's IAM tables (created by core's 0003 before they moved here). */
export const HUAWEI_STORAGE: DialectStorage = {
  dialect: 'huawei',
  migrations: {
    '0001_iam': {
      async up(db: Kysely<any>) {
        // Users are account-level (a domain), with roles per project; a project is a tenant binding.
        await db.schema
          .createTable('huawei_users')
          .ifNotExists()
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
          .ifNotExists()
          .addColumn('access', 'text', (c) => c.primaryKey())
          .addColumn('user_id', 'text', (c) => c.notNull().references('huawei_users.id').onDelete('cascade'))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
          .addColumn('created_at', 'timestamptz', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('huawei_access_keys_user').ifNotExists().on('huawei_access_keys').column('user_id').execute();
      },
    },
    '0002_token_revocation': {
      async up(db: Kysely<any>) {
        // A Huawei token names the user's epoch when it was issued; changing the password or disabling
        // the user raises it, so older tokens stop working on every process at once.
        await db.schema
          .alterTable('huawei_users')
          .addColumn('token_epoch', 'integer', (c) => c.notNull().defaultTo(0))
          .execute();
        // Tokens revoked one by one (Keystone's DELETE /v3/auth/tokens), until they would have expired.
        await db.schema
          .createTable('huawei_revoked_tokens')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('huawei_revoked_tokens_expiry').on('huawei_revoked_tokens').column('expires_at').execute();
      },
    },
  },
};

export const huaweiDb = (kms: Kms): Promise<Kysely<HuaweiDatabase>> => kms.storage<HuaweiDatabase>(HUAWEI_STORAGE);

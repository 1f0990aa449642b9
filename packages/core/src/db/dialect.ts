import { Migrator, type Kysely, type Migration } from 'kysely';
import { KmsError } from '../errors.ts';

/** A dialect's own tables (Huawei's IAM users, OVH's access certificates): core knows none of them. */
export interface DialectStorage {
  dialect: string;
  /** Applied in name order, once per database, under a migration table of the dialect's own. */
  migrations: Record<string, Migration>;
}

export async function migrateDialect(db: Kysely<any>, s: DialectStorage): Promise<void> {
  if (!/^[a-z][a-z0-9_]{0,30}$/.test(s.dialect)) throw new KmsError('internal', `'${s.dialect}' is not a dialect name`);
  const migrator = new Migrator({
    db,
    provider: { getMigrations: async () => s.migrations },
    migrationTableName: `polykms_${s.dialect}_migrations`,
    migrationLockTableName: `polykms_${s.dialect}_migrations_lock`,
  });
  const { error } = await migrator.migrateToLatest();
  if (error) throw new KmsError('internal', `${s.dialect} migration failed: ${(error as Error).message ?? String(error)}`);
}

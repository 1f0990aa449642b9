import { type Kysely, type MigrationProvider, Migrator } from 'kysely';
import { KmsError } from '../errors.ts';
import { migrations } from './migration-list.ts';

const provider: MigrationProvider = { getMigrations: async () => migrations };
const migrator = (db: Kysely<any>) =>
  new Migrator({ db, provider, migrationTableName: 'polykms_migrations', migrationLockTableName: 'polykms_migrations_lock' });

export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const { error, results } = await migrator(db).migrateToLatest();
  if (error) throw new KmsError('internal', `database migration failed: ${(error as Error).message ?? String(error)}`);
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** Migrates up to (and including) `name`: tests of a migration over data written before it. */
export async function migrateTo(db: Kysely<any>, name: string): Promise<void> {
  const { error } = await migrator(db).migrateTo(name);
  if (error) throw error;
}

/** True when every migration this code knows is applied (readiness). */
export async function migrationsApplied(db: Kysely<any>): Promise<boolean> {
  return (await migrator(db).getMigrations()).every((m) => m.executedAt !== undefined);
}

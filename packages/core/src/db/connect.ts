import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KmsError } from '../errors.ts';
import { join, resolve } from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import type { Database } from './schema.ts';
import { migrateToLatest } from './migrations.ts';
import { PgliteThread } from './pglite-thread.ts';
import { PgliteBroker, type Peer } from './pglite-shared.ts';
import { PgliteClient } from './pglite-client.ts';

export type Listener = (payload: string) => void;

/** A connected store: kysely plus the one thing kysely lacks, LISTEN/NOTIFY across processes. */
export interface Store {
  readonly db: Kysely<Database>;
  readonly driver: 'postgres' | 'pglite';
  /**
   * Key rows may be cached until a change: every change reaches every process's cache before it is
   * acknowledged (one process alone on embedded PGlite, or workers the primary fences).
   */
  readonly cachesRows: boolean;
  /** Runs `channel`'s listeners in every other process and waits for them (shared embedded store only). */
  fence?(channel: string, payload: string): Promise<void>;
  listen(channel: string, onPayload: Listener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface StoreOptions {
  /** postgres://... ; absent means embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  dataDir?: string | undefined;
  /** PGlite only: keep the database in memory (tests). */
  inMemory?: boolean;
  poolSize?: number;
  migrate?: boolean;
  /** A worker of `serve --workers`: the embedded database is the primary's, reached through this IPC peer. */
  sharedPglite?: Peer | undefined;
}

export async function openStore(opts: StoreOptions): Promise<Store> {
  const store = opts.databaseUrl
    ? await openPostgres(opts.databaseUrl, opts.poolSize ?? 10)
    : opts.sharedPglite
      ? openSharedPglite(opts.sharedPglite)
      : await openPglite(opts);
  if (opts.migrate !== false) {
    try {
      await migrateToLatest(store.db);
    } catch (e) {
      await store.close();
      throw e;
    }
  }
  return store;
}

async function openPostgres(url: string, poolSize: number): Promise<Store> {
  const pg = (await import('pg')).default;
  // bigint ids (audit) come back as strings; int8 parsing would lose precision past 2^53.
  const pool = new pg.Pool({
    connectionString: url,
    max: poolSize,
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: 30000,
  });
  // A client that loses its server must not crash the process: an idle one is discarded by the pool,
  // and a checked-out one (mid-transaction) fails its query, which the caller sees as an error. Without
  // a listener on each client, node-postgres re-emits the socket error as an unhandled 'error' event.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  const listeners = new Set<import('pg').Client>();
  return {
    db,
    driver: 'postgres',
    cachesRows: false,
    async listen(channel, onPayload) {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      listeners.add(client);
      client.on('notification', (n) => {
        if (n.channel === channel) onPayload(n.payload ?? '');
      });
      await client.query(`LISTEN ${quoteIdent(channel)}`);
      return async () => {
        listeners.delete(client);
        await client.end().catch(() => {});
      };
    },
    async close() {
      await Promise.all([...listeners].map((c) => c.end().catch(() => {})));
      await db.destroy();
    },
  };
}

/** A worker's store: every statement runs at the primary, which fences every other worker before a change is answered. */
function openSharedPglite(peer: Peer): Store {
  const client = new PgliteClient(peer);
  const db = new Kysely<Database>({ dialect: client.dialect() });
  return {
    db,
    driver: 'pglite',
    cachesRows: true,
    fence: (channel, payload) => client.fence(channel, payload),
    listen: (channel, onPayload) => client.listen(channel, onPayload),
    close: () => db.destroy(),
  };
}

/**
 * The primary of `serve --workers`: opens (and migrates) the embedded database, then serves it to the
 * workers attached; it runs no query of its own meanwhile.
 */
export async function shareEmbeddedStore(opts: StoreOptions, onStuck?: (peer: Peer) => void) {
  const store = await openStore({ ...opts, databaseUrl: undefined, sharedPglite: undefined });
  const broker = new PgliteBroker((store as Store & { thread: PgliteThread }).thread, onStuck);
  return {
    attach: (peer: Peer) => broker.attach(peer),
    detach: (peer: Peer) => broker.detach(peer),
    close: () => store.close(),
  };
}

async function openPglite(opts: StoreOptions): Promise<Store & { thread: PgliteThread }> {
  const { PGliteDialect } = await import('kysely-pglite-dialect');
  let dir: string | undefined;
  let releaseLock = () => {};
  if (!opts.inMemory) {
    dir = resolve(opts.dataDir ?? './data', 'pglite');
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    releaseLock = lockDirectory(dir);
  }
  // The embedded database died under the process: every write from now on would fail. Stop the process
  // the graceful way (SIGTERM: in-flight requests finish or fail), so a supervisor starts it afresh.
  const pglite = new PgliteThread(dir, (e) => {
    console.error(JSON.stringify({ level: 60, time: Date.now(), msg: `${e.message}; stopping the process` }));
    process.kill(process.pid, 'SIGTERM');
  });
  try {
    await pglite.waitReady;
  } catch (e) {
    await pglite.close();
    releaseLock();
    throw e;
  }
  // The dialect calls only `query` and `close`, which the thread offers.
  const db = new Kysely<Database>({ dialect: new PGliteDialect(pglite as never) });
  return {
    db,
    driver: 'pglite',
    cachesRows: true,
    thread: pglite,
    listen: (channel, onPayload) => pglite.listen(channel, onPayload),
    async close() {
      await db.destroy();
      releaseLock();
    },
  };
}

/**
 * PGlite is one process's database: a second process opening the same directory would see another
 * state and corrupt the files. A lock file with the owner's pid refuses that with a clear message.
 */
function lockDirectory(dir: string): () => void {
  const file = join(dir, '..', 'pglite.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return () => rmSync(file, { force: true });
    } catch {
      const pid = Number(readFileSync(file, 'utf8'));
      let alive = false;
      try {
        alive = Number.isInteger(pid) && pid > 0 && pid !== process.pid && process.kill(pid, 0);
      } catch {
        alive = false;
      }
      if (alive)
        throw new KmsError(
          'unavailable',
          `the embedded database in ${dir} is in use by process ${pid} (a running gateway?); stop it, talk to its admin API, or use DATABASE_URL`,
          'database_locked',
        );
      rmSync(file, { force: true });
    }
  }
  throw new KmsError('unavailable', `cannot lock the embedded database in ${dir}`, 'database_locked');
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

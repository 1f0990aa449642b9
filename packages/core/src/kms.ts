import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { pino, type Logger } from 'pino';
import { AuditTrail } from './audit.ts';
import { JOURNAL_DEFAULTS, JournaledAuditTrail, type JournaledOptions } from './audit-journaled.ts';
import { journalDir, journalToPrimary, replayWorkerJournal, workerJournals } from './audit-worker.ts';
import type { Peer } from './db/pglite-shared.ts';
import { AuthFailures } from './authfail.ts';
import { AUDIT_KEY_SECRET, verifyAuditChain, type AuditVerification } from './auditchain.ts';
import { KeyCache } from './cache.ts';
import { KeyOperations } from './operations/facade.ts';
import type { LoadedKey } from './crypto.ts';
import { openStore, type Store, type StoreOptions } from './db/connect.ts';
import { migrationsApplied } from './db/migrations.ts';
import { migrateDialect, type DialectStorage } from './db/dialect.ts';
import { EventBus } from './events.ts';
import { KeyLoader } from './runtime/loader.ts';
import { KEY_CHANNEL } from './operations/change.ts';
import { RotationScheduler } from './operations/autorotate.ts';
import { loadKeyring, rootKeyConfigFromEnv, type Keyring, type RootKeyConfig } from './rootkey.ts';
import { registerRootKeys } from './rootkeys-store.ts';
import { favourEventLoop } from './runtime/threads.mjs';
import { SealedSecrets } from './secrets.ts';
import { Tenants } from './tenants.ts';

export * from './types.ts';

type OpenOptions = StoreOptions & {
  rootKeys?: RootKeyConfig;
  keyring?: Keyring;
  logger?: Logger;
  cacheSize?: number;
  now?: () => Date;
  /** This process serves requests: its helper threads run below the event loop (runtime/threads.mjs). */
  serving?: boolean;
  /** A worker of `serve --workers` on the shared embedded store: its journal's name; the primary stores it. */
  auditTo?: { peer: Peer; journal: string } | undefined;
};

/**
 * The key store and every key operation, as one facade. Each operation lives in `operations/`: it
 * authorizes, checks state and usage, does the work, and leaves one audit event, whether it succeeded
 * or not.
 */
export class Kms extends KeyOperations {
  readonly log: Logger;
  readonly audit: AuditTrail;
  /** Authentication refusals of every dialect: counted, logged and audited within a rate bound. */
  readonly authFailures: AuthFailures;
  readonly cache: KeyCache<LoadedKey>;
  readonly tenants: Tenants;
  readonly secrets: SealedSecrets;
  /** Scheduled key rotation: `start()` where the gateway serves, `sweep()` in tests; stopped by `close()`. */
  readonly rotations: RotationScheduler;
  private readonly events: EventBus;
  private unlisten: (() => Promise<void>) | undefined;
  private maintenance: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    keyring: Keyring,
    opts: Pick<OpenOptions, 'logger' | 'cacheSize' | 'now'> & {
      auditJournal?: { dir: string; worker?: JournaledOptions['worker'] } | undefined;
    } = {},
  ) {
    const db = store.db;
    const log = opts.logger ?? pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'info' });
    const journal = opts.auditJournal;
    const audit = journal
      ? new JournaledAuditTrail(db, log, journal.dir, { ...JOURNAL_DEFAULTS, worker: journal.worker })
      : new AuditTrail(db, log);
    const cache = new KeyCache<LoadedKey>(opts.cacheSize ?? 10_000);
    super({
      db,
      log,
      audit,
      cache,
      loader: new KeyLoader(db, { cacheRows: store.cachesRows }),
      now: opts.now ?? (() => new Date()),
      keyring,
      fence: (scoped) => store.fence?.(KEY_CHANNEL, scoped) ?? Promise.resolve(),
    });
    this.log = log;
    this.audit = audit;
    this.cache = cache;
    this.authFailures = new AuthFailures(audit, log);
    this.events = new EventBus(store);
    this.tenants = new Tenants(db, (topic, payload) => this.publish(topic, payload));
    this.secrets = new SealedSecrets(db, () => this.core.keyring);
    this.rotations = new RotationScheduler(this.core);
  }

  /** Opens the store (PGlite or Postgres), migrates, loads the keyring and checks it against the store. */
  static async open(opts: OpenOptions): Promise<Kms> {
    const logger = opts.logger ?? pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'info' });
    const keyring =
      opts.keyring ??
      loadKeyring({
        ...rootKeyConfigFromEnv(),
        dataDir: opts.dataDir,
        ...opts.rootKeys,
        warn: (m, x) => logger.warn(x ?? {}, m),
      });
    if (opts.serving) logger.debug({ threads: await favourEventLoop() }, 'background threads below the event loop');
    const store = await openStore(opts);
    // On the embedded store every process journals its audit events (audit-journaled.ts); the owner stores a worker's.
    const to = opts.auditTo;
    const dataDir = opts.dataDir ?? './data';
    const auditJournal =
      store.driver === 'pglite' && !opts.inMemory
        ? {
            dir: journalDir(dataDir, to?.journal),
            worker: to && { name: to.journal, store: journalToPrimary(to.peer) },
          }
        : undefined;
    const kms = new Kms(store, keyring, { logger, cacheSize: opts.cacheSize, now: opts.now, auditJournal });
    try {
      await registerRootKeys(store.db, keyring);
      await kms.audit.useKey(await kms.secrets.putIfAbsent(AUDIT_KEY_SECRET, randomBytes(32)));
      // What workers of an earlier `serve --workers` answered and did not store, whatever opens the store next.
      if (auditJournal && !to) for (const name of workerJournals(dataDir)) await replayWorkerJournal(kms.audit, dataDir, name);
      if (store.driver === 'pglite') {
        // Embedded Postgres has no autovacuum: without statistics the planner sorts a whole tenant for
        // a list page instead of walking its index. Refresh them at start and every ten minutes.
        await kms.analyze();
        kms.maintenance = setInterval(() => void kms.analyze().catch(() => {}), 10 * 60_000);
        kms.maintenance.unref();
      }
      kms.unlisten = await store.listen(KEY_CHANNEL, (scoped) => {
        kms.cache.evictKey(scoped);
        kms.core.loader.forget(scoped);
      });
      await kms.events.start();
    } catch (e) {
      await store.close();
      throw e;
    }
    return kms;
  }

  /** Refreshes the planner's statistics on the big tables (what autovacuum does on a server). */
  async analyze() {
    await sql`analyze keys, key_versions, audit_events`.execute(this.core.db);
  }

  /** Waits for the audit events being written (each is chained as it is written); returns how many were pending. */
  async sealAudit(): Promise<number> {
    const n = this.audit.pending;
    await this.audit.flush();
    return n;
  }

  /** Checks the whole audit trail against its MACs and chain (`polykms audit verify`). */
  async verifyAudit(anchor?: { seq: string; chain: string }): Promise<AuditVerification> {
    await this.sealAudit();
    return verifyAuditChain(this.core.db, this.audit.macKey!, { atLeast: this.audit.highestSeen, anchor });
  }

  async close() {
    if (this.maintenance) clearInterval(this.maintenance);
    await this.rotations.stop();
    this.authFailures.sweep();
    this.authFailures.close();
    // New events are refused from here (their operations fail); those already recorded are written.
    await this.audit.close();
    await this.unlisten?.().catch(() => {});
    await this.events.stop();
    await this.store.close();
  }

  private readonly dialectStores = new Map<string, Promise<Kysely<any>>>();

  /**
   * The dialect's own tables, migrated on first use: typed by the dialect, sharing the store's
   * connection. Core's tables are not in `T`, so a dialect cannot reach keys or audit rows through it.
   */
  storage<T>(s: DialectStorage): Promise<Kysely<T>> {
    let p = this.dialectStores.get(s.dialect);
    if (!p) {
      p = migrateDialect(this.store.db, s).then(() => this.store.db as Kysely<any>);
      p.catch(() => this.dialectStores.delete(s.dialect));
      this.dialectStores.set(s.dialect, p);
    }
    return p as Promise<Kysely<T>>;
  }

  /** `pglite` (embedded) or `postgres`. */
  get driver() {
    return this.store.driver;
  }

  /** True when the database answers and every migration is applied (`/readyz`). */
  ready(): Promise<boolean> {
    return migrationsApplied(this.store.db);
  }

  get currentRootKeyId() {
    return this.core.keyring.current.id;
  }

  /** Swaps in a new keyring (root-key rotation); the old keys stay readable through `previous`. */
  setKeyring(k: Keyring) {
    this.core.keyring = k;
  }

  get keyringForRotation() {
    return this.core.keyring;
  }

  /** Tells this process and every other one on the store that something a cache may hold changed. */
  publish(topic: string, payload = '') {
    return this.events.publish(topic, payload);
  }

  subscribe(topic: string, cb: (payload: string) => void): () => void {
    return this.events.subscribe(topic, cb);
  }
}

/** The store behind a facade: for core's own maintenance (root-key rotation) and for tests, never for apps. */
// biome-ignore lint/complexity/useLiteralKeys: the bracket reaches the private member on purpose (core and tests only).
export const storeOf = (kms: Kms): Store => kms['store'];

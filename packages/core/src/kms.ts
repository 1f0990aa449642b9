import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { pino, type Logger } from 'pino';
import { AuditTrail } from './audit.ts';
import { AuthFailures } from './authfail.ts';
import { AUDIT_KEY_SECRET, verifyAuditChain, type AuditVerification } from './auditchain.ts';
import { KeyCache } from './cache.ts';
import type { Core } from './context.ts';
import type { LoadedKey, OaepParams, SignParams } from './crypto.ts';
import { openStore, type Store, type StoreOptions } from './db/connect.ts';
import { migrationsApplied } from './db/migrations.ts';
import { migrateDialect, type DialectStorage } from './db/dialect.ts';
import { EventBus } from './events.ts';
import { KeyLoader } from './runtime/loader.ts';
import type { ImportInput } from './material.ts';
import { KEY_CHANNEL } from './operations/change.ts';
import { createKey, importKey, ownKey } from './operations/create.ts';
import { generateDataKey } from './operations/datakey.ts';
import { exportWrapped, type ExportInput } from './operations/export.ts';
import { importWrapped, type WrappedImportInput } from './operations/import-wrapped.ts';
import * as byok from './operations/import-material.ts';
import { decrypt, encrypt, rsaDecrypt, rsaEncrypt } from './operations/encrypt.ts';
import { getKey, getPublicKey } from './operations/get.ts';
import { associateAlias, createAlias, deleteAliases, listAliases, resolveAlias } from './operations/aliases.ts';
import { createGrant, listGrants, listRetirableGrants, retireGrant, revokeGrant } from './operations/grants.ts';
import { activate, cancelDeletion, deactivate, destroy, destroyDueKeys, scheduleDeletion } from './operations/lifecycle.ts';
import { countKeys, listKeys } from './operations/list.ts';
import { random } from './operations/random.ts';
import { rotate } from './operations/rotate.ts';
import { sign, verify } from './operations/sign.ts';
import { updateKey } from './operations/update.ts';
import { loadKeyring, rootKeyConfigFromEnv, type Keyring, type RootKeyConfig } from './rootkey.ts';
import { registerRootKeys } from './rootkeys-store.ts';
import { favourEventLoop } from './runtime/threads.mjs';
import { SealedSecrets } from './secrets.ts';
import type { DeactivationReason } from './states.ts';
import { Tenants } from './tenants.ts';
import type { AliasRecord, Caller, CreateGrantInput, CreateKeyInput, GrantRecord, ImportKeyInput, KeyRecord, ListInput } from './types.ts';

export { encodeCursor } from './operations/list.ts';
export {
  WRAPPED_FORMATS,
  WRAPPING_ALGORITHMS,
  type WrappedFormat,
  type WrappingAlgorithm,
  type ExportInput,
  type WrappedExport,
} from './operations/export.ts';
export { UNWRAP_FAILED, type WrappedImportInput } from './operations/import-wrapped.ts';
export { IMPORT_WRAP_HASHES, type ImportWrapHash, type ImportParameters, type MaterialImport } from './operations/import-material.ts';
export { BINDINGS_TOPIC } from './tenants.ts';
export * from './types.ts';

type OpenOptions = StoreOptions & {
  rootKeys?: RootKeyConfig;
  keyring?: Keyring;
  logger?: Logger;
  cacheSize?: number;
  now?: () => Date;
  /** This process serves requests: its helper threads run below the event loop (runtime/threads.mjs). */
  serving?: boolean;
};

/**
 * The key store and every key operation, as one facade. Each operation lives in `operations/`: it
 * authorizes, checks state and usage, does the work, and leaves one audit event, whether it succeeded
 * or not.
 */
export class Kms {
  readonly log: Logger;
  readonly audit: AuditTrail;
  /** Authentication refusals of every dialect: counted, logged and audited within a rate bound. */
  readonly authFailures: AuthFailures;
  readonly cache: KeyCache<LoadedKey>;
  readonly tenants: Tenants;
  readonly secrets: SealedSecrets;
  private readonly core: Core;
  private readonly events: EventBus;
  private unlisten: (() => Promise<void>) | undefined;
  private maintenance: NodeJS.Timeout | undefined;

  constructor(
    private readonly store: Store,
    keyring: Keyring,
    opts: { logger?: Logger | undefined; cacheSize?: number | undefined; now?: (() => Date) | undefined } = {},
  ) {
    const db = store.db;
    this.log = opts.logger ?? pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'info' });
    this.audit = new AuditTrail(db, this.log);
    this.authFailures = new AuthFailures(this.audit, this.log);
    this.cache = new KeyCache(opts.cacheSize ?? 10_000);
    this.core = {
      db,
      log: this.log,
      audit: this.audit,
      cache: this.cache,
      loader: new KeyLoader(db, { cacheRows: store.driver === 'pglite' }),
      now: opts.now ?? (() => new Date()),
      keyring,
    };
    this.events = new EventBus(store);
    this.tenants = new Tenants(db, (topic, payload) => this.publish(topic, payload));
    this.secrets = new SealedSecrets(db, () => this.core.keyring);
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
    const kms = new Kms(store, keyring, { logger, cacheSize: opts.cacheSize, now: opts.now });
    try {
      await registerRootKeys(store.db, keyring);
      await kms.audit.useKey(await kms.secrets.putIfAbsent(AUDIT_KEY_SECRET, randomBytes(32)));
      if (store.driver === 'pglite') {
        // Embedded Postgres has no autovacuum: without statistics the planner sorts a whole tenant for
        // a list page instead of walking its index. Refresh them at start and every ten minutes.
        await kms.analyze();
        kms.maintenance = setInterval(() => void kms.analyze().catch(() => {}), 10 * 60_000);
        kms.maintenance.unref();
      }
      kms.unlisten = await store.listen(KEY_CHANNEL, (keyId) => kms.cache.evictKey(keyId));
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
    this.authFailures.sweep();
    this.authFailures.close();
    // New events are refused from here (their operations fail); those already recorded are written.
    this.audit.close();
    await this.audit.flush();
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

  // ---- Keys: one module per operation in operations/ ----------------------------------------

  createKey = (c: Caller, input: CreateKeyInput): Promise<KeyRecord> => createKey(this.core, c, input);
  importKey = (c: Caller, input: ImportKeyInput): Promise<KeyRecord> => importKey(this.core, c, input);
  ownKey = (c: Caller, input: Omit<CreateKeyInput, 'id' | 'alias'>): Promise<KeyRecord> => ownKey(this.core, c, input);
  getKey = (c: Caller, keyId: string): Promise<KeyRecord> => getKey(this.core, c, keyId);
  listKeys = (c: Caller, input: ListInput = {}) => listKeys(this.core, c, input);
  countKeys = () => countKeys(this.core);
  updateKey = (c: Caller, keyId: string, input: Parameters<typeof updateKey>[3]) => updateKey(this.core, c, keyId, input);
  activate = (c: Caller, keyId: string) => activate(this.core, c, keyId);
  deactivate = (c: Caller, keyId: string, reason?: DeactivationReason) => deactivate(this.core, c, keyId, reason);
  scheduleDeletion = (c: Caller, keyId: string, pendingDays: number, opts?: { deactivate?: boolean }) =>
    scheduleDeletion(this.core, c, keyId, pendingDays, opts);
  cancelDeletion = (c: Caller, keyId: string) => cancelDeletion(this.core, c, keyId);
  destroy = (c: Caller, keyId: string) => destroy(this.core, c, keyId);
  destroyDueKeys = () => destroyDueKeys(this.core);
  rotate = (c: Caller, keyId: string, material?: ImportInput) => rotate(this.core, c, keyId, material);
  encrypt = (c: Caller, keyId: string, plaintext: Uint8Array, context?: Uint8Array, opts?: { activeOnly?: boolean }) =>
    encrypt(this.core, c, keyId, plaintext, context, opts);
  decrypt = (c: Caller, ciphertext: Uint8Array, context?: Uint8Array, opts?: Parameters<typeof decrypt>[4]) =>
    decrypt(this.core, c, ciphertext, context, opts);
  generateDataKey = (c: Caller, keyId: string, bytes: number, opts?: Parameters<typeof generateDataKey>[4]) =>
    generateDataKey(this.core, c, keyId, bytes, opts);
  sign = (
    c: Caller,
    keyId: string,
    params: SignParams | ((k: KeyRecord) => SignParams),
    input: Uint8Array,
    opts?: { activeOnly?: boolean },
  ) => sign(this.core, c, keyId, params, input, opts);
  verify = (
    c: Caller,
    keyId: string,
    params: SignParams | ((k: KeyRecord) => SignParams),
    input: Uint8Array,
    signature: Uint8Array,
    opts?: Parameters<typeof verify>[6],
  ) => verify(this.core, c, keyId, params, input, signature, opts);
  rsaEncrypt = (c: Caller, keyId: string, plaintext: Uint8Array, params: OaepParams, opts?: { activeOnly?: boolean }) =>
    rsaEncrypt(this.core, c, keyId, plaintext, params, opts);
  rsaDecrypt = (c: Caller, keyId: string, ciphertext: Uint8Array, params: OaepParams, opts?: Parameters<typeof rsaDecrypt>[5]) =>
    rsaDecrypt(this.core, c, keyId, ciphertext, params, opts);
  getPublicKey = (c: Caller, keyId: string, opts?: { version?: number }) => getPublicKey(this.core, c, keyId, opts);
  /** The key's material wrapped (JWE) under an RSA transport key; only for an extractable key. */
  exportWrapped = (c: Caller, keyId: string, input: ExportInput) => exportWrapped(this.core, c, keyId, input);
  /** A new key from material the customer wrapped (JWE) under a transport key held here. */
  importWrapped = (c: Caller, input: WrappedImportInput): Promise<KeyRecord> => importWrapped(this.core, c, input);
  /** Material for a key pending import (operations/import-material.ts): a wrapping key and token, the import, its deletion. */
  importParameters = (c: Caller, keyId: string, hash: byok.ImportWrapHash) => byok.importParameters(this.core, c, keyId, hash);
  importKeyMaterial = (c: Caller, keyId: string, input: byok.MaterialImport) => byok.importKeyMaterial(this.core, c, keyId, input);
  deleteImportedMaterial = (c: Caller, keyId: string) => byok.deleteImportedMaterial(this.core, c, keyId);
  expireImportedMaterial = () => byok.expireImportedMaterial(this.core);
  random = (c: Caller, bytes: number): Promise<Buffer> => random(this.core, c, bytes);

  // ---- Grants (operations/grants.ts) ------------------------------------------------------------

  createGrant = (c: Caller, keyId: string, input: CreateGrantInput): Promise<GrantRecord> => createGrant(this.core, c, keyId, input);
  listGrants = (c: Caller, keyId: string, page: { limit: number; offset: number }) => listGrants(this.core, c, keyId, page);
  listRetirableGrants = (c: Caller, page: { limit: number; offset: number }) => listRetirableGrants(this.core, c, page);
  revokeGrant = (c: Caller, keyId: string, grantId: string): Promise<GrantRecord> => revokeGrant(this.core, c, keyId, grantId);
  retireGrant = (c: Caller, keyId: string, grantId: string): Promise<GrantRecord> => retireGrant(this.core, c, keyId, grantId);

  // ---- Aliases (operations/aliases.ts) ----------------------------------------------------------

  createAlias = (c: Caller, keyId: string, name: string): Promise<AliasRecord> => createAlias(this.core, c, keyId, name);
  associateAlias = (c: Caller, name: string, targetKeyId: string): Promise<AliasRecord> => associateAlias(this.core, c, name, targetKeyId);
  deleteAliases = (c: Caller, keyId: string, names: readonly string[]): Promise<AliasRecord[]> => deleteAliases(this.core, c, keyId, names);
  listAliases = (c: Caller, input: Parameters<typeof listAliases>[2]) => listAliases(this.core, c, input);
  /** The key id an alias (or a key's own alias) stands for; not_found otherwise. */
  resolveAlias = (c: Caller, name: string): Promise<string> => resolveAlias(this.core, c, name);
}

/** The store behind a facade: for core's own maintenance (root-key rotation) and for tests, never for apps. */
// biome-ignore lint/complexity/useLiteralKeys: the bracket reaches the private member on purpose (core and tests only).
export const storeOf = (kms: Kms): Store => kms['store'];

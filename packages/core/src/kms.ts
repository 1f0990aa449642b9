import { randomBytes, randomUUID, createPublicKey } from 'node:crypto';
import { sql, type Selectable, type Transaction, type Updateable } from 'kysely';
import { pino, type Logger } from 'pino';
import { AuditTrail, unstorableText, type AuditEvent } from './audit.ts';
import { AuthFailures } from './authfail.ts';
import { AUDIT_KEY_SECRET, verifyAuditChain, type AuditVerification } from './auditchain.ts';
import { KeyCache } from './cache.ts';
import { KeyLoader } from './loader.ts';
import { ciphertextAad, encodeCiphertext, encodeHeader, isUuid, parseCiphertext } from './ciphertext.ts';
import {
  gcmDecrypt,
  gcmEncrypt,
  loadKey,
  loadPublicKey,
  oaepDecrypt,
  oaepEncrypt,
  signWith,
  verifyWith,
  type LoadedKey,
  type OaepParams,
  type SignParams,
} from './crypto.ts';
import type { Database, KeysTable } from './db/schema.ts';
import { openStore, type Store, type StoreOptions } from './db/connect.ts';
import { invalid, KmsError, notFound, toKmsError } from './errors.ts';
import { normalizeOps, normalizeSpec, type KeyOp, type KeySpec, type KeyKind, type Curve } from './keyspec.ts';
import { generateMaterial, importMaterial, materialKeyObject, PUBLIC_OPS, type ImportInput, type Material } from './material.ts';
import { materialAad, openMaterial, sealMaterial, secretAad, loadKeyring, rootKeyConfigFromEnv, type Keyring, type RootKeyConfig } from './rootkey.ts';
import { assertUsable, DEACTIVATION_REASONS, nextState, OP_USE, type DeactivationReason, type KeyState, type Transition } from './states.ts';

/** Who is calling, on behalf of which tenant, through which dialect. */
export interface Caller {
  tenantId: string;
  dialect: string;
  principal: string;
  requestId?: string | undefined;
  /** The dialect's policy (OVH IAM, Huawei roles ...): false means permission_denied, audited. */
  authorize?: ((action: Action, key?: KeyRecord) => boolean | Promise<boolean>) | undefined;
  /** Extra audit details the dialect attaches to every event of this call (e.g. CSE's reason and resource). */
  details?: Record<string, unknown> | undefined;
}

export type Action =
  | 'key.create'
  | 'key.import'
  | 'key.get'
  | 'key.list'
  | 'key.update'
  | 'key.activate'
  | 'key.deactivate'
  | 'key.schedule_deletion'
  | 'key.cancel_deletion'
  | 'key.destroy'
  | 'key.rotate'
  | 'key.encrypt'
  | 'key.decrypt'
  | 'key.generate_data_key'
  | 'key.sign'
  | 'key.verify'
  | 'key.get_public_key'
  | 'random';

export interface KeyRecord {
  id: string;
  tenantId: string;
  name: string;
  description: string;
  alias: string | null;
  kind: KeyKind;
  size: number | null;
  curve: Curve | null;
  ops: KeyOp[];
  origin: 'generated' | 'imported';
  state: KeyState;
  currentVersion: number;
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  activatedAt: Date | null;
  deactivatedAt: Date | null;
  deactivationReason: DeactivationReason | null;
  compromisedAt: Date | null;
  deletionDueAt: Date | null;
  destroyedAt: Date | null;
  attributes: Record<string, unknown>;
}

export interface CreateKeyInput {
  /** A caller-chosen key id (uuid); a fresh one otherwise. */
  id?: string | undefined;
  name: string;
  description?: string | undefined;
  alias?: string | null | undefined;
  spec: KeySpec;
  ops?: readonly string[] | undefined;
  /** Keys start active unless asked otherwise. */
  initialState?: 'active' | 'pre_active' | undefined;
  attributes?: Record<string, unknown> | undefined;
}

export interface ImportKeyInput extends Omit<CreateKeyInput, 'spec'> {
  material: ImportInput;
  /** What the caller said the key is; the material must agree. */
  expect?: Partial<KeySpec> | undefined;
}

export interface ListInput {
  limit?: number | undefined;
  cursor?: string | undefined;
  states?: readonly KeyState[] | undefined;
  kinds?: readonly KeyKind[] | undefined;
}

export interface KmsOptions {
  store: Store;
  keyring: Keyring;
  logger?: Logger | undefined;
  /** Parsed key versions kept per process. */
  cacheSize?: number | undefined;
  /** Injected clock (tests). */
  now?: (() => Date) | undefined;
}

export const NAME_MAX = 256;
export const DESCRIPTION_MAX = 1024;
export const MAX_PLAINTEXT = 64 * 1024;
export const MAX_RANDOM = 8192;
export const MAX_DATA_KEY_BYTES = 512;
const KEY_CHANNEL = 'polykms_keys';
/** Published when a namespace is linked to another tenant: caches of namespace -> tenant must drop it. */
export const BINDINGS_TOPIC = 'tenant.bindings';
const EVENT_CHANNEL = 'polykms_events';

type KeyRow = Selectable<KeysTable>;
type KeyPatch = Updateable<KeysTable>;

const toRecord = (r: KeyRow): KeyRecord => ({
  id: r.id,
  tenantId: r.tenant_id,
  name: r.name,
  description: r.description,
  alias: r.alias,
  kind: r.kind as KeyKind,
  size: r.size,
  curve: r.curve as Curve | null,
  ops: r.ops as KeyOp[],
  origin: r.origin as 'generated' | 'imported',
  state: r.state as KeyState,
  currentVersion: r.current_version,
  revision: r.revision,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
  activatedAt: r.activated_at,
  deactivatedAt: r.deactivated_at,
  deactivationReason: r.deactivation_reason as DeactivationReason | null,
  compromisedAt: r.compromised_at,
  deletionDueAt: r.deletion_due_at,
  destroyedAt: r.destroyed_at,
  attributes: r.attributes ?? {},
});

/** A public key's operations: the public ones its kind allows, by default; a private one is refused. */
function publicOps(kind: KeyKind, ops: readonly string[] | undefined): KeyOp[] {
  const possible = normalizeOps(kind, undefined).filter((o) => (PUBLIC_OPS as readonly string[]).includes(o));
  if (ops === undefined) return possible;
  const wanted = normalizeOps(kind, ops);
  const bad = wanted.filter((o) => !possible.includes(o));
  if (bad.length) throw invalid(`this is a public key (no private part): it can ${possible.join(', ')}, not ${bad.join(', ')}`, 'key_ops');
  return wanted;
}

const specOf = (k: { kind: KeyKind; size: number | null; curve: Curve | null }): KeySpec =>
  k.kind === 'EC' ? { kind: 'EC', curve: k.curve! } : { kind: k.kind, size: k.size! };

/**
 * The key store and every key operation. Each public method authorizes, checks state and usage,
 * does the work, and leaves one audit event, whether it succeeded or not.
 */
/** PostgreSQL stores no NUL and no unpaired surrogate: such a name is the caller's mistake, not a 500. */
function refuseUnstorable(label: string, value: string, field?: string) {
  if (unstorableText(value)) throw invalid(`${label} cannot hold a NUL character or an unpaired UTF-16 surrogate`, field);
}

/** The same for every text of a value kept as jsonb (keys and strings at any depth); `field`: the top-level key. */
function refuseUnstorableIn(label: string, v: unknown, field?: string): void {
  if (typeof v === 'string') refuseUnstorable(label, v, field);
  else if (Array.isArray(v)) for (const x of v) refuseUnstorableIn(label, x, field);
  else if (v && typeof v === 'object')
    for (const [k, x] of Object.entries(v)) {
      refuseUnstorable(label, k, field ?? k);
      refuseUnstorableIn(label, x, field ?? k);
    }
}

export class Kms {
  readonly db: Store['db'];
  readonly log: Logger;
  readonly audit: AuditTrail;
  /** Authentication refusals of every dialect: counted, logged and audited within a rate bound. */
  readonly authFailures: AuthFailures;
  readonly cache: KeyCache<LoadedKey>;
  private readonly loader: KeyLoader;
  private readonly now: () => Date;
  private unlisten: (() => Promise<void>) | undefined;
  private maintenance: NodeJS.Timeout | undefined;
  private unlistenEvents: (() => Promise<void>) | undefined;
  private readonly instance = randomUUID();
  private readonly subscribers = new Map<string, Set<(payload: string) => void>>();

  constructor(
    readonly store: Store,
    private keyring: Keyring,
    opts: Omit<KmsOptions, 'store' | 'keyring'> = {},
  ) {
    this.db = store.db;
    this.log = opts.logger ?? pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'info' });
    this.audit = new AuditTrail(this.db, this.log);
    this.authFailures = new AuthFailures(this.audit, this.log);
    this.cache = new KeyCache(opts.cacheSize ?? 10_000);
    this.loader = new KeyLoader(this.db, { cacheRows: store.driver === 'pglite' });
    this.now = opts.now ?? (() => new Date());
  }

  /** Opens the store (PGlite or Postgres), migrates, loads the keyring and checks it against the store. */
  static async open(opts: StoreOptions & { rootKeys?: RootKeyConfig; keyring?: Keyring; logger?: Logger; cacheSize?: number; now?: () => Date }): Promise<Kms> {
    const logger = opts.logger ?? pino({ level: process.env.POLYKMS_LOG_LEVEL ?? 'info' });
    const keyring =
      opts.keyring ?? loadKeyring({ ...rootKeyConfigFromEnv(), dataDir: opts.dataDir, ...opts.rootKeys, warn: (m, x) => logger.warn(x ?? {}, m) });
    const store = await openStore(opts);
    const kms = new Kms(store, keyring, { logger, cacheSize: opts.cacheSize, now: opts.now });
    try {
      await kms.registerRootKeys();
      await kms.audit.useKey(await kms.putSecretIfAbsent(AUDIT_KEY_SECRET, randomBytes(32)));
      if (store.driver === 'pglite') {
        // Embedded Postgres has no autovacuum: without statistics the planner sorts a whole tenant for
        // a list page instead of walking its index. Refresh them at start and every ten minutes.
        await kms.analyze();
        kms.maintenance = setInterval(() => void kms.analyze().catch(() => {}), 10 * 60_000);
        kms.maintenance.unref();
      }
      await kms.listenForChanges();
    } catch (e) {
      await store.close();
      throw e;
    }
    return kms;
  }

  /** Refreshes the planner's statistics on the big tables (what autovacuum does on a server). */
  async analyze() {
    await sql`analyze keys, key_versions, audit_events`.execute(this.db);
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
    return verifyAuditChain(this.db, this.audit.macKey!, { atLeast: this.audit.highestSeen, anchor });
  }

  async close() {
    if (this.maintenance) clearInterval(this.maintenance);
    this.authFailures.sweep();
    this.authFailures.close();
    // New events are refused from here (their operations fail); those already recorded are written.
    this.audit.close();
    await this.audit.flush();
    await this.unlisten?.().catch(() => {});
    await this.unlistenEvents?.().catch(() => {});
    await this.store.close();
  }

  get currentRootKeyId() {
    return this.keyring.current.id;
  }

  // ---- Root keys ---------------------------------------------------------------------------

  /**
   * Records the configured root keys and refuses to start when the store holds material under a root
   * key this process does not have (a wrong POLYKMS_ROOT_KEY would otherwise fail on first use).
   */
  async registerRootKeys() {
    for (const rk of this.keyring.byId.values()) {
      const existing = await this.db.selectFrom('root_keys').select('check_value').where('id', '=', rk.id).executeTakeFirst();
      if (existing && existing.check_value !== rk.checkValue) throw new KmsError('internal', `root key ${rk.id} does not match the one recorded in the store`);
      if (!existing) await this.db.insertInto('root_keys').values({ id: rk.id, check_value: rk.checkValue }).onConflict((c) => c.column('id').doNothing()).execute();
    }
    const used = await this.db
      .selectFrom('key_versions')
      .select('root_key_id')
      .distinct()
      .where('root_key_id', 'is not', null)
      .union(this.db.selectFrom('sealed_secrets').select('root_key_id').distinct())
      .execute();
    const missing = [...new Set(used.map((u) => u.root_key_id!))].filter((id) => !this.keyring.byId.has(id));
    if (missing.length)
      throw new KmsError('internal', `the store holds key material under root key(s) ${missing.join(', ')}, which are not configured; set POLYKMS_ROOT_KEY (and POLYKMS_ROOT_KEYS_PREVIOUS during a rotation)`);
  }

  /** Swaps in a new keyring (root-key rotation); the old keys stay readable through `previous`. */
  setKeyring(k: Keyring) {
    this.keyring = k;
  }

  get keyringForRotation() {
    return this.keyring;
  }

  private async listenForChanges() {
    this.unlisten = await this.store.listen(KEY_CHANNEL, (keyId) => this.cache.evictKey(keyId));
    this.unlistenEvents = await this.store.listen(EVENT_CHANNEL, (raw) => {
      try {
        const { from, topic, payload } = JSON.parse(raw) as { from: string; topic: string; payload: string };
        if (from !== this.instance) this.deliver(topic, payload);
      } catch {
        /* not ours */
      }
    });
  }

  private deliver(topic: string, payload: string) {
    for (const cb of this.subscribers.get(topic) ?? []) cb(payload);
  }

  /**
   * Tells this process at once, and every other process on the store through NOTIFY, that something
   * a cache may hold has changed (a credential revoked, a policy replaced ...).
   */
  async publish(topic: string, payload = '') {
    this.deliver(topic, payload);
    await sql`select pg_notify(${EVENT_CHANNEL}, ${JSON.stringify({ from: this.instance, topic, payload })})`.execute(this.db);
  }

  subscribe(topic: string, cb: (payload: string) => void): () => void {
    let set = this.subscribers.get(topic);
    if (!set) this.subscribers.set(topic, (set = new Set()));
    set.add(cb);
    return () => set.delete(cb);
  }

  // ---- Tenants -----------------------------------------------------------------------------

  async createTenant(name: string): Promise<{ id: string; name: string }> {
    if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX) throw invalid(`a tenant name is 1 to ${NAME_MAX} characters`);
    refuseUnstorable('a tenant name', name);
    const id = randomUUID();
    const row = await this.db
      .insertInto('tenants')
      .values({ id, name })
      .onConflict((c) => c.column('name').doNothing())
      .returning(['id', 'name'])
      .executeTakeFirst();
    if (!row) throw new KmsError('conflict', `a tenant named '${name}' already exists`, 'tenant_exists');
    return row;
  }

  async getTenant(idOrName: string): Promise<{ id: string; name: string } | undefined> {
    let q = this.db.selectFrom('tenants').select(['id', 'name']);
    q = isUuid(idOrName) ? q.where((w) => w.or([w('id', '=', idOrName), w('name', '=', idOrName)])) : q.where('name', '=', idOrName);
    return q.executeTakeFirst();
  }

  async listTenants() {
    return this.db.selectFrom('tenants').select(['id', 'name', 'created_at']).orderBy('created_at').execute();
  }

  /** Binds a dialect's namespace (OVH okmsId, Huawei project id ...) to a tenant; several may share one. */
  async bindTenant(dialect: string, externalId: string, tenantId: string, attributes: Record<string, unknown> = {}) {
    refuseUnstorableIn("a tenant binding's attributes", attributes);
    await this.db
      .insertInto('tenant_bindings')
      .values({ dialect, external_id: externalId, tenant_id: tenantId, attributes: JSON.stringify(attributes) })
      .onConflict((c) => c.columns(['dialect', 'external_id']).doUpdateSet({ tenant_id: tenantId, attributes: JSON.stringify(attributes) }))
      .execute();
  }

  /**
   * Links a dialect's namespace to an existing tenant, so its keys are usable from that vendor's API too.
   * A namespace already bound elsewhere moves only if its tenant holds no keys: keys never change tenant.
   */
  async linkTenant(dialect: string, externalId: string, tenantId: string): Promise<{ dialect: string; externalId: string; tenantId: string; moved: boolean }> {
    if (!externalId || externalId.length > NAME_MAX) throw invalid(`the ${dialect} id must be 1 to ${NAME_MAX} characters`);
    const tenant = await this.getTenant(tenantId);
    if (!tenant) throw notFound(`tenant ${tenantId}`);
    const result = await this.db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('tenant_bindings').selectAll().where('dialect', '=', dialect).where('external_id', '=', externalId).forUpdate().executeTakeFirst();
      if (row?.tenant_id === tenant.id) return { moved: false };
      if (row) {
        const keys = await trx.selectFrom('keys').select('id').where('tenant_id', '=', row.tenant_id).limit(1).executeTakeFirst();
        if (keys) throw new KmsError('conflict', `${dialect} ${externalId} already belongs to tenant ${row.tenant_id}, which holds keys; keys never move between tenants`, 'binding_in_use');
        await trx.updateTable('tenant_bindings').set({ tenant_id: tenant.id }).where('dialect', '=', dialect).where('external_id', '=', externalId).execute();
        return { moved: true };
      }
      await trx.insertInto('tenant_bindings').values({ dialect, external_id: externalId, tenant_id: tenant.id }).execute();
      return { moved: false };
    });
    await this.publish(BINDINGS_TOPIC, `${dialect}:${externalId}`);
    return { dialect, externalId, tenantId: tenant.id, ...result };
  }

  /** Every namespace bound to a tenant, across dialects. */
  async tenantBindings(tenantId: string) {
    return this.db.selectFrom('tenant_bindings').select(['dialect', 'external_id', 'attributes', 'created_at']).where('tenant_id', '=', tenantId).orderBy('created_at').execute();
  }

  async getBinding(dialect: string, externalId: string) {
    return this.db.selectFrom('tenant_bindings').selectAll().where('dialect', '=', dialect).where('external_id', '=', externalId).executeTakeFirst();
  }

  async listBindings(dialect: string) {
    return this.db.selectFrom('tenant_bindings').selectAll().where('dialect', '=', dialect).orderBy('created_at').execute();
  }

  // ---- Sealed secrets (the gateway's own: CA key, access-key secrets) ------------------------

  async putSecret(id: string, secret: Uint8Array) {
    const root = this.keyring.current;
    const sealed = sealMaterial(root, secret, secretAad(id));
    await this.db
      .insertInto('sealed_secrets')
      .values({ id, root_key_id: root.id, sealed })
      .onConflict((c) => c.column('id').doUpdateSet({ root_key_id: root.id, sealed }))
      .execute();
  }

  /** Stores a secret unless one exists (two processes racing keep the first); returns the stored one. */
  async putSecretIfAbsent(id: string, secret: Uint8Array): Promise<Buffer> {
    const root = this.keyring.current;
    await this.db
      .insertInto('sealed_secrets')
      .values({ id, root_key_id: root.id, sealed: sealMaterial(root, secret, secretAad(id)) })
      .onConflict((c) => c.column('id').doNothing())
      .execute();
    return (await this.getSecret(id))!;
  }

  async getSecret(id: string): Promise<Buffer | undefined> {
    const row = await this.db.selectFrom('sealed_secrets').select(['root_key_id', 'sealed']).where('id', '=', id).executeTakeFirst();
    return row ? openMaterial(this.keyring, row.root_key_id, row.sealed, secretAad(id)) : undefined;
  }

  async deleteSecret(id: string) {
    await this.db.deleteFrom('sealed_secrets').where('id', '=', id).execute();
  }

  /** The tenant behind a dialect's namespace; with `create`, a namespace seen for the first time gets its own. */
  async resolveTenant(dialect: string, externalId: string, opts: { create?: boolean } = {}): Promise<string | undefined> {
    const row = await this.db.selectFrom('tenant_bindings').select('tenant_id').where('dialect', '=', dialect).where('external_id', '=', externalId).executeTakeFirst();
    if (row) return row.tenant_id;
    if (!opts.create) return undefined;
    const name = `${dialect}:${externalId}`;
    const tenant = (await this.getTenant(name)) ?? (await this.createTenant(name).catch(async () => (await this.getTenant(name))!));
    await this.db
      .insertInto('tenant_bindings')
      .values({ dialect, external_id: externalId, tenant_id: tenant.id })
      .onConflict((c) => c.columns(['dialect', 'external_id']).doNothing())
      .execute();
    return (await this.resolveTenant(dialect, externalId))!;
  }

  // ---- Helpers -----------------------------------------------------------------------------

  private event(c: Caller, action: Action | string, keyId: string | null, outcome: AuditEvent['outcome'], err?: KmsError, details?: Record<string, unknown>): AuditEvent {
    return {
      at: this.now(),
      tenantId: isUuid(c.tenantId) ? c.tenantId : null,
      dialect: c.dialect,
      principal: c.principal,
      action,
      keyId: keyId && isUuid(keyId) ? keyId : null,
      outcome,
      errorKind: err?.kind,
      requestId: c.requestId,
      details: c.details ? { ...c.details, ...details } : details,
    };
  }

  /**
   * Runs one operation: any failure becomes a KmsError and an audit event; success is audited by `fn`,
   * which waits for its event to be durable (`allowed`) before it returns. A refusal is answered once its
   * event is written too; if the trail cannot take it, the refusal stays the answer.
   */
  private async run<T>(c: Caller, action: Action, keyId: string | null, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      const err = toKmsError(e);
      if (err.kind === 'internal' || err.kind === 'unavailable') this.log.error({ err: e, action, reqId: c.requestId }, 'operation failed');
      await this.audit.record(this.event(c, action, keyId, err.kind === 'permission_denied' ? 'denied' : 'failed', err)).catch(() => undefined);
      throw err;
    }
  }

  private async authorize(c: Caller, action: Action, key?: KeyRecord) {
    if (c.authorize && !(await c.authorize(action, key))) {
      throw new KmsError('permission_denied', `${c.principal} is not allowed to ${action.replace('key.', '').replace(/_/g, ' ')}${key ? ` with key ${key.id}` : ''}`, 'policy');
    }
  }

  private checkTenant(c: Caller) {
    if (!isUuid(c.tenantId)) throw notFound('tenant');
  }

  private async keyRow(c: Caller, keyId: string, trx?: Transaction<Database>, forUpdate = false): Promise<KeyRow> {
    this.checkTenant(c);
    if (!isUuid(keyId)) throw notFound();
    let q = (trx ?? this.db).selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId).where('id', '=', keyId);
    if (forUpdate) q = q.forUpdate();
    const row = await q.executeTakeFirst();
    if (!row) throw notFound();
    return row;
  }

  private validateNames(input: { name?: string | undefined; description?: string | undefined; alias?: string | null | undefined; attributes?: Record<string, unknown> | undefined }) {
    if (input.name !== undefined && (typeof input.name !== 'string' || input.name.length < 1 || input.name.length > NAME_MAX))
      throw invalid(`a key name is 1 to ${NAME_MAX} characters`, 'name');
    if (input.description !== undefined && (typeof input.description !== 'string' || input.description.length > DESCRIPTION_MAX))
      throw invalid(`a description is at most ${DESCRIPTION_MAX} characters`, 'description');
    if (input.alias !== undefined && input.alias !== null && (typeof input.alias !== 'string' || input.alias.length < 1 || input.alias.length > NAME_MAX))
      throw invalid(`an alias is 1 to ${NAME_MAX} characters`, 'alias');
    for (const [field, label] of [['name', 'a key name'], ['description', 'a description'], ['alias', 'an alias']] as const) {
      const v = input[field];
      if (typeof v === 'string') refuseUnstorable(label, v, field);
    }
    refuseUnstorableIn("a key's attributes", input.attributes);
  }

  private notify(trx: Transaction<Database>, keyId: string) {
    return sql`select pg_notify(${KEY_CHANNEL}, ${keyId})`.execute(trx);
  }

  private async insertVersion(trx: Transaction<Database>, tenantId: string, keyId: string, version: number, m: Material) {
    const root = this.keyring.current;
    await trx
      .insertInto('key_versions')
      .values(
        m.publicOnly
          ? { key_id: keyId, version, root_key_id: null, material: null, public_spki: m.spki! }
          : { key_id: keyId, version, root_key_id: root.id, material: sealMaterial(root, m.secret, materialAad(tenantId, keyId, version)), public_spki: m.spki ?? null },
      )
      .execute();
  }

  private async insertKey(c: Caller, action: 'key.create' | 'key.import', input: Omit<CreateKeyInput, 'spec'>, m: Material, origin: 'generated' | 'imported'): Promise<KeyRecord> {
    const ops = m.publicOnly ? publicOps(m.spec.kind, input.ops) : normalizeOps(m.spec.kind, input.ops);
    const now = this.now();
    const state = input.initialState ?? 'active';
    if (state !== 'active' && state !== 'pre_active') throw invalid('a new key is active or pre-active', 'state');
    if (input.id !== undefined && !isUuid(input.id)) throw invalid('a key id is a UUID', 'key_id');
    const id = input.id?.toLowerCase() ?? randomUUID();
    try {
      return await this.db.transaction().execute(async (trx) => {
        const row = await trx
          .insertInto('keys')
          .values({
            id,
            tenant_id: c.tenantId,
            name: input.name,
            description: input.description ?? '',
            alias: input.alias ?? null,
            kind: m.spec.kind,
            size: m.spec.size ?? null,
            curve: m.spec.curve ?? null,
            ops,
            origin,
            state,
            current_version: 1,
            revision: 1,
            created_at: now,
            updated_at: now,
            activated_at: state === 'active' ? now : null,
            attributes: JSON.stringify(input.attributes ?? {}),
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        await this.insertVersion(trx, c.tenantId, id, 1, m);
        await this.audit.inTransaction(trx, this.event(c, action, id, 'allowed', undefined, { kind: m.spec.kind, size: m.spec.size, curve: m.spec.curve }));
        return toRecord(row);
      });
    } catch (e) {
      throw this.mapWriteError(e);
    }
  }

  private mapWriteError(e: unknown): unknown {
    const code = (e as { code?: string }).code;
    if (code === '23505') {
      const constraint = (e as { constraint?: string }).constraint ?? '';
      return constraint.includes('alias')
        ? new KmsError('conflict', 'a key with this alias already exists', 'alias_exists')
        : new KmsError('conflict', 'this key id cannot be used; choose another', 'key_exists');
    }
    if (code === '23503') return notFound('tenant');
    return e;
  }

  // ---- Key lifecycle -----------------------------------------------------------------------

  async createKey(c: Caller, input: CreateKeyInput): Promise<KeyRecord> {
    return this.run(c, 'key.create', null, async () => {
      this.checkTenant(c);
      this.validateNames(input);
      const spec = normalizeSpec(input.spec);
      normalizeOps(spec.kind, input.ops);
      await this.authorize(c, 'key.create');
      return this.insertKey(c, 'key.create', input, await generateMaterial(spec), 'generated');
    });
  }

  async importKey(c: Caller, input: ImportKeyInput): Promise<KeyRecord> {
    return this.run(c, 'key.import', null, async () => {
      this.checkTenant(c);
      this.validateNames(input);
      await this.authorize(c, 'key.import');
      const m = importMaterial(input.material);
      const e = input.expect;
      if (e?.kind && e.kind !== m.spec.kind) throw invalid(`the material is a ${m.spec.kind} key, not ${e.kind}`, 'import_key');
      if (e?.size && e.size !== m.spec.size) throw invalid(`the material is a ${m.spec.size}-bit key, not ${e.size}`, 'import_length');
      if (e?.curve && e.curve !== m.spec.curve) throw invalid(`the material is on ${m.spec.curve}, not ${e.curve}`, 'import_key');
      return this.insertKey(c, 'key.import', input, m, 'imported');
    });
  }

  async getKey(c: Caller, keyId: string): Promise<KeyRecord> {
    return this.run(c, 'key.get', keyId, async () => {
      const key = toRecord(await this.keyRow(c, keyId));
      await this.authorize(c, 'key.get', key);
      await this.audit.record(this.event(c, 'key.get', keyId, 'allowed'));
      return key;
    });
  }

  /** Keyset pagination over (created_at, id): pages cost the same at any depth. */
  async listKeys(c: Caller, input: ListInput = {}): Promise<{ keys: KeyRecord[]; nextCursor: string | null }> {
    return this.run(c, 'key.list', null, async () => {
      this.checkTenant(c);
      const limit = input.limit ?? 100;
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw invalid('a page holds 1 to 1000 keys', 'limit');
      await this.authorize(c, 'key.list');
      let q = this.db.selectFrom('keys').selectAll().where('tenant_id', '=', c.tenantId);
      if (input.states?.length) q = q.where('state', 'in', [...input.states]);
      if (input.kinds?.length) q = q.where('kind', 'in', [...input.kinds]);
      if (input.cursor) {
        const [at, id] = decodeCursor(input.cursor);
        // A row-value comparison, so the planner walks the (tenant_id, created_at, id) index from the cursor.
        q = q.where(sql<boolean>`(created_at, id) > (${at}, ${id}::uuid)`);
      }
      const rows = await q.orderBy('created_at').orderBy('id').limit(limit + 1).execute();
      const page = rows.slice(0, limit).map(toRecord);
      const last = page[page.length - 1];
      await this.audit.record(this.event(c, 'key.list', null, 'allowed', undefined, { count: page.length }));
      return { keys: page, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
    });
  }

  /** Runs a change on one key under a row lock, audits it in the same transaction, and tells other processes. */
  private async change(
    c: Caller,
    action: Action,
    keyId: string,
    mutate: (row: KeyRow, trx: Transaction<Database>) => Promise<KeyPatch | undefined>,
    details?: Record<string, unknown>,
  ): Promise<KeyRecord> {
    keyId = typeof keyId === 'string' ? keyId.toLowerCase() : keyId;
    return this.run(c, action, keyId, async () => {
      try {
        const rec = await this.db.transaction().execute(async (trx) => {
          const row = await this.keyRow(c, keyId, trx, true);
          await this.authorize(c, action, toRecord(row));
          const patch = await mutate(row, trx);
          const updated = await trx
            .updateTable('keys')
            .set({ ...patch, revision: row.revision + 1, updated_at: this.now() })
            .where('id', '=', keyId)
            .returningAll()
            .executeTakeFirstOrThrow();
          await this.audit.inTransaction(trx, this.event(c, action, keyId, 'allowed', undefined, { from: row.state, to: updated.state, ...details }));
          await this.notify(trx, keyId);
          return toRecord(updated);
        });
        this.loader.invalidate(keyId);
        this.cache.evictKey(keyId);
        return rec;
      } catch (e) {
        throw this.mapWriteError(e);
      }
    });
  }

  async updateKey(c: Caller, keyId: string, input: { name?: string; description?: string; alias?: string | null; attributes?: Record<string, unknown> }) {
    return this.change(c, 'key.update', keyId, async (row) => {
      this.validateNames(input);
      if (row.state === 'destroyed') throw new KmsError('failed_precondition', 'the key is destroyed and cannot be changed', 'key_state');
      const patch: KeyPatch = {};
      if (input.name !== undefined) patch.name = input.name;
      if (input.description !== undefined) patch.description = input.description;
      if (input.alias !== undefined) patch.alias = input.alias;
      if (input.attributes !== undefined) patch.attributes = JSON.stringify({ ...row.attributes, ...input.attributes });
      return patch;
    });
  }

  private transition(row: KeyRow, t: Transition): KeyState {
    return nextState(row.state as KeyState, t);
  }

  async activate(c: Caller, keyId: string) {
    return this.change(c, 'key.activate', keyId, async (row) => {
      const to = this.transition(row, 'activate');
      return { state: to, activated_at: row.state === 'active' ? row.activated_at : this.now(), deactivated_at: null, deactivation_reason: null, compromised_at: null };
    });
  }

  async deactivate(c: Caller, keyId: string, reason: DeactivationReason = 'unspecified') {
    return this.change(
      c,
      'key.deactivate',
      keyId,
      async (row) => {
        if (!DEACTIVATION_REASONS.includes(reason)) throw invalid(`unknown deactivation reason '${reason}'; expected one of ${DEACTIVATION_REASONS.join(', ')}`, 'reason');
        const to = this.transition(row, reason === 'key_compromise' ? 'compromise' : 'deactivate');
        const now = this.now();
        return {
          state: to,
          deactivated_at: row.deactivated_at ?? now,
          deactivation_reason: to === 'compromised' && row.state === 'compromised' && reason !== 'key_compromise' ? row.deactivation_reason : reason,
          compromised_at: to === 'compromised' ? (row.compromised_at ?? now) : null,
        };
      },
      { reason },
    );
  }

  /**
   * `deactivate`: an active or pre-active key is deactivated in the same transaction first, for
   * dialects whose vendor schedules deletion of an enabled key directly (Huawei).
   */
  async scheduleDeletion(c: Caller, keyId: string, pendingDays: number, opts: { deactivate?: boolean } = {}) {
    return this.change(
      c,
      'key.schedule_deletion',
      keyId,
      async (row) => {
        if (!Number.isInteger(pendingDays) || pendingDays < 0 || pendingDays > 3650) throw invalid('the pending period is 0 to 3650 days', 'pending_days');
        const now = this.now();
        if (opts.deactivate && (row.state === 'active' || row.state === 'pre_active')) {
          const to = nextState(nextState(row.state as KeyState, 'deactivate'), 'schedule_deletion');
          return { state: to, deactivated_at: row.deactivated_at ?? now, deactivation_reason: row.deactivation_reason ?? 'unspecified', deletion_due_at: new Date(now.getTime() + pendingDays * 86_400_000) };
        }
        return { state: this.transition(row, 'schedule_deletion'), deletion_due_at: new Date(now.getTime() + pendingDays * 86_400_000) };
      },
      { pendingDays },
    );
  }

  async cancelDeletion(c: Caller, keyId: string) {
    return this.change(c, 'key.cancel_deletion', keyId, async (row) => {
      this.transition(row, 'cancel_deletion');
      return { state: row.compromised_at ? 'compromised' : 'deactivated', deletion_due_at: null };
    });
  }

  /** Erases every version's material; the metadata row stays for audit. */
  async destroy(c: Caller, keyId: string) {
    return this.change(c, 'key.destroy', keyId, async (row, trx) => {
      const to = this.transition(row, 'destroy');
      await trx.updateTable('key_versions').set({ material: null, root_key_id: null }).where('key_id', '=', keyId).execute();
      return { state: to, destroyed_at: this.now(), deletion_due_at: null };
    });
  }

  /** Destroys keys whose deletion date has passed (run periodically by the gateway). */
  async destroyDueKeys(): Promise<number> {
    const due = await this.db
      .selectFrom('keys')
      .select(['id', 'tenant_id'])
      .where('state', '=', 'pending_deletion')
      .where('deletion_due_at', '<=', this.now())
      .limit(1000)
      .execute();
    let n = 0;
    for (const k of due) {
      await this.destroy({ tenantId: k.tenant_id, dialect: 'core', principal: 'system:deletion-scheduler' }, k.id).then(
        () => n++,
        () => undefined,
      );
    }
    return n;
  }

  /** A new version becomes current; old versions keep decrypting and verifying. */
  async rotate(c: Caller, keyId: string, material?: ImportInput) {
    return this.change(c, 'key.rotate', keyId, async (row, trx) => {
      if (row.state !== 'active' && row.state !== 'pre_active') throw new KmsError('failed_precondition', `the key is ${row.state.replace('_', ' ')}: only an active or pre-active key can be rotated`, 'key_state');
      const spec = specOf(toRecord(row));
      let m: Material;
      if (material) {
        m = importMaterial(material);
        if (m.spec.kind !== spec.kind || m.spec.size !== spec.size || m.spec.curve !== spec.curve) throw invalid('new material must be the same type and size as the key', 'import_key');
      } else {
        if (row.origin === 'imported') throw new KmsError('failed_precondition', 'an imported key is rotated by importing new material', 'key_origin');
        m = await generateMaterial(spec);
      }
      const version = row.current_version + 1;
      await this.insertVersion(trx, row.tenant_id, keyId, version, m);
      return { current_version: version };
    });
  }

  // ---- Crypto ------------------------------------------------------------------------------

  /**
   * The warm path is one batched round trip (the key row and its version, no material); a cache miss
   * adds one read of the sealed material.
   */
  private async useKey(c: Caller, action: Action, keyId: string, op: KeyOp | KeyOp[], version?: number, activeOnly = false): Promise<{ key: KeyRecord; version: number; loaded: LoadedKey }> {
    this.checkTenant(c);
    if (!isUuid(keyId)) throw notFound();
    const row = await this.loader.load(c.tenantId, keyId.toLowerCase(), version ?? null);
    if (!row) throw notFound();
    const key = toRecord(row);
    await this.authorize(c, action, key);
    // The key exists but not this version: the ciphertext is not ours, not a missing key.
    if (row.v_version === null) throw invalid('the ciphertext names a key version that does not exist', 'ciphertext');
    const ops = Array.isArray(op) ? op : [op];
    if (!ops.some((o) => key.ops.includes(o))) throw new KmsError('unsupported', `this key is not allowed to ${ops.join(' or ')}; its operations are ${key.ops.join(', ')}`, 'key_usage');
    assertUsable(key.state, OP_USE[ops[0]!], activeOnly);
    const v = row.v_version;
    let loaded = this.cache.get(key.id, v);
    if (!loaded) {
      const m = await this.db.selectFrom('key_versions').select(['material', 'root_key_id', 'public_spki']).where('key_id', '=', key.id).where('version', '=', v).executeTakeFirst();
      if (m?.material && m.root_key_id) {
        const secret = openMaterial(this.keyring, m.root_key_id, m.material, materialAad(key.tenantId, key.id, v));
        loaded = loadKey(specOf(key), materialKeyObject(specOf(key), secret));
        secret.fill(0);
      } else if (m?.public_spki && key.state !== 'destroyed' && key.origin === 'imported') {
        // An imported public key: usage checks above already kept it to public operations.
        loaded = loadPublicKey(specOf(key), createPublicKey({ key: Buffer.from(m.public_spki), format: 'der', type: 'spki' }));
      } else {
        throw new KmsError('failed_precondition', 'the key material is destroyed', 'key_state');
      }
      this.cache.set(key.id, v, loaded);
    }
    return { key, version: v, loaded };
  }

  /** The operation's event, durable before the result is handed back (fails with `unavailable` otherwise). */
  private allowed(c: Caller, action: Action, keyId: string, details?: Record<string, unknown>) {
    return this.audit.record(this.event(c, action, keyId, 'allowed', undefined, details));
  }

  /** AES-GCM under the key's current version; `context` is bound as AAD and needed again to decrypt. */
  async encrypt(c: Caller, keyId: string, plaintext: Uint8Array, context?: Uint8Array, opts: { activeOnly?: boolean } = {}) {
    return this.run(c, 'key.encrypt', keyId, async () => {
      if (plaintext.length > MAX_PLAINTEXT) throw invalid(`plaintext is at most ${MAX_PLAINTEXT} bytes`, 'plaintext_size');
      const { key, version, loaded } = await this.useKey(c, 'key.encrypt', keyId, 'encrypt', undefined, opts.activeOnly);
      if (key.kind !== 'oct') throw new KmsError('unsupported', `symmetric encryption needs an AES key; this key is ${key.kind} (use RSA-OAEP)`, 'key_usage');
      const header = encodeHeader(key.id, version);
      const ciphertext = encodeCiphertext(header, gcmEncrypt(loaded, plaintext, ciphertextAad(header, context)));
      await this.allowed(c, 'key.encrypt', keyId, { version });
      return { keyId: key.id, version, keySize: key.size, ciphertext };
    });
  }

  /** Finds key and version from the ciphertext; `expectKeyId`, when given, must match it. */
  async decrypt(c: Caller, ciphertext: Uint8Array, context?: Uint8Array, opts: { expectKeyId?: string; dataKey?: boolean; activeOnly?: boolean } = {}) {
    const action: Action = 'key.decrypt';
    let keyId: string | null = opts.expectKeyId ?? null;
    return this.run(c, action, keyId, async () => {
      const parsed = parseCiphertext(ciphertext);
      keyId = parsed.keyId;
      // A data key opens only as a data key, and data only as data: the format byte is authenticated.
      if ((parsed.kind === 'dataKey') !== !!opts.dataKey) throw invalid(opts.dataKey ? 'this is not a data key' : 'this is a data key: decrypt it as a data key', 'ciphertext');
      if (opts.expectKeyId !== undefined && opts.expectKeyId.toLowerCase() !== parsed.keyId) throw invalid('the ciphertext was made with another key', 'ciphertext');
      const ops: KeyOp[] = opts.dataKey ? ['decrypt', 'unwrapKey'] : ['decrypt'];
      const { loaded } = await this.useKey(c, action, parsed.keyId, ops, parsed.version, opts.activeOnly);
      const plaintext = gcmDecrypt(loaded, parsed.parts, ciphertextAad(parsed.header, context));
      await this.allowed(c, action, parsed.keyId, { version: parsed.version });
      return { keyId: parsed.keyId, version: parsed.version, plaintext };
    });
  }

  /** A fresh data key sealed under the key; the plaintext is returned only when asked for. */
  async generateDataKey(c: Caller, keyId: string, bytes: number, opts: { context?: Uint8Array; withPlaintext?: boolean; activeOnly?: boolean } = {}) {
    return this.run(c, 'key.generate_data_key', keyId, async () => {
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_DATA_KEY_BYTES) throw invalid(`a data key is 1 to ${MAX_DATA_KEY_BYTES} bytes`, 'data_key_size');
      const { key, version, loaded } = await this.useKey(c, 'key.generate_data_key', keyId, ['encrypt', 'wrapKey'], undefined, opts.activeOnly);
      if (key.kind !== 'oct') throw new KmsError('unsupported', `data keys are sealed with an AES key; this key is ${key.kind}`, 'key_usage');
      const plaintext = randomBytes(bytes);
      const header = encodeHeader(key.id, version, 'dataKey');
      const ciphertext = encodeCiphertext(header, gcmEncrypt(loaded, plaintext, ciphertextAad(header, opts.context)));
      await this.allowed(c, 'key.generate_data_key', keyId, { version, bytes }).catch((e: unknown) => {
        plaintext.fill(0);
        throw e;
      });
      const withPlaintext = opts.withPlaintext ?? true;
      if (!withPlaintext) plaintext.fill(0);
      return { keyId: key.id, version, keySize: key.size, ciphertext, plaintext: withPlaintext ? plaintext : undefined };
    });
  }

  /** `params` may depend on the key (JOSE names bind the curve): pass a function of the key record. */
  async sign(c: Caller, keyId: string, params: SignParams | ((k: KeyRecord) => SignParams), input: Uint8Array, opts: { activeOnly?: boolean } = {}) {
    return this.run(c, 'key.sign', keyId, async () => {
      if (input.length > MAX_PLAINTEXT) throw invalid(`the message is at most ${MAX_PLAINTEXT} bytes`, 'message_size');
      const { key, version, loaded } = await this.useKey(c, 'key.sign', keyId, 'sign', undefined, opts.activeOnly);
      const p = typeof params === 'function' ? params(key) : params;
      const signature = await signWith(loaded, p, input);
      await this.allowed(c, 'key.sign', keyId, { version, scheme: p.scheme, hash: p.hash, prehashed: !!p.prehashed });
      return { keyId, version, signature };
    });
  }

  /** `version` defaults to current; a signature that does not verify is `false`, not an error. */
  async verify(c: Caller, keyId: string, params: SignParams | ((k: KeyRecord) => SignParams), input: Uint8Array, signature: Uint8Array, opts: { version?: number; activeOnly?: boolean } = {}) {
    return this.run(c, 'key.verify', keyId, async () => {
      if (input.length > MAX_PLAINTEXT) throw invalid(`the message is at most ${MAX_PLAINTEXT} bytes`, 'message_size');
      const { key, version, loaded } = await this.useKey(c, 'key.verify', keyId, 'verify', opts.version, opts.activeOnly);
      const valid = await verifyWith(loaded, typeof params === 'function' ? params(key) : params, input, signature);
      await this.allowed(c, 'key.verify', keyId, { version, valid });
      return { keyId, version, valid };
    });
  }

  async rsaEncrypt(c: Caller, keyId: string, plaintext: Uint8Array, params: OaepParams, opts: { activeOnly?: boolean } = {}) {
    return this.run(c, 'key.encrypt', keyId, async () => {
      const { key, version, loaded } = await this.useKey(c, 'key.encrypt', keyId, ['encrypt', 'wrapKey'], undefined, opts.activeOnly);
      if (key.kind !== 'RSA') throw new KmsError('unsupported', `RSA-OAEP needs an RSA key; this key is ${key.kind}`, 'key_usage');
      const ciphertext = oaepEncrypt(loaded, plaintext, params);
      await this.allowed(c, 'key.encrypt', keyId, { version, scheme: 'RSA-OAEP' });
      return { keyId, version, ciphertext };
    });
  }

  async rsaDecrypt(c: Caller, keyId: string, ciphertext: Uint8Array, params: OaepParams, opts: { version?: number; activeOnly?: boolean } = {}) {
    return this.run(c, 'key.decrypt', keyId, async () => {
      const { key, version, loaded } = await this.useKey(c, 'key.decrypt', keyId, ['decrypt', 'unwrapKey'], opts.version, opts.activeOnly);
      if (key.kind !== 'RSA') throw new KmsError('unsupported', `RSA-OAEP needs an RSA key; this key is ${key.kind}`, 'key_usage');
      const plaintext = await oaepDecrypt(loaded, ciphertext, params);
      await this.allowed(c, 'key.decrypt', keyId, { version, scheme: 'RSA-OAEP' });
      return { keyId, version, plaintext };
    });
  }

  /** The public key of an asymmetric key (current version unless asked), as SPKI DER, PEM or JWK. */
  async getPublicKey(c: Caller, keyId: string, opts: { version?: number } = {}) {
    return this.run(c, 'key.get_public_key', keyId, async () => {
      const row = await this.keyRow(c, keyId);
      const key = toRecord(row);
      await this.authorize(c, 'key.get_public_key', key);
      if (key.kind !== 'RSA' && key.kind !== 'EC') throw new KmsError('unsupported', `a ${key.kind} key has no public key`, 'key_usage');
      const version = opts.version ?? key.currentVersion;
      const v = await this.db.selectFrom('key_versions').select('public_spki').where('key_id', '=', keyId).where('version', '=', version).executeTakeFirst();
      if (!v?.public_spki) throw notFound('key version');
      const spki = Buffer.from(v.public_spki);
      const pub = createPublicKey({ key: spki, format: 'der', type: 'spki' });
      await this.allowed(c, 'key.get_public_key', keyId, { version });
      return { keyId, version, spki, pem: pub.export({ format: 'pem', type: 'spki' }) as string, jwk: pub.export({ format: 'jwk' }) as Record<string, string> };
    });
  }

  async random(c: Caller, bytes: number): Promise<Buffer> {
    return this.run(c, 'random', null, async () => {
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > MAX_RANDOM) throw invalid(`random bytes: 1 to ${MAX_RANDOM}`, 'length');
      await this.authorize(c, 'random');
      await this.audit.record(this.event(c, 'random', null, 'allowed', undefined, { bytes }));
      return randomBytes(bytes);
    });
  }
}

/** A keyset position: after (created_at, id). Dialects that need a position of their own use this too. */
export function encodeCursor(at: Date, id: string) {
  return Buffer.from(`${at.toISOString()}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): [Date, string] {
  const bad = () => invalid('the continuation token is not valid', 'cursor');
  if (typeof cursor !== 'string' || cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const at = new Date(iso ?? '');
  if (Number.isNaN(at.getTime()) || !isUuid(id)) throw bad();
  return [at, id];
}

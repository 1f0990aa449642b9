import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { isUuid } from './ciphertext.ts';
import type { Database } from './db/schema.ts';
import { invalid, KmsError, notFound } from './errors.ts';
import { refuseUnstorable, refuseUnstorableIn } from './operations/rows.ts';
import { NAME_MAX } from './types.ts';

/** Published when a namespace is linked to another tenant: caches of namespace -> tenant must drop it. */
export const BINDINGS_TOPIC = 'tenant.bindings';

/** Tenants and the dialects' namespaces bound to them. */
export class Tenants {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly publish: (topic: string, payload: string) => Promise<void>,
  ) {}

  async create(name: string): Promise<{ id: string; name: string }> {
    if (typeof name !== 'string' || name.length < 1 || name.length > NAME_MAX)
      throw invalid(`a tenant name is 1 to ${NAME_MAX} characters`);
    refuseUnstorable('a tenant name', name);
    // Tenants are found by id or name: a name that reads as an id would shadow (or be shadowed by) another tenant.
    if (isUuid(name)) throw invalid('a tenant name cannot be a UUID (tenant ids are UUIDs)', 'name');
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

  async get(idOrName: string): Promise<{ id: string; name: string; created_at: Date } | undefined> {
    let q = this.db.selectFrom('tenants').select(['id', 'name', 'created_at']);
    // An id wins over a name (a store from before names were refused as UUIDs may hold such a name).
    q = isUuid(idOrName)
      ? q.where((w) => w.or([w('id', '=', idOrName), w('name', '=', idOrName)])).orderBy(sql`name = ${idOrName}`)
      : q.where('name', '=', idOrName);
    return q.executeTakeFirst();
  }

  async list() {
    return this.db.selectFrom('tenants').select(['id', 'name', 'created_at']).orderBy('created_at').execute();
  }

  /** Binds a dialect's namespace (OVH okmsId, Huawei project id ...) to a tenant; several may share one. */
  async bind(dialect: string, externalId: string, tenantId: string, attributes: Record<string, unknown> = {}) {
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
  async link(
    dialect: string,
    externalId: string,
    tenantId: string,
  ): Promise<{ dialect: string; externalId: string; tenantId: string; moved: boolean }> {
    if (!externalId || externalId.length > NAME_MAX) throw invalid(`the ${dialect} id must be 1 to ${NAME_MAX} characters`);
    const tenant = await this.get(tenantId);
    if (!tenant) throw notFound(`tenant ${tenantId}`);
    const result = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .selectFrom('tenant_bindings')
        .selectAll()
        .where('dialect', '=', dialect)
        .where('external_id', '=', externalId)
        .forUpdate()
        .executeTakeFirst();
      if (row?.tenant_id === tenant.id) return { moved: false };
      if (row) {
        const keys = await trx.selectFrom('keys').select('id').where('tenant_id', '=', row.tenant_id).limit(1).executeTakeFirst();
        if (keys)
          throw new KmsError(
            'conflict',
            `${dialect} ${externalId} already belongs to tenant ${row.tenant_id}, which holds keys; keys never move between tenants`,
            'binding_in_use',
          );
        await trx
          .updateTable('tenant_bindings')
          .set({ tenant_id: tenant.id })
          .where('dialect', '=', dialect)
          .where('external_id', '=', externalId)
          .execute();
        return { moved: true };
      }
      await trx.insertInto('tenant_bindings').values({ dialect, external_id: externalId, tenant_id: tenant.id }).execute();
      return { moved: false };
    });
    await this.publish(BINDINGS_TOPIC, `${dialect}:${externalId}`);
    return { dialect, externalId, tenantId: tenant.id, ...result };
  }

  /** Every namespace bound to a tenant, across dialects. */
  async bindings(tenantId: string) {
    return this.db
      .selectFrom('tenant_bindings')
      .select(['dialect', 'external_id', 'attributes', 'created_at'])
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .execute();
  }

  /** The bindings of these tenants (all tenants when absent), oldest first. */
  async bindingsOf(tenantIds?: string[]) {
    if (tenantIds && !tenantIds.length) return [];
    let q = this.db.selectFrom('tenant_bindings').select(['dialect', 'external_id', 'tenant_id', 'attributes', 'created_at']);
    if (tenantIds) q = q.where('tenant_id', 'in', tenantIds);
    return q.orderBy('created_at').execute();
  }

  async binding(dialect: string, externalId: string) {
    return this.db
      .selectFrom('tenant_bindings')
      .selectAll()
      .where('dialect', '=', dialect)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
  }

  async inDialect(dialect: string) {
    return this.db.selectFrom('tenant_bindings').selectAll().where('dialect', '=', dialect).orderBy('created_at').execute();
  }

  /** The tenant behind a dialect's namespace; with `create`, a namespace seen for the first time gets its own. */
  async resolve(dialect: string, externalId: string, opts: { create?: boolean } = {}): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tenant_bindings')
      .select('tenant_id')
      .where('dialect', '=', dialect)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
    if (row) return row.tenant_id;
    if (!opts.create) return undefined;
    const name = `${dialect}:${externalId}`;
    const tenant = (await this.get(name)) ?? (await this.create(name).catch(async () => (await this.get(name))!));
    await this.db
      .insertInto('tenant_bindings')
      .values({ dialect, external_id: externalId, tenant_id: tenant.id })
      .onConflict((c) => c.columns(['dialect', 'external_id']).doNothing())
      .execute();
    return (await this.resolve(dialect, externalId))!;
  }
}

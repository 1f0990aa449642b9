import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, describe, expect, it } from 'vitest';
import { Kms, type Caller } from '../kms.ts';
import { materialAad, sealMaterial } from '../rootkey.ts';
import { backends, createTestDatabase, silentLogger, testKeyring, dbOf } from '../testing.ts';
import { openStore } from './connect.ts';
import { migrateTo } from './migrations.ts';
import { generateKeyPairDetached } from '../keypair.ts';

describe.each(backends())('0005 (tenant-scoped key ids, key owners) over existing data on %s', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-mig-'));
  let drop = async () => {};
  afterAll(async () => {
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps every key working, leaves every existing key the customer's, and frees ids across tenants", async () => {
    const db = await createTestDatabase(backend);
    drop = db.drop;
    const where = { databaseUrl: db.url, dataDir: dir };
    const keyring = testKeyring();
    const root = keyring.current;
    // A store as 0004 left it, written the way the code of then wrote it.
    const store = await openStore({ ...where, migrate: false });
    await migrateTo(store.db, '0004_audit_chain');
    const [cse, other, plain] = [randomUUID(), randomUUID(), randomUUID()];
    const kekId = randomUUID();
    const [squatId, plainId] = [randomUUID(), randomUUID()];
    const raw = new Map<string, Buffer>();
    const now = new Date();
    for (const [id, name] of [
      [cse, 'cse:https://kacls.example/v1'],
      [other, 'ovh:domain'],
      [plain, 'plain'],
    ])
      await sql`insert into tenants (id, name) values (${id}, ${name})`.execute(store.db);
    for (const [tenant, id, name] of [
      [cse, kekId, 'kek'],
      [other, squatId, 'kek'],
      [plain, plainId, 'plain'],
    ] as const) {
      const bytes = randomBytes(32);
      raw.set(id, bytes);
      await sql`insert into keys (id, tenant_id, name, kind, size, ops, origin, state, current_version, created_at, updated_at, activated_at)
                values (${id}, ${tenant}, ${name}, 'oct', 256, ${sql`array['encrypt','decrypt']`}, 'imported', 'active', 1, ${now}, ${now}, ${now})`.execute(
        store.db,
      );
      await sql`insert into key_versions (key_id, version, root_key_id, material) values (${id}, 1, ${root.id}, ${sealMaterial(root, bytes, materialAad(tenant, id, 1))})`.execute(
        store.db,
      );
    }
    await store.close();

    const kms = await Kms.open({ ...where, inMemory: false, keyring, logger: silentLogger() });
    try {
      const as = (tenantId: string, dialect: string): Caller => ({ tenantId, dialect, principal: 'p' });
      const owners = await dbOf(kms).selectFrom('keys').select(['id', 'owner']).execute();
      expect(Object.fromEntries(owners.map((o) => [o.id, o.owner]))).toEqual({
        [kekId]: null,
        [squatId]: null,
        [plainId]: null,
      });
      expect(
        (await dbOf(kms).selectFrom('key_versions').select(['key_id', 'tenant_id']).execute())
          .map((v) => `${v.tenant_id}/${v.key_id}`)
          .sort(),
      ).toEqual([`${cse}/${kekId}`, `${other}/${squatId}`, `${plain}/${plainId}`].sort());
      // Material sealed before the migration still opens: encrypt then decrypt with the stored key.
      const p = await kms.encrypt(as(plain, 'ovh'), plainId, Buffer.from('still here'));
      expect((await kms.decrypt(as(plain, 'huawei'), p.ciphertext)).plaintext.toString()).toBe('still here');
      // Ids are per tenant now: another tenant takes an existing id, the same tenant cannot.
      expect((await kms.createKey(as(other, 'ovh'), { id: plainId, name: 'same id', spec: { kind: 'oct', size: 256 } })).id).toBe(plainId);
      await expect(kms.createKey(as(plain, 'ovh'), { id: plainId, name: 'dup', spec: { kind: 'oct', size: 256 } })).rejects.toMatchObject({
        kind: 'conflict',
      });
      // A version row cannot point at another tenant's key.
      await expect(
        sql`insert into key_versions (tenant_id, key_id, version) values (${other}, ${kekId}, 9)`.execute(dbOf(kms)),
      ).rejects.toThrow(/foreign key/);
    } finally {
      await kms.close();
    }
  });
});

describe.each(backends())('0006 (extractable) over existing data on %s', (backend) => {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-mig6-'));
  let drop = async () => {};
  afterAll(async () => {
    await drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves keys not extractable, and marks imported public keys as public-only and extractable', async () => {
    const db = await createTestDatabase(backend);
    drop = db.drop;
    const where = { databaseUrl: db.url, dataDir: dir };
    const keyring = testKeyring();
    const store = await openStore({ ...where, migrate: false });
    await migrateTo(store.db, '0005_tenant_scoped_keys');
    const tenant = randomUUID();
    const [secretId, pubId] = [randomUUID(), randomUUID()];
    const now = new Date();
    await sql`insert into tenants (id, name) values (${tenant}, 't')`.execute(store.db);
    const spki = generateKeyPairDetached('ec', { namedCurve: 'prime256v1' }).publicKey.export({
      format: 'der',
      type: 'spki',
    });
    for (const [id, kind, curve, size] of [
      [secretId, 'oct', null, 256],
      [pubId, 'EC', 'P-256', null],
    ] as const) {
      await sql`insert into keys (id, tenant_id, name, kind, size, curve, ops, origin, state, current_version, created_at, updated_at, activated_at)
                values (${id}, ${tenant}, 'k', ${kind}, ${size}, ${curve}, ${sql`array['verify']`}, 'imported', 'active', 1, ${now}, ${now}, ${now})`.execute(
        store.db,
      );
    }
    const bytes = randomBytes(32);
    await sql`insert into key_versions (tenant_id, key_id, version, root_key_id, material) values (${tenant}, ${secretId}, 1, ${keyring.current.id}, ${sealMaterial(keyring.current, bytes, materialAad(tenant, secretId, 1))})`.execute(
      store.db,
    );
    await sql`insert into key_versions (tenant_id, key_id, version, root_key_id, material, public_spki) values (${tenant}, ${pubId}, 1, null, null, ${spki})`.execute(
      store.db,
    );
    await store.close();

    const kms = await Kms.open({ ...where, inMemory: false, keyring, logger: silentLogger() });
    try {
      const as: Caller = { tenantId: tenant, dialect: 'ovh', principal: 'p' };
      const secret = await kms.getKey(as, secretId);
      expect([secret.extractable, secret.neverExtractable, secret.publicOnly]).toEqual([false, true, false]);
      const pub = await kms.getKey(as, pubId);
      expect([pub.extractable, pub.neverExtractable, pub.publicOnly]).toEqual([true, false, true]);
    } finally {
      await kms.close();
    }
  });
});

describe.each(backends())('0010 (scheduled rotation) over existing data on %s', (backend) => {
  it('turns rotation switches kept as attributes into the columns, and drops the attribute', async () => {
    const db = await createTestDatabase(backend);
    const store = await openStore({ databaseUrl: db.url, inMemory: backend === 'pglite', migrate: false });
    try {
      await migrateTo(store.db, '0009_key_aliases');
      const tenant = randomUUID();
      await sql`insert into tenants (id, name) values (${tenant}, 't')`.execute(store.db);
      const at = new Date('2026-01-01T00:00:00Z');
      const ids = { on: randomUUID(), onDefault: randomUUID(), off: randomUUID(), none: randomUUID(), gone: randomUUID() };
      const attrs = {
        on: { rotation: { enabled: true, interval: 30, last: at.getTime() }, tags: { a: 'b' } },
        onDefault: { rotation: { enabled: true } },
        off: { rotation: { enabled: false, interval: 90 } },
        none: {},
        gone: { rotation: { enabled: true, interval: 30 } },
      };
      for (const [name, id] of Object.entries(ids))
        await sql`insert into keys (id, tenant_id, name, kind, size, ops, origin, state, current_version, created_at, updated_at, attributes)
                  values (${id}, ${tenant}, ${name}, 'oct', 256, ${sql`array['encrypt']`}, 'generated', ${name === 'gone' ? 'destroyed' : 'active'}, 1,
                          ${at}, ${at}, ${JSON.stringify(attrs[name as keyof typeof attrs])}::jsonb)`.execute(store.db);
      await migrateTo(store.db, '0010_rotation');
      const rows = await store.db
        .selectFrom('keys')
        .select(['name', 'rotation_period_seconds', 'next_rotation_at', 'rotated_at', 'attributes'])
        .execute();
      const by = Object.fromEntries(rows.map((r) => [r.name, r]));
      expect(by.on).toMatchObject({
        rotation_period_seconds: 30 * 86_400,
        rotated_at: at,
        next_rotation_at: new Date(at.getTime() + 30 * 86_400_000),
        attributes: { tags: { a: 'b' } },
      });
      expect(by.onDefault).toMatchObject({ rotation_period_seconds: 365 * 86_400, rotated_at: null, attributes: {} });
      expect(by.onDefault!.next_rotation_at!.getTime()).toBeGreaterThan(Date.now() + 364 * 86_400_000);
      expect(by.off).toMatchObject({ rotation_period_seconds: 90 * 86_400, next_rotation_at: null, attributes: {} });
      expect(by.none).toMatchObject({ rotation_period_seconds: null, next_rotation_at: null, rotated_at: null });
      expect(by.gone).toMatchObject({ next_rotation_at: null, attributes: {} });
    } finally {
      await store.close();
      await db.drop();
    }
  }, 120_000);
});

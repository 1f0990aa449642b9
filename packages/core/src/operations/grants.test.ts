import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeOf, type Caller, type Kms } from '../kms.ts';
import { expectKind } from '../test-expect.ts';
import { backends, openTestKms } from '../testing.ts';
import { MAX_GRANTS_PER_KEY, type Action } from '../types.ts';

describe.each(backends())('grants on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let tenant: string;
  let other: string;
  /** An administrator, and callers whose policy allows only reading: what they do beyond it comes from grants. */
  let admin: Caller;
  const reader = (who: string, operation: string, tenantId = tenant, dialect = 'test'): Caller => ({
    tenantId,
    dialect,
    principal: `user:${who}`,
    authorize: (a: Action) => a === 'key.get' || a === 'key.list_grants',
    grants: { principals: [`user:${who}`, 'domain:acme'], operation },
  });

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    tenant = (await kms.tenants.create('grants-a')).id;
    other = (await kms.tenants.create('grants-b')).id;
    admin = {
      tenantId: tenant,
      dialect: 'test',
      principal: 'user:admin',
      authorize: () => true,
      grants: { principals: ['user:admin'], operation: 'x' },
    };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  /** The last event of an action with that outcome (buffered events are written first). */
  const audit = async (action: string, outcome = 'allowed') => {
    await kms.sealAudit();
    return storeOf(kms)
      .db.selectFrom('audit_events')
      .selectAll()
      .where('tenant_id', '=', tenant)
      .where('action', '=', action)
      .where('outcome', '=', outcome)
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirstOrThrow();
  };

  it('a live grant allows exactly its operations, to its grantee, in its dialect; revoked, it allows nothing', async () => {
    const k = await kms.createKey(admin, { name: 'g1', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.encrypt(reader('bob', 'encrypt'), k.id, Buffer.from('x')), 'permission_denied');
    const g = await kms.createGrant(admin, k.id, {
      grantee: 'user:bob',
      operations: ['encrypt', 'encrypt', 'describe'],
      retiring: 'user:carol',
      name: 'app',
    });
    expect(g.id).toMatch(/^[0-9a-f]{64}$/);
    expect(g).toMatchObject({
      keyId: k.id,
      grantee: 'user:bob',
      operations: ['encrypt', 'describe'],
      retiring: 'user:carol',
      issuer: 'user:admin',
      name: 'app',
      dialect: 'test',
    });
    expect((await audit('key.create_grant')).details).toMatchObject({ newGrant: g.id, grantee: 'user:bob' });

    const ct = await kms.encrypt(reader('bob', 'encrypt'), k.id, Buffer.from('granted'));
    expect((await audit('key.encrypt')).details).toMatchObject({ grant: g.id });
    // Not listed, another principal, another dialect, another tenant: refused or not there.
    await expectKind(kms.decrypt(reader('bob', 'decrypt'), ct.ciphertext), 'permission_denied');
    await expectKind(kms.encrypt(reader('dave', 'encrypt'), k.id, Buffer.from('x')), 'permission_denied');
    await expectKind(kms.encrypt(reader('bob', 'encrypt', tenant, 'other'), k.id, Buffer.from('x')), 'permission_denied');
    await expectKind(kms.encrypt(reader('bob', 'encrypt', other), k.id, Buffer.from('x')), 'not_found');
    // A domain grant covers every caller of that domain.
    const d = await kms.createGrant(admin, k.id, { grantee: 'domain:acme', operations: ['decrypt'] });
    expect((await kms.decrypt(reader('dave', 'decrypt'), ct.ciphertext)).plaintext.toString()).toBe('granted');

    const listed = await kms.listGrants(admin, k.id, { limit: 10, offset: 0 });
    expect(listed.total).toBe(2);
    expect(listed.grants.map((x) => x.id)).toEqual([g.id, d.id]);
    expect((await kms.listGrants(admin, k.id, { limit: 1, offset: 1 })).grants.map((x) => x.id)).toEqual([d.id]);

    // Only an administrator revokes; a grantee cannot revoke its own grant.
    await expectKind(kms.revokeGrant(reader('bob', 'revoke'), k.id, g.id), 'permission_denied');
    await kms.revokeGrant(admin, k.id, g.id);
    expect((await audit('key.revoke_grant')).details).toMatchObject({ endedGrant: g.id });
    await expectKind(kms.encrypt(reader('bob', 'encrypt'), k.id, Buffer.from('x')), 'permission_denied');
    await expectKind(kms.revokeGrant(admin, k.id, g.id), 'not_found', 'grant');
    // A grant id is found only with its key.
    const k2 = await kms.createKey(admin, { name: 'g1b', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.revokeGrant(admin, k2.id, d.id), 'not_found', 'grant');
    await kms.revokeGrant(admin, k.id, d.id);
    await expectKind(kms.decrypt(reader('dave', 'decrypt'), ct.ciphertext), 'permission_denied');
  });

  it('retiring: the retiring principal, the grantee when the grant lists the retiring operation, an administrator; nobody else', async () => {
    const k = await kms.createKey(admin, { name: 'g2', spec: { kind: 'oct', size: 256 } });
    const g = await kms.createGrant(admin, k.id, {
      grantee: 'user:bob',
      operations: ['encrypt'],
      retiring: 'user:carol',
    });
    const retirable = await kms.listRetirableGrants(reader('carol', 'list-retirable'), { limit: 10, offset: 0 });
    expect(retirable.grants.map((x) => x.id)).toContain(g.id);
    expect(
      (await kms.listRetirableGrants(reader('bob', 'list-retirable'), { limit: 10, offset: 0 })).grants.map((x) => x.id),
    ).not.toContain(g.id);
    expect((await kms.listRetirableGrants(reader('carol', 'list-retirable', other), { limit: 10, offset: 0 })).total).toBe(0);
    await expectKind(kms.retireGrant(reader('bob', 'retire'), k.id, g.id), 'permission_denied');
    await expectKind(kms.retireGrant(reader('dave', 'retire'), k.id, g.id), 'permission_denied');
    await kms.retireGrant(reader('carol', 'retire'), k.id, g.id);
    expect((await audit('key.retire_grant')).details).toMatchObject({ endedGrant: g.id });
    await expectKind(kms.encrypt(reader('bob', 'encrypt'), k.id, Buffer.from('x')), 'permission_denied');

    const self = await kms.createGrant(admin, k.id, { grantee: 'user:bob', operations: ['encrypt', 'retire'] });
    await kms.retireGrant(reader('bob', 'retire'), k.id, self.id);
    const byAdmin = await kms.createGrant(admin, k.id, { grantee: 'user:bob', operations: ['encrypt'] });
    await kms.retireGrant(admin, k.id, byAdmin.id);
    expect((await kms.listGrants(admin, k.id, { limit: 10, offset: 0 })).total).toBe(0);
  });

  it('a grantee that may create grants passes on only what its grant allows', async () => {
    const k = await kms.createKey(admin, { name: 'g3', spec: { kind: 'oct', size: 256 } });
    await kms.createGrant(admin, k.id, { grantee: 'user:bob', operations: ['encrypt', 'create-grant'] });
    await expectKind(
      kms.createGrant(reader('bob', 'create-grant'), k.id, { grantee: 'user:bob', operations: ['decrypt'] }),
      'permission_denied',
    );
    await expectKind(
      kms.createGrant(reader('dave', 'create-grant'), k.id, { grantee: 'user:dave', operations: ['encrypt'] }),
      'permission_denied',
    );
    const passed = await kms.createGrant(reader('bob', 'create-grant'), k.id, {
      grantee: 'user:erin',
      operations: ['encrypt'],
    });
    expect(passed.issuer).toBe('user:bob');
    expect((await kms.listGrants(admin, k.id, { limit: 10, offset: 0 })).total).toBe(2);
  });

  it('refuses bad input, keys pending deletion, and more than the per-key limit, writing nothing', async () => {
    const k = await kms.createKey(admin, { name: 'g4', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.createGrant(admin, k.id, { grantee: '', operations: ['encrypt'] }), 'invalid_argument', 'grantee');
    await expectKind(kms.createGrant(admin, k.id, { grantee: 'user:x', operations: [] }), 'invalid_argument', 'operations');
    await expectKind(kms.createGrant(admin, k.id, { grantee: 'user:x\0', operations: ['a'] }), 'invalid_argument', 'grantee');
    await expectKind(kms.createGrant(admin, '00000000-0000-4000-8000-000000000000', { grantee: 'user:x', operations: ['a'] }), 'not_found');
    await expectKind(kms.createGrant({ ...admin, tenantId: other }, k.id, { grantee: 'user:x', operations: ['a'] }), 'not_found');
    for (let i = 0; i < MAX_GRANTS_PER_KEY; i++) await kms.createGrant(admin, k.id, { grantee: `user:u${i}`, operations: ['encrypt'] });
    await expectKind(
      kms.createGrant(admin, k.id, { grantee: 'user:one-more', operations: ['encrypt'] }),
      'resource_exhausted',
      'grants_per_key',
    );
    expect((await kms.listGrants(admin, k.id, { limit: 1, offset: 0 })).total).toBe(MAX_GRANTS_PER_KEY);
    const p = await kms.createKey(admin, { name: 'g5', spec: { kind: 'oct', size: 256 } });
    await kms.scheduleDeletion(admin, p.id, 7, { deactivate: true });
    await expectKind(kms.createGrant(admin, p.id, { grantee: 'user:x', operations: ['a'] }), 'failed_precondition', 'key_state');
    expect((await kms.listGrants(admin, p.id, { limit: 10, offset: 0 })).total).toBe(0);
    expect((await audit('key.create_grant', 'failed')).error_kind).toBe('failed_precondition');
  });
});

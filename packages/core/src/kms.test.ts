import { createCipheriv, createHash, generateKeyPairSync, privateDecrypt, randomBytes, randomUUID, sign as cryptoSign } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsError } from './errors.ts';
import type { Caller, Kms } from './kms.ts';
import { backends, openTestKms } from './testing.ts';
import { openssl } from './test-openssl.ts';

const expectKind = async (p: Promise<unknown>, kind: KmsError['kind'], msg?: RegExp) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a KmsError').toBeInstanceOf(KmsError);
  expect((e as KmsError).kind).toBe(kind);
  if (msg) expect((e as KmsError).message).toMatch(msg);
};

describe.each(backends())('key store on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  let bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t1 = await kms.createTenant('alice');
    const t2 = await kms.createTenant('bob');
    alice = { tenantId: t1.id, dialect: 'test', principal: 'alice-admin', requestId: 'req-1' };
    bob = { tenantId: t2.id, dialect: 'test', principal: 'bob-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('creates every supported key type, active, with the operations its kind allows', async () => {
    const specs = [
      { kind: 'oct', size: 128 },
      { kind: 'oct', size: 192 },
      { kind: 'oct', size: 256 },
      { kind: 'RSA', size: 2048 },
      { kind: 'EC', curve: 'P-256' },
      { kind: 'EC', curve: 'P-384' },
      { kind: 'EC', curve: 'P-521' },
      { kind: 'HMAC', size: 256 },
    ] as const;
    for (const spec of specs) {
      const k = await kms.createKey(alice, { name: `k-${spec.kind}`, spec });
      expect(k.state).toBe('active');
      expect(k.kind).toBe(spec.kind);
      expect(k.currentVersion).toBe(1);
      expect(k.activatedAt).toBeInstanceOf(Date);
    }
    const ec = await kms.createKey(alice, { name: 'ec', spec: { kind: 'EC', curve: 'P-256' } });
    expect(ec.ops).toEqual(['sign', 'verify']);
  });

  it('refuses bad specs and operations with a message that says what is wrong', async () => {
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'RSA', size: 1024 } }), 'invalid_argument', /2048, 3072, 4096/);
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'EC', curve: 'P-192' as never } }), 'invalid_argument', /curve/);
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'oct', size: 256 }, ops: ['sign'] }), 'invalid_argument', /cannot 'sign'/);
    await expectKind(kms.createKey(alice, { name: '', spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /name/);
    await expectKind(kms.createKey(alice, { name: 'x', spec: { kind: 'DSA' as never } }), 'invalid_argument', /unknown key type/);
  });

  it('encrypts and decrypts with the context bound, finding the key from the ciphertext', async () => {
    const k = await kms.createKey(alice, { name: 'aes', spec: { kind: 'oct', size: 256 } });
    const pt = Buffer.from('attack at dawn');
    const ctx = Buffer.from('order-42');
    const { ciphertext } = await kms.encrypt(alice, k.id, pt, ctx);
    const out = await kms.decrypt(alice, ciphertext, ctx);
    expect(out.plaintext.equals(pt)).toBe(true);
    expect(out.keyId).toBe(k.id);
    expect(out.version).toBe(1);
    await expectKind(kms.decrypt(alice, ciphertext, Buffer.from('order-43')), 'invalid_argument', /context/);
    await expectKind(kms.decrypt(alice, ciphertext), 'invalid_argument');
    const tampered = Buffer.from(ciphertext);
    tampered[tampered.length - 1]! ^= 1;
    await expectKind(kms.decrypt(alice, tampered, ctx), 'invalid_argument');
    await expectKind(kms.decrypt(alice, Buffer.from('not a ciphertext')), 'invalid_argument', /malformed/);
    // Empty plaintext is legal and round-trips.
    const empty = await kms.encrypt(alice, k.id, Buffer.alloc(0));
    expect((await kms.decrypt(alice, empty.ciphertext)).plaintext.length).toBe(0);
  });

  it('decrypts core ciphertexts with an independent AES-GCM (the layout is what ciphertext.ts says)', async () => {
    const k = await kms.importKey(alice, { name: 'imp', material: { format: 'raw', bytes: randomBytes(32) } });
    const raw = randomBytes(32);
    const k2 = await kms.importKey(alice, { name: 'imp2', material: { format: 'raw', bytes: raw } });
    const { ciphertext } = await kms.encrypt(alice, k2.id, Buffer.from('hello'), Buffer.from('c'));
    const header = ciphertext.subarray(0, 21);
    const iv = ciphertext.subarray(21, 33);
    const tag = ciphertext.subarray(33, 49);
    const d = (await import('node:crypto')).createDecipheriv('aes-256-gcm', raw, iv);
    d.setAAD(Buffer.concat([header, Buffer.from('c')]));
    d.setAuthTag(tag);
    expect(Buffer.concat([d.update(ciphertext.subarray(49)), d.final()]).toString()).toBe('hello');
    expect(k.origin).toBe('imported');
  });

  it('generates data keys with and without plaintext', async () => {
    const k = await kms.createKey(alice, { name: 'dk', spec: { kind: 'oct', size: 256 } });
    const dk = await kms.generateDataKey(alice, k.id, 32);
    expect(dk.plaintext?.length).toBe(32);
    const back = await kms.decrypt(alice, dk.ciphertext, undefined, { dataKey: true });
    expect(back.plaintext.equals(dk.plaintext!)).toBe(true);
    const blind = await kms.generateDataKey(alice, k.id, 64, { withPlaintext: false });
    expect(blind.plaintext).toBeUndefined();
    expect((await kms.decrypt(alice, blind.ciphertext, undefined, { dataKey: true })).plaintext.length).toBe(64);
    await expectKind(kms.generateDataKey(alice, k.id, 0), 'invalid_argument');
    await expectKind(kms.generateDataKey(alice, k.id, 513), 'invalid_argument');
  });

  it('enforces usage: a sign-only key cannot encrypt, an encrypt-only key cannot decrypt', async () => {
    const ec = await kms.createKey(alice, { name: 'ec', spec: { kind: 'EC', curve: 'P-256' } });
    await expectKind(kms.encrypt(alice, ec.id, Buffer.from('x')), 'unsupported', /not allowed to encrypt/);
    const encOnly = await kms.createKey(alice, { name: 'enc', spec: { kind: 'oct', size: 256 }, ops: ['encrypt'] });
    const { ciphertext } = await kms.encrypt(alice, encOnly.id, Buffer.from('x'));
    await expectKind(kms.decrypt(alice, ciphertext), 'unsupported', /not allowed to decrypt/);
    const aes = await kms.createKey(alice, { name: 'aes', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.sign(alice, aes.id, { scheme: 'ECDSA', hash: 'SHA-256' }, Buffer.from('m')), 'unsupported');
    await expectKind(kms.getPublicKey(alice, aes.id), 'unsupported');
  });

  it('walks the state machine: deactivate, compromise, reactivate, schedule/cancel deletion, destroy', async () => {
    const k = await kms.createKey(alice, { name: 'life', spec: { kind: 'oct', size: 256 } });
    const { ciphertext } = await kms.encrypt(alice, k.id, Buffer.from('old data'));
    await expectKind(kms.destroy(alice, k.id), 'failed_precondition', /deactivate it first/);
    await expectKind(kms.scheduleDeletion(alice, k.id, 7), 'failed_precondition', /deactivate it first/);

    const d = await kms.deactivate(alice, k.id, 'unspecified');
    expect(d.state).toBe('deactivated');
    expect(d.deactivatedAt).toBeInstanceOf(Date);
    // Metadata readable; protecting new data refused; processing old data allowed (KMIP), unless active-only.
    expect((await kms.getKey(alice, k.id)).state).toBe('deactivated');
    await expectKind(kms.encrypt(alice, k.id, Buffer.from('x')), 'failed_precondition', /deactivated/);
    expect((await kms.decrypt(alice, ciphertext)).plaintext.toString()).toBe('old data');
    await expectKind(kms.decrypt(alice, ciphertext, undefined, { activeOnly: true }), 'failed_precondition');

    const c = await kms.deactivate(alice, k.id, 'key_compromise');
    expect(c.state).toBe('compromised');
    expect(c.compromisedAt).toBeInstanceOf(Date);
    const a = await kms.activate(alice, k.id);
    expect(a.state).toBe('active');
    expect(a.compromisedAt).toBeNull();
    await expectKind(kms.deactivate(alice, k.id, 'bogus' as never), 'invalid_argument', /reason/);

    await kms.deactivate(alice, k.id);
    const p = await kms.scheduleDeletion(alice, k.id, 7);
    expect(p.state).toBe('pending_deletion');
    expect(p.deletionDueAt!.getTime() - Date.now()).toBeGreaterThan(6.9 * 86_400_000);
    await expectKind(kms.decrypt(alice, ciphertext), 'failed_precondition', /pending deletion/);
    await expectKind(kms.activate(alice, k.id), 'failed_precondition');
    const back = await kms.cancelDeletion(alice, k.id);
    expect(back.state).toBe('deactivated');
    expect(back.deletionDueAt).toBeNull();
    await expectKind(kms.cancelDeletion(alice, k.id), 'failed_precondition');

    const gone = await kms.destroy(alice, k.id);
    expect(gone.state).toBe('destroyed');
    expect(gone.destroyedAt).toBeInstanceOf(Date);
    const versions = await kms.db.selectFrom('key_versions').selectAll().where('key_id', '=', k.id).execute();
    expect(versions.every((v) => v.material === null && v.root_key_id === null)).toBe(true);
    expect((await kms.getKey(alice, k.id)).name).toBe('life');
    await expectKind(kms.decrypt(alice, ciphertext), 'failed_precondition');
    await expectKind(kms.activate(alice, k.id), 'failed_precondition');
    await expectKind(kms.updateKey(alice, k.id, { name: 'again' }), 'failed_precondition', /destroyed/);
  });

  it('destroys keys whose deletion date has passed', async () => {
    const k = await kms.createKey(alice, { name: 'due', spec: { kind: 'oct', size: 256 } });
    await kms.deactivate(alice, k.id);
    await kms.scheduleDeletion(alice, k.id, 0);
    expect(await kms.destroyDueKeys()).toBeGreaterThanOrEqual(1);
    expect((await kms.getKey(alice, k.id)).state).toBe('destroyed');
  });

  it('isolates tenants: another tenant key is not found, for every operation', async () => {
    const k = await kms.createKey(alice, { name: 'mine', spec: { kind: 'oct', size: 256 } });
    const { ciphertext } = await kms.encrypt(alice, k.id, Buffer.from('secret'));
    await expectKind(kms.getKey(bob, k.id), 'not_found');
    await expectKind(kms.encrypt(bob, k.id, Buffer.from('x')), 'not_found');
    await expectKind(kms.decrypt(bob, ciphertext), 'not_found');
    await expectKind(kms.deactivate(bob, k.id), 'not_found');
    await expectKind(kms.destroy(bob, k.id), 'not_found');
    await expectKind(kms.updateKey(bob, k.id, { name: 'pwned' }), 'not_found');
    await expectKind(kms.rotate(bob, k.id), 'not_found');
    await expectKind(kms.generateDataKey(bob, k.id, 32), 'not_found');
    expect((await kms.listKeys(bob)).keys.find((x) => x.id === k.id)).toBeUndefined();
    await expectKind(kms.getKey(alice, 'not-a-uuid'), 'not_found');
    await expectKind(kms.getKey({ ...alice, tenantId: 'nope' }, k.id), 'not_found');
    expect((await kms.getKey(alice, k.id)).name).toBe('mine');
  });

  it('applies the dialect policy hook and audits denials', async () => {
    const k = await kms.createKey(alice, { name: 'policy', spec: { kind: 'oct', size: 256 } });
    const readOnly: Caller = { ...alice, principal: 'reader', requestId: 'req-deny', authorize: (action) => action === 'key.get' || action === 'key.list' };
    expect((await kms.getKey(readOnly, k.id)).id).toBe(k.id);
    await expectKind(kms.encrypt(readOnly, k.id, Buffer.from('x')), 'permission_denied');
    await expectKind(kms.createKey(readOnly, { name: 'n', spec: { kind: 'oct', size: 256 } }), 'permission_denied');
    // No flush: a refusal is answered once its event is stored.
    const denied = await kms.db.selectFrom('audit_events').selectAll().where('request_id', '=', 'req-deny').where('outcome', '=', 'denied').execute();
    expect(denied.map((d) => d.action).sort()).toEqual(['key.create', 'key.encrypt']);
    expect(denied[0]!.principal).toBe('reader');
  });

  it('writes an audit event for every operation, allowed or not', async () => {
    const caller = { ...alice, requestId: 'req-audit' };
    const k = await kms.createKey(caller, { name: 'audited', spec: { kind: 'oct', size: 256 } });
    await kms.encrypt(caller, k.id, Buffer.from('x'));
    await kms.deactivate(caller, k.id);
    await expectKind(kms.encrypt(caller, k.id, Buffer.from('x')), 'failed_precondition');
    // No flush: every operation was answered only once its event was stored.
    const rows = await kms.db.selectFrom('audit_events').selectAll().where('request_id', '=', 'req-audit').orderBy('id').execute();
    // Changes are written in their transaction, reads and crypto through the group commit: compare as a set.
    expect(rows.map((r) => `${r.action}:${r.outcome}`).sort()).toEqual(['key.create:allowed', 'key.deactivate:allowed', 'key.encrypt:allowed', 'key.encrypt:failed']);
    expect(rows.every((r) => r.tenant_id === alice.tenantId && r.key_id === k.id && r.dialect === 'test')).toBe(true);
    expect(rows.find((r) => r.outcome === 'failed')!.error_kind).toBe('failed_precondition');
  });

  it('fails closed: while the store refuses audit events, reads, crypto and random fail with unavailable; a refusal keeps its own error', async () => {
    const k = await kms.createKey(alice, { name: 'closed', spec: { kind: 'oct', size: 256 } });
    const ct = await kms.encrypt(alice, k.id, Buffer.from('x'));
    await sql`alter table audit_events add constraint refuse_audit check (false) not valid`.execute(kms.db);
    try {
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('x')), 'unavailable', /audit/);
      await expectKind(kms.decrypt(alice, ct.ciphertext), 'unavailable', /audit/);
      await expectKind(kms.getKey(alice, k.id), 'unavailable', /audit/);
      await expectKind(kms.listKeys(alice), 'unavailable', /audit/);
      await expectKind(kms.random(alice, 16), 'unavailable', /audit/);
      await expectKind(kms.encrypt({ ...alice, authorize: () => false }, k.id, Buffer.from('x')), 'permission_denied');
      await expectKind(kms.getKey(alice, randomUUID()), 'not_found');
    } finally {
      await sql`alter table audit_events drop constraint refuse_audit`.execute(kms.db);
    }
    expect((await kms.decrypt(alice, ct.ciphertext)).plaintext.toString()).toBe('x');
    expect((await kms.verifyAudit()).problems).toEqual([]);
  });

  it('updates name, description and alias; aliases are unique per tenant', async () => {
    const k = await kms.createKey(alice, { name: 'n1', alias: 'alias/one', spec: { kind: 'oct', size: 256 } });
    const u = await kms.updateKey(alice, k.id, { name: 'n2', description: 'd' });
    expect([u.name, u.description, u.alias]).toEqual(['n2', 'd', 'alias/one']);
    expect(u.revision).toBe(k.revision + 1);
    await expectKind(kms.createKey(alice, { name: 'n3', alias: 'alias/one', spec: { kind: 'oct', size: 256 } }), 'conflict');
    // The same alias in another tenant is fine.
    await kms.createKey(bob, { name: 'n3', alias: 'alias/one', spec: { kind: 'oct', size: 256 } });
    await expectKind(kms.updateKey(alice, k.id, { name: 'x'.repeat(300) }), 'invalid_argument');
    // Text PostgreSQL cannot store is refused with a 4xx kind and the field, not a database error;
    // a surrogate pair (an emoji) is fine.
    for (const [field, bad] of [['name', 'a\u0000b'], ['description', 'd\ud800'], ['alias', 'alias/\udc00x']] as const) {
      await expectKind(kms.updateKey(alice, k.id, { [field]: bad }), 'invalid_argument', /NUL character or an unpaired UTF-16 surrogate/);
      await expectKind(kms.createKey(alice, { name: 'n4', [field]: bad, spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /NUL/);
    }
    await expectKind(kms.createTenant('t\u0000'), 'invalid_argument', /NUL/);
    // The same in a key's attributes (kept as jsonb, where PostgreSQL refuses them too), at any depth,
    // in keys as in values; the reason names the top-level attribute.
    const refused = await kms.createKey(alice, { name: 'n5', attributes: { context: 'QUJD\u0000' }, spec: { kind: 'oct', size: 256 } }).catch((e: unknown) => e);
    expect(refused).toMatchObject({ kind: 'invalid_argument', reason: 'context', message: expect.stringMatching(/attributes cannot hold a NUL/) });
    await expectKind(kms.updateKey(alice, k.id, { attributes: { tags: [{ ['k\ud800']: 1 }] } }), 'invalid_argument', /unpaired UTF-16 surrogate/);
    await expectKind(kms.bindTenant('test', 'ext-nul', alice.tenantId, { region: 'eu\u0000' }), 'invalid_argument', /NUL/);
    expect((await kms.updateKey(alice, k.id, { attributes: { context: 'ctx \u{1F511}' } })).attributes).toEqual({ context: 'ctx \u{1F511}' });
    expect((await kms.updateKey(alice, k.id, { name: 'key \u{1F511}' })).name).toBe('key \u{1F511}');
    expect((await kms.getKey(alice, k.id)).name).toBe('key \u{1F511}');
  });

  it('rotates: new ciphertexts use the new version, old ones still decrypt', async () => {
    const k = await kms.createKey(alice, { name: 'rot', spec: { kind: 'oct', size: 256 } });
    const v1 = await kms.encrypt(alice, k.id, Buffer.from('v1'));
    const r = await kms.rotate(alice, k.id);
    expect(r.currentVersion).toBe(2);
    const v2 = await kms.encrypt(alice, k.id, Buffer.from('v2'));
    expect(v2.version).toBe(2);
    expect((await kms.decrypt(alice, v1.ciphertext)).plaintext.toString()).toBe('v1');
    expect((await kms.decrypt(alice, v2.ciphertext)).plaintext.toString()).toBe('v2');
    const imported = await kms.importKey(alice, { name: 'imp', material: { format: 'raw', bytes: randomBytes(32) } });
    await expectKind(kms.rotate(alice, imported.id), 'failed_precondition', /importing new material/);
    const r2 = await kms.rotate(alice, imported.id, { format: 'raw', bytes: randomBytes(32) });
    expect(r2.currentVersion).toBe(2);
    await expectKind(kms.rotate(alice, imported.id, { format: 'raw', bytes: randomBytes(16) }), 'invalid_argument', /same type and size/);
    // A version number that does not exist is a bad ciphertext, not a missing key.
    const forged = Buffer.from(v1.ciphertext);
    forged.writeUInt32BE(99, 17);
    await expectKind(kms.decrypt(alice, forged), 'invalid_argument', /version/);
  });

  it('lists with keyset pagination and state filters', async () => {
    const t = await kms.createTenant('pager');
    const c: Caller = { tenantId: t.id, dialect: 'test', principal: 'p' };
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) ids.push((await kms.createKey(c, { name: `p${i}`, spec: { kind: 'oct', size: 128 } })).id);
    await kms.deactivate(c, ids[2]!);
    const seen: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await kms.listKeys(c, { limit: 3, cursor });
      seen.push(...page.keys.map((k) => k.id));
      if (!page.nextCursor) break;
      cursor = page.nextCursor;
    }
    expect(seen).toEqual(ids);
    const deact = await kms.listKeys(c, { states: ['deactivated'] });
    expect(deact.keys.map((k) => k.id)).toEqual([ids[2]]);
    await expectKind(kms.listKeys(c, { cursor: 'garbage!' }), 'invalid_argument', /continuation token/);
    await expectKind(kms.listKeys(c, { cursor: Buffer.from('2020-01-01T00:00:00Z|nope').toString('base64url') }), 'invalid_argument');
    await expectKind(kms.listKeys(c, { limit: 0 }), 'invalid_argument');
  });

  it('a row whose encrypted material is moved to another key id does not decrypt', async () => {
    const victim = await kms.importKey(alice, { name: 'victim', material: { format: 'raw', bytes: randomBytes(32) } });
    const attacker = await kms.createKey(alice, { name: 'attacker', spec: { kind: 'oct', size: 256 } });
    const src = await kms.db.selectFrom('key_versions').selectAll().where('key_id', '=', victim.id).executeTakeFirstOrThrow();
    await kms.db.updateTable('key_versions').set({ material: src.material, root_key_id: src.root_key_id }).where('key_id', '=', attacker.id).execute();
    kms.cache.clear();
    await expectKind(kms.encrypt(alice, attacker.id, Buffer.from('x')), 'internal');
    // The message says what happened, and nothing of the material.
    await kms.encrypt(alice, attacker.id, Buffer.from('x')).catch((e: KmsError) => expect(e.message).toBe('stored key material does not authenticate'));
  });

  it('takes a caller-chosen key id once', async () => {
    const id = '6d1f0e4e-9b1c-4f0a-8a59-0c2f4d3e2b1a';
    const k = await kms.createKey(alice, { id, name: 'chosen', spec: { kind: 'oct', size: 256 } });
    expect(k.id).toBe(id);
    await expectKind(kms.createKey(alice, { id, name: 'again', spec: { kind: 'oct', size: 256 } }), 'conflict', /cannot be used/);
    await expectKind(kms.createKey(alice, { id: 'nope', name: 'bad', spec: { kind: 'oct', size: 256 } }), 'invalid_argument', /UUID/);
  });

  it('seals the gateway secrets under the root key', async () => {
    await kms.putSecret('s/1', Buffer.from('one'));
    expect((await kms.getSecret('s/1'))!.toString()).toBe('one');
    const row = await kms.db.selectFrom('sealed_secrets').selectAll().where('id', '=', 's/1').executeTakeFirstOrThrow();
    expect(Buffer.from(row.sealed).includes(Buffer.from('one'))).toBe(false);
    await kms.db.updateTable('sealed_secrets').set({ id: 's/2' }).where('id', '=', 's/1').execute();
    await expectKind(kms.getSecret('s/2'), 'internal', /does not authenticate/);
    expect(await kms.getSecret('s/1')).toBeUndefined();
  });

  it('keeps data keys and ciphertexts apart, and refuses impossible versions without hurting batched neighbours', async () => {
    const k = await kms.createKey(alice, { name: 'sep', spec: { kind: 'oct', size: 256 } });
    const dk = await kms.generateDataKey(alice, k.id, 32);
    await expectKind(kms.decrypt(alice, dk.ciphertext), 'invalid_argument', /data key/);
    const ct = await kms.encrypt(alice, k.id, Buffer.from('x'));
    await expectKind(kms.decrypt(alice, ct.ciphertext, undefined, { dataKey: true }), 'invalid_argument', /not a data key/);
    // Relabelling a data key as data breaks the authenticated header.
    const relabelled = Buffer.from(dk.ciphertext);
    relabelled[0] = 0x01;
    await expectKind(kms.decrypt(alice, relabelled), 'invalid_argument');
    const huge = Buffer.from(ct.ciphertext);
    huge.writeUInt32BE(3_000_000_000, 17);
    const [bad, good] = await Promise.allSettled([kms.decrypt(bob, huge), kms.decrypt(alice, ct.ciphertext)]);
    expect(bad.status).toBe('rejected');
    expect((bad as PromiseRejectedResult).reason.kind).toBe('invalid_argument');
    expect(good.status).toBe('fulfilled');
  });

  it('does not delete a key that was never deactivated, even pre-active', async () => {
    const k = await kms.createKey(alice, { name: 'pre', spec: { kind: 'oct', size: 256 }, initialState: 'pre_active' });
    await expectKind(kms.destroy(alice, k.id), 'failed_precondition');
    await expectKind(kms.scheduleDeletion(alice, k.id, 7), 'failed_precondition');
  });

  it('signs, verifies, exports public keys and does RSA-OAEP and HMAC through the store', async () => {
    const rsa = await kms.createKey(alice, { name: 'rsa', spec: { kind: 'RSA', size: 2048 } });
    const msg = Buffer.from('signed through core');
    const sig = await kms.sign(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg);
    const pub = await kms.getPublicKey(alice, rsa.id);
    expect(pub.pem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(pub.jwk.kty).toBe('RSA');
    expect(openssl({ 'p.pem': pub.pem, 'm.bin': msg, 's.bin': sig.signature }, () => ['dgst', '-sha256', '-verify', 'p.pem', '-sigopt', 'rsa_padding_mode:pss', '-sigopt', 'rsa_pss_saltlen:32', '-signature', 's.bin', 'm.bin']).ok).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, msg, sig.signature)).valid).toBe(true);
    expect((await kms.verify(alice, rsa.id, { scheme: 'RSA-PSS', hash: 'SHA-256' }, Buffer.from('other'), sig.signature)).valid).toBe(false);
    const ct = await kms.rsaEncrypt(alice, rsa.id, Buffer.from('dek'), { hash: 'SHA-256' });
    expect((await kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-256' })).plaintext.toString()).toBe('dek');
    await expectKind(kms.rsaDecrypt(alice, rsa.id, ct.ciphertext, { hash: 'SHA-1' }), 'invalid_argument');
    const mac = await kms.createKey(alice, { name: 'mac', spec: { kind: 'HMAC', size: 384 } });
    const tag = await kms.sign(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg);
    expect(tag.signature.length).toBe(48);
    expect((await kms.verify(alice, mac.id, { scheme: 'HMAC', hash: 'SHA-384' }, msg, tag.signature)).valid).toBe(true);
    await expectKind(kms.getPublicKey(bob, rsa.id), 'not_found');
  });

  it('imports a public key: verifies and encrypts (checked with the private half outside), never signs or decrypts', async () => {
    const pair = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await expectKind(
      kms.importKey(alice, { name: 'pub-sign', ops: ['sign', 'verify'], material: { format: 'jwk', jwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> } }),
      'invalid_argument',
      /public key .* not sign/,
    );
    const k = await kms.importKey(alice, { name: 'pub', material: { format: 'jwk', jwk: pair.publicKey.export({ format: 'jwk' }) as Record<string, unknown> } });
    expect(k.ops.sort()).toEqual(['encrypt', 'verify', 'wrapKey']);
    const msg = Buffer.from('signed elsewhere');
    const sig = cryptoSign('sha256', msg, pair.privateKey);
    const params = { scheme: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;
    expect((await kms.verify(alice, k.id, params, msg, sig)).valid).toBe(true);
    expect((await kms.verify(alice, k.id, params, Buffer.from("other"), sig)).valid).toBe(false);
    const wrapped = await kms.rsaEncrypt(alice, k.id, Buffer.from('dek'), { hash: 'SHA-256' });
    expect(privateDecrypt({ key: pair.privateKey, oaepHash: "sha256" }, wrapped.ciphertext).toString()).toBe('dek');
    await expectKind(kms.sign(alice, k.id, params, msg), 'unsupported');
    await expectKind(kms.rsaDecrypt(alice, k.id, Buffer.alloc(256), { hash: 'SHA-256' }), 'unsupported');
    expect((await kms.getPublicKey(alice, k.id)).spki.equals(pair.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  });

  it('never serves a key state older than the last acknowledged change, even with reads in flight', async () => {
    const k = await kms.createKey(alice, { name: 'racy', spec: { kind: 'oct', size: 256 } });
    for (let i = 0; i < 15; i++) {
      const inFlight = Array.from({ length: 8 }, () => kms.encrypt(alice, k.id, Buffer.from('x')).catch(() => 'refused'));
      await kms.deactivate(alice, k.id);
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('after')), 'failed_precondition');
      await Promise.all(inFlight);
      await expectKind(kms.encrypt(alice, k.id, Buffer.from('after')), 'failed_precondition');
      await kms.activate(alice, k.id);
      expect((await kms.encrypt(alice, k.id, Buffer.from('again'))).keyId).toBe(k.id);
    }
  });

  it('gives random bytes within bounds', async () => {
    expect((await kms.random(alice, 32)).length).toBe(32);
    await expectKind(kms.random(alice, 0), 'invalid_argument');
    await expectKind(kms.random(alice, 100_000), 'invalid_argument');
  });

  it('binds dialect namespaces to tenants, creating one on first sight', async () => {
    const t = await kms.resolveTenant('huawei', 'proj-1', { create: true });
    expect(await kms.resolveTenant('huawei', 'proj-1')).toBe(t);
    expect(await kms.resolveTenant('ovh', 'unknown')).toBeUndefined();
    await kms.bindTenant('ovh', 'okms-1', t!);
    expect(await kms.resolveTenant('ovh', 'okms-1')).toBe(t);
  });

  it('links namespaces of several dialects to one tenant; a namespace whose tenant holds keys never moves', async () => {
    const shared = await kms.createTenant('linked');
    const seen: string[] = [];
    const off = kms.subscribe('tenant.bindings', (p) => seen.push(p));
    expect(await kms.linkTenant('ovh', 'okms-linked', shared.id)).toMatchObject({ tenantId: shared.id, moved: false });
    // A project that was used alone (own empty tenant) can still join.
    const alone = await kms.resolveTenant('huawei', 'proj-linked', { create: true });
    expect(alone).not.toBe(shared.id);
    expect(await kms.linkTenant('huawei', 'proj-linked', 'linked')).toMatchObject({ tenantId: shared.id, moved: true });
    expect(await kms.resolveTenant('huawei', 'proj-linked')).toBe(shared.id);
    expect((await kms.tenantBindings(shared.id)).map((b) => `${b.dialect}:${b.external_id}`).sort()).toEqual(['huawei:proj-linked', 'ovh:okms-linked']);
    expect(seen).toEqual(['ovh:okms-linked', 'huawei:proj-linked']);
    off();
    // A key made through one dialect's namespace is the tenant's: the other namespace reaches it.
    const viaHuawei = { tenantId: (await kms.resolveTenant('huawei', 'proj-linked'))!, dialect: 'huawei', principal: 'p' };
    const k = await kms.createKey(viaHuawei, { name: 'shared', spec: { kind: 'oct', size: 256 } });
    const viaOvh = { tenantId: (await kms.resolveTenant('ovh', 'okms-linked'))!, dialect: 'ovh', principal: 'o' };
    expect((await kms.getKey(viaOvh, k.id)).id).toBe(k.id);
    // Now the tenant holds a key: its namespaces stay.
    await expectKind(kms.linkTenant('ovh', 'okms-linked', alice.tenantId), 'conflict', /holds keys/);
    await expectKind(kms.linkTenant('ovh', 'x', '00000000-0000-4000-8000-000000000000'), 'not_found');
    await expectKind(kms.linkTenant('ovh', '', shared.id), 'invalid_argument');
  });

  it('keeps a plaintext sealed AES key out of every stored column', async () => {
    const raw = randomBytes(32);
    const k = await kms.importKey(alice, { name: 'leak', material: { format: 'raw', bytes: raw } });
    const v = await kms.db.selectFrom('key_versions').selectAll().where('key_id', '=', k.id).executeTakeFirstOrThrow();
    expect(Buffer.from(v.material!).includes(raw)).toBe(false);
    const ksum = createHash('sha256').update(raw).digest();
    expect(Buffer.from(v.material!).includes(ksum.subarray(0, 8))).toBe(false);
    void createCipheriv;
  });
});

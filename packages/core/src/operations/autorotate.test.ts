import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, createTestDatabase, dbOf, openTestKms, testKeyring } from '../testing.ts';
import { expectKind } from '../test-expect.ts';
import { ROTATION_PRINCIPAL } from './autorotate.ts';

const DAY = 86_400;

/** A clock the test moves by hand: no timers, no sleeps. */
function testClock() {
  let t = Date.UTC(2026, 0, 1);
  return { now: () => new Date(t), advance: (seconds: number) => (t += seconds * 1000) };
}

const versionsOf = async (kms: Kms, keyId: string) =>
  (await dbOf(kms).selectFrom('key_versions').select('version').where('key_id', '=', keyId).orderBy('version').execute()).map(
    (r) => r.version,
  );

describe.each(backends())('scheduled rotation on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  const clock = testClock();

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend, { now: clock.now }));
    const t = await kms.tenants.create('alice');
    alice = { tenantId: t.id, dialect: 'test', principal: 'alice-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  const aesKey = (name: string) => kms.createKey(alice, { name, spec: { kind: 'oct', size: 256 } });

  it('turns on a period from now, keeps the period while off, moves the due date with a new period', async () => {
    const k = await aesKey('switch');
    expect(k.rotation).toEqual({ periodSeconds: null, nextAt: null, lastAt: null });
    await expectKind(kms.setRotation(alice, k.id, { enabled: true }), 'invalid_argument', /needs a period/);
    for (const bad of [0, -1, 1.5, 11 * 366 * DAY])
      await expectKind(kms.setRotation(alice, k.id, { periodSeconds: bad }), 'invalid_argument', /rotation period/);
    // A period alone does not turn rotation on.
    expect((await kms.setRotation(alice, k.id, { periodSeconds: 30 * DAY })).rotation.nextAt).toBeNull();
    const on = await kms.setRotation(alice, k.id, { enabled: true });
    expect(on.rotation.nextAt!.getTime()).toBe(clock.now().getTime() + 30 * DAY * 1000);
    const longer = await kms.setRotation(alice, k.id, { periodSeconds: 90 * DAY });
    expect(longer.rotation.nextAt!.getTime()).toBe(clock.now().getTime() + 90 * DAY * 1000);
    const off = await kms.setRotation(alice, k.id, { enabled: false });
    expect(off.rotation).toEqual({ periodSeconds: 90 * DAY, nextAt: null, lastAt: null });
    const events = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['action', 'outcome', 'details'])
      .where('key_id', '=', k.id)
      .where('action', '=', 'key.update')
      .execute();
    expect(events.filter((e) => e.outcome === 'allowed').map((e) => (e.details as { rotation: unknown }).rotation)).toEqual([
      { periodSeconds: 30 * DAY },
      { enabled: true },
      { periodSeconds: 90 * DAY },
      { enabled: false },
    ]);
  });

  it('refuses rotation for an imported key, a key pending deletion and another tenant', async () => {
    const imported = await kms.importKey(alice, { name: 'imp', material: { format: 'raw', bytes: randomBytes(32) } });
    await expectKind(kms.setRotation(alice, imported.id, { enabled: true, periodSeconds: DAY }), 'failed_precondition', /importing/);
    const pending = await aesKey('pending');
    await kms.scheduleDeletion(alice, pending.id, 7, { deactivate: true });
    await expectKind(kms.setRotation(alice, pending.id, { enabled: true, periodSeconds: DAY }), 'failed_precondition', /pending deletion/);
    const other = await kms.tenants.create('mallory');
    await expectKind(
      kms.setRotation({ tenantId: other.id, dialect: 'test', principal: 'm' }, pending.id, { enabled: true, periodSeconds: DAY }),
      'not_found',
    );
  });

  it('rotates a due key within one sweep, once per period; old ciphertext decrypts, new uses the new version', async () => {
    const due = await aesKey('due');
    const notDue = await aesKey('not-due');
    const off = await aesKey('off');
    const disabled = await aesKey('disabled');
    const pending = await aesKey('pending-deletion');
    for (const k of [due, disabled, pending]) await kms.setRotation(alice, k.id, { enabled: true, periodSeconds: 30 * DAY });
    await kms.setRotation(alice, notDue.id, { enabled: true, periodSeconds: 60 * DAY });
    await kms.setRotation(alice, off.id, { periodSeconds: DAY });
    await kms.deactivate(alice, disabled.id);
    await kms.scheduleDeletion(alice, pending.id, 365, { deactivate: true });
    const old = await kms.encrypt(alice, due.id, Buffer.from('before'));

    clock.advance(30 * DAY - 1);
    expect(await kms.rotations.sweep()).toBe(0);
    clock.advance(1);
    const rotatedAt = clock.now();
    await kms.rotations.sweep();
    expect(await kms.rotations.sweep()).toBe(0);

    const k = await kms.getKey(alice, due.id);
    expect(k.currentVersion).toBe(2);
    expect(k.rotation.lastAt).toEqual(rotatedAt);
    expect(k.rotation.nextAt!.getTime()).toBe(rotatedAt.getTime() + 30 * DAY * 1000);
    for (const untouched of [notDue, off, disabled, pending]) expect(await versionsOf(kms, untouched.id)).toEqual([1]);
    expect((await kms.decrypt(alice, old.ciphertext)).plaintext.toString()).toBe('before');
    const fresh = await kms.encrypt(alice, due.id, Buffer.from('after'));
    expect(fresh.version).toBe(2);
    expect((await kms.decrypt(alice, fresh.ciphertext)).plaintext.toString()).toBe('after');

    const audit = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['principal', 'outcome', 'details', 'tenant_id'])
      .where('key_id', '=', due.id)
      .where('action', '=', 'key.rotate')
      .execute();
    expect(audit).toEqual([expect.objectContaining({ principal: ROTATION_PRINCIPAL, outcome: 'allowed', tenant_id: alice.tenantId })]);
    expect(audit[0]!.details).toMatchObject({ scheduled: true, version: 2 });

    // The next period: one more version; the key not due before is due now (60 days since it was turned on).
    clock.advance(30 * DAY);
    expect(await kms.rotations.sweep()).toBe(2);
    expect(await versionsOf(kms, due.id)).toEqual([1, 2, 3]);
    expect(await versionsOf(kms, notDue.id)).toEqual([1, 2]);
    // A key enabled again after its due date rotates at the next sweep; one asked for restarts the clock.
    await kms.activate(alice, disabled.id);
    expect(await kms.rotations.sweep()).toBe(1);
    const manual = await kms.rotate(alice, due.id);
    expect(manual.rotation.nextAt!.getTime()).toBe(clock.now().getTime() + 30 * DAY * 1000);
    expect(await kms.rotations.sweep()).toBe(0);
  });

  it('concurrent sweeps in one process make one version per key', async () => {
    const keys = await Promise.all([1, 2, 3, 4, 5].map((i) => aesKey(`concurrent-${i}`)));
    for (const k of keys) await kms.setRotation(alice, k.id, { enabled: true, periodSeconds: DAY });
    clock.advance(DAY);
    const counts = await Promise.all([kms.rotations.sweep(), kms.rotations.sweep(), kms.rotations.sweep()]);
    expect(counts.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(keys.length);
    for (const k of keys) expect(await versionsOf(kms, k.id)).toEqual([1, 2]);
  });
});

describe.runIf(!!process.env.DATABASE_URL)('scheduled rotation with two processes on one Postgres', () => {
  it('sweeping concurrently, they make exactly one version per key and period, and each sees the other’s', async () => {
    const db = await createTestDatabase('postgres');
    const keyring = testKeyring();
    const clock = testClock();
    const a = await openTestKms('postgres', { url: db.url, keyring, now: clock.now });
    const b = await openTestKms('postgres', { url: db.url, keyring, now: clock.now });
    try {
      const t = await a.kms.tenants.create('shared');
      const c: Caller = { tenantId: t.id, dialect: 'test', principal: 'p' };
      const keys = [];
      for (let i = 0; i < 20; i++) {
        const k = await a.kms.createKey(c, { name: `k${i}`, spec: { kind: 'oct', size: 256 } });
        await a.kms.setRotation(c, k.id, { enabled: true, periodSeconds: 7 * DAY });
        keys.push(k);
      }
      // B holds version 1 of every key in its cache.
      const before = await Promise.all(keys.map((k) => b.kms.encrypt(c, k.id, Buffer.from('v1'))));
      for (let period = 1; period <= 3; period++) {
        clock.advance(7 * DAY);
        const counts = await Promise.all([
          a.kms.rotations.sweep(),
          b.kms.rotations.sweep(),
          a.kms.rotations.sweep(),
          b.kms.rotations.sweep(),
        ]);
        expect(counts.reduce((x, y) => x + y, 0)).toBe(keys.length);
        for (const k of keys) expect(await versionsOf(a.kms, k.id)).toEqual(Array.from({ length: period + 1 }, (_, i) => i + 1));
      }
      const rotations = await dbOf(a.kms)
        .selectFrom('audit_events')
        .select((e) => e.fn.countAll<string>().as('n'))
        .where('action', '=', 'key.rotate')
        .where('principal', '=', ROTATION_PRINCIPAL)
        .where('outcome', '=', 'allowed')
        .executeTakeFirstOrThrow();
      expect(Number(rotations.n)).toBe(3 * keys.length);
      // Whichever process rotated, both encrypt under the new version and open the old ciphertexts.
      for (const [i, k] of keys.entries()) {
        expect((await a.kms.encrypt(c, k.id, Buffer.from('x'))).version).toBe(4);
        expect((await b.kms.encrypt(c, k.id, Buffer.from('x'))).version).toBe(4);
        expect((await a.kms.decrypt(c, before[i]!.ciphertext)).plaintext.toString()).toBe('v1');
      }
    } finally {
      await a.kms.close();
      await b.kms.close();
      await db.drop();
    }
  }, 120_000);
});

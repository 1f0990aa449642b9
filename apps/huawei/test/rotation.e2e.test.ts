import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { backends, dbOf, openTestKms } from '@polykms/core/testing';
import { P1, P2, expectKmsError, world, type World } from './setup.ts';

const DAY_MS = 86_400_000;

/** Core's clock, moved by the test (tokens keep real time): no timers, no sleeps. */
function testClock() {
  let t = Date.now();
  return { now: () => new Date(t), advance: (ms: number) => (t += ms), ms: () => t };
}

describe.each(backends())('Huawei key rotation on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let w: World;
  const t: Record<'admin' | 'reader' | 'other', string> = { admin: '', reader: '', other: '' };
  const clock = testClock();

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend, { now: clock.now }));
    w = await world(kms);
    const mk = async (name: string, projects: unknown) => {
      const r = await w.admin('POST', '/admin/huawei/users', { domain: 'acme', name, password: `${name}-password`, projects });
      expect(r.status, JSON.stringify(r.json)).toBe(201);
    };
    await mk('admin', [{ id: P1, roles: ['KMS Administrator'] }]);
    await mk('reader', [{ id: P1, roles: ['KMS CMKReadOnlyAccess'] }]);
    await mk('other', [{ id: P2, roles: ['KMS Administrator'] }]);
    for (const n of ['admin', 'reader', 'other'] as const) t[n] = await w.token(n, `${n}-password`, n === 'other' ? P2 : P1);
  });
  afterAll(async () => {
    await w?.server.close();
    await kms?.close();
    await drop?.();
  });

  const ok = async (verb: string, body: unknown, token = t.admin) => {
    const r = await w.kms(token, verb, body);
    expect(r.status, `${verb}: ${r.text}`).toBe(200);
    return r.json;
  };
  const create = async (alias: string, key_spec = 'AES_256') =>
    (await ok('create-key', { key_alias: alias, key_spec })).key_info.key_id as string;
  const status = (key_id: string) => ok('get-key-rotation-status', { key_id });

  it('rotates an enabled key when its interval has passed, once; old ciphertext still decrypts', async () => {
    const id = await create('scheduled');
    const old = await ok('encrypt-data', { key_id: id, plain_text: 'before' });
    expect(await status(id)).toEqual({
      key_rotation_enabled: false,
      rotation_interval: 365,
      last_rotation_time: '',
      number_of_rotations: 0,
    });
    // OTC clients send rotation_interval 0 with enable: ignored, the default 365 days stands.
    expect(await ok('enable-key-rotation', { key_id: id, rotation_interval: 0 })).toEqual({});
    expect(await ok('update-key-rotation-interval', { key_id: id, rotation_interval: 30 })).toEqual({});
    expect((await ok('describe-key', { key_id: id })).key_info.key_rotation_enabled).toBe('true');

    clock.advance(30 * DAY_MS - 1000);
    expect(await kms.rotations.sweep()).toBe(0);
    expect((await status(id)).number_of_rotations).toBe(0);
    clock.advance(1000);
    expect(await kms.rotations.sweep()).toBe(1);
    expect(await kms.rotations.sweep()).toBe(0);
    expect(await status(id)).toEqual({
      key_rotation_enabled: true,
      rotation_interval: 30,
      last_rotation_time: String(clock.ms()),
      number_of_rotations: 1,
    });
    expect((await ok('decrypt-data', { cipher_text: old.cipher_text })).plain_text).toBe('before');
    const fresh = await ok('encrypt-data', { key_id: id, plain_text: 'after' });
    expect((await ok('decrypt-data', { cipher_text: fresh.cipher_text })).plain_text).toBe('after');
    const audited = await dbOf(kms)
      .selectFrom('audit_events')
      .select(['principal', 'outcome'])
      .where('key_id', '=', id)
      .where('action', '=', 'key.rotate')
      .execute();
    expect(audited).toEqual([{ principal: 'system:rotation-scheduler', outcome: 'allowed' }]);

    // Disabled again: the interval stays, nothing rotates.
    expect(await ok('disable-key-rotation', { key_id: id })).toEqual({});
    clock.advance(60 * DAY_MS);
    expect(await kms.rotations.sweep()).toBe(0);
    expect(await status(id)).toMatchObject({ key_rotation_enabled: false, rotation_interval: 30, number_of_rotations: 1 });
    expect((await ok('describe-key', { key_id: id })).key_info.key_rotation_enabled).toBe('false');
  });

  it('does not rotate a disabled key or one pending deletion', async () => {
    const disabled = await create('rot-disabled');
    const pending = await create('rot-pending');
    for (const id of [disabled, pending]) await ok('enable-key-rotation', { key_id: id });
    await ok('disable-key', { key_id: disabled });
    await ok('schedule-key-deletion', { key_id: pending, pending_days: '7' });
    clock.advance(366 * DAY_MS);
    await kms.rotations.sweep();
    for (const id of [disabled, pending]) expect((await status(id)).number_of_rotations).toBe(0);
    // A key pending deletion takes no rotation change, and no rotation on demand.
    expectKmsError(await w.kms(t.admin, 'update-key-rotation-interval', { key_id: pending, rotation_interval: 30 }), 400, 'KMS.0210');
    expectKmsError(await w.kms(t.admin, 'rotate-on-demand', { key_id: pending }), 400, 'KMS.0210');
    expectKmsError(await w.kms(t.admin, 'rotate-on-demand', { key_id: disabled }), 400, 'KMS.0209');
    // Enabled again, it is overdue: the next sweep rotates it.
    await ok('enable-key', { key_id: disabled });
    expect(await kms.rotations.sweep()).toBe(1);
    expect((await status(disabled)).number_of_rotations).toBe(1);
  });

  it('rotate-on-demand makes a new version now and restarts the interval', async () => {
    const id = await create('on-demand');
    const old = await ok('encrypt-data', { key_id: id, plain_text: 'v1' });
    await ok('enable-key-rotation', { key_id: id });
    await ok('update-key-rotation-interval', { key_id: id, rotation_interval: '60' });
    clock.advance(50 * DAY_MS);
    expect(await ok('rotate-on-demand', { key_id: id })).toEqual({ key_id: id });
    const at = clock.ms();
    expect(await status(id)).toMatchObject({ last_rotation_time: String(at), number_of_rotations: 1 });
    clock.advance(59 * DAY_MS);
    await kms.rotations.sweep();
    expect((await status(id)).number_of_rotations).toBe(1);
    clock.advance(DAY_MS);
    await kms.rotations.sweep();
    expect((await status(id)).number_of_rotations).toBe(2);
    expect((await ok('decrypt-data', { cipher_text: old.cipher_text })).plain_text).toBe('v1');
  });

  it('refuses keys Huawei does not rotate, bad intervals, read-only roles and other projects', async () => {
    const aes = await create('rot-refusals');
    for (const [spec, code] of [
      ['RSA_2048', 'KMS.0324'],
      ['EC_P256', 'KMS.0325'],
      ['HMAC_256', 'KMS.0341'],
      ['ED25519', 'KMS.0325'],
      ['SECP256K1', 'KMS.0325'],
    ] as const) {
      const id = await create(`rot-${spec}`, spec);
      for (const verb of ['enable-key-rotation', 'disable-key-rotation', 'rotate-on-demand'])
        expectKmsError(await w.kms(t.admin, verb, { key_id: id }), 400, code);
      expectKmsError(await w.kms(t.admin, 'update-key-rotation-interval', { key_id: id, rotation_interval: 30 }), 400, code);
    }
    for (const bad of [29, 366, '1x', 30.5])
      expectKmsError(await w.kms(t.admin, 'update-key-rotation-interval', { key_id: aes, rotation_interval: bad }), 400, 'KMS.3001');
    expectKmsError(await w.kms(t.admin, 'enable-key-rotation', {}), 400, 'KMS.0204');
    expectKmsError(await w.kms(t.admin, 'enable-key-rotation', { key_id: '00000000-0000-0000-0000-000000000000' }), 404, 'KMS.0207');
    for (const verb of ['enable-key-rotation', 'disable-key-rotation', 'rotate-on-demand'])
      expectKmsError(await w.kms(t.reader, verb, { key_id: aes }), 403, 'KMS.0306');
    expect((await status(aes)).key_rotation_enabled).toBe(false);
    expect((await ok('get-key-rotation-status', { key_id: aes }, t.reader)).rotation_interval).toBe(365);
    expectKmsError(await w.kms(t.other, 'enable-key-rotation', { key_id: aes }, P2), 404, 'KMS.0207');
    expectKmsError(await w.kms(t.other, 'get-key-rotation-status', { key_id: aes }, P2), 404, 'KMS.0207');
  });
});

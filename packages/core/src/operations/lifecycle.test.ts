import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants, dbOf } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('lifecycle on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

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
    const versions = await dbOf(kms).selectFrom('key_versions').selectAll().where('key_id', '=', k.id).execute();
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

  it('does not delete a key that was never deactivated, even pre-active', async () => {
    const k = await kms.createKey(alice, { name: 'pre', spec: { kind: 'oct', size: 256 }, initialState: 'pre_active' });
    await expectKind(kms.destroy(alice, k.id), 'failed_precondition');
    await expectKind(kms.scheduleDeletion(alice, k.id, 7), 'failed_precondition');
  });
});

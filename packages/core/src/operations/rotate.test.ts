import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '../kms.ts';
import { backends, twoTenants } from '../testing.ts';
import { expectKind } from '../test-expect.ts';

describe.each(backends())('rotate on %s', (backend) => {
  let kms: Kms, alice: Caller, close: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, alice, close } = await twoTenants(backend));
  });
  afterAll(() => close?.());

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
});

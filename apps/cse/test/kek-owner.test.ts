import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from '@polykms/core';
import { backends, openTestKms } from '@polykms/core/testing';
import { parseCseConfig } from '../src/index.ts';
import { tenantExternalId } from '../src/config.ts';
import { CseInstance } from '../src/instance.ts';
import { kekIdBeforeOwners } from '../src/store.ts';
import { baseConfig, tempDir, testIssuers } from './helpers.ts';

// A store from before keys had owners: the KEK is an ordinary key at the id derived from its tenant.
describe.each(backends())('the KEK made before keys had owners, on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it("is claimed by the cse dialect at its old id, so old wrapped keys keep opening; a look-alike elsewhere stays the customer's", async () => {
    const config = parseCseConfig(baseConfig('https://kacls.example/v1', await testIssuers(tempDir())));
    const instance = new CseInstance(kms, config);
    const tenantId = (await kms.tenants.resolve('cse', tenantExternalId(config), { create: true }))!;
    const as = (t: string, dialect: string): Caller => ({ tenantId: t, dialect, principal: 'test' });
    const oldId = kekIdBeforeOwners(tenantId);
    const old = await kms.createKey(as(tenantId, 'test'), {
      id: oldId,
      name: 'google-cse-kek',
      spec: { kind: 'oct', size: 256 },
      ops: ['encrypt', 'decrypt'],
    });
    const wrapped = await kms.encrypt(as(tenantId, 'test'), old.id, Buffer.from('dek'));
    const other = (await kms.tenants.create('other')).id;
    const lookalike = await kms.createKey(as(other, 'ovh'), {
      id: kekIdBeforeOwners(other),
      name: 'google-cse-kek',
      spec: { kind: 'oct', size: 256 },
    });
    // Not the derived id of its tenant: never claimed.
    const stray = await kms.createKey(as(tenantId, 'ovh'), {
      name: 'google-cse-kek',
      spec: { kind: 'oct', size: 256 },
    });

    const state = await instance.state();
    expect(state.tenantId).toBe(tenantId);
    expect(state.kekId).toBe(oldId);
    expect((await kms.decrypt(as(tenantId, 'cse'), wrapped.ciphertext)).plaintext.toString()).toBe('dek');
    await expect(kms.getKey(as(tenantId, 'ovh'), oldId)).rejects.toMatchObject({ kind: 'not_found' });
    expect((await kms.getKey(as(other, 'ovh'), lookalike.id)).owner).toBeNull();
    expect((await kms.getKey(as(tenantId, 'ovh'), stray.id)).owner).toBeNull();
  });
});

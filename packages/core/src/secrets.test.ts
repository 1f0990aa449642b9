import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Caller, Kms } from './kms.ts';
import { backends, openTestKms, dbOf } from './testing.ts';
import { expectKind } from './test-expect.ts';

describe.each(backends())('secrets on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let _alice: Caller;
  let _bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t1 = await kms.tenants.create('alice');
    const t2 = await kms.tenants.create('bob');
    _alice = { tenantId: t1.id, dialect: 'test', principal: 'alice-admin', requestId: 'req-1' };
    _bob = { tenantId: t2.id, dialect: 'test', principal: 'bob-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('seals the gateway secrets under the root key', async () => {
    await kms.secrets.put('s/1', Buffer.from('one'));
    expect((await kms.secrets.get('s/1'))!.toString()).toBe('one');
    const row = await dbOf(kms).selectFrom('sealed_secrets').selectAll().where('id', '=', 's/1').executeTakeFirstOrThrow();
    expect(Buffer.from(row.sealed).includes(Buffer.from('one'))).toBe(false);
    await dbOf(kms).updateTable('sealed_secrets').set({ id: 's/2' }).where('id', '=', 's/1').execute();
    await expectKind(kms.secrets.get('s/2'), 'internal', /does not authenticate/);
    expect(await kms.secrets.get('s/1')).toBeUndefined();
  });
});

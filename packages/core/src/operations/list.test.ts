
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsError } from '../errors.ts';
import type { Caller, Kms } from '../kms.ts';
import { backends, openTestKms, } from '../testing.ts';


const expectKind = async (p: Promise<unknown>, kind: KmsError['kind'], msg?: RegExp) => {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e, 'expected a KmsError').toBeInstanceOf(KmsError);
  expect((e as KmsError).kind).toBe(kind);
  if (msg) expect((e as KmsError).message).toMatch(msg);
};


describe.each(backends())('list on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let alice: Caller;
  let bob: Caller;

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    const t1 = await kms.tenants.create('alice');
    const t2 = await kms.tenants.create('bob');
    alice = { tenantId: t1.id, dialect: 'test', principal: 'alice-admin', requestId: 'req-1' };
    bob = { tenantId: t2.id, dialect: 'test', principal: 'bob-admin' };
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('lists with keyset pagination and state filters', async () => {
    const t = await kms.tenants.create('pager');
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
});

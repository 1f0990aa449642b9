import { describe, expect, it } from 'vitest';
import { PgliteThread } from './pglite-thread.ts';

describe('PgliteThread', () => {
  it('answers queries, keeps SQLSTATE codes, gives bytes back as Buffers, and survives a value that cannot cross', async () => {
    const t = new PgliteThread(undefined);
    await t.waitReady;
    await t.query('create table t (id int primary key, b bytea)');
    const pooled = Buffer.from('abc');
    await t.query('insert into t values ($1, $2)', [1, pooled]);
    const r = await t.query('select b from t where id = $1', [1]);
    expect(Buffer.isBuffer(r.rows[0]!.b)).toBe(true);
    expect(r.rows[0]!.b).toEqual(Buffer.from('abc'));
    await expect(t.query('insert into t values ($1, null)', [1])).rejects.toMatchObject({
      code: '23505',
      constraint: 't_pkey',
    });
    await expect(t.query('select $1', [() => 1])).rejects.toThrow();
    expect((await t.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
    await t.close();
  });

  it('reports a thread that dies under it, and fails what follows as unavailable', async () => {
    const deaths: Error[] = [];
    const t = new PgliteThread(undefined, (e) => deaths.push(e));
    await t.waitReady;
    await (t as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate();
    await new Promise((r) => setTimeout(r, 50));
    expect(deaths).toHaveLength(1);
    await expect(t.query('select 1')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await t.close();
    expect(deaths).toHaveLength(1);
  });

  it('a deliberate close is not a death', async () => {
    const deaths: Error[] = [];
    const t = new PgliteThread(undefined, (e) => deaths.push(e));
    await t.waitReady;
    await t.close();
    await new Promise((r) => setTimeout(r, 50));
    expect(deaths).toEqual([]);
  });
});

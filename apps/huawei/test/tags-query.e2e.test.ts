/**
 * ListKmsByTags (`POST /v1.0/{project_id}/kms/resource_instances/action`): the keys whose tags match,
 * as Huawei's Terraform data sources and console query them, paged, or their count.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { P1, P2, expectKmsError, openWorld, type World } from './setup.ts';

describe('list-kms-by-tags', () => {
  let w: World;
  let close: () => Promise<void>;
  let admin: string;
  let other: string;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    ({ w, close } = await openWorld('pglite'));
    await w.user('admin', [{ id: P1, roles: ['KMS Administrator'] }]);
    await w.user('other', [{ id: P2, roles: ['KMS Administrator'] }]);
    admin = await w.token('admin', 'admin-password', P1);
    other = await w.token('other', 'other-password', P2);
    const tagged: [string, Record<string, string>][] = [
      ['web-prod', { env: 'prod', team: 'web' }],
      ['web-dev', { env: 'dev', team: 'web' }],
      ['db-prod', { env: 'prod', team: 'db' }],
      ['untagged', {}],
    ];
    for (const [alias, tags] of tagged) {
      ids[alias] = (await w.kms(admin, 'create-key', { key_alias: alias })).json.key_info.key_id;
      const list = Object.entries(tags).map(([key, value]) => ({ key, value }));
      if (list.length) expect((await w.kms(admin, `${ids[alias]}/tags/action`, { action: 'create', tags: list })).status).toBe(204);
    }
    // Another project's key with the same tags is never seen.
    const foreign = (await w.kms(other, 'create-key', { key_alias: 'web-prod' }, P2)).json.key_info.key_id;
    await w.kms(other, `${foreign}/tags`, { tag: { key: 'env', value: 'prod' } }, P2);
  });
  afterAll(() => close?.());

  const query = (body: unknown, token = admin, project = P1) => w.kms(token, 'resource_instances/action', body, project);
  const names = (r: { json: any }) => (r.json.resources as { resource_name: string }[]).map((x) => x.resource_name).sort();

  it('filters: AND across tag keys, OR across a key values, an empty values list for any value, matches on the name', async () => {
    const prod = await query({ action: 'filter', tags: [{ key: 'env', values: ['prod'] }] });
    expect(prod.status, prod.text).toBe(200);
    expect(names(prod)).toEqual(['db-prod', 'web-prod']);
    expect(prod.json.total_count).toBe(2);
    const r = prod.json.resources.find((x: any) => x.resource_name === 'web-prod');
    expect(r.resource_id).toBe(ids['web-prod']);
    expect(r.resource_detail).toMatchObject({ key_id: ids['web-prod'], key_alias: 'web-prod', key_state: '2' });
    expect(r.tags).toEqual(
      expect.arrayContaining([
        { key: 'env', value: 'prod' },
        { key: 'team', value: 'web' },
      ]),
    );
    expect(names(await query({ action: 'filter', tags: [{ key: 'env', values: ['prod', 'dev'] }] }))).toEqual([
      'db-prod',
      'web-dev',
      'web-prod',
    ]);
    expect(
      names(
        await query({
          action: 'filter',
          tags: [
            { key: 'env', values: ['prod'] },
            { key: 'team', values: ['web'] },
          ],
        }),
      ),
    ).toEqual(['web-prod']);
    expect(names(await query({ action: 'filter', tags: [{ key: 'team', values: [] }] }))).toEqual(['db-prod', 'web-dev', 'web-prod']);
    expect(names(await query({ action: 'filter', matches: [{ key: 'resource_name', value: 'web' }] }))).toEqual(['web-dev', 'web-prod']);
    expect(names(await query({ action: 'filter', tags: [{ key: 'env', values: ['staging'] }] }))).toEqual([]);
  });

  it('counts, and pages with limit and offset (string or number)', async () => {
    const count = await query({ action: 'count', tags: [{ key: 'team', values: [] }] });
    expect(count.status).toBe(200);
    expect(count.json).toEqual({ total_count: 3 });
    const all = names(await query({ action: 'filter', limit: '1000' }));
    expect(all).toEqual(['db-prod', 'untagged', 'web-dev', 'web-prod']);
    const first = await query({ action: 'filter', limit: 2, offset: 0 });
    const rest = await query({ action: 'filter', limit: '2', offset: '2' });
    expect(first.json.total_count).toBe(4);
    expect([...names(first), ...names(rest)].sort()).toEqual(all);
  });

  it('refuses bad input in Huawei body, and another project sees only its own keys', async () => {
    expectKmsError(await query({ action: 'filter', limit: 0 }), 400, 'KMS.1601');
    expectKmsError(await query({ action: 'filter', limit: 1001 }), 400, 'KMS.1601');
    expectKmsError(await query({ action: 'filter', offset: -1 }), 400, 'KMS.1602');
    expect((await query({ action: 'list' })).status).toBe(400);
    expect((await query({ action: 'filter', tags: [{ key: 'a=b', values: [] }] })).status).toBe(400);
    const theirs = await query({ action: 'filter', tags: [{ key: 'env', values: ['prod'] }] }, other, P2);
    expect(theirs.json.total_count).toBe(1);
    expectKmsError(await query({ action: 'count' }, other, P1), 403, 'KMS.0321');
  });
});

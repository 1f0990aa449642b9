/**
 * Huawei KMS tags (huawei-kms.md §2.8): CreateKmsTag, BatchCreateKmsTags (tags/action), DeleteTag,
 * ShowKmsTags, ListKmsTags, ListKmsByTags (resource_instances/action). Tags are a key attribute; writes
 * answer 204.
 */
import type { KeyRecord, Kms } from '@polykms/core';
import { body, caller, requireAction, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';
import { keyDetails } from '../mapper.ts';
import { allKeys } from './keys.ts';

export const MAX_TAGS = 10;
// No ASCII control characters, nor * < > \ = (CreateKmsTag).
const BAD = /[\x00-\x1f*<>\\=]/;

const tagsOf = (k: KeyRecord): Record<string, string> => (k.attributes.tags ?? {}) as Record<string, string>;

function checkTag(key: string, value: string | undefined) {
  if (!key.trim() || BAD.test(key))
    throw new HuaweiError('0406', 'A tag key is 1 to 36 characters without control characters or * < > \\ =.');
  if (value !== undefined && BAD.test(value))
    throw new HuaweiError('0405', 'A tag value is at most 43 characters without control characters or * < > \\ =.');
}

export function tagRoutes(kms: Kms, route: Route) {
  const keyIdOf = (c: HuaweiContext) => {
    const id = c.req.param('key_id' as never) as string;
    if (!/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(id)) throw new HuaweiError('0205');
    return id.toLowerCase();
  };
  const live = async (c: HuaweiContext, id: string) => {
    const k = await kms.getKey(caller(c), id);
    if (k.state === 'destroyed') throw new HuaweiError('0207');
    return k;
  };
  const save = (c: HuaweiContext, id: string, tags: Record<string, string>) => kms.updateKey(caller(c), id, { attributes: { tags } });

  route('get', '/tags', async (c) => {
    const all = new Map<string, Set<string>>();
    let cursor: string | undefined;
    do {
      const page = await kms.listKeys(caller(c), { limit: 1000, cursor });
      for (const k of page.keys)
        if (k.state !== 'destroyed') for (const [t, v] of Object.entries(tagsOf(k))) (all.get(t) ?? all.set(t, new Set()).get(t)!).add(v);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return c.json({ tags: [...all].map(([key, values]) => ({ key, values: [...values] })) });
  });

  route('get', '/:key_id/tags', async (c) => {
    const tags = Object.entries(tagsOf(await live(c, keyIdOf(c)))).map(([key, value]) => ({ key, value }));
    return c.json({ tags, existTagsNum: tags.length });
  });

  route('post', '/:key_id/tags', async (c) => {
    const id = keyIdOf(c);
    const req = body(c, S.AddTag);
    requireAction(c, 'key.update');
    checkTag(req.tag.key, req.tag.value);
    const tags = { ...tagsOf(await live(c, id)), [req.tag.key]: req.tag.value };
    if (Object.keys(tags).length > MAX_TAGS) throw new HuaweiError('0409', `A key has at most ${MAX_TAGS} tags.`);
    await save(c, id, tags);
    return c.body(null, 204);
  });

  route('post', '/:key_id/tags/action', async (c) => {
    const id = keyIdOf(c);
    const req = body(c, S.TagsAction);
    requireAction(c, 'key.update');
    if (!req.tags.length) throw new HuaweiError('0401');
    const tags = { ...tagsOf(await live(c, id)) };
    for (const t of req.tags) {
      checkTag(t.key, t.value);
      if (req.action === 'create') {
        if (t.value === undefined) throw new HuaweiError('0405', `tag ${t.key} needs a value.`);
        tags[t.key] = t.value;
      } else if (t.value === undefined || tags[t.key] === t.value) delete tags[t.key];
    }
    if (Object.keys(tags).length > MAX_TAGS) throw new HuaweiError('0409', `A key has at most ${MAX_TAGS} tags.`);
    await save(c, id, tags);
    return c.body(null, 204);
  });

  route('delete', '/:key_id/tags/:tag_key', async (c) => {
    const id = keyIdOf(c);
    const tagKey = c.req.param('tag_key' as never) as string;
    requireAction(c, 'key.update');
    const tags = { ...tagsOf(await live(c, id)) };
    if (!Object.hasOwn(tags, tagKey)) throw new HuaweiError('0416', `The key has no tag ${tagKey}.`);
    delete tags[tagKey];
    await save(c, id, tags);
    return c.body(null, 204);
  });

  route('post', '/resource_instances/action', async (c) => {
    const req = body(c, S.ResourceInstances);
    const limit = req.limit === undefined ? 10 : S.intOf(req.limit, '1601', 'limit');
    if (limit < 1 || limit > 1000) throw new HuaweiError('1601', 'limit is 1 to 1000.');
    const offset = req.offset === undefined || req.offset === '' ? 0 : S.intOf(req.offset, '1602', 'offset');
    if (offset < 0) throw new HuaweiError('1602', 'offset must be greater than or equal to 0.');
    for (const t of req.tags ?? []) for (const v of ['', ...t.values]) checkTag(t.key, v);
    const name = req.matches?.[0]?.value;
    const matching = (await allKeys(kms, c)).filter((k) => {
      const tags = tagsOf(k);
      const tagged = (req.tags ?? []).every((t) => t.key in tags && (!t.values.length || t.values.includes(tags[t.key]!)));
      return tagged && (name === undefined || (k.alias ?? k.name).includes(name));
    });
    if (req.action === 'count') return c.json({ total_count: matching.length });
    return c.json({
      resources: matching.slice(offset, offset + limit).map((k) => ({
        resource_id: k.id,
        resource_detail: keyDetails(k),
        resource_name: k.alias ?? k.name,
        tags: Object.entries(tagsOf(k)).map(([key, value]) => ({ key, value })),
      })),
      total_count: matching.length,
    });
  });
}

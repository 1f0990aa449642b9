/**
 * Huawei KMS aliases (huawei-kms.md §2.9): CreateAlias (POST /kms/aliases), ListAliases (GET
 * /kms/aliases?key_id=&limit=&marker=), DeleteAlias (DELETE /kms/aliases with a JSON body),
 * AssociateAlias (POST /kms/alias/associate). Aliases are core's (operations/aliases.ts): any number per
 * key, unique per project, usable as `key_id` wherever Huawei takes an alias (app.ts `keyIdOf`).
 */
import type { AliasRecord, Kms } from '@polykms/core';
import { body, caller, type HuaweiContext, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

/** The alias entity; the URN names the project's region (its project name) and the account, as Huawei's do. */
function render(c: HuaweiContext, a: AliasRecord) {
  const id = c.get('identity');
  const region = id.user.projects.find((p) => p.id === id.projectId)?.name ?? id.projectId;
  return {
    domain_id: id.user.domainId,
    key_id: a.keyId,
    alias: a.name,
    alias_urn: `kms:${region}:${id.user.domainId}:alias:${a.name}`,
    create_time: String(a.createdAt.getTime()),
    update_time: String(a.updatedAt.getTime()),
  };
}

export function aliasRoutes(kms: Kms, route: Route) {
  route('post', '/aliases', async (c) => {
    const req = body(c, S.CreateAlias);
    return c.json(render(c, await kms.createAlias(caller(c), req.key_id, req.alias)));
  });

  route('get', '/aliases', async (c) => {
    const parsed = S.ListAliasesQuery.safeParse(c.req.query());
    if (!parsed.success) throw S.issueError(parsed.error, c.req.query());
    const q = parsed.data;
    const limit = q.limit === undefined || q.limit === '' ? 100 : S.intOf(q.limit, '1601', 'limit');
    if (limit < 1 || limit > 1000) throw new HuaweiError('1601', 'limit is 1 to 1000.');
    const r = await kms.listAliases(caller(c), { keyId: q.key_id, limit, after: q.marker });
    return c.json({
      aliases: r.aliases.map((a) => render(c, a)),
      page_info: { next_marker: r.next ?? '', current_count: r.aliases.length },
    });
  });

  route('delete', '/aliases', async (c) => {
    const req = body(c, S.DeleteAlias);
    await kms.deleteAliases(caller(c), req.key_id, req.aliases);
    return c.json({});
  });

  route('post', '/alias/associate', async (c) => {
    const req = body(c, S.AssociateAlias);
    return c.json(render(c, await kms.associateAlias(caller(c), req.alias, req.target_key_id)));
  });
}

/**
 * Huawei KMS grants (huawei-kms.md §2.7): CreateGrant, ListGrants, ListRetirableGrants,
 * CancelGrant (revoke-grant), CancelSelfGrant (retire-grant). Grants are core's (operations/grants.ts):
 * the grantee is `user:<id>` or `domain:<id>`, the operations are Huawei's verbs, and core allows a use of
 * the key the caller's roles refuse when a live grant lists the request's verb (app.ts `caller`).
 */
import type { GrantRecord, Kms } from '@polykms/core';
import { body, caller, type Route } from '../app.ts';
import { HuaweiError } from '../errors.ts';
import * as S from '../schemas.ts';

/** `user:<id>` / `domain:<id>` -> Huawei's principal and its type; the issuer may carry `/ak:<AK>`. */
const principalOf = (p: string | null) => {
  const m = /^(user|domain):([^/]*)/.exec(p ?? '');
  return m ? { type: m[1]!, id: m[2]! } : { type: '', id: '' };
};

const render = (g: GrantRecord) => ({
  key_id: g.keyId,
  grant_id: g.id,
  grantee_principal: principalOf(g.grantee).id,
  grantee_principal_type: principalOf(g.grantee).type,
  operations: g.operations,
  issuing_principal: principalOf(g.issuer).id,
  creation_date: String(g.createdAt.getTime()),
  name: g.name ?? '',
  retiring_principal: principalOf(g.retiring).id,
});

/** limit (1..1000, default 100) and marker (an offset), as list-keys takes them. */
function page(req: { limit?: string | number | undefined; marker?: string | number | undefined }) {
  const limit = req.limit === undefined || req.limit === '' ? 100 : S.intOf(req.limit, '1601', 'limit');
  if (limit < 1 || limit > 1000) throw new HuaweiError('1601', 'limit is 1 to 1000.');
  const offset = req.marker === undefined || req.marker === '' ? 0 : S.intOf(req.marker, '1602', 'marker');
  if (offset < 0) throw new HuaweiError('1602');
  return { limit, offset };
}

const listed = (r: { grants: GrantRecord[]; total: number }, p: { offset: number }) => {
  const truncated = p.offset + r.grants.length < r.total;
  return {
    grants: r.grants.map(render),
    next_marker: truncated ? String(p.offset + r.grants.length) : '',
    truncated: truncated ? 'true' : 'false',
    total: r.total,
  };
};

export function grantRoutes(kms: Kms, route: Route) {
  route('post', '/create-grant', async (c) => {
    const req = body(c, S.CreateGrant);
    const operations = [...new Set(req.operations)];
    if (operations.every((o) => o === 'create-grant')) throw new HuaweiError('2401');
    const g = await kms.createGrant(caller(c), req.key_id, {
      grantee: `${req.grantee_principal_type ?? 'user'}:${req.grantee_principal}`,
      operations,
      name: req.name,
      retiring: req.retiring_principal === undefined ? undefined : `user:${req.retiring_principal}`,
    });
    return c.json({ grant_id: g.id });
  });

  route('post', '/list-grants', async (c) => {
    const req = body(c, S.ListGrants);
    const p = page(req);
    return c.json(listed(await kms.listGrants(caller(c), req.key_id, p), p));
  });

  route('post', '/list-retirable-grants', async (c) => {
    const req = body(c, S.ListRetirableGrants);
    const p = page(req);
    return c.json(listed(await kms.listRetirableGrants(caller(c), p), p));
  });

  route('post', '/revoke-grant', async (c) => {
    const req = body(c, S.GrantOnly);
    await kms.revokeGrant(caller(c), req.key_id, req.grant_id);
    return c.json({});
  });

  route('post', '/retire-grant', async (c) => {
    const req = body(c, S.GrantOnly);
    await kms.retireGrant(caller(c), req.key_id, req.grant_id);
    return c.json({});
  });
}

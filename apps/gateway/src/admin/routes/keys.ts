/**
 * A tenant's keys, through core with the console's own caller: the same state rules and audit events
 * as any dialect's.
 *
 *   GET    /admin/tenants/{tenant}/keys?limit=&cursor=&state=&type=&search=  keyset pages
 *   POST   /admin/tenants/{tenant}/keys                      {name, description?, type, size|curve, operations?}
 *   GET    /admin/tenants/{tenant}/keys/{key}
 *   PATCH  /admin/tenants/{tenant}/keys/{key}                {name?, description?}
 *   POST   /admin/tenants/{tenant}/keys/{key}/activate
 *   POST   /admin/tenants/{tenant}/keys/{key}/deactivate     {reason?}
 *   POST   /admin/tenants/{tenant}/keys/{key}/schedule-deletion  {pendingDays}
 *   POST   /admin/tenants/{tenant}/keys/{key}/cancel-deletion
 *   DELETE /admin/tenants/{tenant}/keys/{key}                destroys the material now; only a deactivated key
 */
import type { Hono } from 'hono';
import { isUuid, notFound, type Kms } from '@polykms/core';
import { CreateKey, Deactivate, Empty, ListKeys, ScheduleDeletion, UpdateKey } from '../schemas.ts';
import { body, caller, parse, renderKey, type AdminContext, type AdminEnv } from '../request.ts';

export function keyRoutes(app: Hono<AdminEnv>, kms: Kms) {
  app.get('/admin/tenants/:tenant/keys', async (c) => {
    const q = parse(ListKeys, c.req.query());
    const page = await kms.listKeys(caller(c), {
      limit: q.limit ?? 50,
      cursor: q.cursor,
      states: q.state ? [q.state] : undefined,
      kinds: q.type ? [q.type] : undefined,
      search: q.search,
    });
    return c.json({ keys: page.keys.map(renderKey), nextCursor: page.nextCursor });
  });
  app.post('/admin/tenants/:tenant/keys', async (c) => {
    const req = await body(c, CreateKey);
    const spec = req.type === 'EC' ? { kind: 'EC' as const, curve: req.curve } : { kind: req.type, size: req.size };
    const key = await kms.createKey(caller(c), {
      name: req.name,
      description: req.description,
      spec,
      ops: req.operations,
    });
    return c.json(renderKey(key), 201);
  });

  const keyId = (c: AdminContext) => {
    const id = c.req.param('key') ?? '';
    if (!isUuid(id)) throw notFound();
    return id.toLowerCase();
  };
  app.get('/admin/tenants/:tenant/keys/:key', async (c) => c.json(renderKey(await kms.getKey(caller(c), keyId(c)))));
  app.patch('/admin/tenants/:tenant/keys/:key', async (c) => {
    const id = keyId(c);
    const req = await body(c, UpdateKey);
    return c.json(renderKey(await kms.updateKey(caller(c), id, req)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/activate', async (c) => {
    const id = keyId(c);
    await body(c, Empty, true);
    return c.json(renderKey(await kms.activate(caller(c), id)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/deactivate', async (c) => {
    const id = keyId(c);
    const req = await body(c, Deactivate, true);
    return c.json(renderKey(await kms.deactivate(caller(c), id, req.reason ?? 'unspecified')));
  });
  app.post('/admin/tenants/:tenant/keys/:key/schedule-deletion', async (c) => {
    const id = keyId(c);
    const req = await body(c, ScheduleDeletion);
    return c.json(renderKey(await kms.scheduleDeletion(caller(c), id, req.pendingDays)));
  });
  app.post('/admin/tenants/:tenant/keys/:key/cancel-deletion', async (c) => {
    const id = keyId(c);
    await body(c, Empty, true);
    return c.json(renderKey(await kms.cancelDeletion(caller(c), id)));
  });
  /**
   * Deleting from the console destroys the material at once, and only for a key already taken out of
   * service (deactivated, compromised or pending deletion): an active key is refused with 409, so a
   * single click can never make data unrecoverable. The metadata row stays, for audit.
   */
  app.delete('/admin/tenants/:tenant/keys/:key', async (c) => {
    const key = await kms.destroy(caller(c), keyId(c));
    return c.json({
      ...renderKey(key),
      message: 'the key material is destroyed; data encrypted with this key can no longer be decrypted',
    });
  });
}

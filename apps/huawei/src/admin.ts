/**
 * The operator's side of Huawei IAM, on the gateway's admin port (the gateway puts it behind the
 * admin token): users with roles per project, their access keys, projects, roles.
 *   POST   /admin/huawei/users                      {domain, name, password, projects: [{id, name?, roles}], enabled?}
 *   GET    /admin/huawei/users[?domain=]            GET/PATCH/DELETE /admin/huawei/users/{id}
 *   POST   /admin/huawei/users/{id}/revoke-tokens   (every token of the user ends; so do a new password and a disable)
 *   POST   /admin/huawei/users/{id}/access-keys     -> {access, secret} (the secret is shown once)
 *   GET    /admin/huawei/users/{id}/access-keys     DELETE /admin/huawei/users/{id}/access-keys/{access}
 *   GET    /admin/huawei/projects                   POST /admin/huawei/projects {id}
 *   GET    /admin/huawei/roles
 * Errors are `{message}` with a 4xx status.
 */
import { Hono } from 'hono';
import { z } from 'zod';
import { toKmsError, type Kms } from '@polykms/core';
import { IAM_TOPIC, ROLES, hashPassword, newAccessKey, newId, secretId, toUser, type HuaweiUser, type ProjectRoles } from './iam.ts';
import { huaweiDb } from './store.ts';
import { handleErrors, STATUS_OF_KIND } from '@polykms/http';

const PROJECT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const roleName = z.string().refine((r) => r in ROLES, { message: `unknown role; roles are ${Object.keys(ROLES).join(', ')}` });
const Project = z.strictObject({
  id: z.string().regex(PROJECT_ID, { message: 'a project id is 1-64 letters, digits, - or _' }),
  name: z.string().min(1).max(64).optional(),
  roles: z.array(roleName).min(1).max(16),
});
const Projects = z
  .array(Project)
  .max(100)
  .refine((ps) => new Set(ps.map((p) => p.id)).size === ps.length, { message: 'a project is listed twice' });
const CreateUser = z.strictObject({
  domain: z.string().min(1).max(64),
  name: z.string().min(1).max(64),
  password: z.string().min(8, { message: 'a password is at least 8 characters' }).max(128),
  projects: Projects,
  enabled: z.boolean().optional(),
});
const UpdateUser = z.strictObject({
  password: CreateUser.shape.password.optional(),
  projects: Projects.optional(),
  enabled: z.boolean().optional(),
});
const CreateProject = z.strictObject({
  id: z.string().regex(PROJECT_ID, { message: 'a project id is 1-64 letters, digits, - or _' }),
});
const CreateAccessKey = z.strictObject({ description: z.string().max(255).optional() });

class AdminError extends Error {
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

const publicUser = (u: HuaweiUser) => ({
  id: u.id,
  name: u.name,
  domain: { id: u.domainId, name: u.domainName },
  projects: u.projects,
  enabled: u.enabled,
  created_at: u.createdAt.toISOString(),
  updated_at: u.updatedAt.toISOString(),
});

export function huaweiAdminApp(kms: Kms) {
  const app = new Hono();
  // The admin port's one mapping (STATUS_OF_KIND), in its `{message}` body.
  handleErrors(
    app,
    'huawei admin',
    (e) => {
      if (e instanceof AdminError) return { status: e.status, body: { message: e.message } };
      const k = toKmsError(e);
      return { status: STATUS_OF_KIND[k.kind], body: { message: k.message } };
    },
    kms.log,
  );
  const json = async <S extends z.ZodType>(req: Request, schema: S): Promise<z.infer<S>> => {
    let data: unknown;
    try {
      const text = await req.text();
      data = text === '' ? {} : JSON.parse(text);
    } catch {
      throw new AdminError(400, 'the body is not valid JSON');
    }
    const r = schema.safeParse(data);
    if (!r.success)
      throw new AdminError(
        400,
        r.error.issues
          .map((i) =>
            i.code === 'unrecognized_keys' ? `unknown field(s) ${i.keys.join(', ')}` : `${i.path.join('.') || 'body'}: ${i.message}`,
          )
          .join('; '),
      );
    return r.data;
  };
  const userRow = async (id: string) => {
    const r = await (await huaweiDb(kms)).selectFrom('huawei_users').selectAll().where('id', '=', id).executeTakeFirst();
    if (!r) throw new AdminError(404, `user ${id} not found`);
    return toUser(r);
  };
  const changed = async (action: string, details: Record<string, unknown>) => {
    await kms.publish(IAM_TOPIC, action);
    await kms.audit.record({
      at: new Date(),
      tenantId: null,
      dialect: 'huawei',
      principal: 'admin',
      action,
      keyId: null,
      outcome: 'allowed',
      details,
    });
  };
  /** A project id seen for the first time becomes a tenant. */
  const withProjects = async (ps: z.infer<typeof Projects>): Promise<ProjectRoles[]> => {
    for (const p of ps) await kms.tenants.resolve('huawei', p.id, { create: true });
    return ps.map((p) => ({ id: p.id, name: p.name ?? p.id, roles: [...new Set(p.roles)] }));
  };

  app.post('/admin/huawei/users', async (c) => {
    const req = await json(c.req.raw, CreateUser);
    const projects = await withProjects(req.projects);
    const sameDomain = await (await huaweiDb(kms))
      .selectFrom('huawei_users')
      .select('domain_id')
      .where('domain_name', '=', req.domain)
      .executeTakeFirst();
    const now = new Date();
    const row = await (await huaweiDb(kms))
      .insertInto('huawei_users')
      .values({
        id: newId(),
        domain_id: sameDomain?.domain_id ?? newId(),
        domain_name: req.domain,
        name: req.name,
        password_hash: await hashPassword(req.password),
        projects: JSON.stringify(projects),
        enabled: req.enabled ?? true,
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['domain_name', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (!row) throw new AdminError(409, `a user named '${req.name}' already exists in domain '${req.domain}'`);
    await changed('huawei.user.create', { userId: row.id, domain: req.domain, name: req.name });
    return c.json(publicUser(toUser(row)), 201);
  });

  app.get('/admin/huawei/users', async (c) => {
    let q = (await huaweiDb(kms)).selectFrom('huawei_users').selectAll().orderBy('created_at').orderBy('id');
    const domain = c.req.query('domain');
    if (domain) q = q.where('domain_name', '=', domain);
    return c.json((await q.execute()).map((r) => publicUser(toUser(r))));
  });

  app.get('/admin/huawei/users/:id', async (c) => c.json(publicUser(await userRow(c.req.param('id')))));

  app.patch('/admin/huawei/users/:id', async (c) => {
    const u = await userRow(c.req.param('id'));
    const req = await json(c.req.raw, UpdateUser);
    const changes = {
      ...(req.password !== undefined ? { password_hash: await hashPassword(req.password) } : {}),
      ...(req.projects !== undefined ? { projects: JSON.stringify(await withProjects(req.projects)) } : {}),
      ...(req.enabled !== undefined ? { enabled: req.enabled } : {}),
      updated_at: new Date(),
    };
    const row = await (await huaweiDb(kms))
      .updateTable('huawei_users')
      .set((eb) => ({
        ...changes,
        // A new password or a disable ends every token issued before it (re-enabling brings none back).
        ...(req.password !== undefined || req.enabled === false ? { token_epoch: eb('token_epoch', '+', 1) } : {}),
      }))
      .where('id', '=', u.id)
      .returningAll()
      .executeTakeFirstOrThrow();
    await changed('huawei.user.update', { userId: u.id, fields: Object.keys(req) });
    return c.json(publicUser(toUser(row)));
  });

  // Ends every token of the user (an incident: a token leaked) without changing anything else.
  app.post('/admin/huawei/users/:id/revoke-tokens', async (c) => {
    const u = await userRow(c.req.param('id'));
    await (await huaweiDb(kms))
      .updateTable('huawei_users')
      .set((eb) => ({ token_epoch: eb('token_epoch', '+', 1) }))
      .where('id', '=', u.id)
      .execute();
    await changed('huawei.user.revoke_tokens', { userId: u.id });
    return c.body(null, 204);
  });

  app.delete('/admin/huawei/users/:id', async (c) => {
    const u = await userRow(c.req.param('id'));
    const keys = await (await huaweiDb(kms)).selectFrom('huawei_access_keys').select('access').where('user_id', '=', u.id).execute();
    await (await huaweiDb(kms)).deleteFrom('huawei_users').where('id', '=', u.id).execute();
    for (const k of keys) await kms.secrets.delete(secretId(k.access));
    await changed('huawei.user.delete', { userId: u.id });
    return c.body(null, 204);
  });

  app.post('/admin/huawei/users/:id/access-keys', async (c) => {
    const u = await userRow(c.req.param('id'));
    const req = await json(c.req.raw, CreateAccessKey);
    const { access, secret } = newAccessKey();
    await kms.secrets.put(secretId(access), Buffer.from(secret, 'utf8'));
    const row = await (await huaweiDb(kms))
      .insertInto('huawei_access_keys')
      .values({ access, user_id: u.id, status: 'active', description: req.description ?? '', created_at: new Date() })
      .returningAll()
      .executeTakeFirstOrThrow();
    await changed('huawei.access_key.create', { userId: u.id, access });
    return c.json(
      {
        access,
        secret,
        user_id: u.id,
        status: row.status,
        description: row.description,
        created_at: row.created_at.toISOString(),
      },
      201,
    );
  });

  app.get('/admin/huawei/users/:id/access-keys', async (c) => {
    const u = await userRow(c.req.param('id'));
    const rows = await (await huaweiDb(kms))
      .selectFrom('huawei_access_keys')
      .selectAll()
      .where('user_id', '=', u.id)
      .orderBy('created_at')
      .execute();
    return c.json(
      rows.map((r) => ({
        access: r.access,
        user_id: r.user_id,
        status: r.status,
        description: r.description,
        created_at: r.created_at.toISOString(),
      })),
    );
  });

  app.delete('/admin/huawei/users/:id/access-keys/:access', async (c) => {
    const u = await userRow(c.req.param('id'));
    const access = c.req.param('access');
    const row = await (await huaweiDb(kms))
      .deleteFrom('huawei_access_keys')
      .where('user_id', '=', u.id)
      .where('access', '=', access)
      .returning('access')
      .executeTakeFirst();
    if (!row) throw new AdminError(404, `access key ${access} not found for user ${u.id}`);
    await kms.secrets.delete(secretId(access));
    await changed('huawei.access_key.delete', { userId: u.id, access });
    return c.body(null, 204);
  });

  app.get('/admin/huawei/projects', async (c) =>
    c.json(
      (await kms.tenants.inDialect('huawei')).map((b) => ({
        id: b.external_id,
        tenant_id: b.tenant_id,
        created_at: b.created_at.toISOString(),
      })),
    ),
  );

  app.post('/admin/huawei/projects', async (c) => {
    const req = await json(c.req.raw, CreateProject);
    const tenantId = await kms.tenants.resolve('huawei', req.id, { create: true });
    return c.json({ id: req.id, tenant_id: tenantId }, 201);
  });

  app.get('/admin/huawei/roles', (c) => c.json(Object.entries(ROLES).map(([name, actions]) => ({ name, actions }))));

  return app;
}

/**
 * OVH API v2 control plane, served on the gateway's admin port behind the admin token:
 * POST/GET /v2/okms/resource[/{okmsId}] (a domain: polykms's stand-in for ordering one) and
 * POST/GET/DELETE /v2/okms/resource/{okmsId}/credential[/{credentialId}] (access certificates,
 * docs/vendors/reference/ovh-okms.md §7); and polykms's own /admin/ovh/domains/{okmsId}/policies and
 * /tokens (IAM policies; bearer tokens, which OVH issues elsewhere, in its IAM).
 */
import { createPrivateKey, randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { z } from 'zod';
import { invalid, isUuid, notFound, toKmsError, type Kms } from '@polykms/core';
import { issueClientCertificate, type Ca } from '@polykms/pki';
import { describeIssues, handleErrors, STATUS_OF_KIND } from '@polykms/http';
import { renderError } from './errors.ts';

import { parsePolicy, type IamPolicy } from './iam.ts';
import { ACCESS_TOPIC, ovhDb } from './store.ts';
import { MAX_VALIDITY_DAYS, getToken, issueToken, listTokens, revokeToken } from './tokens.ts';

const CreateResource = z.strictObject({
  region: z.string().regex(/^[a-z]+(-[a-z]+)+$/, { message: "must look like 'eu-west-rbx'" }),
});
const IdentityURNs = z
  .array(z.string().regex(/^urn:v1:[a-z]+:identity:/, { message: 'must be an identity URN (urn:v1:<region>:identity:...)' }))
  .min(1)
  .max(25);
const CreateCredential = z.strictObject({
  name: z.string().min(1).max(50),
  identityURNs: IdentityURNs,
  description: z.string().max(200).optional(),
  validity: z.number().int().min(1).max(365).optional(),
  csr: z.string().min(1).optional(),
  certificateType: z.enum(['ECDSA', 'RSA']).optional(),
});

/** A token binds what a credential binds; it lives `validity` days (default 30) or until `expiresAt`, a year at most. */
const IssueTokenBody = z
  .strictObject({
    name: z.string().min(1).max(50),
    identityURNs: IdentityURNs,
    description: z.string().max(200).optional(),
    validity: z.number().int().min(1).max(MAX_VALIDITY_DAYS).optional(),
    expiresAt: z.iso.datetime({ offset: true, message: 'must be an RFC 3339 date-time' }).optional(),
  })
  .refine((b) => b.validity === undefined || b.expiresAt === undefined, { message: 'give validity or expiresAt, not both' });

export interface ControlOptions {
  /** Where the data plane answers, for `restEndpoint`. */
  restEndpoint: string;
  swaggerEndpoint: string;
}

const CONTROL_CLASS: Record<number, string> = {
  401: 'Client::Unauthorized',
  403: 'Client::Forbidden',
  404: 'Client::NotFound',
  409: 'Client::Conflict',
  429: 'Client::TooManyRequests',
  503: 'Server::ServiceUnavailable',
};

export function ovhControlApp(kms: Kms, ca: () => Promise<Ca>, opts: ControlOptions) {
  const app = new Hono();
  // OVH API v2 errors are {class, message}; the status is the admin port's one mapping (STATUS_OF_KIND).
  handleErrors(
    app,
    'ovh control plane',
    (e) => {
      const status = STATUS_OF_KIND[toKmsError(e).kind];
      const cls = CONTROL_CLASS[status] ?? (status >= 500 ? 'Server::InternalServerError' : 'Client::BadRequest');
      return { status, body: { class: cls, message: renderError(e, randomUUID()).body.errors[0] } };
    },
    kms.log,
  );
  const json = async <S extends z.ZodType>(req: Request, schema: S): Promise<z.infer<S>> => {
    let data: unknown;
    try {
      data = JSON.parse(await req.text());
    } catch {
      throw invalid('the body is not valid JSON');
    }
    const r = schema.safeParse(data);
    if (!r.success) throw invalid(describeIssues(r.error).join('; '));
    return r.data;
  };
  const resource = (okmsId: string, b: { created_at: Date; attributes: Record<string, unknown> }) => {
    const region = String(b.attributes.region ?? 'eu-west-rbx');
    return {
      id: okmsId,
      region,
      restEndpoint: opts.restEndpoint,
      swaggerEndpoint: opts.swaggerEndpoint,
      kmipEndpoint: null,
      iam: { id: okmsId, urn: `urn:v1:eu:resource:okms:${okmsId}`, displayName: okmsId },
      createdAt: b.created_at.toISOString(),
    };
  };
  const domain = async (okmsId: string) => {
    const b = isUuid(okmsId) ? await kms.tenants.binding('ovh', okmsId.toLowerCase()) : undefined;
    if (!b) throw notFound('OKMS domain');
    return b;
  };

  app.post('/v2/okms/resource', async (c) => {
    const req = await json(c.req.raw, CreateResource);
    const okmsId = randomUUID();
    const tenant = await kms.tenants.create(`ovh:${okmsId}`);
    await kms.tenants.bind('ovh', okmsId, tenant.id, { region: req.region });
    return c.json(resource(okmsId, (await kms.tenants.binding('ovh', okmsId))!), 201);
  });
  app.get('/v2/okms/resource', async (c) => c.json((await kms.tenants.inDialect('ovh')).map((b) => resource(b.external_id, b))));
  app.get('/v2/okms/resource/:okmsId', async (c) => c.json(resource(c.req.param('okmsId'), await domain(c.req.param('okmsId')))));

  const credential = (
    r: {
      id: string;
      name: string;
      description: string;
      identities: string[];
      status: string;
      attributes: Record<string, unknown>;
      certificate_pem: string | null;
      created_at: Date;
      expires_at: Date;
      revoked_at: Date | null;
    },
    status = r.status,
  ) => ({
    id: r.id,
    name: r.name,
    description: r.description || null,
    identityURNs: r.identities,
    status: r.revoked_at ? 'DELETING' : r.expires_at.getTime() < Date.now() ? 'EXPIRED' : status,
    fromCSR: r.attributes.fromCSR === true,
    certificateType: r.attributes.certificateType ?? 'ECDSA',
    createdAt: r.created_at.toISOString(),
    expiredAt: r.expires_at.toISOString(),
    ...(status === 'READY' && r.certificate_pem ? { certificatePEM: r.certificate_pem } : {}),
  });

  app.post('/v2/okms/resource/:okmsId/credential', async (c) => {
    const okmsId = c.req.param('okmsId');
    const b = await domain(okmsId);
    const req = await json(c.req.raw, CreateCredential);
    const id = randomUUID();
    const type = req.certificateType ?? 'ECDSA';
    const validity = req.validity ?? 365;
    const cert = await issueClientCertificate(await ca(), {
      commonName: id,
      upn: `okms.domain:${b.external_id}`,
      validityDays: validity,
      csrPem: req.csr,
      keyType: type === 'RSA' ? 'RSA' : 'EC',
    });
    const row = await (await ovhDb(kms))
      .insertInto('credentials')
      .values({
        id,
        tenant_id: b.tenant_id,
        dialect: 'ovh',
        name: req.name,
        description: req.description ?? '',
        identities: req.identityURNs,
        status: 'READY',
        attributes: JSON.stringify({ fromCSR: !!req.csr, certificateType: type }),
        certificate_pem: cert.certPem,
        serial: cert.serialNumber,
        fingerprint: cert.fingerprintSha256,
        created_at: new Date(),
        expires_at: cert.notAfter,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await kms.audit.record({
      at: new Date(),
      tenantId: b.tenant_id,
      dialect: 'ovh',
      principal: 'admin',
      action: 'credential.create',
      keyId: null,
      outcome: 'allowed',
      details: { credentialId: id, identities: req.identityURNs },
    });
    // OVH answers CREATING and gives the certificate on GET; the private key is shown only here, once,
    // in the form OVH uses (SEC1 for ECDSA).
    const privateKeyPEM = cert.privateKeyPem
      ? (createPrivateKey(cert.privateKeyPem).export({
          format: 'pem',
          type: type === 'RSA' ? 'pkcs1' : 'sec1',
        }) as string)
      : undefined;
    return c.json({ ...credential(row, 'CREATING'), ...(privateKeyPEM ? { privateKeyPEM } : {}) }, 201);
  });

  const credentials = async (tenantId: string) =>
    (await ovhDb(kms)).selectFrom('credentials').selectAll().where('tenant_id', '=', tenantId).where('dialect', '=', 'ovh');
  app.get('/v2/okms/resource/:okmsId/credential', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    return c.json((await (await credentials(b.tenant_id)).orderBy('created_at').execute()).map((r) => credential(r)));
  });
  app.get('/v2/okms/resource/:okmsId/credential/:credentialId', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const id = c.req.param('credentialId');
    const row = isUuid(id) ? await (await credentials(b.tenant_id)).where('id', '=', id).executeTakeFirst() : undefined;
    if (!row) throw notFound('credential');
    return c.json(credential(row));
  });
  app.delete('/v2/okms/resource/:okmsId/credential/:credentialId', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const id = c.req.param('credentialId');
    const row = isUuid(id)
      ? await (await ovhDb(kms))
          .updateTable('credentials')
          .set({ revoked_at: new Date(), status: 'DELETING' })
          .where('tenant_id', '=', b.tenant_id)
          .where('dialect', '=', 'ovh')
          .where('id', '=', id)
          .returning('id')
          .executeTakeFirst()
      : undefined;
    if (!row) throw notFound('credential');
    await kms.publish(ACCESS_TOPIC, id);
    await kms.audit.record({
      at: new Date(),
      tenantId: b.tenant_id,
      dialect: 'ovh',
      principal: 'admin',
      action: 'credential.revoke',
      keyId: null,
      outcome: 'allowed',
      details: { credentialId: id },
    });
    return c.body(null, 204);
  });
  // Not OVH's: the gateway's own admin routes for IAM policies and the CA certificate.
  app.put('/admin/ovh/domains/:okmsId/policies/:name', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const name = c.req.param('name');
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw invalid('a policy name is 1-64 letters, digits, dots, dashes or underscores');
    let doc: IamPolicy;
    try {
      doc = parsePolicy(JSON.parse(await c.req.text()));
    } catch (e) {
      throw invalid(e instanceof SyntaxError ? 'the body is not valid JSON' : (e as Error).message);
    }
    const now = new Date();
    await (await ovhDb(kms))
      .insertInto('policies')
      .values({
        id: randomUUID(),
        tenant_id: b.tenant_id,
        dialect: 'ovh',
        name,
        document: JSON.stringify(doc),
        created_at: now,
        updated_at: now,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'dialect', 'name']).doUpdateSet({ document: JSON.stringify(doc), updated_at: now }))
      .execute();
    await kms.publish(ACCESS_TOPIC, name);
    await kms.audit.record({
      at: now,
      tenantId: b.tenant_id,
      dialect: 'ovh',
      principal: 'admin',
      action: 'policy.set',
      keyId: null,
      outcome: 'allowed',
      details: { name },
    });
    return c.json({ name, policy: doc });
  });
  app.get('/admin/ovh/domains/:okmsId/policies', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const rows = await (await ovhDb(kms))
      .selectFrom('policies')
      .select(['name', 'document'])
      .where('tenant_id', '=', b.tenant_id)
      .where('dialect', '=', 'ovh')
      .orderBy('name')
      .execute();
    return c.json(rows.map((r) => ({ name: r.name, policy: r.document })));
  });
  // Bearer tokens for the data plane, bound to a domain and identity URNs as a credential is.
  app.post('/admin/ovh/domains/:okmsId/tokens', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const req = await json(c.req.raw, IssueTokenBody);
    const now = new Date();
    let expiresAt: Date | undefined;
    if (req.expiresAt !== undefined) {
      expiresAt = new Date(req.expiresAt);
      if (expiresAt.getTime() <= now.getTime()) throw invalid('expiresAt: must be in the future');
      if (expiresAt.getTime() > now.getTime() + MAX_VALIDITY_DAYS * 86_400_000)
        throw invalid(`expiresAt: must be within ${MAX_VALIDITY_DAYS} days`);
    }
    return c.json(await issueToken(kms, b, { ...req, expiresAt }, now), 201);
  });
  app.get('/admin/ovh/domains/:okmsId/tokens', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    return c.json(await listTokens(kms, b.external_id));
  });
  app.get('/admin/ovh/domains/:okmsId/tokens/:id', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const id = c.req.param('id');
    const t = isUuid(id) ? await getToken(kms, b.external_id, id) : undefined;
    if (!t) throw notFound('token');
    return c.json(t);
  });
  app.delete('/admin/ovh/domains/:okmsId/tokens/:id', async (c) => {
    const b = await domain(c.req.param('okmsId'));
    const id = c.req.param('id');
    if (!(isUuid(id) && (await revokeToken(kms, b, id)))) throw notFound('token');
    return c.body(null, 204);
  });
  app.get('/admin/ca', async (c) => c.json({ certificatePEM: (await ca()).certPem }));
  return app;
}

import { readFileSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import type { Kms } from '@polykms/core';
import { exportPkcs12, gatewayCa } from '@polykms/pki';
import { ovhControlApp, parsePolicy } from '@polykms/ovh';
import { UsageError } from './usage.ts';

type Values = Record<string, string | string[] | boolean | undefined>;

/**
 * `polykms ovh ...`: the same control-plane code as the admin API (called in-process), so the CLI and
 * POST /v2/okms/resource/... can never disagree.
 */
export async function ovhCommand(key: string, v: Values, open: () => Promise<Kms>, out: (human: string, data: unknown) => void): Promise<number> {
  const need = (name: string) => {
    const x = v[name];
    if (typeof x !== 'string' || !x) throw new UsageError(`${key} needs --${name}`);
    return x;
  };
  if (key === 'ovh credential p12') {
    const p12 = await exportPkcs12({ certPem: readFileSync(need('cert'), 'utf8'), keyPem: readFileSync(need('key'), 'utf8'), password: need('password') });
    writeFileSync(need('out'), p12, { mode: 0o600 });
    out(`wrote ${v.out}`, { file: v.out });
    return 0;
  }
  const kms = await open();
  try {
    const app = ovhControlApp(kms, () => gatewayCa(kms), { restEndpoint: '', swaggerEndpoint: '' });
    const api = async (method: string, path: string, body?: unknown) => {
      const r = await app.request(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
      const data = r.status === 204 ? undefined : await r.json();
      if (r.status >= 400) throw new Error((data as { message?: string }).message ?? `HTTP ${r.status}`);
      return data as any;
    };
    switch (key) {
      case 'ovh domain create': {
        const d = await api('POST', '/v2/okms/resource', { region: (v.region as string) ?? 'eu-west-rbx' });
        out(`OVH KMS domain ${d.id} (${d.region})`, d);
        return 0;
      }
      case 'ovh domain list': {
        const ds = await api('GET', '/v2/okms/resource');
        out(ds.map((d: { id: string; region: string }) => `${d.id}  ${d.region}`).join('\n') || '(no domains)', ds);
        return 0;
      }
      case 'ovh credential create': {
        const domain = need('domain');
        const identities = (v.identity as string[] | undefined) ?? [];
        if (!identities.length) throw new UsageError('ovh credential create needs at least one --identity URN');
        const validity = v.validity === undefined ? undefined : Number(v.validity);
        const created = await api('POST', `/v2/okms/resource/${domain}/credential`, {
          name: (v.name as string) ?? 'cli',
          identityURNs: identities,
          ...(validity !== undefined ? { validity } : {}),
          ...(v.csr ? { csr: readFileSync(v.csr as string, 'utf8') } : {}),
        });
        const got = await api('GET', `/v2/okms/resource/${domain}/credential/${created.id}`);
        const ca = (await gatewayCa(kms)).certPem;
        if (v.out) {
          const prefix = v.out as string;
          writeFileSync(`${prefix}.cert`, got.certificatePEM);
          if (created.privateKeyPEM) writeFileSync(`${prefix}.key`, created.privateKeyPEM, { mode: 0o600 });
          writeFileSync(`${prefix}.ca.pem`, ca);
        }
        out(
          v.out ? `credential ${created.id}: wrote ${v.out}.cert${created.privateKeyPEM ? `, ${v.out}.key` : ''} and ${v.out}.ca.pem` : `${got.certificatePEM}${created.privateKeyPEM ?? ''}`,
          { ...got, ...(created.privateKeyPEM ? { privateKeyPEM: created.privateKeyPEM } : {}), caPEM: ca },
        );
        return 0;
      }
      case 'ovh credential list': {
        const cs = await api('GET', `/v2/okms/resource/${need('domain')}/credential`);
        out(cs.map((c: { id: string; status: string; name: string }) => `${c.id}  ${c.status}  ${c.name}`).join('\n') || '(no credentials)', cs);
        return 0;
      }
      case 'ovh credential revoke': {
        await api('DELETE', `/v2/okms/resource/${need('domain')}/credential/${need('id')}`);
        out(`credential ${v.id} revoked`, { id: v.id, revoked: true });
        return 0;
      }
      case 'ovh policy set': {
        const domain = need('domain');
        const name = need('name');
        let doc: unknown;
        try {
          doc = parsePolicy(JSON.parse(readFileSync(need('file'), 'utf8')));
        } catch (e) {
          throw new UsageError(`${v.file}: ${(e as Error).message}`);
        }
        const tenantId = await kms.resolveTenant('ovh', domain.toLowerCase());
        if (!tenantId) throw new UsageError(`no OVH domain ${domain}`);
        const now = new Date();
        await kms.db
          .insertInto('policies')
          .values({ id: randomUUID(), tenant_id: tenantId, dialect: 'ovh', name, document: JSON.stringify(doc), created_at: now, updated_at: now })
          .onConflict((c) => c.columns(['tenant_id', 'dialect', 'name']).doUpdateSet({ document: JSON.stringify(doc), updated_at: now }))
          .execute();
        out(`policy ${name} set on domain ${domain}`, { domain, name, policy: doc });
        return 0;
      }
      case 'ovh policy list': {
        const tenantId = await kms.resolveTenant('ovh', need('domain').toLowerCase());
        if (!tenantId) throw new UsageError(`no OVH domain ${v.domain}`);
        const ps = await kms.db.selectFrom('policies').select(['name', 'document']).where('tenant_id', '=', tenantId).where('dialect', '=', 'ovh').execute();
        out(ps.map((p) => `${p.name}  ${JSON.stringify(p.document)}`).join('\n') || '(no policies)', ps);
        return 0;
      }
      default:
        throw new UsageError(`unknown command '${key}'`);
    }
  } finally {
    await kms.close();
  }
}

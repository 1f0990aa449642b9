import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Kms } from '@polykms/core';
import { randomBytes } from 'node:crypto';
import { UsageError } from './usage.ts';

type Values = Record<string, string | string[] | boolean | undefined>;
export type AdminCall = (method: string, path: string, body?: unknown) => Promise<any>;

/**
 * The admin API, reached over HTTP when a gateway is running (an embedded PGlite database belongs to
 * that process), or in-process on the store otherwise. Either way it is the same control-plane code.
 */
export async function adminClient(adminUrl: string, token: string | undefined, open: () => Promise<Kms>, ovhUrl = ''): Promise<{ call: AdminCall; close: () => Promise<void> }> {
  const running = await fetch(`${adminUrl}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
    (r) => r.ok,
    () => false,
  );
  const unwrap = async (r: Response) => {
    const data = r.status === 204 ? undefined : await r.json();
    // The status goes with the message: a 400 (a value refused) is a usage error for the CLI.
    if (r.status >= 400) throw Object.assign(new Error((data as { message?: string })?.message ?? `HTTP ${r.status}`), { status: r.status });
    return data;
  };
  if (running) {
    if (!token) throw new UsageError(`a gateway is running at ${adminUrl}: set POLYKMS_ADMIN_TOKEN (or keep admin.token in POLYKMS_DATA_DIR)`);
    return {
      call: async (method, path, body) =>
        unwrap(await fetch(`${adminUrl}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })),
      close: async () => {},
    };
  }
  // Loaded only here: a call through a running gateway's API needs none of the gateway's code.
  const { adminApp } = await import('./admin.ts');
  const kms = await open();
  const local = randomBytes(32).toString('hex');
  const app = adminApp(kms, { adminToken: local, ovhUrl });
  return {
    call: async (method, path, body) =>
      unwrap(await app.request(path, { method, headers: { authorization: `Bearer ${local}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) })),
    close: () => kms.close(),
  };
}

/** `polykms ovh ...` */
export async function ovhCommand(key: string, v: Values, api: AdminCall, out: (human: string, data: unknown) => void, dataDir = './data'): Promise<number> {
  const need = (name: string) => {
    const x = v[name];
    if (typeof x !== 'string' || !x) throw new UsageError(`${key} needs --${name}`);
    return x;
  };
  switch (key) {
    case 'ovh credential p12': {
      const { exportPkcs12 } = await import('@polykms/pki');
      const p12 = await exportPkcs12({ certPem: readFileSync(need('cert'), 'utf8'), keyPem: readFileSync(need('key'), 'utf8'), password: need('password') });
      writeFileSync(need('out'), p12, { mode: 0o600 });
      out(`wrote ${v.out}`, { file: v.out });
      return 0;
    }
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
      const ca = (await api('GET', '/admin/ca')).certificatePEM as string;
      // Not into the working directory (the repository, when run through pnpm) unless asked: the data
      // directory is the gateway's own, private (0700) and outside version control.
      let prefix = v.out as string | undefined;
      if (!prefix) {
        const dir = join(dataDir, 'credentials');
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        prefix = join(dir, created.id as string);
      }
      writeFileSync(`${prefix}.cert`, got.certificatePEM);
      if (created.privateKeyPEM) writeFileSync(`${prefix}.key`, created.privateKeyPEM, { mode: 0o600 });
      writeFileSync(`${prefix}.ca.pem`, ca);
      const files = { cert: `${prefix}.cert`, ...(created.privateKeyPEM ? { key: `${prefix}.key` } : {}), ca: `${prefix}.ca.pem` };
      out(`credential ${created.id}: wrote ${Object.values(files).join(', ')}`, { ...got, ...(created.privateKeyPEM ? { privateKeyPEM: created.privateKeyPEM } : {}), caPEM: ca, files });
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
      let doc: unknown;
      try {
        doc = JSON.parse(readFileSync(need('file'), 'utf8'));
      } catch (e) {
        throw new UsageError(`${v.file}: ${(e as Error).message}`);
      }
      const r = await api('PUT', `/admin/ovh/domains/${need('domain')}/policies/${encodeURIComponent(need('name'))}`, doc);
      out(`policy ${r.name} set on domain ${v.domain}`, r);
      return 0;
    }
    case 'ovh policy list': {
      const ps = await api('GET', `/admin/ovh/domains/${need('domain')}/policies`);
      out(ps.map((p: { name: string; policy: unknown }) => `${p.name}  ${JSON.stringify(p.policy)}`).join('\n') || '(no policies)', ps);
      return 0;
    }
    default:
      throw new UsageError(`unknown command '${key}'`);
  }
}

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Kms } from '@polykms/core';
import { randomBytes } from 'node:crypto';
import { UsageError } from './usage.ts';

type Values = Record<string, string | string[] | boolean | undefined>;
export type AdminCall = (method: string, path: string, body?: unknown) => Promise<any>;

/** Where a running gateway's admin API is, and how its certificate is checked. */
export interface AdminTarget {
  url: string;
  /** The gateway CA (PEM) for an https URL; the CLI reads it from the data directory. */
  ca?: string | undefined;
  /** Names the server certificate may carry besides the URL's host (POLYKMS_HOSTNAMES). */
  hostnames?: string[] | undefined;
  /** Where `ca` was looked for, for the error when it is missing. */
  caFile?: string | undefined;
}

/** One request to the admin API over HTTPS (the gateway CA trusted, nothing else) or loopback HTTP. */
function send(
  t: AdminTarget,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs?: number,
): Promise<{ status: number; text: string }> {
  const url = new URL(path, t.url);
  const tls = url.protocol === 'https:';
  // The certificate names the configured hostnames and the loopback addresses; a wildcard listen
  // address reached as 127.0.0.1, or an address that is not among them, is matched on the hostnames.
  const identity = (host: string, cert: PeerCertificate) => {
    const err = checkServerIdentity(host, cert);
    return err && (t.hostnames ?? []).some((n) => !checkServerIdentity(n, cert)) ? undefined : err;
  };
  return new Promise((resolve, reject) => {
    const req = (tls ? httpsRequest : httpRequest)(
      url,
      {
        method,
        headers,
        agent: false,
        ...(tls ? { ca: t.ca, rejectUnauthorized: true, checkServerIdentity: identity } : {}),
        ...(timeoutMs ? { timeout: timeoutMs } : {}),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer from ${t.url}`), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
    req.end(body);
  });
}

/** Nobody listening there: the CLI then opens the store itself. */
const NOT_LISTENING = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EHOSTUNREACH']);

/**
 * The admin API, reached over HTTPS when a gateway is running (an embedded PGlite database belongs to
 * that process), or in-process on the store otherwise. Either way it is the same control-plane code.
 * A listener whose certificate does not verify against the gateway CA is an error, not "no gateway":
 * the admin token is never sent to it.
 */
export async function adminClient(
  target: AdminTarget,
  token: string | undefined,
  open: () => Promise<Kms>,
  ovhUrl = '',
): Promise<{ call: AdminCall; close: () => Promise<void> }> {
  if (target.url.startsWith('https:') && !target.ca) {
    // Without the CA nothing can be verified; only a port nobody listens on lets the CLI go on alone.
    const probe = await send({ ...target, ca: undefined }, 'GET', '/healthz', {}, undefined, 1000).then(
      () => 'listening',
      (e: NodeJS.ErrnoException) => (NOT_LISTENING.has(e.code ?? '') ? 'absent' : 'listening'),
    );
    if (probe === 'listening')
      throw new UsageError(
        `a gateway is running at ${target.url} but its CA certificate is not in ${target.caFile ?? 'the data directory'}: set POLYKMS_ADMIN_CA_FILE (polykms ca export on the gateway's host writes it)`,
      );
  }
  const running =
    !target.url.startsWith('https:') || target.ca
      ? await send(target, 'GET', '/healthz', {}, undefined, 1000).then(
          (r) => r.status === 200,
          (e: NodeJS.ErrnoException) => {
            if (NOT_LISTENING.has(e.code ?? '')) return false;
            throw new Error(`cannot reach the admin API at ${target.url}: ${e.message}`);
          },
        )
      : false;
  const unwrap = async (r: { status: number; json: () => Promise<unknown> }) => {
    const data = r.status === 204 ? undefined : await r.json();
    // The status goes with the message: a 400 (a value refused) is a usage error for the CLI.
    if (r.status >= 400)
      throw Object.assign(new Error((data as { message?: string })?.message ?? `HTTP ${r.status}`), {
        status: r.status,
      });
    return data;
  };
  if (running) {
    if (!token)
      throw new UsageError(`a gateway is running at ${target.url}: set POLYKMS_ADMIN_TOKEN (or keep admin.token in POLYKMS_DATA_DIR)`);
    return {
      call: async (method, path, body) => {
        const r = await send(
          target,
          method,
          path,
          { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body === undefined ? undefined : JSON.stringify(body),
        );
        return unwrap({ status: r.status, json: async () => JSON.parse(r.text) });
      },
      close: async () => {},
    };
  }
  // Loaded only here: a call through a running gateway's API needs none of the gateway's code.
  const { adminApp } = await import('./admin/index.ts');
  const kms = await open();
  const local = randomBytes(32).toString('hex');
  const app = adminApp(kms, { adminToken: local, ovhUrl });
  return {
    call: async (method, path, body) =>
      unwrap(
        await app.request(path, {
          method,
          headers: { authorization: `Bearer ${local}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        }),
      ),
    close: () => kms.close(),
  };
}

/** `polykms ovh ...` */
export async function ovhCommand(
  key: string,
  v: Values,
  api: AdminCall,
  out: (human: string, data: unknown) => void,
  dataDir = './data',
): Promise<number> {
  const need = (name: string) => {
    const x = v[name];
    if (typeof x !== 'string' || !x) throw new UsageError(`${key} needs --${name}`);
    return x;
  };
  switch (key) {
    case 'ovh credential p12': {
      const { exportPkcs12 } = await import('@polykms/pki');
      const p12 = await exportPkcs12({
        certPem: readFileSync(need('cert'), 'utf8'),
        keyPem: readFileSync(need('key'), 'utf8'),
        password: need('password'),
      });
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
      const files = {
        cert: `${prefix}.cert`,
        ...(created.privateKeyPEM ? { key: `${prefix}.key` } : {}),
        ca: `${prefix}.ca.pem`,
      };
      out(`credential ${created.id}: wrote ${Object.values(files).join(', ')}`, {
        ...got,
        ...(created.privateKeyPEM ? { privateKeyPEM: created.privateKeyPEM } : {}),
        caPEM: ca,
        files,
      });
      return 0;
    }
    case 'ovh credential list': {
      const cs = await api('GET', `/v2/okms/resource/${need('domain')}/credential`);
      out(
        cs.map((c: { id: string; status: string; name: string }) => `${c.id}  ${c.status}  ${c.name}`).join('\n') || '(no credentials)',
        cs,
      );
      return 0;
    }
    case 'ovh credential revoke': {
      await api('DELETE', `/v2/okms/resource/${need('domain')}/credential/${need('id')}`);
      out(`credential ${v.id} revoked`, { id: v.id, revoked: true });
      return 0;
    }
    case 'ovh token create': {
      const domain = need('domain');
      const identities = (v.identity as string[] | undefined) ?? [];
      if (!identities.length) throw new UsageError('ovh token create needs at least one --identity URN');
      const validity = v.validity === undefined ? undefined : Number(v.validity);
      const t = await api('POST', `/admin/ovh/domains/${domain}/tokens`, {
        name: (v.name as string) ?? 'cli',
        identityURNs: identities,
        ...(validity !== undefined ? { validity } : {}),
      });
      // The secret alone on stdout, so that it can be captured; it is never shown again.
      out(t.token, t);
      if (!v.json) process.stderr.write(`token ${t.id} for domain ${domain}, expires ${t.expiresAt}: shown once, keep it now\n`);
      return 0;
    }
    case 'ovh token list': {
      const ts = await api('GET', `/admin/ovh/domains/${need('domain')}/tokens`);
      out(
        ts
          .map((t: { id: string; status: string; name: string; expiresAt: string }) => `${t.id}  ${t.status}  ${t.expiresAt}  ${t.name}`)
          .join('\n') || '(no tokens)',
        ts,
      );
      return 0;
    }
    case 'ovh token revoke': {
      await api('DELETE', `/admin/ovh/domains/${need('domain')}/tokens/${need('id')}`);
      out(`token ${v.id} revoked`, { id: v.id, revoked: true });
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

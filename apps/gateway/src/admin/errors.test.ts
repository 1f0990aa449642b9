import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KmsError, type ErrorKind, type Kms } from '@polykms/core';
import { openTestKms, silentLogger } from '@polykms/core/testing';
import { STATUS_OF_KIND } from '@polykms/http';
import { adminApp } from './index.ts';

/**
 * A store that refuses everything with one kind of error, as an outage would: every method of the
 * facade and of its parts throws it (the logger aside).
 */
function failingWith(kms: Kms, kind: ErrorKind): Kms {
  const wrap = (target: object): unknown =>
    new Proxy(target, {
      get(t, prop) {
        if (prop === 'log') return silentLogger();
        const v = Reflect.get(t, prop, t) as unknown;
        if (typeof v === 'function')
          return () => {
            throw new KmsError(kind, `refused (${kind})`);
          };
        return v && typeof v === 'object' ? wrap(v) : v;
      },
    });
  return wrap(kms) as Kms;
}

describe('the admin port maps a core error kind to one status on every route', () => {
  let kms: Kms;
  let drop: () => Promise<void>;
  const token = `test-admin-token-${randomUUID()}`;
  const tenant = randomUUID();
  // One route of each family the admin port serves: its own API, Huawei's IAM, OVH's control plane.
  const routes: [string, string, unknown?][] = [
    ['GET', '/admin/tenants'],
    ['POST', '/admin/tenants', { name: 'x' }],
    ['GET', `/admin/tenants/${tenant}`],
    ['GET', `/admin/tenants/${tenant}/keys`],
    ['POST', `/admin/tenants/${tenant}/links`, { dialect: 'ovh', id: 'x' }],
    ['GET', '/admin/audit'],
    ['POST', '/admin/audit/verify'],
    ['GET', '/admin/dashboard'],
    ['GET', '/admin/huawei/users'],
    ['POST', '/admin/huawei/users', { domain: 'acme', name: 'bob', password: 'S3cret!pass-long', projects: [] }],
    ['GET', '/v2/okms/resource'],
    ['POST', '/v2/okms/resource', { region: 'eu-west-rbx' }],
  ];

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms('pglite'));
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  for (const kind of ['unavailable', 'not_found', 'conflict', 'permission_denied', 'internal'] as const) {
    it(`${kind} is ${STATUS_OF_KIND[kind]} everywhere`, async () => {
      const app = adminApp(failingWith(kms, kind), { adminToken: token, ovhUrl: 'https://localhost:8443' });
      const seen: string[] = [];
      for (const [method, path, body] of routes) {
        const r = await app.request(path, {
          method,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        seen.push(`${method} ${path} ${r.status}`);
      }
      expect(seen).toEqual(routes.map(([method, path]) => `${method} ${path} ${STATUS_OF_KIND[kind]}`));
    });
  }
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kms } from '@polykms/core';
import { backends, openTestKms } from '@polykms/core/testing';
import { Metrics } from '@polykms/http';
import { parseCseConfig } from '@polykms/cse';
import { composeAdminPort } from '../../test/admin-harness.ts';
import { CONSOLE_CSP } from '../console/index.ts';
import { adminApp } from './index.ts';

describe.each(backends())('admin keys API on %s', (backend) => {
  let kms: Kms;
  let drop: () => Promise<void>;
  let app: ReturnType<typeof composeAdminPort>;
  const token = `test-admin-token-${randomUUID()}`;

  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const r = await app.request(path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await r.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: r.status, json, text, headers: r.headers };
  };
  const newTenant = async (name = `t-${randomUUID().slice(0, 8)}`) => {
    const r = await call('POST', '/admin/tenants', { name });
    expect(r.status, r.text).toBe(201);
    return r.json as { id: string; name: string };
  };
  const newKey = async (tenantId: string, body: Record<string, unknown> = { type: 'oct', size: 256, name: 'k' }) => {
    const r = await call('POST', `/admin/tenants/${tenantId}/keys`, body);
    expect(r.status, r.text).toBe(201);
    return r.json;
  };

  beforeAll(async () => {
    ({ kms, drop } = await openTestKms(backend));
    app = composeAdminPort(kms, { adminToken: token, ovhUrl: 'https://127.0.0.1:1' });
  });
  afterAll(async () => {
    await kms?.close();
    await drop?.();
  });

  it('refuses every admin route without the token or with a wrong one; the console page itself is public and locked down', async () => {
    const t = await newTenant();
    const k = await newKey(t.id);
    const routes: [string, string][] = [
      ['GET', '/admin/tenants'],
      ['POST', '/admin/tenants'],
      ['GET', `/admin/tenants/${t.id}`],
      ['GET', `/admin/tenants/${t.id}/bindings`],
      ['GET', `/admin/tenants/${t.id}/credentials`],
      ['GET', `/admin/tenants/${t.id}/keys`],
      ['POST', `/admin/tenants/${t.id}/keys`],
      ['GET', `/admin/tenants/${t.id}/keys/${k.id}`],
      ['PATCH', `/admin/tenants/${t.id}/keys/${k.id}`],
      ['POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`],
      ['POST', `/admin/tenants/${t.id}/keys/${k.id}/activate`],
      ['POST', `/admin/tenants/${t.id}/keys/${k.id}/schedule-deletion`],
      ['POST', `/admin/tenants/${t.id}/keys/${k.id}/cancel-deletion`],
      ['DELETE', `/admin/tenants/${t.id}/keys/${k.id}`],
      ['GET', '/admin/audit'],
      ['GET', '/admin/dashboard'],
      ['GET', '/admin/cse'],
    ];
    for (const [method, path] of routes) {
      for (const auth of [undefined, 'Bearer wrong', `Basic ${Buffer.from(`admin:${token}`).toString('base64')}`, `Bearer ${token}x`]) {
        const r = await app.request(path, {
          method,
          headers: auth ? { authorization: auth } : {},
          body: method === 'GET' ? undefined : '{}',
        });
        expect(r.status, `${method} ${path} with ${auth}`).toBe(401);
      }
    }
    // Nothing changed behind the refusals.
    expect((await call('GET', `/admin/tenants/${t.id}/keys/${k.id}`)).json.state).toBe('active');

    const page = await app.request('/console/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(page.headers.get('x-frame-options')).toBe('DENY');
    const html = await page.text();
    expect(html).not.toMatch(/<script>|<script\s+(?![^>]*src=)|\son[a-z]+=/i); // no inline script or handler
    expect((await app.request('/console')).status).toBe(301);
    const js = await app.request('/console/app.js');
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect(await js.text()).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
    for (const p of ['/console/constructor', '/console/..%2Fadmin-keys.ts', '/console/index.html.bak'])
      expect((await app.request(p)).status).toBe(404);
  });

  it('lists and creates tenants, shows their bindings, refuses duplicates and bad bodies', async () => {
    const domain = await call('POST', '/v2/okms/resource', { region: 'eu-west-rbx' });
    expect(domain.status).toBe(201);
    const created = await newTenant('acme <prod>');
    expect(created).toMatchObject({ name: 'acme <prod>', bindings: [] });
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);

    const list = await call('GET', '/admin/tenants');
    expect(list.status).toBe(200);
    expect(list.headers.get('cache-control')).toBe('no-store');
    const ovhTenant = list.json.tenants.find((t: any) => t.name === `ovh:${domain.json.id}`);
    expect(ovhTenant.bindings).toEqual([
      {
        dialect: 'ovh',
        externalId: domain.json.id,
        attributes: { region: 'eu-west-rbx' },
        createdAt: expect.any(String),
      },
    ]);
    expect(list.json.tenants.map((t: any) => t.id)).toContain(created.id);

    // By id or by name; bindings on their own.
    expect((await call('GET', `/admin/tenants/${ovhTenant.id}/bindings`)).json.bindings[0].externalId).toBe(domain.json.id);
    expect((await call('GET', `/admin/tenants/${encodeURIComponent('acme <prod>')}`)).json.id).toBe(created.id);

    expect((await call('POST', '/admin/tenants', { name: 'acme <prod>' })).status).toBe(409);
    // A name that reads as a tenant id would make `{tenant}` (an id or a name) ambiguous.
    for (const bad of [
      '{',
      '',
      '[]',
      { name: '' },
      { name: 'x'.repeat(257) },
      { name: 'ok', extra: 1 },
      { name: 42 },
      { name: ovhTenant.id },
      { name: randomUUID().toUpperCase() },
    ]) {
      const r = await call('POST', '/admin/tenants', bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(typeof r.json.message).toBe('string');
    }
    for (const unknown of [randomUUID(), 'no-such-tenant', 'x'.repeat(300)]) {
      expect((await call('GET', `/admin/tenants/${unknown}`)).status).toBe(404);
      expect((await call('GET', `/admin/tenants/${unknown}/keys`)).status).toBe(404);
      expect((await call('POST', `/admin/tenants/${unknown}/keys`, { type: 'oct', size: 256, name: 'k' })).status).toBe(404);
    }
  });

  it('creates AES, RSA and EC keys from the form fields, pages the list, gets and renames a key', async () => {
    const t = await newTenant();
    const aes = await newKey(t.id, {
      type: 'oct',
      size: 256,
      name: 'aes',
      description: 'for backups',
      operations: ['encrypt', 'decrypt'],
    });
    expect(aes).toMatchObject({
      type: 'oct',
      size: 256,
      curve: null,
      operations: ['encrypt', 'decrypt'],
      state: 'active',
      origin: 'generated',
      description: 'for backups',
    });
    const rsa = await newKey(t.id, { type: 'RSA', size: 2048, name: 'rsa', operations: ['sign', 'verify'] });
    expect(rsa).toMatchObject({ type: 'RSA', size: 2048 });
    const ec = await newKey(t.id, { type: 'EC', curve: 'P-384', name: 'ec' });
    expect(ec).toMatchObject({ type: 'EC', curve: 'P-384', size: null, operations: ['sign', 'verify'] });
    expect(JSON.stringify([aes, rsa, ec])).not.toMatch(/material|secret|"d"/);

    const p1 = await call('GET', `/admin/tenants/${t.id}/keys?limit=2`);
    expect(p1.json.keys.map((k: any) => k.name)).toEqual(['aes', 'rsa']);
    const p2 = await call('GET', `/admin/tenants/${t.id}/keys?limit=2&cursor=${p1.json.nextCursor}`);
    expect(p2.json.keys.map((k: any) => k.name)).toEqual(['ec']);
    expect(p2.json.nextCursor).toBeNull();
    expect((await call('GET', `/admin/tenants/${t.id}/keys?state=deactivated`)).json.keys).toEqual([]);

    const renamed = await call('PATCH', `/admin/tenants/${t.id}/keys/${aes.id}`, {
      name: 'aes-renamed',
      description: '',
    });
    expect(renamed.json).toMatchObject({ name: 'aes-renamed', description: '' });
    expect((await call('GET', `/admin/tenants/${t.id}/keys/${aes.id.toUpperCase()}`)).json.name).toBe('aes-renamed');
  });

  it('refuses bad key bodies and queries with 400 and a message naming the field', async () => {
    const t = await newTenant();
    const k = await newKey(t.id);
    const bad: [unknown, RegExp][] = [
      [{ type: 'DES', size: 56, name: 'x' }, /type/],
      [{ type: 'oct', size: 100, name: 'x' }, /size/],
      [{ type: 'oct', name: 'x' }, /size/],
      [{ type: 'EC', size: 256, name: 'x' }, /curve|size/],
      [{ type: 'EC', curve: 'P-999', name: 'x' }, /curve/],
      [{ type: 'RSA', size: 2048, name: '' }, /name/],
      [{ type: 'oct', size: 256, name: 'x', operations: ['sign'] }, /sign/],
      [{ type: 'oct', size: 256, name: 'x', operations: [] }, /operations/],
      [{ type: 'oct', size: 256, name: 'x', operations: ['fly'] }, /operations/],
      [{ type: 'oct', size: 256, name: 'x', material: 'AAAA' }, /unknown field/],
      ['not json', /JSON/],
    ];
    for (const [body, msg] of bad) {
      const r = await call('POST', `/admin/tenants/${t.id}/keys`, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json.message, JSON.stringify(body)).toMatch(msg);
    }
    for (const q of ['limit=0', 'limit=abc', 'limit=5000', 'cursor=%%%', 'cursor=bm90LWEtY3Vyc29y', 'state=gone', 'extra=1']) {
      expect((await call('GET', `/admin/tenants/${t.id}/keys?${q}`)).status, q).toBe(400);
    }
    for (const body of [{}, { name: '' }, { state: 'active' }, 'nope'])
      expect((await call('PATCH', `/admin/tenants/${t.id}/keys/${k.id}`, body)).status).toBe(400);
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`, { reason: 'bored' })).status).toBe(400);
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/schedule-deletion`, { pendingDays: -1 })).status).toBe(400);
    expect((await call('GET', `/admin/tenants/${t.id}/keys/${k.id}`)).json.state).toBe('active');
  });

  it("answers 404 for an unknown key, a malformed id, and another tenant's key", async () => {
    const a = await newTenant();
    const b = await newTenant();
    const k = await newKey(a.id);
    for (const id of [randomUUID(), 'not-a-uuid', "1' or '1'='1"]) {
      for (const [method, suffix] of [
        ['GET', ''],
        ['PATCH', ''],
        ['DELETE', ''],
        ['POST', '/deactivate'],
        ['POST', '/activate'],
      ] as const) {
        const r = await call(
          method,
          `/admin/tenants/${a.id}/keys/${encodeURIComponent(id)}${suffix}`,
          method === 'PATCH' ? { name: 'x' } : undefined,
        );
        expect(r.status, `${method} ${id}${suffix}`).toBe(404);
      }
    }
    expect((await call('GET', `/admin/tenants/${b.id}/keys/${k.id}`)).status).toBe(404);
    expect((await call('DELETE', `/admin/tenants/${b.id}/keys/${k.id}`)).status).toBe(404);
    expect((await call('GET', `/admin/tenants/${a.id}/keys/${k.id}`)).json.state).toBe('active');
  });

  it('deletes only a deactivated key: active is refused with 409, deactivated is destroyed, and the row stays', async () => {
    const t = await newTenant();
    const k = await newKey(t.id);
    const refused = await call('DELETE', `/admin/tenants/${t.id}/keys/${k.id}`);
    expect(refused.status).toBe(409);
    expect(refused.json.message).toMatch(/deactivate it first/);
    expect(
      (await kms.encrypt({ tenantId: t.id, dialect: 'test', principal: 't' }, k.id, Buffer.from('still works'))).ciphertext.length,
    ).toBeGreaterThan(0);

    const d = await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`, { reason: 'superseded' });
    expect(d.json).toMatchObject({ state: 'deactivated', deactivationReason: 'superseded' });
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/activate`)).json.state).toBe('active');
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`)).json).toMatchObject({
      state: 'deactivated',
      deactivationReason: 'unspecified',
    });

    const del = await call('DELETE', `/admin/tenants/${t.id}/keys/${k.id}`);
    expect(del.status).toBe(200);
    expect(del.json).toMatchObject({ state: 'destroyed', destroyedAt: expect.any(String) });
    expect(del.json.message).toMatch(/can no longer be decrypted/);
    expect((await call('GET', `/admin/tenants/${t.id}/keys/${k.id}`)).json.state).toBe('destroyed');
    expect((await call('DELETE', `/admin/tenants/${t.id}/keys/${k.id}`)).status).toBe(409);
    expect((await call('PATCH', `/admin/tenants/${t.id}/keys/${k.id}`, { name: 'zombie' })).status).toBe(409);
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/activate`)).status).toBe(409);
  });

  it('schedules and cancels a deletion of a deactivated key', async () => {
    const t = await newTenant();
    const k = await newKey(t.id);
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/schedule-deletion`, { pendingDays: 7 })).status).toBe(409);
    await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`, { reason: 'cessation_of_operation' });
    const s = await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/schedule-deletion`, { pendingDays: 7 });
    expect(s.json.state).toBe('pending_deletion');
    expect(new Date(s.json.deletionDueAt).getTime()).toBeGreaterThan(Date.now() + 6 * 86_400_000);
    expect((await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/cancel-deletion`)).json).toMatchObject({
      state: 'deactivated',
      deletionDueAt: null,
    });
  });

  it('records every console operation in the audit trail, newest first, per tenant and key, with paging', async () => {
    const t = await newTenant();
    const other = await newTenant();
    const k = await newKey(t.id);
    await newKey(other.id);
    await call('POST', `/admin/tenants/${t.id}/keys/${k.id}/deactivate`, { reason: 'superseded' }, { 'x-request-id': 'req-console-1' });
    await call('DELETE', `/admin/tenants/${t.id}/keys/${k.id}`, undefined, { 'x-request-id': 'bad id with spaces' });
    await call('GET', `/admin/tenants/${t.id}/keys/${randomUUID()}`);

    const r = await call('GET', `/admin/audit?tenant=${t.id}`);
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const events = r.json.events as any[];
    expect(events.every((e) => e.tenantId === t.id)).toBe(true);
    const keyEvents = events.filter((e) => e.keyId === k.id).map((e) => e.action);
    expect(keyEvents.slice(0, 3)).toEqual(['key.destroy', 'key.deactivate', 'key.create']);
    const deactivate = events.find((e) => e.action === 'key.deactivate');
    expect(deactivate).toMatchObject({
      dialect: 'admin',
      principal: 'admin-console',
      outcome: 'allowed',
      requestId: 'req-console-1',
      details: { reason: 'superseded', from: 'active', to: 'deactivated' },
    });
    expect(events.find((e) => e.action === 'key.destroy').requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(events.some((e) => e.action === 'key.get' && e.outcome === 'failed' && e.errorKind === 'not_found')).toBe(true);
    expect(events.some((e) => e.action === 'tenant.create')).toBe(true);

    const p1 = await call('GET', `/admin/audit?tenant=${t.id}&limit=2`);
    expect(p1.json.events).toHaveLength(2);
    const p2 = await call('GET', `/admin/audit?tenant=${t.id}&limit=2&before=${p1.json.nextBefore}`);
    expect(p2.json.events[0].id).not.toBe(p1.json.events[1].id);
    expect(new Date(p2.json.events[0].at).getTime()).toBeLessThanOrEqual(new Date(p1.json.events[1].at).getTime());

    expect((await call('GET', `/admin/audit?key=${k.id}`)).json.events.every((e: any) => e.keyId === k.id)).toBe(true);
    expect((await call('GET', `/admin/audit?tenant=${t.name}`)).json.events.length).toBe(events.length);
    expect((await call('GET', '/admin/audit?limit=1')).json.events).toHaveLength(1);
    for (const q of ['limit=0', 'limit=x', 'before=zzz', 'key=nope', 'what=1'])
      expect((await call('GET', `/admin/audit?${q}`)).status, q).toBe(400);
    expect((await call('GET', `/admin/audit?tenant=${randomUUID()}`)).status).toBe(404);
  });

  it('verifies the audit trail, against an anchor kept outside the database when given one', async () => {
    const full = adminApp(kms, { adminToken: token, ovhUrl: 'https://127.0.0.1:1' });
    const verify = async (body?: unknown) => {
      const r = await full.request('/admin/audit/verify', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: r.status, json: (await r.json()) as any };
    };
    const t = await newTenant();
    await newKey(t.id);
    const plain = await verify();
    expect(plain.status).toBe(200);
    expect(plain.json).toMatchObject({ ok: true, problems: [] });
    const head = plain.json.head as { seq: string; chain: string };
    expect(head.chain).toMatch(/^[0-9a-f]{64}$/);
    expect((await verify({ anchor: head })).json).toMatchObject({ ok: true, problems: [] });
    const wrong = await verify({ anchor: { seq: head.seq, chain: '0'.repeat(64) } });
    expect(wrong.json.ok).toBe(false);
    expect(wrong.json.problems[0].problem).toMatch(/another chain value/);
    const ahead = await verify({ anchor: { seq: String(BigInt(head.seq) + 1000n), chain: head.chain } });
    expect(ahead.json.problems[0].problem).toMatch(/not in the chain/);
    for (const body of ['{', { anchor: { seq: '1' } }, { anchor: { seq: '-1', chain: head.chain } }, { other: 1 }])
      expect((await verify(body)).status, JSON.stringify(body)).toBe(400);
  });

  it("lists a tenant's credentials of every dialect without certificates or keys", async () => {
    const domain = (await call('POST', '/v2/okms/resource', { region: 'eu-west-gra' })).json;
    const cred = await call('POST', `/v2/okms/resource/${domain.id}/credential`, {
      name: 'ops',
      identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
    });
    expect(cred.status).toBe(201);
    const tenant = (await call('GET', '/admin/tenants')).json.tenants.find((t: any) =>
      t.bindings.some((b: any) => b.externalId === domain.id),
    );
    const list = await call('GET', `/admin/tenants/${tenant.id}/credentials`);
    expect(list.json.credentials).toEqual([
      expect.objectContaining({
        id: cred.json.id,
        dialect: 'ovh',
        name: 'ops',
        status: 'active',
        identities: ['urn:v1:eu:identity:account:xx1111-ovh'],
        revokedAt: null,
      }),
    ]);
    expect(list.text).not.toMatch(/BEGIN/);
    expect((await call('DELETE', `/v2/okms/resource/${domain.id}/credential/${cred.json.id}`)).status).toBe(204);
    expect((await call('GET', `/admin/tenants/${tenant.id}/credentials`)).json.credentials[0].status).toBe('revoked');
    // OVH bearer tokens are listed too, by domain, never with the secret.
    const token = await call('POST', `/admin/ovh/domains/${domain.id}/tokens`, {
      name: 'ci',
      identityURNs: ['urn:v1:eu:identity:user:xx1111-ovh/ci'],
    });
    expect(token.status).toBe(201);
    const withToken = await call('GET', `/admin/tenants/${tenant.id}/credentials`);
    expect(withToken.json.credentials[1]).toEqual(
      expect.objectContaining({ id: token.json.id, kind: 'token', dialect: 'ovh', name: 'ci', status: 'active', okmsId: domain.id }),
    );
    expect(withToken.text).not.toContain(token.json.token.slice(12));
  });

  it("searches and filters a tenant's keys by text, type and state, with paging, and refuses bad queries", async () => {
    const t = await newTenant();
    await newKey(t.id, { type: 'oct', size: 256, name: 'payroll-db' });
    await newKey(t.id, {
      type: 'RSA',
      size: 2048,
      name: 'release-signer',
      description: 'signs payroll exports',
      operations: ['sign', 'verify'],
    });
    const ec = await newKey(t.id, { type: 'EC', curve: 'P-256', name: 'tls-ec' });
    await call('POST', `/admin/tenants/${t.id}/keys/${ec.id}/deactivate`, {});
    const names = async (q: string) => {
      const r = await call('GET', `/admin/tenants/${t.id}/keys?${q}`);
      expect(r.status, r.text).toBe(200);
      return (r.json.keys as any[]).map((k) => k.name);
    };
    expect(await names('search=PAYROLL')).toEqual(['payroll-db', 'release-signer']);
    expect(await names('search=payroll&type=RSA')).toEqual(['release-signer']);
    expect(await names(`search=${ec.id}`)).toEqual(['tls-ec']);
    expect(await names('state=deactivated')).toEqual(['tls-ec']);
    expect(await names('search=nothing-like-it')).toEqual([]);
    const p1 = await call('GET', `/admin/tenants/${t.id}/keys?search=-&limit=2`);
    expect(p1.json.keys).toHaveLength(2);
    const p2 = await call('GET', `/admin/tenants/${t.id}/keys?search=-&limit=2&cursor=${p1.json.nextCursor}`);
    expect(p2.json.keys.map((k: any) => k.name)).toEqual(['tls-ec']);
    expect(p2.json.nextCursor).toBeNull();
    for (const q of ['type=DES', `search=${'x'.repeat(300)}`, 'state=gone']) {
      const r = await call('GET', `/admin/tenants/${t.id}/keys?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.message, q).toMatch(/type|search|state/);
    }
  });

  it("filters the audit trail by principal, action, outcome, dialect and time, and hides the console's own reads on request", async () => {
    const t = await newTenant();
    const k = await newKey(t.id);
    await call('GET', `/admin/tenants/${t.id}/keys/${k.id}`);
    await call('GET', `/admin/tenants/${t.id}/keys`);
    await call('GET', `/admin/tenants/${t.id}/keys/${randomUUID()}`); // a failed read: shown even when reads are hidden
    const long = `urn:v1:eu:identity:user:${'x'.repeat(200)}/a_b`;
    await kms.getKey({ tenantId: t.id, dialect: 'ovh', principal: long }, k.id);
    const actions = async (q: string) => {
      const r = await call('GET', `/admin/audit?tenant=${t.id}&${q}`);
      expect(r.status, r.text).toBe(200);
      return (r.json.events as any[]).map((e) => `${e.dialect} ${e.action} ${e.outcome}`);
    };
    expect(await actions('hideConsoleReads=true')).toEqual([
      'ovh key.get allowed',
      'admin key.get failed',
      'admin key.create allowed',
      'admin tenant.create allowed',
    ]);
    expect(await actions('hideConsoleReads=false')).toHaveLength(6);
    expect(await actions('principal=USER:xxx')).toEqual(['ovh key.get allowed']);
    expect(await actions('dialect=ovh')).toEqual(['ovh key.get allowed']);
    expect(await actions('action=key.list')).toEqual(['admin key.list allowed']);
    expect(await actions('outcome=failed')).toEqual(['admin key.get failed']);
    expect(await actions(`since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).toEqual([]);
    expect(await actions(`until=${encodeURIComponent(new Date(Date.now() - 3_600_000).toISOString())}`)).toEqual([]);
    expect(await actions('since=2000-01-01T00:00:00%2B02:00&until=2999-01-01T00:00:00Z')).toHaveLength(6);
    for (const q of [
      'outcome=maybe',
      'since=yesterday',
      'until=2026-13-01T00:00:00Z',
      'principal=',
      `action=${'a'.repeat(300)}`,
      'hideConsoleReads=yes',
    ]) {
      const r = await call('GET', `/admin/audit?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.json.message, q).toMatch(/^(outcome|since|until|principal|action|hideConsoleReads):/);
    }
  });

  it('summarizes keys by state, type and dialect, with the traffic of the last hour when metrics are on', async () => {
    const before = (await call('GET', '/admin/dashboard')).json;
    expect(before.traffic).toBeNull();
    const huawei = await kms.tenants.resolve('huawei', `proj-${randomUUID().slice(0, 8)}`, { create: true });
    await newKey(huawei!, { type: 'oct', size: 128, name: 'h1' });
    const h2 = await newKey(huawei!, { type: 'RSA', size: 2048, name: 'h2' });
    await call('POST', `/admin/tenants/${huawei}/keys/${h2.id}/deactivate`, {});
    const plain = await newTenant();
    await newKey(plain.id, { type: 'EC', curve: 'P-384', name: 'e' });
    const after = (await call('GET', '/admin/dashboard')).json;
    const diff = (a: Record<string, number> = {}, b: Record<string, number> = {}) =>
      Object.fromEntries(
        Object.keys(a)
          .map((k) => [k, a[k]! - (b[k] ?? 0)])
          .filter(([, n]) => n !== 0),
      );
    expect(after.tenants - before.tenants).toBe(2);
    expect(after.keys.total - before.keys.total).toBe(3);
    expect(diff(after.keys.byState, before.keys.byState)).toEqual({ active: 2, deactivated: 1 });
    expect(diff(after.keys.byType, before.keys.byType)).toEqual({ oct: 1, RSA: 1, EC: 1 });
    expect(diff(after.keys.byDialect.huawei, before.keys.byDialect.huawei)).toEqual({ active: 1, deactivated: 1 });
    expect(diff(after.keys.byDialect.admin, before.keys.byDialect.admin)).toEqual({ active: 1 });

    const metrics = new Metrics();
    metrics.recent.add('ovh', false);
    metrics.recent.add('ovh', true);
    const withMetrics = composeAdminPort(kms, { adminToken: token, ovhUrl: 'https://127.0.0.1:1', metrics });
    const r = await withMetrics.request('/admin/dashboard', { headers: { authorization: `Bearer ${token}` } });
    const traffic = ((await r.json()) as any).traffic;
    expect(traffic.minutes).toBe(60);
    expect(traffic.dialects.ovh.requests).toHaveLength(60);
    expect(traffic.dialects.ovh.requests.at(-1)).toBe(2);
    expect(traffic.dialects.ovh.errors.at(-1)).toBe(1);
  });

  it('summarizes the running KACLS configuration, or says CSE is off', async () => {
    expect((await call('GET', '/admin/cse')).json).toEqual({ enabled: false });
    const cse = parseCseConfig({
      kaclsUrl: 'https://kacls.example.com/v1/',
      name: 'Example KACLS',
      identityProviders: [{ issuer: 'https://idp.example.com', jwksUri: 'https://idp.example.com/jwks', audiences: ['web-client'] }],
      privilegedUsers: ['ops@example.com'],
      perimeters: {},
    });
    const app2 = composeAdminPort(kms, { adminToken: token, ovhUrl: 'https://127.0.0.1:1', cse });
    const r = await app2.request('/admin/cse', { headers: { authorization: `Bearer ${token}` } });
    expect(await r.json()).toMatchObject({
      enabled: true,
      name: 'Example KACLS',
      kaclsUrl: 'https://kacls.example.com/v1/',
      instance: 'https://kacls.example.com/v1',
      identityProviders: [{ issuer: 'https://idp.example.com', audiences: ['web-client'] }],
      privilegedUsers: ['ops@example.com'],
      allowGuests: false,
      peers: [],
    });
  });
});

/**
 * The operator console in a real headless Chromium (Debian `chromium`, driven by playwright-core):
 * sign in with the admin token, pick an OVH domain's tenant, create an AES key with the form, see it
 * listed, deactivate it, delete it behind the confirm dialog, revoke the domain's credential, issue
 * and revoke a bearer token, read the audit trail; and, between the steps, the same key's state as an OVH client sees it over mTLS.
 *
 * Then the operator's views at 1400x900 and 800x900: the dashboard, key search with filters and
 * pages, the audit filters, a tenant linked to all three dialects with its credentials; at each size
 * nothing is wider than the window (layout assertions on the live page, and a screenshot kept in a
 * temporary directory for a human to look at; no pixel comparison).
 *
 * Without Chromium the suite is skipped, loudly; with POLYKMS_REQUIRE_CHROMIUM=1 (CI) it fails instead.
 */
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Dialog, type Page } from 'playwright-core';
import { Agent, fetch as tlsFetch } from 'undici';
import { parseCseConfig } from '@polykms/cse';
import { startAdminHarness, type AdminHarness } from './admin-harness.ts';
import { call, type Creds } from '../../ovh/test/client.ts';

const CHROMIUM = process.env.POLYKMS_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const msg = `\n\n*** SKIPPED: the console browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set POLYKMS_CHROMIUM). The console is NOT tested in a browser in this run. ***\n\n`;
  if (process.env.POLYKMS_REQUIRE_CHROMIUM === '1') throw new Error(msg);
  console.warn(msg);
}

const CSE = parseCseConfig({
  kaclsUrl: 'https://kacls.example.com/v1',
  name: 'Example KACLS',
  identityProviders: [
    {
      issuer: 'https://idp.example.com',
      jwksUri: 'https://idp.example.com/jwks',
      audiences: ['web-client', 'desktop-client'],
    },
  ],
  privilegedUsers: ['ops@example.com'],
});

// A page load on a busy machine can take seconds; expect.poll gives up after one by default.
const poll = <T>(fn: () => T | Promise<T>) => expect.poll(fn, { timeout: 30_000, interval: 100 });

describe.skipIf(!haveChromium)('operator console in headless Chromium', () => {
  let h: AdminHarness;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await tlsFetch(`${h.adminUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${h.token}` },
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: new Agent({ connect: { ca: h.caPem } }),
    });
    return { status: r.status, json: (r.status === 204 ? undefined : await r.json()) as any };
  };

  beforeAll(async () => {
    h = await startAdminHarness('pglite', { cse: CSE });
    const quiet = [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ];
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox', ...quiet] : quiet,
    });
    // The admin port is HTTPS under the gateway's own CA, which this throwaway browser profile does not hold.
    page = await (await browser.newContext({ viewport: { width: 1400, height: 900 }, ignoreHTTPSErrors: true })).newPage();
    page.setDefaultTimeout(30_000);
    page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      // HTTP refusals the test provokes show up as "Failed to load resource"; anything else (a CSP or
      // Trusted Types violation, a script error) is a defect.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
    });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('creates a key in the console, sees it listed, deactivates and deletes it, while OVH sees the same states', async () => {
    // An OVH domain with an access certificate, made through the admin API as an operator would.
    const domain = await admin('POST', '/v2/okms/resource', { region: 'eu-west-rbx' });
    expect(domain.status).toBe(201);
    const okmsId: string = domain.json.id;
    const cred = await admin('POST', `/v2/okms/resource/${okmsId}/credential`, {
      name: 'app-server',
      identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
    });
    const certificate = await admin('GET', `/v2/okms/resource/${okmsId}/credential/${cred.json.id}`);
    const creds: Creds = { cert: certificate.json.certificatePEM, key: cred.json.privateKeyPEM, ca: h.caPem };
    const ovh = (method: string, path: string, body?: unknown) => call(h.ovh.url, creds, method, `/api/${okmsId}${path}`, body);
    // Markup in data must come out as text.
    const hostile = '<img src=x onerror="window.__pwned=1">';
    expect((await admin('POST', '/admin/tenants', { name: hostile })).status).toBe(201);

    // Sign in: a wrong token is refused and forgotten, the right one kept for the tab.
    const res = await page.goto(`${h.adminUrl}/console/`);
    expect(page.url()).toMatch(/^https:\/\//);
    expect(res!.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.locator('#token').fill('not-the-token');
    await page.locator('#login-form button[type=submit]').click();
    await poll(() => page.locator('#login-error').textContent()).toMatch(/refused/);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await page.locator('#token').fill(h.token);
    await page.locator('#login-form button[type=submit]').click();

    // The overview first; then the tenants, with the domain binding; pick the domain's tenant.
    await page.locator('#dashboard').waitFor();
    await page.locator('nav a', { hasText: 'Tenants' }).click();
    const tenantRow = page.locator('#tenants tbody tr', { hasText: okmsId });
    await tenantRow.waitFor();
    expect(await tenantRow.textContent()).toContain('OVH domain');
    expect(await page.locator('#tenants tbody tr', { hasText: hostile }).count()).toBe(1);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.locator('#tenants img').count()).toBe(0);
    await tenantRow.locator('a.tenant-link').click();

    // The create-key form: AES-256, encrypt and decrypt only.
    await page.locator('#new-key summary').click();
    await page.locator('#create-key').waitFor();
    await page.locator('#key-name').fill('console-aes');
    await page.locator('#key-type').selectOption('oct');
    await page.locator('#key-size').selectOption('256');
    for (const op of ['wrapKey', 'unwrapKey']) await page.locator(`#key-ops input[value=${op}]`).uncheck();
    await page.locator('#create-key button[type=submit]').click();
    const keyRow = page.locator('#keys tbody tr', { hasText: 'console-aes' });
    await keyRow.waitFor();
    const keyId = (await keyRow.getAttribute('data-key-id'))!;
    expect(keyId).toMatch(/^[0-9a-f-]{36}$/);
    expect(await keyRow.locator('[data-state]').getAttribute('data-state')).toBe('active');
    expect(await keyRow.textContent()).toContain('encrypt, decrypt');

    // The OVH client sees the key the console made, active, and uses it.
    const seen = await ovh('GET', `/v1/servicekey/${keyId}`);
    expect(seen.status).toBe(200);
    expect(seen.json).toMatchObject({
      id: keyId,
      name: 'console-aes',
      type: 'oct',
      size: 256,
      operations: ['encrypt', 'decrypt'],
      attributes: { state: 'active' },
    });
    const plaintext = Buffer.from('payroll 2026').toString('base64');
    const encrypted = await ovh('POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext });
    expect(encrypted.status).toBe(200);

    // The key page: delete is not offered while the key is active.
    await keyRow.locator('a.key-link').click();
    const state = page.locator('#key-props [data-prop=state] [data-state]');
    await poll(() => state.getAttribute('data-state')).toBe('active');
    expect(await page.locator('#delete').isDisabled()).toBe(true);
    expect(await page.locator('#delete-hint').textContent()).toMatch(/deactivate it first/);

    // Deactivate with a reason.
    await page.locator('#deactivate-reason').selectOption('superseded');
    await page.locator('#deactivate button[type=submit]').click();
    await poll(() => state.getAttribute('data-state')).toBe('deactivated');
    expect(await page.locator('#key-props [data-prop=deactivated]').textContent()).toContain('superseded');
    const deactivated = await ovh('GET', `/v1/servicekey/${keyId}`);
    expect(deactivated.json.attributes).toMatchObject({ state: 'deactivated', deactivation_reason: 'superseded' });
    // Still decrypts existing data, as a deactivated key should.
    expect((await ovh('POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: encrypted.json.ciphertext })).json.plaintext).toBe(
      plaintext,
    );

    // Delete: dismissing the dialog deletes nothing; accepting it, after reading its warning, does.
    const dialogs: Dialog[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.dismiss();
    });
    await page.locator('#delete').click();
    await poll(() => dialogs.length).toBe(1);
    expect(await state.getAttribute('data-state')).toBe('deactivated');
    expect((await ovh('GET', `/v1/servicekey/${keyId}`)).json.attributes.state).toBe('deactivated');

    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.accept();
    });
    await page.locator('#delete').click();
    await poll(() => state.getAttribute('data-state')).toBe('destroyed');
    const warning = dialogs[1]!;
    expect(warning.type()).toBe('confirm');
    expect(warning.message()).toContain(keyId);
    expect(warning.message()).toMatch(/Data encrypted with this key becomes unrecoverable/);
    expect(warning.message()).toMatch(/cannot be undone/);
    expect(await page.locator('#delete').count()).toBe(0);

    // OVH: the key is destroyed, and its data is gone with it.
    const destroyed = await ovh('GET', `/v1/servicekey/${keyId}`);
    expect(destroyed.status).toBe(200);
    expect(destroyed.json.attributes.state).toBe('destroyed');
    expect(destroyed.json.attributes.destroy_date).toEqual(expect.any(String));
    expect((await ovh('POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: encrypted.json.ciphertext })).status).toBeGreaterThanOrEqual(
      400,
    );

    // Back on the tenant page: the key is listed as destroyed; revoke the domain's credential.
    await page.locator('a', { hasText: 'Keys of the tenant' }).click();
    await poll(() => page.locator(`#keys tr[data-key-id="${keyId}"] [data-state]`).getAttribute('data-state')).toBe('destroyed');
    const credRow = page.locator(`#credentials tr[data-credential-id="${cred.json.id}"]`);
    expect(await credRow.locator('.cred-status').textContent()).toBe('READY');
    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.accept();
    });
    await credRow.locator('button', { hasText: 'Revoke' }).click();
    await poll(() => page.locator(`#credentials tr[data-credential-id="${cred.json.id}"] .cred-status`).textContent()).toBe('DELETING');
    expect(dialogs[2]!.message()).toMatch(/refused at once/);
    expect((await ovh('GET', `/v1/servicekey/${keyId}`)).status).toBe(401);

    // A bearer token issued in the console: shown once, used on the OVH listener without a
    // certificate, listed without its secret, revoked behind a confirm.
    await page.locator('#credentials details.issue summary').first().click();
    const issueForm = page.locator('#credentials form.issue-token').first();
    await issueForm.locator('input[name=name]').fill('ci-job');
    await issueForm.locator('input[name=identityURNs]').fill('urn:v1:eu:identity:account:xx1111-ovh');
    await issueForm.locator('button[type=submit]').click();
    const shown = page.locator('#credentials .issued-token input');
    await shown.waitFor();
    const bearer = await shown.inputValue();
    expect(bearer).toMatch(/^polykms_ovh_[A-Za-z0-9_-]{43}$/);
    const tokenRow = page.locator('#credentials table.tokens tbody tr', { hasText: 'ci-job' });
    await tokenRow.waitFor();
    expect(await tokenRow.locator('.token-status').textContent()).toBe('ACTIVE');
    expect(await page.locator('#credentials table.tokens').textContent()).not.toContain(bearer.slice(12));
    const byToken = () =>
      call(h.ovh.url, { ca: h.caPem }, 'GET', `/api/${okmsId}/v1/servicekey`, undefined, { authorization: `Bearer ${bearer}` });
    expect((await byToken()).status).toBe(200);
    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.accept();
    });
    await tokenRow.locator('button', { hasText: 'Revoke' }).click();
    await poll(() => tokenRow.locator('.token-status').textContent()).toBe('REVOKED');
    expect(dialogs[3]!.message()).toMatch(/refused at once/);
    expect((await byToken()).status).toBe(401);

    // The audit trail shows what the console did, as the admin console.
    await page.locator('a', { hasText: 'Audit events of this tenant' }).click();
    const audit = page.locator('#audit table.audit tbody');
    await audit.waitFor();
    for (const action of ['key.create', 'key.deactivate', 'key.destroy']) {
      const row = audit.locator(`tr[data-action="${action}"]`, { has: page.locator(`a[title="${keyId}"]`) }).first();
      expect(await row.textContent(), action).toContain('admin-console');
    }
    expect(await audit.locator('tr[data-action="credential.revoke"]').count()).toBe(1);
    expect(await audit.locator('tr[data-action="token.revoke"]').count()).toBe(1);

    // Signing out forgets the token.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(pageErrors).toEqual([]);
  }, 180_000);

  it('dashboard, key search and audit filters work at 1400x900 and 800x900, nothing wider than the window', async () => {
    const shots = mkdtempSync(join(tmpdir(), 'polykms-console-'));
    // One tenant reachable from all three dialects, with keys enough for several pages.
    const domain = await admin('POST', '/v2/okms/resource', { region: 'eu-west-gra' });
    const okmsId: string = domain.json.id;
    const cred = await admin('POST', `/v2/okms/resource/${okmsId}/credential`, {
      name: 'billing-app',
      identityURNs: ['urn:v1:eu:identity:account:zz9999-ovh'],
    });
    const tenant = (await admin('GET', '/admin/tenants')).json.tenants.find((t: any) =>
      t.bindings.some((b: any) => b.externalId === okmsId),
    );
    expect((await admin('POST', `/admin/tenants/${tenant.id}/links`, { dialect: 'huawei', id: 'proj-layout' })).status).toBe(200);
    expect((await admin('POST', `/admin/tenants/${tenant.id}/links`, { dialect: 'cse', id: 'https://kacls.example.com/v1' })).status).toBe(
      200,
    );
    const user = await admin('POST', '/admin/huawei/users', {
      domain: 'acme',
      name: 'kms-operator',
      password: 'correct horse battery',
      projects: [{ id: 'proj-layout', roles: ['KMS Administrator'] }],
    });
    expect(user.status).toBe(201);
    const ak = await admin('POST', `/admin/huawei/users/${user.json.id}/access-keys`, { description: 'ci' });
    expect(ak.status).toBe(201);
    for (let i = 0; i < 23; i++)
      expect(
        (
          await admin('POST', `/admin/tenants/${tenant.id}/keys`, {
            type: 'oct',
            size: 256,
            name: `invoice-${String(i).padStart(2, '0')}`,
          })
        ).status,
      ).toBe(201);
    const signer = await admin('POST', `/admin/tenants/${tenant.id}/keys`, {
      type: 'EC',
      curve: 'P-256',
      name: 'release-signer',
      description: 'signs the nightly builds',
    });
    await admin('POST', `/admin/tenants/${tenant.id}/keys/${signer.json.id}/deactivate`, { reason: 'superseded' });
    // Traffic on the OVH data plane for the chart: answered and refused requests.
    const creds: Creds = {
      cert: (await admin('GET', `/v2/okms/resource/${okmsId}/credential/${cred.json.id}`)).json.certificatePEM,
      key: cred.json.privateKeyPEM,
      ca: h.caPem,
    };
    for (let i = 0; i < 5; i++)
      expect((await call(h.ovh.url, creds, 'GET', `/api/${okmsId}/v1/servicekey/${signer.json.id}`)).status).toBe(200);
    expect((await call(h.ovh.url, creds, 'GET', `/api/${okmsId}/v1/servicekey/00000000-0000-4000-8000-000000000000`)).status).toBe(404);
    // An event from a principal far longer than any window, and a pile of console reads to hide.
    const longPrincipal = `urn:v1:eu:identity:user:zz9999-ovh/${'automation-service-account-'.repeat(12)}end`;
    await h.kms.getKey(
      { tenantId: tenant.id, dialect: 'ovh', principal: longPrincipal, requestId: `req-${'r'.repeat(100)}` },
      signer.json.id,
    );
    for (let i = 0; i < 30; i++) await admin('GET', `/admin/tenants/${tenant.id}/keys/${signer.json.id}`);

    const layout = async (name: string) => {
      // Run in the page (this file is compiled without the DOM's types, hence a string).
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
      const r = (await page.evaluate(`(() => {
        const w = window.innerWidth;
        const wide = [...document.querySelectorAll('body *')]
          .filter((el) => {
            const b = el.getBoundingClientRect();
            return b.width > 0 && b.height > 0 && (b.right > w + 0.5 || b.left < -0.5);
          })
          .map((el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + '.' + el.className + ' (' + Math.round(el.getBoundingClientRect().right) + 'px)');
        return { w, scrollWidth: document.documentElement.scrollWidth, bodyWidth: document.body.scrollWidth, wide: wide.slice(0, 5) };
      })()`)) as { w: number; scrollWidth: number; bodyWidth: number; wide: string[] };
      expect(r.scrollWidth, name).toBeLessThanOrEqual(r.w);
      expect(r.bodyWidth, name).toBeLessThanOrEqual(r.w);
      expect(r.wide, name).toEqual([]);
      await page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
    };
    const visible = async (selector: string) => expect(await page.locator(selector).first().isVisible(), selector).toBe(true);

    await page.goto(`${h.adminUrl}/console/`);
    if (await page.locator('#login').isVisible()) {
      await page.locator('#token').fill(h.token);
      await page.locator('#login-form button[type=submit]').click();
    }
    for (const [width, height] of [
      [1400, 900],
      [800, 900],
    ] as const) {
      await page.setViewportSize({ width, height });
      const size = `${width}x${height}`;

      // Dashboard: counts, bars and the traffic chart of the OVH data plane.
      await page.goto(`${h.adminUrl}/console/#/`);
      await page.locator('#dashboard').waitFor();
      expect(Number(await page.locator('#keys-total').textContent())).toBeGreaterThanOrEqual(24);
      expect(await page.locator('#by-state .bar[data-label="deactivated"] .bar-value').textContent()).not.toBe('0');
      await visible('#by-dialect .bar[data-label="OVH"]');
      const ovhTraffic = page.locator('#traffic .traffic[data-dialect="ovh"]');
      expect(await ovhTraffic.locator('.traffic-total').textContent()).toMatch(/^\d+ requests$/);
      expect(Number((await ovhTraffic.locator('.traffic-total').textContent())!.split(' ')[0])).toBeGreaterThanOrEqual(6);
      expect(await ovhTraffic.locator('.traffic-errors').textContent()).toMatch(/^[1-9]\d* errors$/);
      const canvas = await ovhTraffic.locator('canvas').boundingBox();
      expect(canvas!.width).toBeGreaterThan(100);
      // The bars are drawn: some pixel of the canvas is not the background.
      expect(
        await ovhTraffic
          .locator('canvas')
          .evaluate((c: any) =>
            (c.getContext('2d').getImageData(0, 0, c.width, c.height).data as Uint8ClampedArray).some((v, i) => i % 4 === 3 && v > 0),
          ),
      ).toBe(true);
      await layout(`${size}-dashboard`);

      // Key search, filters and pages on the tenant page.
      await page.goto(`${h.adminUrl}/console/#/tenants/${tenant.id}`);
      const rows = page.locator('#keys tbody tr');
      await poll(() => rows.count()).toBe(24); // all of them on the first page of 25
      await page.locator('#key-page-size').selectOption('10');
      await poll(() => rows.count()).toBe(10);
      expect(await page.locator('#keys-status').textContent()).toBe('Keys 1–10');
      expect(await page.locator('#keys-prev').isDisabled()).toBe(true);
      await page.locator('#keys-next').click();
      await poll(() => page.locator('#keys-status').textContent()).toBe('Keys 11–20');
      await page.locator('#keys-next').click();
      await poll(() => page.locator('#keys-status').textContent()).toBe('Keys 21–24');
      expect(await page.locator('#keys-next').isDisabled()).toBe(true);
      await page.locator('#keys-prev').click();
      await poll(() => page.locator('#keys-status').textContent()).toBe('Keys 11–20');
      await page.locator('#key-search').fill('INVOICE-1');
      await poll(async () => (await rows.allTextContents()).length).toBe(10);
      expect((await page.locator('#keys tbody a.key-link').allTextContents()).every((n) => n.startsWith('invoice-1'))).toBe(true);
      await page.locator('#key-search').fill('nightly');
      await poll(() => page.locator('#keys tbody a.key-link').allTextContents()).toEqual(['release-signer']);
      await page.locator('#key-search').fill('');
      await page.locator('#key-filter-state').selectOption('deactivated');
      await poll(() => page.locator('#keys tbody a.key-link').allTextContents()).toEqual(['release-signer']);
      await page.locator('#key-filter-state').selectOption('');
      await page.locator('#key-filter-type').selectOption('EC');
      await poll(() => page.locator('#keys tbody a.key-link').allTextContents()).toEqual(['release-signer']);
      await page.locator('#key-filter-type').selectOption('');
      await page.locator('#key-search').fill('no such key');
      await poll(() => page.locator('#keys-status').textContent()).toBe('No keys match.');
      await page.locator('#key-search').fill('');
      await poll(() => rows.count()).toBe(10);
      // Raw ids are shortened, the whole id a tooltip away.
      const firstRow = rows.first();
      const firstId = (await firstRow.getAttribute('data-key-id'))!;
      expect(await firstRow.locator('.id').getAttribute('data-id')).toBe(firstId);
      expect(await firstRow.textContent()).not.toContain(firstId);
      // Every linked namespace's credentials: the OVH certificate, the Huawei user and its access key, the CSE configuration.
      await visible(`#credentials tr[data-credential-id="${cred.json.id}"]`);
      expect(await page.locator(`#credentials tr[data-user-id="${user.json.id}"]`).textContent()).toContain(ak.json.access);
      expect(await page.locator('#cse-summary').textContent()).toContain('https://idp.example.com');
      expect(await page.locator('#credentials').textContent()).not.toContain(ak.json.secret);
      // A new RSA key signs and verifies unless asked otherwise.
      await page.locator('#new-key summary').click();
      await page.locator('#key-type').selectOption('RSA');
      const checked = await page.locator('#key-ops input:checked').evaluateAll((els) => els.map((e) => (e as any).value as string));
      expect(checked).toEqual(['sign', 'verify']);
      await layout(`${size}-tenant`);

      // Audit: the console's reads are hidden unless asked for; filters by principal, outcome, key and time.
      await page.goto(`${h.adminUrl}/console/#/audit?tenant=${tenant.id}`);
      const events = page.locator('#audit table.audit tbody tr');
      await events.first().waitFor();
      expect(await page.locator('#audit tr[data-action="key.get"]', { hasText: 'admin-console' }).count()).toBe(0);
      await visible(`#audit tr[data-action="key.get"] .principal[title="${longPrincipal}"]`);
      await page.locator('#audit-console').check();
      await page.locator('#audit-filters button[type=submit]').click();
      await poll(() => page.locator('#audit tr[data-action="key.get"]', { hasText: 'admin-console' }).count()).toBeGreaterThanOrEqual(10);
      await layout(`${size}-audit-all`);
      await page.locator('#audit-console').uncheck();
      await page.locator('#audit-principal').fill('automation-service');
      await page.locator('#audit-filters button[type=submit]').click();
      await poll(() => events.count()).toBe(1);
      expect(await events.first().getAttribute('data-action')).toBe('key.get');
      await layout(`${size}-audit-principal`);
      await page.locator('#audit-principal').fill('');
      await page.locator('#audit-outcome').selectOption('failed');
      await page.locator('#audit-filters button[type=submit]').click();
      await poll(async () =>
        (await events.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-outcome')))).every((o) => o === 'failed'),
      ).toBe(true);
      await page.locator('#audit-outcome').selectOption('');
      await page.locator('#audit-key').fill(signer.json.id);
      await page.locator('#audit-action').selectOption('key.deactivate');
      await page.locator('#audit-filters button[type=submit]').click();
      await poll(() => events.evaluateAll((trs) => trs.map((t) => t.getAttribute('data-action')))).toEqual(['key.deactivate']);
      expect(await page.locator('#audit-results').textContent()).toContain('superseded');
      await page.locator('#audit-action').selectOption('');
      await page.locator('#audit-since').fill('2999-01-01T00:00');
      await page.locator('#audit-filters button[type=submit]').click();
      await poll(() => page.locator('#audit-results').textContent()).toBe('No events.');
      expect(page.url()).toContain('since=2999-01-01T');
      await layout(`${size}-audit-empty`);
    }
    expect(pageErrors).toEqual([]);
    console.info(`console screenshots: ${shots}`);
  }, 300_000);
});

/**
 * The operator console in a real headless Chromium (Debian `chromium`, driven by playwright-core):
 * sign in with the admin token, pick an OVH domain's tenant, create an AES key with the form, see it
 * listed, deactivate it, delete it behind the confirm dialog, revoke the domain's credential, read the
 * audit trail; and, between the steps, the same key's state as an OVH client sees it over mTLS.
 *
 * Without Chromium the suite is skipped, loudly; with POLYKMS_REQUIRE_CHROMIUM=1 (CI) it fails instead.
 */
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Dialog, type Page } from 'playwright-core';
import { Agent, fetch as tlsFetch } from 'undici';
import { startAdminHarness, type AdminHarness } from './admin-harness.ts';
import { call, type Creds } from '../../ovh/test/client.ts';

const CHROMIUM = process.env.POLYKMS_CHROMIUM ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  const msg = `\n\n*** SKIPPED: the console browser test needs Chromium at ${CHROMIUM} (apt-get install chromium, or set POLYKMS_CHROMIUM). The console is NOT tested in a browser in this run. ***\n\n`;
  if (process.env.POLYKMS_REQUIRE_CHROMIUM === '1') throw new Error(msg);
  console.warn(msg);
}

describe.skipIf(!haveChromium)('operator console in headless Chromium', () => {
  let h: AdminHarness;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const admin = async (method: string, path: string, body?: unknown) => {
    const r = await tlsFetch(`${h.adminUrl}${path}`, { method, headers: { authorization: `Bearer ${h.token}` }, body: body === undefined ? undefined : JSON.stringify(body), dispatcher: new Agent({ connect: { ca: h.caPem } }) });
    return { status: r.status, json: (r.status === 204 ? undefined : await r.json()) as any };
  };

  beforeAll(async () => {
    h = await startAdminHarness();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: process.getuid?.() === 0 ? ['--no-sandbox'] : [] });
    // The admin port is HTTPS under the gateway's own CA, which this throwaway browser profile does not hold.
    page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    page.setDefaultTimeout(10_000);
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
    const cred = await admin('POST', `/v2/okms/resource/${okmsId}/credential`, { name: 'app-server', identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'] });
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
    await expect.poll(() => page.locator('#login-error').textContent()).toMatch(/refused/);
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    await page.locator('#token').fill(h.token);
    await page.locator('#login-form button[type=submit]').click();

    // Tenants, with the domain binding; pick the domain's tenant.
    const tenantRow = page.locator('#tenants tbody tr', { hasText: okmsId });
    await tenantRow.waitFor();
    expect(await tenantRow.textContent()).toContain('OVH domain');
    expect(await page.locator('#tenants tbody tr', { hasText: hostile }).count()).toBe(1);
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    expect(await page.locator('#tenants img').count()).toBe(0);
    await tenantRow.locator('a.tenant-link').click();

    // The create-key form: AES-256, encrypt and decrypt only.
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
    expect(seen.json).toMatchObject({ id: keyId, name: 'console-aes', type: 'oct', size: 256, operations: ['encrypt', 'decrypt'], attributes: { state: 'active' } });
    const plaintext = Buffer.from('payroll 2026').toString('base64');
    const encrypted = await ovh('POST', `/v1/servicekey/${keyId}/encrypt`, { plaintext });
    expect(encrypted.status).toBe(200);

    // The key page: delete is not offered while the key is active.
    await keyRow.locator('a.key-link').click();
    const state = page.locator('#key-props [data-prop=state] [data-state]');
    await expect.poll(() => state.getAttribute('data-state')).toBe('active');
    expect(await page.locator('#delete').isDisabled()).toBe(true);
    expect(await page.locator('#delete-hint').textContent()).toMatch(/deactivate it first/);

    // Deactivate with a reason.
    await page.locator('#deactivate-reason').selectOption('superseded');
    await page.locator('#deactivate button[type=submit]').click();
    await expect.poll(() => state.getAttribute('data-state')).toBe('deactivated');
    expect(await page.locator('#key-props [data-prop=deactivated]').textContent()).toContain('superseded');
    const deactivated = await ovh('GET', `/v1/servicekey/${keyId}`);
    expect(deactivated.json.attributes).toMatchObject({ state: 'deactivated', deactivation_reason: 'superseded' });
    // Still decrypts existing data, as a deactivated key should.
    expect((await ovh('POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: encrypted.json.ciphertext })).json.plaintext).toBe(plaintext);

    // Delete: dismissing the dialog deletes nothing; accepting it, after reading its warning, does.
    const dialogs: Dialog[] = [];
    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.dismiss();
    });
    await page.locator('#delete').click();
    await expect.poll(() => dialogs.length).toBe(1);
    expect(await state.getAttribute('data-state')).toBe('deactivated');
    expect((await ovh('GET', `/v1/servicekey/${keyId}`)).json.attributes.state).toBe('deactivated');

    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.accept();
    });
    await page.locator('#delete').click();
    await expect.poll(() => state.getAttribute('data-state')).toBe('destroyed');
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
    expect((await ovh('POST', `/v1/servicekey/${keyId}/decrypt`, { ciphertext: encrypted.json.ciphertext })).status).toBeGreaterThanOrEqual(400);

    // Back on the tenant page: the key is listed as destroyed; revoke the domain's credential.
    await page.locator('a', { hasText: 'Keys of the tenant' }).click();
    await expect.poll(() => page.locator(`#keys tr[data-key-id="${keyId}"] [data-state]`).getAttribute('data-state')).toBe('destroyed');
    const credRow = page.locator(`#credentials tr[data-credential-id="${cred.json.id}"]`);
    expect(await credRow.locator('.cred-status').textContent()).toBe('READY');
    page.once('dialog', (d) => {
      dialogs.push(d);
      void d.accept();
    });
    await credRow.locator('button', { hasText: 'Revoke' }).click();
    await expect.poll(() => page.locator(`#credentials tr[data-credential-id="${cred.json.id}"] .cred-status`).textContent()).toBe('DELETING');
    expect(dialogs[2]!.message()).toMatch(/refused at once/);
    expect((await ovh('GET', `/v1/servicekey/${keyId}`)).status).toBe(401);

    // The audit trail shows what the console did, as the admin console.
    await page.locator('a', { hasText: 'Audit events of this tenant' }).click();
    const audit = page.locator('#audit table.audit tbody');
    await audit.waitFor();
    for (const action of ['key.create', 'key.deactivate', 'key.destroy']) {
      const row = audit.locator(`tr[data-action="${action}"]`, { hasText: keyId }).first();
      expect(await row.textContent(), action).toContain('admin-console');
    }
    expect(await audit.locator('tr[data-action="credential.revoke"]').count()).toBe(1);

    // Signing out forgets the token.
    await page.locator('#signout').click();
    await page.locator('#login').waitFor();
    expect(await page.evaluate('sessionStorage.length')).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

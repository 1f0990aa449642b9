/**
 * Requests signed in the older `Credential=<AK>/<yyyymmdd>/<region>/<service>/sdk_request` form, as
 * gophertelekomcloud (the Open Telekom Cloud Go SDK and Terraform provider) signs them, are accepted
 * beside the `Access=` form. The signatures come from an independent implementation (Python).
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatSdkDate } from '../src/signer.ts';
import { call } from './client.ts';
import { P1, expectApigwError, openWorld, type World } from './setup.ts';

const signer = new URL('./fixtures/otc_sign.py', import.meta.url).pathname;

describe('the Open Telekom Cloud signing form', () => {
  let w: World;
  let close: () => Promise<void>;
  let creds: { ak: string; sk: string };
  let keyId: string;

  beforeAll(async () => {
    ({ w, close } = await openWorld('pglite'));
    const u = await w.user('terraform', [{ id: P1, roles: ['KMS Administrator'] }]);
    const k = await w.accessKey(u.id);
    creds = { ak: k.access, sk: k.secret };
    const t = await w.token('terraform', 'terraform-password', P1);
    keyId = (await w.kms(t, 'create-key', { key_alias: 'otc' })).json.key_info.key_id;
  });
  afterAll(() => close?.());

  /** Signs as signer_helper.go (every header it sends, Host and X-Sdk-Date added), then sends exactly that. */
  function otc(
    verb: string,
    body: unknown,
    o: { date?: string; scopeDate?: string; region?: string; service?: string; sk?: string; tamper?: boolean } = {},
  ) {
    const payload = JSON.stringify(body);
    const path = `/v1.0/${P1}/kms/${verb}`;
    const headers = { 'Content-Type': 'application/json', 'User-Agent': 'golangsdk  build' };
    const date = o.date ?? formatSdkDate(new Date());
    const host = `localhost:${w.server.port}`;
    const input = { method: 'POST', host, path, query: {}, headers, body: payload, ak: creds.ak, sk: o.sk ?? creds.sk, date };
    const authorization = execFileSync('python3', [signer], {
      input: JSON.stringify({ ...input, region: o.region ?? '', service: o.service ?? '', scope_date: o.scopeDate }),
      encoding: 'utf8',
    }).trim();
    // Set after signing, as provider_client.go does: not signed.
    return call(w.server.url, w.ca, 'POST', path, o.tamper ? payload.replace('secret', 'Secret') : payload, {
      ...headers,
      Host: host,
      'X-Sdk-Date': date,
      'X-Project-Id': P1,
      Authorization: authorization,
    });
  }

  it('accepts it with the empty region and service gophertelekomcloud sends, and with a named scope', async () => {
    const enc = await otc('encrypt-data', { key_id: keyId, plain_text: 'secret' });
    expect(enc.status, enc.text).toBe(200);
    const dec = await otc('decrypt-data', { cipher_text: enc.json.cipher_text });
    expect(dec.status, dec.text).toBe(200);
    expect(dec.json.plain_text).toBe('secret');
    const scoped = await otc('describe-key', { key_id: keyId }, { region: 'eu-de', service: 'kms' });
    expect(scoped.status, scoped.text).toBe(200);
    expect(scoped.json.key_info.key_id).toBe(keyId);
  });

  it('refuses a wrong secret, a changed body, and a scope dated another day', async () => {
    expectApigwError(await otc('describe-key', { key_id: keyId }, { sk: 'not-the-secret-key' }), 401, 'APIGW.0301');
    expectApigwError(await otc('encrypt-data', { key_id: keyId, plain_text: 'secret' }, { tamper: true }), 401, 'APIGW.0301');
    // The signature is right for its scope, but the scope's day is not X-Sdk-Date's.
    const wrongDay = await otc('describe-key', { key_id: keyId }, { scopeDate: '20200101' });
    expectApigwError(wrongDay, 401, 'APIGW.0301');
    expect(wrongDay.json.error_msg).toMatch(/scope's date 20200101/);
  });
});

/**
 * Every request shape of docs/vendors/reference/ovh-okms-2.16.md §2 ("What the current SDK sends"),
 * byte for byte as okms-cli 00a4c92 / okms-sdk-go v0.5.4 put them on the wire: Go's encoding/json
 * (fields in struct order, []byte as padded standard base64), Go's default headers, no Content-Type on
 * bodiless calls. Each answer is checked against the 2.16.2 document.
 */
import { createCipheriv, createHash, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { connect } from 'node:tls';
import * as jose from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, dbOf } from '@polykms/core/testing';
import { generateKeyPairDetached, type Kms } from '@polykms/core';
import type { OvhServer } from '../src/index.ts';
import { call, type Creds, type Reply } from './client.ts';
import { openLocally } from './local.ts';
import { opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import { validateResponse } from './openapi.ts';
import { openOvh, type OvhWorld } from './setup.ts';

/** What Go's net/http adds; the SDK sets no User-Agent and no Accept. */
const GO = { 'user-agent': 'Go-http-client/1.1', 'accept-encoding': 'gzip' };

/** A big integer's bytes, as okms-sdk-go's toBase64(big.Int) writes a JWK member. */
const bigint64 = (b: Buffer) => {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  return b.subarray(i).toString('base64url');
};

describe.each(backends())('what okms-cli / okms-sdk-go v0.5.4 send, on %s', (backend) => {
  let kms: Kms;
  let server: OvhServer;
  let ovh: OvhWorld;
  let okmsId: string;
  let root: Creds;
  const ctl = async (method: string, path: string, body?: unknown) => (await ovh.ctl(method, path, body)).json;
  let caPem: string;

  /**
   * `body` is the exact JSON text the SDK writes (or undefined: no body, no Content-Type); `token`
   * replays token mode: no client certificate, `Authorization: Bearer` on every request.
   */
  const sdk = async (method: string, path: string, body?: string, token?: string): Promise<Reply> => {
    const full = `/api/${okmsId}${path}`;
    const r = token
      ? await call(server.url, { ca: caPem }, method, full, body, { ...GO, authorization: `Bearer ${token}` })
      : await call(server.url, root, method, full, body, GO);
    const v = validateResponse(method, full.split('?')[0]!, r.status, r.text === '' ? undefined : r.json);
    expect(v.errors, `${method} ${path} -> ${r.status} ${r.text}`).toEqual([]);
    return r;
  };

  beforeAll(async () => {
    ovh = await openOvh(backend);
    ({ kms, server } = ovh);
    caPem = ovh.ca.certPem;
    okmsId = (await ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' })).id;
    root = await ovh.credential(okmsId, ['urn:v1:eu:identity:account:xx1111-ovh'], { name: 'cli' });
  });
  afterAll(() => ovh?.close());

  it('keys generate: oct with operations [] and extractable false, RSA, EC; curve "" is no curve', async () => {
    const oct = await sdk(
      'POST',
      '/v1/servicekey',
      '{"context":"gen","extractable":false,"name":"gen","operations":[],"size":256,"type":"oct"}',
    );
    expect(oct.status).toBe(201);
    expect(oct.json).toMatchObject({
      name: 'gen',
      type: 'oct',
      size: 256,
      class: 'SECRET_KEY',
      protectionLevel: 'SOFTWARE',
      operations: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
    });
    expect(oct.json.attributes).toMatchObject({ state: 'active', context: 'gen' });
    const rsa = await sdk(
      'POST',
      '/v1/servicekey',
      '{"context":"r","extractable":false,"name":"r","operations":["sign","verify"],"size":2048,"type":"RSA"}',
    );
    expect(rsa.json).toMatchObject({ type: 'RSA', size: 2048, class: 'KEY_PAIR' });
    const ec = await sdk(
      'POST',
      '/v1/servicekey',
      '{"context":"e","curve":"P-256","extractable":false,"name":"e","operations":["sign","verify"],"type":"EC"}',
    );
    expect(ec.json).toMatchObject({ type: 'EC', curve: 'P-256', class: 'KEY_PAIR' });
    const noCurve = await sdk(
      'POST',
      '/v1/servicekey',
      '{"context":"e","curve":"","extractable":false,"name":"e","operations":[],"type":"EC"}',
    );
    expect(noCurve.status).toBe(400);
    expect(noCurve.json.errors[0]).toMatch(/EC key needs a curve/);
    // SDK helpers: protectionLevel always set
    const helper = await sdk(
      'POST',
      '/v1/servicekey',
      '{"name":"h","type":"oct","operations":["encrypt","decrypt"],"size":128,"protectionLevel":"SOFTWARE"}',
    );
    expect(helper.status).toBe(201);
    expect(helper.json.attributes.context).toBeUndefined();
  });

  it('--protectionLevel hsm, MANAGED_HSM and deriveKey/deriveBits usages are clear 400s', async () => {
    for (const level of ['HSM', 'CLOUD_HSM']) {
      const r = await sdk(
        'POST',
        '/v1/servicekey',
        `{"context":"x","extractable":false,"name":"x","operations":[],"protectionLevel":"${level}","size":256,"type":"oct"}`,
      );
      expect(r.status).toBe(400);
      expect(r.json.errors[0]).toMatch(/software keys; send SOFTWARE/);
    }
    expect((await sdk('POST', '/v1/servicekey', '{"name":"x","protectionLevel":"MANAGED_HSM","size":256,"type":"oct"}')).status).toBe(400);
    const derive = await sdk(
      'POST',
      '/v1/servicekey',
      '{"context":"x","extractable":false,"name":"x","operations":["deriveKey","deriveBits"],"size":256,"type":"oct"}',
    );
    expect(derive.status).toBe(400);
    expect(derive.json.errors[0]).toMatch(/deriveKey and deriveBits are not available/);
    const before = await dbOf(kms).selectFrom('keys').select('id').where('name', '=', 'x').execute();
    expect(before).toEqual([]);
  });

  it('--keyId: a retry of the same body after a 5xx answers the same key (201); another body is 409', async () => {
    const id = 'b2a6a0a4-6f55-4b6e-9a53-3e8e4cf10e2d';
    const body = `{"context":"idem","extractable":false,"id":"${id}","name":"idem","operations":["encrypt","decrypt"],"size":256,"type":"oct"}`;
    const first = await sdk('POST', '/v1/servicekey', body);
    expect(first.status).toBe(201);
    const retry = await sdk('POST', '/v1/servicekey', body);
    expect(retry.status).toBe(201);
    expect(retry.json).toEqual(first.json);
    const other = await sdk('POST', '/v1/servicekey', body.replace('"name":"idem"', '"name":"other"'));
    expect(other.status).toBe(409);
    expect(other.json.errors[0]).toMatch(/already exists/);
    expect((await sdk('POST', '/v1/servicekey', body.replace('"extractable":false', '"extractable":true'))).status).toBe(409);
    expect((await sdk('POST', '/v1/servicekey', '{"id":"not-a-uuid","name":"bad","size":256,"type":"oct"}')).json.errors[0]).toMatch(
      /id must be a UUID/,
    );
  });

  it('keys import (PEM private key, EC): members zero-stripped, kid = name, key_ops [], no type; the key is the one sent', async () => {
    // Find a P-256 key whose x or d starts with a zero byte, as 1 in 128 do.
    let jwk: Record<string, string>;
    do jwk = generateKeyPairDetached('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' }) as Record<string, string>;
    while (Buffer.from(jwk.x!, 'base64url')[0] !== 0 && Buffer.from(jwk.d!, 'base64url')[0] !== 0);
    const m = (k: string) => bigint64(Buffer.from(jwk[k]!, 'base64url'));
    const body = `{"context":"ecimp","extractable":false,"keys":[{"crv":"P-256","d":"${m('d')}","key_ops":[],"kid":"ecimp","kty":"EC","x":"${m('x')}","y":"${m('y')}"}],"name":"ecimp"}`;
    const r = await sdk('POST', '/v1/servicekey?format=jwk', body);
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ class: 'KEY_PAIR', curve: 'P-256', operations: ['sign', 'verify'] });
    expect([r.json.keys[0].x, r.json.keys[0].y]).toEqual([jwk.x, jwk.y]);
    // A signature made here verifies under the original key: the same key was stored.
    const digest = createHash('sha256').update('m').digest();
    const sig = await sdk(
      'POST',
      `/v1/servicekey/${r.json.id}/sign`,
      `{"alg":"ES256","isdigest":true,"message":"${digest.toString('base64')}"}`,
    );
    const pub = await webcrypto.subtle.importKey(
      'jwk',
      { kty: 'EC', crv: 'P-256', x: jwk.x, y: jwk.y },
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['verify'],
    );
    expect(
      await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, pub, Buffer.from(sig.json.signature, 'base64'), Buffer.from('m')),
    ).toBe(true);
  });

  it('keys import --symmetric: a 32-byte AES key starting with 0 arrives as 31 bytes and is stored as the 32-byte key', async () => {
    const key = randomBytes(32);
    key[0] = 0;
    key[1] = key[1]! | 1; // exactly one leading zero (a random second byte is zero once in 256 runs)
    const body = `{"context":"sym","extractable":false,"keys":[{"k":"${bigint64(key)}","key_ops":["encrypt","decrypt"],"kid":"sym","kty":"oct"}],"name":"sym"}`;
    expect(Buffer.from(bigint64(key), 'base64url').length).toBe(31);
    const r = await sdk('POST', '/v1/servicekey?format=jwk', body);
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ size: 256, class: 'SECRET_KEY' });
    // Decrypt locally (WebCrypto, with the 32-byte key) what the gateway encrypted: same key.
    const enc = await sdk(
      'POST',
      `/v1/servicekey/${r.json.id}/encrypt`,
      `{"context":"C","plaintext":"${Buffer.from('zero first').toString('base64')}"}`,
    );
    expect((await openLocally(enc.json.ciphertext, key, 'C')).toString()).toBe('zero first');
    await expect(openLocally(enc.json.ciphertext, Buffer.concat([key.subarray(1), Buffer.alloc(1)]), 'C')).rejects.toThrow();
    await kms.sealAudit();
    const ev = await dbOf(kms)
      .selectFrom('audit_events')
      .select('details')
      .where('key_id', '=', r.json.id)
      .where('action', '=', 'key.import')
      .executeTakeFirst();
    expect(ev?.details).toMatchObject({ jwkLeadingZerosRestored: 1 });
  });

  it('keys import of a public key (--usage wrapKey): class PUBLIC_KEY, extractable as sent', async () => {
    const pub = generateKeyPairDetached('rsa', { modulusLength: 2048 }).publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const r = await sdk(
      'POST',
      '/v1/servicekey?format=jwk',
      `{"context":"pub","extractable":false,"keys":[{"e":"${pub.e}","key_ops":["wrapKey"],"kid":"pub","kty":"RSA","n":"${pub.n}"}],"name":"pub"}`,
    );
    expect(r.status, r.text).toBe(201);
    expect(r.json).toMatchObject({ class: 'PUBLIC_KEY', operations: ['wrapKey'] });
  });

  it('keys get / export / update / list / activate / deactivate / delete', async () => {
    const k = (
      await sdk('POST', '/v1/servicekey', '{"context":"life","extractable":false,"name":"life","operations":[],"size":256,"type":"oct"}')
    ).json;
    const got = await sdk('GET', `/v1/servicekey/${k.id}`);
    expect(got.json).toMatchObject({ id: k.id, class: 'SECRET_KEY' });
    expect(got.json.attributes.original_creation_date).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect((await sdk('GET', `/v1/servicekey/${k.id}?format=jwk`)).json.keys[0]).toMatchObject({
      kty: 'oct',
      kid: k.id,
    });
    expect((await sdk('PATCH', `/v1/servicekey/${k.id}`, '{"name":"N"}')).json.name).toBe('N');
    expect((await sdk('PATCH', `/v1/servicekey/${k.id}`, '{"extractable":true}')).json.name).toBe('N');
    expect((await sdk('PATCH', `/v1/servicekey/${k.id}`, '{"extractable":false,"name":"M"}')).json.name).toBe('M');
    await kms.sealAudit();
    const updates = await dbOf(kms)
      .selectFrom('audit_events')
      .select('details')
      .where('key_id', '=', k.id)
      .where('action', '=', 'key.update')
      .orderBy('id')
      .execute();
    expect(updates.map((u) => u.details?.extractable)).toEqual([undefined, true, false]);
    const page = await sdk('GET', '/v1/servicekey?state=active&max=100');
    expect(page.json.objects_list.every((x: { class?: string }) => typeof x.class === 'string')).toBe(true);
    const next = await sdk(
      'GET',
      `/v1/servicekey?state=active&continuation-token=${encodeURIComponent(page.json.continuation_token)}&max=100`,
    );
    expect(next.json.is_truncated).toBe(false);
    expect((await sdk('GET', '/v1/servicekey?state=all&max=100')).status).toBe(200);
    expect((await sdk('POST', `/v1/servicekey/${k.id}/deactivate`, '{"reason":"unspecified"}')).status).toBe(204);
    // bodiless POST, no Content-Type
    expect((await sdk('POST', `/v1/servicekey/${k.id}/activate`)).status).toBe(204);
    expect((await sdk('POST', `/v1/servicekey/${k.id}/deactivate`, '{"reason":"unspecified"}')).status).toBe(204);
    expect((await sdk('DELETE', `/v1/servicekey/${k.id}`)).status).toBe(204);
  });

  it('encrypt / decrypt / datakey / sign / verify with padded standard base64', async () => {
    const k = (
      await sdk(
        'POST',
        '/v1/servicekey',
        '{"context":"c","extractable":false,"name":"c","operations":["encrypt","decrypt"],"size":256,"type":"oct"}',
      )
    ).json;
    for (const data of ['a', 'ab', 'abc']) {
      const pt = Buffer.from(data).toString('base64');
      expect(pt.endsWith('=') || data.length === 3).toBe(true);
      const enc = await sdk('POST', `/v1/servicekey/${k.id}/encrypt`, `{"context":"C","plaintext":"${pt}"}`);
      const noCtx = await sdk('POST', `/v1/servicekey/${k.id}/encrypt`, `{"plaintext":"${pt}"}`);
      expect(
        (await sdk('POST', `/v1/servicekey/${k.id}/decrypt`, `{"ciphertext":"${enc.json.ciphertext}","context":"C"}`)).json.plaintext,
      ).toBe(pt);
      expect((await sdk('POST', `/v1/servicekey/${k.id}/decrypt`, `{"ciphertext":"${noCtx.json.ciphertext}"}`)).json.plaintext).toBe(pt);
    }
    const dk = await sdk('POST', `/v1/servicekey/${k.id}/datakey`, '{"name":"ephemeral.v2","size":256}');
    expect(dk.status).toBe(201);
    expect(dk.json.plaintext).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect((await sdk('POST', `/v1/servicekey/${k.id}/datakey`, '{"size":256}')).status).toBe(201);
    expect((await sdk('POST', `/v1/servicekey/${k.id}/datakey/decrypt`, `{"key":"${dk.json.key}"}`)).json.plaintext).toBe(
      dk.json.plaintext,
    );
    // a data key opens locally too: AES-256-GCM under the data key, as the CLI's --dk stream mode does
    const c = createCipheriv('aes-256-gcm', Buffer.from(dk.json.plaintext, 'base64'), randomBytes(12));
    expect(c.update('x').length).toBe(1);

    const rsa = (
      await sdk(
        'POST',
        '/v1/servicekey',
        '{"context":"s","extractable":false,"name":"s","operations":["sign","verify"],"size":2048,"type":"RSA"}',
      )
    ).json;
    const digest = createHash('sha256').update('data').digest().toString('base64');
    const sig = await sdk('POST', `/v1/servicekey/${rsa.id}/sign`, `{"alg":"PS256","isdigest":true,"message":"${digest}"}`);
    expect(sig.json.signature).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    const ok = await sdk(
      'POST',
      `/v1/servicekey/${rsa.id}/verify`,
      `{"alg":"PS256","isdigest":true,"message":"${digest}","signature":"${sig.json.signature}"}`,
    );
    expect(ok.json).toEqual({ result: true });
  });

  it('keys get --wrapping-key-id (wrapped export): the key in use, under the customer RSA key, opened with jose', async () => {
    const customer = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const pub = customer.publicKey.export({ format: 'jwk' }) as Record<string, string>;
    const transport = (
      await sdk(
        'POST',
        '/v1/servicekey?format=jwk',
        `{"context":"t","extractable":false,"keys":[{"e":"${pub.e}","key_ops":["wrapKey"],"kid":"t","kty":"RSA","n":"${pub.n}"}],"name":"t"}`,
      )
    ).json;
    const k = (
      await sdk(
        'POST',
        '/v1/servicekey',
        '{"context":"x","extractable":true,"name":"x","operations":["encrypt","decrypt"],"size":256,"type":"oct"}',
      )
    ).json;
    const enc = await sdk(
      'POST',
      `/v1/servicekey/${k.id}/encrypt`,
      `{"context":"C","plaintext":"${Buffer.from('in use').toString('base64')}"}`,
    );
    for (const [fmt, alg] of [
      ['RAW', 'RSA-OAEP-256'],
      ['JWK', 'RSA-OAEP-256'],
      ['RAW', 'RSA-OAEP'],
    ]) {
      const r = await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=${transport.id}&wrappedKeyFormat=${fmt}&wrappingAlgorithm=${alg}`);
      expect(r.status, r.text).toBe(200);
      expect(r.json.keys).toBeUndefined();
      expect(r.json.wrappedKeys).toHaveLength(1);
      expect(r.json.wrappedKeys[0]).toMatchObject({ keyFormatType: fmt, wrappingKeyId: transport.id });
      const { plaintext, protectedHeader } = await jose.compactDecrypt(r.json.wrappedKeys[0].ciphertext, customer.privateKey);
      expect(protectedHeader).toMatchObject({ alg, enc: 'A256GCM', kid: transport.id });
      const key = fmt === 'RAW' ? Buffer.from(plaintext) : Buffer.from(JSON.parse(Buffer.from(plaintext).toString()).k, 'base64url');
      expect((await openLocally(enc.json.ciphertext, key, 'C')).toString()).toBe('in use');
    }
    // refusals: each a 4xx in OVH's body
    const closed = (
      await sdk('POST', '/v1/servicekey', '{"context":"n","extractable":false,"name":"n","operations":[],"size":256,"type":"oct"}')
    ).json;
    const q = (id: string, extra = '') =>
      `/v1/servicekey/${id}?wrappingKeyId=${transport.id}&wrappedKeyFormat=RAW&wrappingAlgorithm=RSA-OAEP-256${extra}`;
    const refused = await sdk('GET', q(closed.id));
    expect(refused.status).toBe(400);
    expect(refused.json.errors[0]).toMatch(/not extractable/);
    expect((await sdk('PATCH', `/v1/servicekey/${closed.id}`, '{"extractable":true}')).status).toBe(200);
    expect((await sdk('GET', q(closed.id))).status).toBe(200);
    const rsa15 = await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=${transport.id}&wrappedKeyFormat=RAW&wrappingAlgorithm=RSA1_5`);
    expect([rsa15.status, rsa15.json.errors[0]]).toEqual([400, expect.stringMatching(/RSA1_5.*not offered/)]);
    expect((await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=${transport.id}`)).json.errors[0]).toMatch(
      /wrappedKeyFormat is required/,
    );
    expect((await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=nope&wrappedKeyFormat=RAW&wrappingAlgorithm=RSA-OAEP-256`)).status).toBe(
      400,
    );
    expect(
      (await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=${transport.id}&wrappedKeyFormat=PKCS8&wrappingAlgorithm=RSA-OAEP-256`))
        .status,
    ).toBe(400);
    expect(
      (await sdk('GET', `/v1/servicekey/${k.id}?wrappingKeyId=${k.id}&wrappedKeyFormat=RAW&wrappingAlgorithm=RSA-OAEP-256`)).status,
    ).toBe(400);
    expect(
      (
        await sdk(
          'GET',
          `/v1/servicekey/${k.id}?wrappingKeyId=2f0b8a4e-1f6c-4d7e-9b1a-3c5d7e9f1a2b&wrappedKeyFormat=RAW&wrappingAlgorithm=RSA-OAEP-256`,
        )
      ).status,
    ).toBe(404);

    // IAM: get on the key is not enough; wrapKey on the transport key is needed too (and alone is not enough)
    const urn = 'urn:v1:eu:identity:user:xx1111-ovh/exporter';
    const user: Creds = await ovh.credential(okmsId, [urn], { name: 'exp' });
    const as = async (path: string) => {
      const r = await call(server.url, user, 'GET', `/api/${okmsId}${path}`, undefined, GO);
      expect(validateResponse('GET', `/api/${okmsId}${path.split('?')[0]}`, r.status, r.json).errors).toEqual([]);
      return r;
    };
    const policy = (actions: Array<[string, string]>) =>
      ctl('PUT', `/admin/ovh/domains/${okmsId}/policies/exporter`, {
        identities: [urn],
        resources: actions.map(([, id]) => ({ urn: `urn:v1:eu:resource:okms:${okmsId}/serviceKey/${id}` })),
        permissions: { allow: [...new Set(actions.map(([a]) => ({ action: a })))] },
      });
    await policy([['okms:apikms:serviceKey/get', k.id]]);
    expect((await as(`/v1/servicekey/${k.id}`)).status).toBe(200);
    expect((await as(q(k.id))).status).toBe(403);
    await policy([['okms:apikms:serviceKey/wrapKey', transport.id]]);
    expect((await as(q(k.id))).status).toBe(403);
    await ctl('PUT', `/admin/ovh/domains/${okmsId}/policies/exporter`, {
      identities: [urn],
      resources: [
        { urn: `urn:v1:eu:resource:okms:${okmsId}/serviceKey/${k.id}` },
        { urn: `urn:v1:eu:resource:okms:${okmsId}/serviceKey/${transport.id}` },
      ],
      permissions: { allow: [{ action: 'okms:apikms:serviceKey/get' }, { action: 'okms:apikms:serviceKey/wrapKey' }] },
    });
    expect((await as(q(k.id))).status).toBe(200);
  });

  it('token mode (--auth-method token --okmsId): Bearer on every request, no client certificate, same answers', async () => {
    const issued = await ctl('POST', `/admin/ovh/domains/${okmsId}/tokens`, {
      name: 'okms-cli',
      identityURNs: ['urn:v1:eu:identity:account:xx1111-ovh'],
    });
    const token = issued.token as string;
    // The first request as Go's net/http writes it, byte for byte, on a TLS connection without a
    // certificate: Host, User-Agent, Content-Length, the headers set (sorted), then Accept-Encoding.
    const body = '{"context":"tok","extractable":false,"name":"tok","operations":[],"size":256,"type":"oct"}';
    const host = new URL(server.url).host;
    const raw = await new Promise<string>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port: server.port, ca: caPem, servername: 'localhost' }, () =>
        s.write(
          `POST /api/${okmsId}/v1/servicekey HTTP/1.1\r\nHost: ${host}\r\nUser-Agent: Go-http-client/1.1\r\n` +
            `Content-Length: ${Buffer.byteLength(body)}\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\n` +
            `Accept-Encoding: gzip\r\n\r\n${body}`,
        ),
      );
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString('utf8');
        const end = got.indexOf('\r\n\r\n');
        const length = /\r\ncontent-length: (\d+)/i.exec(got)?.[1];
        if (end >= 0 && length && Buffer.byteLength(got.slice(end + 4)) >= Number(length)) {
          s.end();
          resolve(got);
        }
      });
      s.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 201 /);
    const k = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4));
    expect(validateResponse('POST', `/api/${okmsId}/v1/servicekey`, 201, k).errors).toEqual([]);
    expect(k).toMatchObject({ name: 'tok', type: 'oct', class: 'SECRET_KEY' });
    // The rest of the CLI's calls, in token mode.
    expect((await sdk('GET', `/v1/servicekey/${k.id}`, undefined, token)).json.id).toBe(k.id);
    expect((await sdk('GET', '/v1/servicekey?state=active&max=100', undefined, token)).status).toBe(200);
    const pt = Buffer.from('token mode').toString('base64');
    const enc = await sdk('POST', `/v1/servicekey/${k.id}/encrypt`, `{"context":"C","plaintext":"${pt}"}`, token);
    // What the token encrypted, the certificate decrypts: one key, one domain, two ways in.
    expect(
      (await sdk('POST', `/v1/servicekey/${k.id}/decrypt`, `{"ciphertext":"${enc.json.ciphertext}","context":"C"}`)).json.plaintext,
    ).toBe(pt);
    expect(
      (await sdk('POST', `/v1/servicekey/${k.id}/decrypt`, `{"ciphertext":"${enc.json.ciphertext}","context":"C"}`, token)).json.plaintext,
    ).toBe(pt);
    const dk = await sdk('POST', `/v1/servicekey/${k.id}/datakey`, '{"name":"ephemeral.v2","size":256}', token);
    expect(dk.status).toBe(201);
    expect((await sdk('POST', `/v1/servicekey/${k.id}/datakey/decrypt`, `{"key":"${dk.json.key}"}`, token)).json.plaintext).toBe(
      dk.json.plaintext,
    );
    expect((await sdk('PATCH', `/v1/servicekey/${k.id}`, '{"name":"tok-2"}', token)).json.name).toBe('tok-2');
    expect((await sdk('POST', `/v1/servicekey/${k.id}/deactivate`, '{"reason":"unspecified"}', token)).status).toBe(204);
    expect((await sdk('DELETE', `/v1/servicekey/${k.id}`, undefined, token)).status).toBe(204);
    // Once revoked, the CLI gets OVH's 401 body, which it parses as an error.
    await ctl('DELETE', `/admin/ovh/domains/${okmsId}/tokens/${issued.id}`);
    const refused = await sdk('GET', `/v1/servicekey/${k.id}`, undefined, token);
    expect(refused.status).toBe(401);
    expect(Object.keys(refused.json).sort()).toEqual(['error_code', 'error_id', 'errors', 'request_id']);
  });

  it('keys import --wrapping-key-id (wrapped import): the customer material, wrapped with jose, is the key in use', async () => {
    // The transport key is made here; its public half leaves as a JWK (keys get --format jwk).
    const t = (
      await sdk(
        'POST',
        '/v1/servicekey',
        '{"context":"t","extractable":false,"name":"t","operations":["unwrapKey"],"size":3072,"type":"RSA"}',
      )
    ).json;
    const pub = createPublicKey({ key: (await sdk('GET', `/v1/servicekey/${t.id}?format=jwk`)).json.keys[0], format: 'jwk' });
    const wrap = (plain: Uint8Array, alg = 'RSA-OAEP-256') =>
      new jose.CompactEncrypt(plain).setProtectedHeader({ alg, enc: 'A256GCM' }).encrypt(pub);
    const body = (ciphertext: string, fmt: string, extra = '', wrappingKeyId = t.id) =>
      `{"context":"w","extractable":false,"name":"w","operations":[],${extra}"wrappedKeys":[{"ciphertext":"${ciphertext}","keyFormatType":"${fmt}","wrappingKeyId":"${wrappingKeyId}"}]}`;

    // AES, RAW under RSA-OAEP-256 and JWK under RSA-OAEP: the gateway's ciphertext opens with the original bytes
    for (const [fmt, alg] of [
      ['RAW', 'RSA-OAEP-256'],
      ['JWK', 'RSA-OAEP'],
    ]) {
      const aes = randomBytes(32);
      const plain = fmt === 'RAW' ? aes : Buffer.from(JSON.stringify({ kty: 'oct', k: aes.toString('base64url') }));
      const r = await sdk('POST', '/v1/servicekey', body(await wrap(plain, alg!), fmt!));
      expect(r.status, r.text).toBe(201);
      expect(r.json).toMatchObject({
        type: 'oct',
        size: 256,
        class: 'SECRET_KEY',
        operations: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
      });
      const enc = await sdk(
        'POST',
        `/v1/servicekey/${r.json.id}/encrypt`,
        `{"context":"C","plaintext":"${Buffer.from('in use').toString('base64')}"}`,
      );
      expect((await openLocally(enc.json.ciphertext, aes, 'C')).toString()).toBe('in use');
    }

    // RSA (PKCS1) and EC (PKCS8) pairs sign; OpenSSL verifies with the customer's own public key
    const rsa = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const ec = generateKeyPairDetached('ec', { namedCurve: 'P-256' });
    const msg = Buffer.from('signed by a key brought here');
    for (const [pair, fmt, alg, der] of [
      [rsa, 'PKCS1', 'RS256', rsa.privateKey.export({ format: 'der', type: 'pkcs1' })],
      [ec, 'PKCS8', 'ES256', ec.privateKey.export({ format: 'der', type: 'pkcs8' })],
    ] as const) {
      const r = await sdk(
        'POST',
        '/v1/servicekey?format=jwk',
        body(await wrap(der), fmt, fmt === 'PKCS8' ? '"curve":"P-256","type":"EC",' : ''),
      );
      expect(r.status, r.text).toBe(201);
      expect(r.json).toMatchObject(pair === rsa ? { type: 'RSA', size: 2048 } : { type: 'EC', curve: 'P-256' });
      expect(r.json.keys[0].n ?? r.json.keys[0].x).toBe(
        (pair.publicKey.export({ format: 'jwk' }) as Record<string, string>)[pair === rsa ? 'n' : 'x'],
      );
      const sig = await sdk('POST', `/v1/servicekey/${r.json.id}/sign`, `{"alg":"${alg}","message":"${msg.toString('base64')}"}`);
      const raw = Buffer.from(sig.json.signature, 'base64');
      if (pair === ec) {
        // WebCrypto reads JOSE's r || s as it is
        const wk = await webcrypto.subtle.importKey(
          'spki',
          ec.publicKey.export({ format: 'der', type: 'spki' }),
          { name: 'ECDSA', namedCurve: 'P-256' },
          false,
          ['verify'],
        );
        expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, wk, raw, msg)).toBe(true);
        continue;
      }
      const v = opensslVerify(pair.publicKey.export({ format: 'pem', type: 'spki' }) as string, msg, raw, 'sha256');
      expect(v.ok, v.out).toBe(true);
    }

    // refusals, each a 400/403/404 in OVH's body
    const aes = randomBytes(32);
    const good = await wrap(aes);
    const rsa15 = `${Buffer.from('{"alg":"RSA1_5","enc":"A256GCM"}').toString('base64url')}${good.slice(good.indexOf('.'))}`;
    const refused = async (b: string, status: number, msg?: RegExp) => {
      const r = await sdk('POST', '/v1/servicekey', b);
      expect(r.status, r.text).toBe(status);
      if (msg) expect(r.json.errors[0]).toMatch(msg);
      return r.json.errors[0] as string;
    };
    await refused(body(rsa15, 'RAW'), 400, /RSA1_5.*not offered/);
    const parts = good.split('.');
    const tampered = [1, 3, 4].map((i) =>
      parts.map((p, j) => (j === i ? `${p.slice(0, 10)}${p[10] === 'A' ? 'B' : 'A'}${p.slice(11)}` : p)).join('.'),
    );
    const answers = new Set<string>();
    for (const bad of tampered) answers.add(await refused(body(bad, 'RAW'), 400));
    const other = (await sdk('POST', '/v1/servicekey', '{"name":"t2","operations":["unwrapKey"],"size":2048,"type":"RSA"}')).json;
    answers.add(await refused(body(good, 'RAW', '', other.id), 400));
    expect([...answers]).toEqual([expect.stringMatching(/could not be unwrapped/)]);
    const signer = (await sdk('POST', '/v1/servicekey', '{"name":"s","operations":["sign","verify"],"size":2048,"type":"RSA"}')).json;
    await refused(body(good, 'RAW', '', signer.id), 400, /not allowed to unwrapKey/);
    const oct = (await sdk('POST', '/v1/servicekey', '{"name":"o","operations":["unwrapKey"],"size":256,"type":"oct"}')).json;
    await refused(body(good, 'RAW', '', oct.id), 400, /must be an RSA key/);
    await refused(body(good, 'RAW', '', '2f0b8a4e-1f6c-4d7e-9b1a-3c5d7e9f1a2b'), 404);
    await refused(body(good, 'RAW', '"size":2048,"type":"RSA",'), 400, /oct key, not RSA/);
    await refused(body(good, 'PKCS8'), 400, /PKCS#8/);

    // IAM: import alone is not enough; unwrapKey on the transport key is needed too
    const urn = 'urn:v1:eu:identity:user:xx1111-ovh/importer';
    const user: Creds = await ovh.credential(okmsId, [urn], { name: 'imp' });
    const as = async (b: string) => {
      const r = await call(server.url, user, 'POST', `/api/${okmsId}/v1/servicekey`, b, GO);
      expect(validateResponse('POST', `/api/${okmsId}/v1/servicekey`, r.status, r.json).errors).toEqual([]);
      return r;
    };
    const domain = `urn:v1:eu:resource:okms:${okmsId}`;
    const policy = (resources: string[], actions: string[]) =>
      ctl('PUT', `/admin/ovh/domains/${okmsId}/policies/importer`, {
        identities: [urn],
        resources: resources.map((u) => ({ urn: u })),
        permissions: { allow: actions.map((action) => ({ action })) },
      });
    await policy([domain], ['okms:apikms:serviceKey/import']);
    expect((await as(body(good, 'RAW'))).status).toBe(403);
    await policy([domain], ['okms:apikms:serviceKey/unwrapKey']);
    expect((await as(body(good, 'RAW'))).status).toBe(403);
    await policy([domain], ['okms:apikms:serviceKey/import', 'okms:apikms:serviceKey/unwrapKey']);
    const ok = await as(body(good, 'RAW'));
    expect(ok.status, ok.text).toBe(201);
  });
});

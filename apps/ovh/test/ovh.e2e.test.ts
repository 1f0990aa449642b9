import { createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { get as httpsGet } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as jose from 'jose';
import { backends, dbOf } from '@polykms/core/testing';
import { createCa, issueClientCertificate, loadCa } from '@polykms/pki';
import type { Kms } from '@polykms/core';
import { opensslVerify } from '../../../packages/core/src/test-openssl.ts';
import type { OvhServer } from '../src/index.ts';
import { call, type Creds, type Reply } from './client.ts';
import { validateResponse } from './openapi.ts';
import { openOvh, type OvhWorld } from './setup.ts';

describe.each(backends())('OVH dialect over mTLS on %s', (backend) => {
  let kms: Kms;
  let server: OvhServer;
  let ctl: OvhWorld['ctl'];
  let credential: OvhWorld['credential'];
  let close: () => Promise<void>;
  let okmsId: string;
  let root: Creds;
  let caPem: string;
  const checked: string[] = [];

  /** Every data-plane answer is checked against the official OpenAPI document. */
  const api = async (creds: Creds, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Reply> => {
    const r = await call(server.url, creds, method, path, body, headers);
    const v = validateResponse(method, path.split('?')[0]!, r.status, r.text === '' ? undefined : r.json);
    expect(v.errors, `${method} ${path} -> ${r.status} ${r.text}`).toEqual([]);
    checked.push(`${v.operationId}:${r.status}`);
    return r;
  };
  const newCredential = (identityURNs: string[], extra: Record<string, unknown> = {}) => credential(okmsId, identityURNs, extra);

  beforeAll(async () => {
    let ca: OvhWorld['ca'];
    ({ kms, server, ca, ctl, credential, close } = await openOvh(backend));
    caPem = ca.certPem;
    const d = await ctl('POST', '/v2/okms/resource', { region: 'eu-west-rbx' });
    expect(d.status).toBe(201);
    okmsId = d.json.id;
    root = await newCredential(['urn:v1:eu:identity:account:xx1111-ovh']);
    expect(root.key).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
  });
  afterAll(() => close?.());

  it('runs the guide: create AES/RSA/EC, get, list, rename, encrypt with context, datakey, sign and verify', async () => {
    for (const prefix of ['', `/api/${okmsId}`]) {
      const aes = await api(root, 'POST', `${prefix}/v1/servicekey`, {
        name: 'aes',
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      });
      expect(aes.status).toBe(201);
      expect(aes.json.attributes.state).toBe('active');
      const rsa = await api(root, 'POST', `${prefix}/v1/servicekey?format=jwk`, {
        name: 'rsa',
        type: 'RSA',
        size: 2048,
        operations: ['sign', 'verify'],
      });
      expect(rsa.json.keys[0].kid).toBe(rsa.json.id);
      const ec = await api(root, 'POST', `${prefix}/v1/servicekey`, {
        name: 'ec',
        type: 'EC',
        curve: 'P-256',
        operations: ['sign', 'verify'],
      });
      expect(ec.json.curve).toBe('P-256');

      const got = await api(root, 'GET', `${prefix}/v1/servicekey/${aes.json.id}`);
      expect(got.json.name).toBe('aes');
      const list = await api(root, 'GET', `${prefix}/v1/servicekey?max=10`);
      expect(list.json.objects_list.map((k: { id: string }) => k.id)).toContain(aes.json.id);
      expect((await api(root, 'PATCH', `${prefix}/v1/servicekey/${aes.json.id}`, { name: 'renamed' })).json.name).toBe('renamed');

      const plaintext = Buffer.from('Hello OKMS').toString('base64');
      const enc = await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/encrypt`, {
        plaintext,
        context: 'my-context',
      });
      expect(enc.json.ciphertext.split('.')).toHaveLength(5);
      const dec = await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/decrypt`, {
        ciphertext: enc.json.ciphertext,
        context: 'my-context',
      });
      expect(dec.json.plaintext).toBe(plaintext);
      expect(
        (
          await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/decrypt`, {
            ciphertext: enc.json.ciphertext,
            context: 'other',
          })
        ).status,
      ).toBe(400);

      const dk = await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/datakey`, { name: 'dk', size: 256 });
      expect(dk.status).toBe(201);
      expect(Buffer.from(dk.json.plaintext, 'base64').length).toBe(32);
      const dkd = await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/datakey/decrypt`, {
        key: dk.json.key,
      });
      expect(dkd.json.plaintext).toBe(dk.json.plaintext);
      // A data key is not a ciphertext, and the other way round.
      expect((await api(root, 'POST', `${prefix}/v1/servicekey/${aes.json.id}/decrypt`, { ciphertext: dk.json.key })).status).toBe(400);

      const message = Buffer.from('message to sign');
      const sig = await api(root, 'POST', `${prefix}/v1/servicekey/${rsa.json.id}/sign`, {
        alg: 'RS256',
        message: message.toString('base64'),
      });
      const pubPem = createPublicKey({ key: rsa.json.keys[0], format: 'jwk' }).export({
        format: 'pem',
        type: 'spki',
      }) as string;
      expect(opensslVerify(pubPem, message, Buffer.from(sig.json.signature, 'base64'), 'sha256').ok).toBe(true);
      const ok = await api(root, 'POST', `${prefix}/v1/servicekey/${rsa.json.id}/verify`, {
        alg: 'RS256',
        message: message.toString('base64'),
        signature: sig.json.signature,
      });
      expect(ok.json).toEqual({ result: true });
      const bad = Buffer.from(sig.json.signature, 'base64');
      bad[5]! ^= 1;
      expect(
        (
          await api(root, 'POST', `${prefix}/v1/servicekey/${rsa.json.id}/verify`, {
            alg: 'RS256',
            message: message.toString('base64'),
            signature: bad.toString('base64'),
          })
        ).json,
      ).toEqual({ result: false });

      // ES256 over a digest (isdigest, as the SDK's crypto.Signer sends it): raw r||s checked by WebCrypto.
      const ecKey = await api(root, 'GET', `${prefix}/v1/servicekey/${ec.json.id}?format=jwk`);
      const digest = Buffer.from(await webcrypto.subtle.digest('SHA-256', message));
      const es = await api(root, 'POST', `${prefix}/v1/servicekey/${ec.json.id}/sign`, {
        alg: 'ES256',
        message: digest.toString('base64'),
        isdigest: true,
      });
      expect(Buffer.from(es.json.signature, 'base64').length).toBe(64);
      const wk = await webcrypto.subtle.importKey(
        'jwk',
        { kty: 'EC', crv: 'P-256', x: ecKey.json.keys[0].x, y: ecKey.json.keys[0].y },
        { name: 'ECDSA', namedCurve: 'P-256' },
        false,
        ['verify'],
      );
      expect(await webcrypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, wk, Buffer.from(es.json.signature, 'base64'), message)).toBe(
        true,
      );

      // JWS output verifies with jose and goes back to /verify.
      const jws = await api(root, 'POST', `${prefix}/v1/servicekey/${ec.json.id}/sign?format=jws`, {
        alg: 'ES256',
        message: message.toString('base64'),
      });
      const verified = await jose.compactVerify(jws.json.signature, await jose.importJWK(ecKey.json.keys[0], 'ES256'));
      expect(Buffer.from(verified.payload).toString()).toBe('message to sign');
      expect((await api(root, 'POST', `${prefix}/v1/servicekey/${ec.json.id}/verify`, { signature: jws.json.signature })).json).toEqual({
        result: true,
      });
      for (const alg of ['PS256', 'RS512']) {
        const s = await api(root, 'POST', `${prefix}/v1/servicekey/${rsa.json.id}/sign`, {
          alg,
          message: message.toString('base64'),
        });
        expect(
          (
            await api(root, 'POST', `${prefix}/v1/servicekey/${rsa.json.id}/verify`, {
              alg,
              message: message.toString('base64'),
              signature: s.json.signature,
            })
          ).json.result,
        ).toBe(true);
      }

      const rnd = await api(root, 'GET', `${prefix}/v1/random?length=64`);
      expect(Buffer.from(rnd.json.bytes, 'base64').length).toBe(64);
    }
  });

  it("serves the Swagger UI with OVH's document pointed at this gateway", async () => {
    const page = await call(server.url, { ca: caPem }, 'GET', '/swagger/');
    expect(page.status).toBe(200);
    expect(page.text).toMatch(/swagger-ui-bundle\.js/);
    const doc = await call(server.url, { ca: caPem }, 'GET', '/swagger/openapi.yaml');
    expect(doc.text).toMatch(/info:\s+title: OVHcloud KMS REST API/);
    expect(doc.text).toContain(`url: ${server.url}`);
    expect((await call(server.url, { ca: caPem }, 'GET', '/swagger/swagger-ui-bundle.js')).status).toBe(200);
    // Everything else still needs the certificate.
    expect((await call(server.url, { ca: caPem }, 'GET', '/swagger/../v1/servicekey')).status).toBe(401);
  });

  // The page runs in a browser holding a client certificate: no framing, no inline or foreign script.
  it('serves the Swagger UI under a Content-Security-Policy that its own assets satisfy', async () => {
    const res = await new Promise<import('node:http').IncomingMessage & { body: string }>((ok, ko) => {
      const req = httpsGet(new URL('/swagger/', server.url), { ca: caPem, agent: false }, (r) => {
        let body = '';
        r.on('data', (d) => (body += d));
        r.on('end', () => ok(Object.assign(r, { body })));
      });
      req.on('error', ko);
    });
    const csp = String(res.headers['content-security-policy']);
    const directives = new Map(
      csp
        .split(';')
        .map((d) => d.trim().split(/\s+/))
        .map(([k, ...v]) => [k!, v]),
    );
    expect(directives.get('frame-ancestors')).toEqual(["'none'"]);
    expect(directives.get('default-src')).toEqual(["'none'"]);
    expect(directives.get('script-src')).toEqual(["'self'"]);
    expect(directives.get('connect-src')).toEqual(["'self'"]);
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    // Every script and stylesheet is a file of this origin (no inline code for 'self' to refuse) and is served.
    const scripts = [...res.body.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    const refs = [...res.body.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    for (const [, attrs, inline] of scripts) {
      expect(inline!.trim(), 'inline script').toBe('');
      expect(attrs).toMatch(/src="\.\//);
    }
    expect(res.body).not.toMatch(/\son[a-z]+=|style=|javascript:/i);
    for (const ref of refs) {
      const u = new URL(ref, new URL('/swagger/', server.url));
      expect(u.origin).toBe(new URL(server.url).origin);
      const a = await call(server.url, { ca: caPem }, 'GET', u.pathname);
      expect(a.status, ref).toBe(200);
    }
    const init = await call(server.url, { ca: caPem }, 'GET', '/swagger/swagger-init.js');
    expect(init.text).toContain("url: './openapi.yaml'");
    expect(init.text).toContain('validatorUrl: null');
    // The assets carry the same policy; the stylesheet's images are data: URIs, which img-src allows.
    const css = await call(server.url, { ca: caPem }, 'GET', '/swagger/swagger-ui.css');
    for (const m of css.text.matchAll(/url\(\s*["']?([^"')]+)/g)) expect(m[1]).toMatch(/^data:/);
    expect(directives.get('img-src')).toContain('data:');
  });

  it('walks the states: deactivate, compromise, reactivate, delete only when deactivated', async () => {
    const k = (
      await api(root, 'POST', '/v1/servicekey', {
        name: 'life',
        type: 'oct',
        size: 128,
        operations: ['encrypt', 'decrypt'],
      })
    ).json;
    expect((await api(root, 'DELETE', `/v1/servicekey/${k.id}`)).status).toBe(400);
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/deactivate`, { reason: 'unspecified' })).status).toBe(204);
    expect((await api(root, 'GET', `/v1/servicekey/${k.id}`)).json.attributes.state).toBe('deactivated');
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'AAAA' })).status).toBe(400);
    await api(root, 'POST', `/v1/servicekey/${k.id}/deactivate`, { reason: 'key_compromise' });
    const comp = (await api(root, 'GET', `/v1/servicekey/${k.id}`)).json;
    expect(comp.attributes.state).toBe('compromised');
    expect(comp.attributes.compromise_date).toBeDefined();
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/activate`)).status).toBe(204);
    expect((await api(root, 'GET', `/v1/servicekey/${k.id}`)).json.attributes.state).toBe('active');
    await api(root, 'POST', `/v1/servicekey/${k.id}/deactivate`, { reason: 'superseded' });
    expect((await api(root, 'DELETE', `/v1/servicekey/${k.id}`)).status).toBe(204);
    expect((await api(root, 'GET', `/v1/servicekey/${k.id}`)).json.attributes.state).toBe('destroyed');
    expect((await api(root, 'GET', '/v1/servicekey?state=destroyed')).json.objects_list.map((x: { id: string }) => x.id)).toContain(k.id);
    // Names of Object's prototype are not states (one was a 500).
    for (const state of ['constructor', '__proto__', 'toString']) {
      const r = await api(root, 'GET', `/v1/servicekey?state=${state}`);
      expect(r.status).toBe(400);
      expect(r.json.errors[0]).toMatch(/^state must be one of all, pre_active, active, /);
    }
  });

  it('imports a JWK as the SDK sends it', async () => {
    const { privateKey } = await jose.generateKeyPair('ES384', { extractable: true });
    const jwk = await jose.exportJWK(privateKey);
    const r = await api(root, 'POST', '/v1/servicekey?format=jwk', {
      name: 'imported',
      keys: [{ ...jwk, kid: 'imported', key_ops: ['sign', 'verify'] }],
    });
    expect(r.status).toBe(201);
    expect(r.json.curve).toBe('P-384');
    expect(r.json.keys[0].d).toBeUndefined();
    const aes = await api(root, 'POST', '/v1/servicekey', {
      name: 'aes-imp',
      keys: [{ kty: 'oct', k: randomBytes(32).toString('base64url'), key_ops: ['encrypt', 'decrypt'] }],
    });
    expect(aes.json.size).toBe(256);
    // 29-31 bytes are a 32-byte key whose leading zeros okms-sdk-go stripped (see src/jwk.ts); 28 is nothing.
    const short = await api(root, 'POST', '/v1/servicekey', {
      name: 'short',
      keys: [{ kty: 'oct', k: randomBytes(28).toString('base64url') }],
    });
    expect(short.status).toBe(400);
    expect(short.json.errors[0]).toMatch(/16, 24 or 32 bytes/);
  });

  it('imports a public RSA key (as `okms keys import` of a .pub.pem sends it): verify works, sign is refused', async () => {
    const { publicKey, privateKey } = await jose.generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
    const pub = await jose.exportJWK(publicKey);
    const refused = await api(root, 'POST', '/v1/servicekey?format=jwk', {
      name: 'pub-sign',
      keys: [{ ...pub, kid: 'pub-sign', key_ops: ['sign'] }],
    });
    expect(refused.status).toBe(400);
    expect(refused.json.errors[0]).toMatch(/public key/);
    validateResponse('post', '/v1/servicekey', 400, refused.json);
    const r = await api(root, 'POST', '/v1/servicekey?format=jwk', {
      name: 'pub',
      keys: [{ ...pub, kid: 'pub', key_ops: ['wrapKey', 'verify'] }],
    });
    expect(r.status).toBe(201);
    validateResponse('post', '/v1/servicekey', 201, r.json);
    expect(r.json.keys[0]).toMatchObject({ kty: 'RSA', n: pub.n, e: pub.e, kid: r.json.id });
    expect(r.json.keys[0].d).toBeUndefined();
    const message = Buffer.from('signed by the key owner');
    const signature = Buffer.from(await webcrypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey as webcrypto.CryptoKey, message)).toString(
      'base64',
    );
    const ok = await api(root, 'POST', `/v1/servicekey/${r.json.id}/verify`, {
      alg: 'RS256',
      message: message.toString('base64'),
      signature,
    });
    expect(ok.json).toEqual({ result: true });
    const sign = await api(root, 'POST', `/v1/servicekey/${r.json.id}/sign`, {
      alg: 'RS256',
      message: message.toString('base64'),
    });
    expect(sign.status).toBe(400);
    validateResponse('post', '/v1/servicekey/{keyId}/sign', 400, sign.json);
  });

  it('refuses bad input with OVH error bodies', async () => {
    const k = (
      await api(root, 'POST', '/v1/servicekey', {
        name: 'in',
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      })
    ).json;
    const unknown = await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'AAAA', extra: 1 });
    expect(unknown.status).toBe(400);
    expect(unknown.json.errors[0]).toMatch(/unknown field 'extra'/);
    expect(unknown.json.error_code).toBe(50405377);
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'not base64!' })).json.errors[0]).toMatch(
      /plaintext: must be standard base64/,
    );
    // Whole 4-character groups with at most two '=' at the end, as Go's StdEncoding writes []byte.
    // Beyond ASCII too: Node's decoder would read U+0141 as 'A' and U+012D as '-'.
    for (const bad of ['AAA', 'AAAAA', 'A===', '====', 'A=AA', 'AA=A', 'AAAA_-AA', 'AAAA\nAAA', 'AAA\u0141', 'AAA\u012d'])
      expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: bad })).json.errors?.[0], bad).toMatch(
        /plaintext: must be standard base64/,
      );
    for (const good of ['AA==', 'AAA=', 'AAAA', 'AAAAAA==', '+/+/'])
      expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: good })).status, good).toBe(200);
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: randomBytes(4097).toString('base64') })).status).toBe(
      400,
    );
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, '{"plaintext":')).json.errors[0]).toMatch(/not valid JSON/);
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/sign`, { alg: 'RS256', message: 'AAAA' })).status).toBe(400);
    expect((await api(root, 'POST', '/v1/servicekey', { name: 'x'.repeat(33), type: 'oct', size: 256 })).status).toBe(400);
    expect(
      (await api(root, 'POST', '/v1/servicekey', { name: 'hsm', type: 'oct', size: 256, protectionLevel: 'HSM' })).json.errors[0],
    ).toMatch(/SOFTWARE/);
    const missing = await api(root, 'GET', '/v1/servicekey/2f0b8a4e-1f6c-4d7e-9b1a-3c5d7e9f1a2b');
    expect(missing.status).toBe(404);
    expect(missing.json.error_code).toBe(((3 << 24) | (3 << 16) | (5 << 12) | 1) >>> 0);
    expect((await api(root, 'GET', '/v1/servicekey?max=5')).status).toBe(400);
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/decrypt`, { ciphertext: 'a.b.c.d.e' })).status).toBe(400);
    const big = await call(server.url, root, 'POST', `/v1/servicekey/${k.id}/encrypt`, JSON.stringify({ plaintext: 'A'.repeat(70_000) }));
    expect(big.status).toBe(400);
    // Crafted JWE and JWS headers are 400s, never 500s.
    const enc = (await api(root, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'AAAA' })).json.ciphertext as string;
    const parts = enc.split('.');
    for (const kv of [3_000_000_000, 5_000_000_000, -1, 1.5]) {
      const h = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString());
      const forged = [Buffer.from(JSON.stringify({ ...h, 'okms.kv': kv })).toString('base64url'), ...parts.slice(1)].join('.');
      expect((await api(root, 'POST', `/v1/servicekey/${k.id}/decrypt`, { ciphertext: forged })).status).toBe(400);
    }
    // A protected header that is JSON but no object (null was a TypeError: a 500 and an error log line).
    const dk0 = ((await api(root, 'POST', `/v1/servicekey/${k.id}/datakey`, { size: 128 })).json.key as string).split('.');
    for (const h of ['null', '[]', '0', '"dir"', 'true', '{"alg":"dir","enc":{"toString":1}}']) {
      const r = await api(root, 'POST', `/v1/servicekey/${k.id}/decrypt`, {
        ciphertext: [Buffer.from(h).toString('base64url'), ...parts.slice(1)].join('.'),
      });
      expect(r.status, h).toBe(400);
      expect(r.json.errors, h).toEqual(['the ciphertext is not a ciphertext produced by this KMS']);
      expect(r.json.error_code).toBe(unknown.json.error_code);
      const d = await api(root, 'POST', `/v1/servicekey/${k.id}/datakey/decrypt`, {
        key: [Buffer.from(h).toString('base64url'), ...dk0.slice(1)].join('.'),
      });
      expect(d.status, h).toBe(400);
      expect(d.json.errors, h).toEqual(['the data key is not a ciphertext produced by this KMS']);
    }
    const ec = (
      await api(root, 'POST', '/v1/servicekey', {
        name: 'ecv',
        type: 'EC',
        curve: 'P-256',
        operations: ['sign', 'verify'],
      })
    ).json;
    expect((await api(root, 'POST', `/v1/servicekey/${ec.id}/verify`, { signature: 'bnVsbA.e30.AAAA' })).status).toBe(400);
    // A data key stripped of its type and sent to /decrypt does not open.
    const dk = (await api(root, 'POST', `/v1/servicekey/${k.id}/datakey`, { size: 128 })).json.key as string;
    const dkParts = dk.split('.');
    const dkh = JSON.parse(Buffer.from(dkParts[0]!, 'base64url').toString());
    delete dkh.cty;
    const stripped = [Buffer.from(JSON.stringify(dkh)).toString('base64url'), ...dkParts.slice(1)].join('.');
    expect((await api(root, 'POST', `/v1/servicekey/${k.id}/decrypt`, { ciphertext: stripped })).status).toBe(400);
  });

  it('refuses callers: no certificate, foreign CA, revoked, wrong domain, IAM denial', async () => {
    const k = (
      await api(root, 'POST', '/v1/servicekey', {
        name: 'sec',
        type: 'oct',
        size: 256,
        operations: ['encrypt', 'decrypt'],
      })
    ).json;
    const none = await api({ ca: caPem }, 'GET', '/v1/servicekey');
    expect(none.status).toBe(401);
    expect(none.json.errors[0]).toBe('a client certificate (mTLS) or an Authorization: Bearer token is required');

    const otherCa = await loadCa(await createCa({ commonName: 'polykms gateway CA', validityDays: 30 }));
    const forged = await issueClientCertificate(otherCa, {
      commonName: 'x',
      upn: `okms.domain:${okmsId}`,
      validityDays: 29,
    });
    const foreign = await api({ ca: caPem, cert: forged.certPem, key: forged.privateKeyPem }, 'GET', '/v1/servicekey');
    expect(foreign.status).toBe(401);

    const doomed = await newCredential(['urn:v1:eu:identity:account:xx1111-ovh']);
    expect((await api(doomed, 'GET', `/v1/servicekey/${k.id}`)).status).toBe(200);
    expect((await ctl('DELETE', `/v2/okms/resource/${okmsId}/credential/${doomed.id}`)).status).toBe(204);
    const revoked = await api(doomed, 'GET', `/v1/servicekey/${k.id}`);
    expect(revoked.status).toBe(401);
    expect(revoked.json.errors[0]).toMatch(/revoked/);

    // Another domain's path: not found, whatever the key.
    const other = await ctl('POST', '/v2/okms/resource', { region: 'eu-west-sbg' });
    const wrong = await api(root, 'GET', `/api/${other.json.id}/v1/servicekey/${k.id}`);
    expect(wrong.status).toBe(404);
    expect(wrong.json.error_code).toBe(16994305);
    // A credential of the other domain cannot see this domain's key.
    const okmsSave = okmsId;
    okmsId = other.json.id;
    const stranger = await newCredential(['urn:v1:eu:identity:account:yy2222-ovh']);
    okmsId = okmsSave;
    expect((await api(stranger, 'GET', `/v1/servicekey/${k.id}`)).status).toBe(404);

    // IAM: a user allowed to encrypt this key only.
    const user = await newCredential(['urn:v1:eu:identity:user:xx1111-ovh/alice']);
    expect((await api(user, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'AAAA' })).status).toBe(403);
    expect(
      (
        await ctl('PUT', `/admin/ovh/domains/${okmsId}/policies/alice`, {
          identities: ['urn:v1:eu:identity:user:xx1111-ovh/alice'],
          resources: [{ urn: `urn:v1:eu:resource:okms:${okmsId}/serviceKey/${k.id}` }],
          permissions: { allow: [{ action: 'okms:apikms:serviceKey/encrypt' }] },
        })
      ).status,
    ).toBe(200);
    expect((await api(user, 'POST', `/v1/servicekey/${k.id}/encrypt`, { plaintext: 'AAAA' })).status).toBe(200);
    const denied = await api(user, 'POST', `/v1/servicekey/${k.id}/deactivate`, { reason: 'unspecified' });
    expect(denied.status).toBe(403);
    expect(denied.json.error_code).toBe(16924673);
    expect((await api(user, 'POST', '/v1/servicekey', { name: 'n', type: 'oct', size: 256 })).status).toBe(403);
    // Signing needs the sign right only (not get).
    const signer = await newCredential(['urn:v1:eu:identity:user:xx1111-ovh/signer']);
    const ec = (
      await api(root, 'POST', '/v1/servicekey', {
        name: 'ecs',
        type: 'EC',
        curve: 'P-256',
        operations: ['sign', 'verify'],
      })
    ).json;
    expect(
      (
        await ctl('PUT', `/admin/ovh/domains/${okmsId}/policies/signer`, {
          identities: ['urn:v1:eu:identity:user:xx1111-ovh/signer'],
          resources: [{ urn: `urn:v1:eu:resource:okms:${okmsId}` }],
          permissions: {
            allow: [{ action: 'okms:apikms:serviceKey/sign' }, { action: 'okms:apikms:serviceKey/verify' }],
          },
        })
      ).status,
    ).toBe(200);
    const s1 = await api(signer, 'POST', `/v1/servicekey/${ec.id}/sign`, { alg: 'ES256', message: 'AAAA' });
    expect(s1.status).toBe(200);
    expect(
      (
        await api(signer, 'POST', `/v1/servicekey/${ec.id}/verify`, {
          alg: 'ES256',
          message: 'AAAA',
          signature: s1.json.signature,
        })
      ).json.result,
    ).toBe(true);
    expect((await api(signer, 'GET', `/v1/servicekey/${ec.id}`)).status).toBe(403);
    await kms.audit.flush();
    const audit = await dbOf(kms)
      .selectFrom('audit_events')
      .selectAll()
      .where('principal', '=', `credential:${user.id}`)
      .where('outcome', '=', 'denied')
      .execute();
    expect(audit.length).toBeGreaterThanOrEqual(3);
  });
});

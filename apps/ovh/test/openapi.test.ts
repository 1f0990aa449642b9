import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { CompactEncrypt } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  compileAll,
  isBase64,
  isJweCompact,
  listOperations,
  loadSpec,
  operationFor,
  toJsonSchema,
  validateHttpResponse,
  validateRequest,
  validateResponse,
  SPEC_PATH,
} from './openapi.ts';

const OKMS = '3f1c2a9e-5b7d-4e21-9c0a-7d8e6f5a4b3c';
const KEY = '79b66eba-273e-4f7a-b954-78ed7e70b85d';
const CURRENT = `/api/${OKMS}/v1/servicekey`;
const LEGACY = '/v1/servicekey';

const serviceKey = () => ({
  id: KEY,
  name: 'my-key',
  type: 'oct',
  size: 256,
  operations: ['encrypt', 'decrypt'],
  protectionLevel: 'SOFTWARE',
  class: 'SECRET_KEY',
  attributes: { state: 'active', original_creation_date: '2025-01-01T00:00:00Z' },
});

const errorBody = () => ({
  error_id: 'a1b2c3',
  error_code: 16994305,
  errors: ['key not found'],
  request_id: '79b66eba-273e-4f7a-b954-78ed7e70b85d',
});

async function jwe(bytes: number): Promise<string> {
  return new CompactEncrypt(randomBytes(bytes)).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: KEY }).encrypt(randomBytes(32));
}

describe('loadSpec / operationFor', () => {
  it('loads the 2.16.2 document once, byte for byte the vendored copy', () => {
    const spec = loadSpec();
    expect(spec.openapi).toBe('3.0.1');
    expect(spec.info.version).toBe('2.16.2');
    expect(createHash('sha256').update(readFileSync(SPEC_PATH)).digest('hex')).toBe(
      '72e335bf9732af3b1039c6c101eab8885c9d3f7f84da00323bcbcfabb90c0c1f',
    );
    expect(loadSpec()).toBe(spec);
  });

  it('maps both path forms onto the /api/{okmsId} template', () => {
    for (const base of [CURRENT, LEGACY]) {
      const m = operationFor('GET', `${base}/${KEY}`);
      expect(m).toMatchObject({
        operationId: 'GetServiceKey',
        template: '/api/{okmsId}/v1/servicekey/{keyId}',
        paramErrors: [],
      });
      expect(m?.params.keyId).toBe(KEY);
      expect(m?.legacy).toBe(base === LEGACY);
    }
    expect(operationFor('get', `${CURRENT}/${KEY}`)?.params.okmsId).toBe(OKMS);
    expect(operationFor('POST', `${LEGACY}`)?.operationId).toBe('CreateImportServiceKey');
    expect(operationFor('GET', `${LEGACY}?state=all&max=10`)?.operationId).toBe('ListServiceKeys');
    expect(operationFor('POST', `${LEGACY}/${KEY}/datakey`)?.operationId).toBe('GenerateDataKey');
    expect(operationFor('POST', `${LEGACY}/${KEY}/datakey/decrypt`)?.operationId).toBe('DecryptDataKey');
    expect(operationFor('PATCH', `${CURRENT}/${KEY}`)?.operationId).toBe('PatchServiceKey');
    expect(operationFor('GET', '/v1/random?length=32')?.template).toBe('/api/{okmsId}/v1/random');
  });

  it('prefers the most specific template and lets {path} span segments', () => {
    expect(operationFor('GET', `/api/${OKMS}/v2/secret/app/db/version`)).toMatchObject({
      operationId: 'ListSecretVersionV2',
      params: { path: 'app/db' },
    });
    expect(operationFor('GET', `/api/${OKMS}/v2/secret/app/db/version/3`)).toMatchObject({
      operationId: 'GetSecretVersionV2',
      params: { path: 'app/db', version: '3' },
      paramErrors: [],
    });
    expect(operationFor('GET', `/api/${OKMS}/v2/secret/app/db`)?.operationId).toBe('GetSecretV2');
    // the literal `/version/` wins even when the version is out of range
    expect(operationFor('PUT', `/api/${OKMS}/v2/secret/app/version/0`)).toMatchObject({
      operationId: 'PutSecretVersionV2',
      paramErrors: ['path parameter version must be >= 1'],
    });
  });

  it('returns undefined for unknown paths or methods, and reports malformed ids', () => {
    expect(operationFor('GET', '/v1/nothing')).toBeUndefined();
    expect(operationFor('PUT', `${LEGACY}/${KEY}`)).toBeUndefined();
    expect(operationFor('GET', `${LEGACY}/${KEY}/`)).toBeUndefined();
    const bad = operationFor('GET', `${LEGACY}/not-a-uuid`);
    expect(bad?.operationId).toBe('GetServiceKey');
    expect(bad?.paramErrors.join()).toMatch(/keyId.*format "uuid"/);
    expect(operationFor('GET', `${LEGACY}/urn:uuid:${KEY}`)?.paramErrors).not.toEqual([]);
  });

  it('compiles every request, response and path-parameter schema of the spec', () => {
    expect(listOperations().length).toBe(40);
    expect(compileAll()).toBeGreaterThan(200);
  });
});

describe('OpenAPI 3.0 -> JSON Schema', () => {
  it('turns nullable into type unions, and $ref/allOf + nullable into anyOf with null', () => {
    expect(toJsonSchema({ type: 'string', nullable: true, readOnly: true, example: 'x' })).toEqual({
      type: ['string', 'null'],
    });
    expect(toJsonSchema({ type: 'string', enum: ['a'], nullable: true })).toEqual({
      type: ['string', 'null'],
      enum: ['a', null],
    });
    expect(toJsonSchema({ $ref: '#/components/schemas/KeyTypes', nullable: true, default: 'oct' })).toEqual({
      default: 'oct',
      anyOf: [{ $ref: expect.stringMatching(/#\/definitions\/KeyTypes$/) }, { type: 'null' }],
    });
    expect(toJsonSchema({ allOf: [{ $ref: '#/components/schemas/KeyTypes' }], nullable: true })).toMatchObject({
      anyOf: [{ allOf: [{ $ref: expect.any(String) }] }, { type: 'null' }],
    });
    // a property *named* "example" is kept; the keyword is stripped
    expect(toJsonSchema({ type: 'object', properties: { example: { type: 'string', example: 'y' } }, discriminator: {} })).toEqual({
      type: 'object',
      properties: { example: { type: 'string' } },
    });
    expect(() => toJsonSchema({ type: 'string', format: 'no-such-format' })).toThrow(/unknown format/);
  });

  it('accepts the nullable fields of the spec', () => {
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), attributes: null }).ok).toBe(true);
    // 2.16.2: `keys` is no longer nullable
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), keys: null }).ok).toBe(false);
    // CreateImportServiceKeyRequest.protectionLevel is `$ref` + `nullable: true`
    expect(validateRequest('POST', LEGACY, { name: 'k', type: 'oct', size: 256, protectionLevel: null }).ok).toBe(true);
    expect(validateRequest('POST', LEGACY, { name: 'k', protectionLevel: 'PLASTIC' }).ok).toBe(false);
    expect(validateRequest('POST', LEGACY, { name: null }).ok).toBe(false);
  });
});

describe('validateResponse', () => {
  it('accepts a valid GetServiceKeyResponse on both path forms', () => {
    for (const base of [CURRENT, LEGACY]) {
      expect(validateResponse('GET', `${base}/${KEY}`, 200, serviceKey())).toEqual({
        ok: true,
        errors: [],
        operationId: 'GetServiceKey',
      });
    }
    expect(validateResponse('POST', LEGACY, 201, serviceKey()).ok).toBe(true);
    // raw text is parsed
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, JSON.stringify(serviceKey())).ok).toBe(true);
  });

  it('rejects a key without its required id', () => {
    const { id: _, ...noId } = serviceKey();
    const r = validateResponse('GET', `${CURRENT}/${KEY}`, 200, noId);
    expect(r.ok).toBe(false);
    expect(r.errors.join()).toMatch(/must have required property 'id'/);
  });

  it('rejects unknown properties where additionalProperties is false', () => {
    const r = validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), state: 'active' });
    expect(r.ok).toBe(false);
    expect(r.errors).toContain('response must NOT have additional properties (state)');
    // but `attributes` is a free object
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), attributes: { anything: 1 } }).ok).toBe(true);
  });

  it('checks ids, enums and formats', () => {
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), id: 'not-a-uuid' }).ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), id: `urn:uuid:${KEY}` }).ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), type: 'AES' }).ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), size: 512 }).ok).toBe(false);
  });

  it('requires plaintext to be strict padded base64', () => {
    const decrypt = (plaintext: unknown) => validateResponse('POST', `${LEGACY}/${KEY}/decrypt`, 200, { plaintext });
    expect(decrypt('aGVsbG8gd29ybGQ=').ok).toBe(true);
    for (const bad of ['hello world!', 'aGVsbG8gd29ybGQ', 'aGVsbG8_d29ybGQ=', 'aGVsbG8gd29ybGR=', 'junk\naGVsbG8=', 'aGVs bG8=', '', 42]) {
      expect(decrypt(bad).ok, JSON.stringify(bad)).toBe(false);
    }
    expect(decrypt('hello world!').errors.join()).toMatch(/plaintext must match format "byte"/);
    expect(isBase64('QQ==')).toBe(true);
    expect(isBase64('QR==')).toBe(false); // non-canonical trailing bits
  });

  it('requires jwe-token fields to be compact JWEs', async () => {
    const token = await jwe(32);
    const encrypt = (ciphertext: string) => validateResponse('POST', `${LEGACY}/${KEY}/encrypt`, 200, { ciphertext });
    expect(encrypt(token).ok).toBe(true);
    expect(isJweCompact(token)).toBe(true);
    expect(encrypt(token.split('.').slice(0, 4).join('.')).ok).toBe(false);
    expect(encrypt(`${token}.x`).ok).toBe(false);
    expect(encrypt(Buffer.from('opaque').toString('base64')).ok).toBe(false);
    const [, ...rest] = token.split('.');
    expect(encrypt([Buffer.from('not json').toString('base64url'), ...rest].join('.')).ok).toBe(false);
    expect(encrypt([Buffer.from('{"alg":"dir"}').toString('base64url'), ...rest].join('.')).ok).toBe(false); // no enc
    const dk = validateResponse('POST', `${LEGACY}/${KEY}/datakey`, 201, {
      key: token,
      plaintext: randomBytes(32).toString('base64'),
    });
    expect(dk.ok).toBe(true);
    expect(validateRequest('POST', `${LEGACY}/${KEY}/datakey/decrypt`, { key: token }).ok).toBe(true);
  });

  it('accepts documented error statuses with an ErrorResponse, and 403 with the same schema', () => {
    for (const status of [400, 401, 404, 429, 500, 403]) {
      expect(validateResponse('GET', `${LEGACY}/${KEY}`, status, errorBody()), String(status)).toEqual({
        ok: true,
        errors: [],
        operationId: 'GetServiceKey',
      });
    }
    // every field of ErrorResponse is optional (`errors` may be absent)
    expect(validateResponse('POST', `${LEGACY}/${KEY}/encrypt`, 400, { error_id: 'x', error_code: 1, request_id: 'r' }).ok).toBe(true);
    // CreateImportServiceKey documents no 401, but 403 still validates against ErrorResponse
    expect(validateResponse('POST', LEGACY, 403, errorBody()).ok).toBe(true);
  });

  it('rejects an error body with an extra field or a wrong type', () => {
    for (const status of [404, 403]) {
      const r = validateResponse('GET', `${LEGACY}/${KEY}`, status, { ...errorBody(), message: 'nope' });
      expect(r.ok).toBe(false);
      expect(r.errors).toEqual(['response must NOT have additional properties (message)']);
    }
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 404, { ...errorBody(), error_code: '16994305' }).ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 404, { ...errorBody(), error_code: 2 ** 31 }).ok).toBe(false); // int32
  });

  it('rejects statuses the operation does not document', () => {
    const r = validateResponse('GET', `${LEGACY}/${KEY}`, 418, errorBody());
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/status 418 is not documented for GetServiceKey \(documented: 200, 400, 401, 403, 404, 429, 500\)/);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 201, serviceKey()).ok).toBe(false);
    expect(validateResponse('POST', LEGACY, 200, serviceKey()).ok).toBe(false); // create answers 201
    expect(validateResponse('POST', LEGACY, 401, errorBody()).ok).toBe(false); // spec quirk: no 401 on create
    expect(validateResponse('GET', '/v1/unknown', 200, {}).errors[0]).toMatch(/no operation in the spec/);
  });

  it('requires an empty body for 204 and a body otherwise', () => {
    for (const empty of [undefined, null, '', new Uint8Array(0)]) {
      expect(validateResponse('DELETE', `${LEGACY}/${KEY}`, 204, empty).ok).toBe(true);
    }
    expect(validateResponse('POST', `${CURRENT}/${KEY}/activate`, 204, '').ok).toBe(true);
    const r = validateResponse('POST', `${LEGACY}/${KEY}/deactivate`, 204, { ok: true });
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/no body in the spec/);
    expect(validateResponse('DELETE', `${LEGACY}/${KEY}`, 204, '{}').ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, '').ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, '{not json').errors[0]).toMatch(/not valid JSON/);
  });

  it('follows the spec on ListServiceKeysResponse.continuation_token (minLength 1): "" fails', () => {
    const page = (continuation_token: string, is_truncated: boolean) => ({
      objects_list: [serviceKey()],
      continuation_token,
      is_truncated,
    });
    expect(validateResponse('GET', `${LEGACY}?max=10`, 200, page('b3BhcXVl', true)).ok).toBe(true);
    const last = validateResponse('GET', LEGACY, 200, page('', false));
    expect(last.ok).toBe(false);
    expect(last.errors).toEqual(['response/continuation_token must NOT have fewer than 1 characters']);
    const { continuation_token: _, ...noToken } = page('x', false);
    expect(validateResponse('GET', LEGACY, 200, noToken).ok).toBe(false); // required too
  });

  it('validates fetch Responses, including their content type', async () => {
    const json = (body: unknown, status = 200) =>
      new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=UTF-8' } });
    expect((await validateHttpResponse('GET', `${LEGACY}/${KEY}`, json(serviceKey()))).ok).toBe(true);
    expect((await validateHttpResponse('DELETE', `${LEGACY}/${KEY}`, new Response(null, { status: 204 }))).ok).toBe(true);
    const text = new Response(JSON.stringify(serviceKey()), { status: 200, headers: { 'content-type': 'text/plain' } });
    expect((await validateHttpResponse('GET', `${LEGACY}/${KEY}`, text)).errors).toEqual([
      'content-type must be application/json, got "text/plain"',
    ]);
  });
});

describe('validateRequest', () => {
  const encrypt = `${LEGACY}/${KEY}/encrypt`;

  it('accepts {plaintext, context} and rejects unknown fields', () => {
    expect(validateRequest('POST', encrypt, { plaintext: 'aGVsbG8=', context: 'aad' })).toEqual({
      ok: true,
      errors: [],
      operationId: 'Encrypt',
    });
    expect(validateRequest('POST', `${CURRENT}/${KEY}/encrypt`, { plaintext: 'aGVsbG8=', context: null }).ok).toBe(true);
    const r = validateRequest('POST', encrypt, { plaintext: 'aGVsbG8=', aad: 'x' });
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual(['request must NOT have additional properties (aad)']);
  });

  it('enforces required fields, lengths and formats', () => {
    expect(validateRequest('POST', encrypt, { context: 'x' }).errors).toEqual(["request must have required property 'plaintext'"]);
    expect(validateRequest('POST', encrypt, { plaintext: 'aGVsbG8=', context: 'x'.repeat(65) }).ok).toBe(false);
    expect(validateRequest('POST', encrypt, { plaintext: 'hello' }).ok).toBe(false);
    expect(validateRequest('POST', encrypt, undefined).errors).toEqual(['Encrypt requires a request body']);
    expect(validateRequest('POST', `${LEGACY}/${KEY}/datakey`, { size: '256' }).ok).toBe(false); // no type coercion
    expect(validateRequest('POST', `${LEGACY}/${KEY}/datakey`, { size: 256, name: null }).ok).toBe(true);
    expect(validateRequest('POST', `${LEGACY}/${KEY}/deactivate`, { reason: 'unspecified' }).ok).toBe(true);
    expect(validateRequest('POST', `${LEGACY}/${KEY}/deactivate`, { reason: 'bored' }).ok).toBe(false);
    expect(validateRequest('PATCH', `${LEGACY}/${KEY}`, { name: 'renamed' }).ok).toBe(true);
    // JsonWebKeyRequest: only the signature algorithms, no `ext`
    const jwk = { kty: 'oct', k: randomBytes(32).toString('base64url'), key_ops: ['encrypt', 'decrypt'] };
    expect(validateRequest('POST', `${LEGACY}?format=jwk`, { name: 'imported', keys: [jwk] }).ok).toBe(true);
    expect(validateRequest('POST', LEGACY, { name: 'imported', keys: [{ ...jwk, ext: true }] }).ok).toBe(false);
    expect(validateRequest('POST', LEGACY, { name: 'imported', keys: [{ ...jwk, alg: 'A256GCM' }] }).ok).toBe(false);
    expect(
      validateRequest('POST', LEGACY, {
        name: 'imported',
        keys: [{ ...jwk, k: `${randomBytes(32).toString('base64')}=` }],
      }).ok,
    ).toBe(false);
  });

  it('rejects a body on an operation without requestBody, and malformed path ids', () => {
    expect(validateRequest('POST', `${LEGACY}/${KEY}/activate`, undefined).ok).toBe(true);
    expect(validateRequest('POST', `${LEGACY}/${KEY}/activate`, {}).ok).toBe(false);
    expect(validateRequest('GET', `${LEGACY}/${KEY}`, undefined).ok).toBe(true);
    const r = validateRequest('GET', `${LEGACY}/1234`, undefined);
    expect(r.ok).toBe(false);
    expect(r.errors[0]).toMatch(/path parameter keyId must match format "uuid"/);
    expect(validateRequest('GET', `/api/not-a-domain/v1/servicekey/${KEY}`, undefined).errors[0]).toMatch(/okmsId/);
  });

  it('spec quirk: the JWE of a maximum-size (4096-byte) plaintext exceeds DecryptRequest.ciphertext maxLength 5464', async () => {
    const plaintext = randomBytes(4096).toString('base64');
    expect(plaintext.length).toBe(5464);
    expect(validateRequest('POST', encrypt, { plaintext }).ok).toBe(true);
    const ciphertext = await jwe(4096);
    expect(ciphertext.length).toBeGreaterThan(5464);
    expect(validateResponse('POST', encrypt, 200, { ciphertext }).ok).toBe(true); // EncryptResponse has no maxLength
    const r = validateRequest('POST', `${LEGACY}/${KEY}/decrypt`, { ciphertext });
    expect(r.errors).toEqual(['request/ciphertext must NOT have more than 5464 characters']);
  });
});

describe('what 2.16.2 adds', () => {
  const wrapped = () => ({ keyFormatType: 'JWK', wrappingKeyId: KEY, ciphertext: 'a.b.c.d.e' });

  it('create, import and PATCH take `extractable`; PATCH no longer needs a name', () => {
    expect(
      validateRequest('POST', LEGACY, {
        context: 'k',
        extractable: false,
        name: 'k',
        operations: [],
        size: 256,
        type: 'oct',
      }).ok,
    ).toBe(true);
    expect(validateRequest('POST', LEGACY, { name: 'k', type: 'oct', size: 256, extractable: null }).ok).toBe(true);
    expect(validateRequest('PATCH', `${LEGACY}/${KEY}`, { extractable: true }).ok).toBe(true);
    expect(validateRequest('PATCH', `${LEGACY}/${KEY}`, {}).ok).toBe(true);
    expect(validateRequest('PATCH', `${LEGACY}/${KEY}`, { extractable: 'yes' }).ok).toBe(false);
    // the caller's `id` lost its uuid format (the server still checks it)
    expect(validateRequest('POST', LEGACY, { id: 'not-a-uuid', name: 'k' }).ok).toBe(true);
  });

  it('CLOUD_HSM replaces MANAGED_HSM', () => {
    expect(validateRequest('POST', LEGACY, { name: 'k', protectionLevel: 'CLOUD_HSM' }).ok).toBe(true);
    expect(validateRequest('POST', LEGACY, { name: 'k', protectionLevel: 'MANAGED_HSM' }).ok).toBe(false);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), protectionLevel: 'MANAGED_HSM' }).ok).toBe(false);
  });

  it('every key may carry a class, one of SECRET_KEY, KEY_PAIR, PUBLIC_KEY', () => {
    for (const c of ['SECRET_KEY', 'KEY_PAIR', 'PUBLIC_KEY'])
      expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), class: c }).ok).toBe(true);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...serviceKey(), class: 'PRIVATE_KEY' }).ok).toBe(false);
  });

  it('wrapped import and export: WrappedKeyEntry is strict', () => {
    expect(validateRequest('POST', LEGACY, { name: 'k', wrappedKeys: [wrapped()] }).ok).toBe(true);
    expect(validateRequest('POST', LEGACY, { name: 'k', wrappedKeys: [{ ...wrapped(), keyFormatType: 'PEM' }] }).ok).toBe(false);
    expect(validateRequest('POST', LEGACY, { name: 'k', wrappedKeys: [{ ...wrapped(), wrappingKeyId: 'x' }] }).ok).toBe(false);
    expect(validateRequest('POST', LEGACY, { name: 'k', wrappedKeys: [{ ...wrapped(), alg: 'RSA-OAEP' }] }).ok).toBe(false);
    const { keys: _, ...meta } = { ...serviceKey(), keys: [] };
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...meta, wrappedKeys: [wrapped()] }).ok).toBe(true);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 200, { ...meta, wrappedKeys: [{ ...wrapped(), ciphertext: '' }] }).ok).toBe(false);
  });

  it('documents 403 on create and get, and 409 on create', () => {
    expect(validateResponse('POST', LEGACY, 409, errorBody()).ok).toBe(true);
    expect(validateResponse('GET', `${LEGACY}/${KEY}`, 409, errorBody()).ok).toBe(false);
    const create = operationFor('POST', LEGACY)!.operation;
    expect(Object.keys(create.responses).sort()).toEqual(['201', '400', '403', '404', '409', '429', '500']);
  });
});

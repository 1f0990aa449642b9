import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  canonicalQuery,
  canonicalRequest,
  canonicalUris,
  parseAuthorization,
  parseSdkDate,
  signString,
  stringToSign,
  uriEncode,
} from './signer.ts';

describe('SDK-HMAC-SHA256', () => {
  it("reproduces Huawei's published test vector (API Request Signing Guide)", () => {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      host: 'service.region.example.com',
      'x-sdk-date': '20191115T033655Z',
    };
    const cr = canonicalRequest({
      method: 'GET',
      canonicalUri: canonicalUris('/v1/77b6a44cba5143ab91d13ab9a8ff44fd/vpcs')[0]!,
      canonicalQuery: canonicalQuery('limit=2&marker=13551d6b-755d-4757-b956-536f674975c0'),
      signedHeaders: ['content-type', 'host', 'x-sdk-date'],
      header: (n) => headers[n],
      payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
    const sts = stringToSign('20191115T033655Z', cr);
    expect(sts.split('\n')[2]).toBe('b25362e603ee30f4f25e7858e8a7160fd36e803bb2dfe206278659d71a9bcd7a');
    expect(signString('MFyfvK41ba2giqM7Uio6PznpdUKGpownRZlmVmHc', sts)).toBe(
      '7be6668032f70418fcc22abc52071e57aff61b84a1d2381bb430d6870f4f6ebe',
    );
  });

  it('matches the official Node SDK signer on a KMS request (trailing slash, unsigned extra headers, raw UTF-8 body)', () => {
    const require = createRequire(import.meta.url);
    const { AKSKSigner } = require('@huaweicloud/huaweicloud-sdk-core/auth/AKSKSigner') as {
      AKSKSigner: { sign(r: unknown, c: unknown): Record<string, string> };
    };
    const { BasicCredentials } = require('@huaweicloud/huaweicloud-sdk-core') as { BasicCredentials: new () => any };
    const cred = new BasicCredentials()
      .withAk('MOCKAKMOCKAKMOCKAK01')
      .withSk('mockSecretKey0123456789mockSecretKey0123')
      .withProjectId('0123456789abcdef0123456789abcdef');
    const data = { key_id: '8238c1f5-0a6e-45f8-8dc1-aa6d2224031f', plain_text: 'hello ✓ 7a238b56' };
    const path = '/v1.0/0123456789abcdef0123456789abcdef/kms/encrypt-data';
    const headers = AKSKSigner.sign(
      {
        endpoint: `https://127.0.0.1:8444${path}`,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'X-Project-Id': '0123456789abcdef0123456789abcdef' },
        data,
        queryParams: {},
      },
      cred,
    );
    const auth = parseAuthorization(headers.Authorization!)!;
    expect(auth.signedHeaders).toEqual(['content-type', 'host', 'x-project-id', 'x-sdk-date']);
    const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
    const cr = canonicalRequest({
      method: 'POST',
      canonicalUri: canonicalUris(path)[0]!,
      canonicalQuery: '',
      signedHeaders: auth.signedHeaders,
      header: (n) => lower[n],
      payloadHash: require('node:crypto')
        .createHash('sha256')
        .update(Buffer.from(JSON.stringify(data), 'utf8'))
        .digest('hex'),
    });
    expect(cr.split('\n')[1]).toBe(`${path}/`);
    expect(signString('mockSecretKey0123456789mockSecretKey0123', stringToSign(headers['X-Sdk-Date']!, cr))).toBe(auth.signature);
    expect(signString('another-secret', stringToSign(headers['X-Sdk-Date']!, cr))).not.toBe(auth.signature);
  });

  it('offers both canonical forms of a percent-encoded segment (Node encodes as is; the guide decodes first)', () => {
    expect(canonicalUris('/v1.0/p/kms/k/tags/a%20b')).toEqual(['/v1.0/p/kms/k/tags/a%20b/', '/v1.0/p/kms/k/tags/a%2520b/']);
    expect(canonicalUris('/v1.0/p/kms/sign')).toEqual(['/v1.0/p/kms/sign/']);
    expect(uriEncode('urn:fss:x y~')).toBe('urn%3Afss%3Ax%20y~');
    expect(canonicalQuery('b=2&a=1&a=0')).toBe('a=0&a=1&b=2');
  });

  it('parses the Authorization header and the date strictly', () => {
    expect(parseAuthorization('SDK-HMAC-SHA256 Access=AK, SignedHeaders=content-type;Host;x-sdk-date, Signature=ABCDEF')).toEqual({
      access: 'AK',
      signedHeaders: ['content-type', 'host', 'x-sdk-date'],
      signature: 'abcdef',
    });
    expect(parseAuthorization('Bearer x')).toBeUndefined();
    expect(parseAuthorization('SDK-HMAC-SHA256 Access=AK, Signature=ab')).toBeUndefined();
    expect(parseSdkDate('20191115T033655Z')?.toISOString()).toBe('2019-11-15T03:36:55.000Z');
    expect(parseSdkDate('2019-11-15T03:36:55Z')).toBeUndefined();
  });
});

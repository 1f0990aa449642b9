import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeDekPayload, encodeDekPayload, resourceKeyHash } from './blob.ts';
import { loadRsa } from './gmail.ts';
import { loadCseConfig, parseCseConfig } from './config.ts';
import { CseError } from './errors.ts';
import { evaluatePerimeter, PerimeterRuleSchema } from './perimeter.ts';
import { decodeBase64 } from './schemas.ts';
import { sanitizeReason } from './app.ts';
import { tempDir, write } from '../test/helpers.ts';

describe('resource key hash (https://developers.google.com/workspace/cse/reference/resource-key-hash)', () => {
  it('matches the published vectors', () => {
    expect(
      resourceKeyHash(
        Buffer.from('6a68079290123ed8f23c845cc8bda91cd961c0246b79446662919e336920cbef', 'hex'),
        '//googleapis.com/testcase/hJB0PzRI7nl79LC18qaV8WMDCBALBSs9BREcq79MfVw',
        '',
      ),
    ).toBe(Buffer.from('4d9aafeb06cd0e812d0f3c10f18573a5aee4c86300a104fad9b258f0b71bd813', 'hex').toString('base64'));
    expect(
      resourceKeyHash(
        Buffer.from('05b62b91cb66f19e27789fb69eb680fac113a70a120178d6cfa6b1b4cb11bb95', 'hex'),
        '//googleapis.com/testcase/od8yfZiS5ZF2RN27X4ClalsV6LobL2FwKRk4qOJxWdE',
        'perimeter1',
      ),
    ).toBe(Buffer.from('1b6231a171bc10ef99dd3b08f0742620811a59191570284d32b674c531cc2da5', 'hex').toString('base64'));
    expect(resourceKeyHash(Buffer.from('data-encryption-key'), 'resource-name', '')).toBe('BzUyXkZ0424Ve8NtOB1CWgg5hVx60OAPf9SNbVPdtUo=');
    expect(resourceKeyHash(Buffer.from('f00d', 'hex'), 'my_resource', 'my_perimeter')).toBe('EfRLb/AKdtsPSfX+vZ/Pi8h6bmKhBTu4egOABRnEdCg=');
    expect(resourceKeyHash(Buffer.from('f00d', 'hex'), 'my_resource', 'my_perimeter')).toBe(
      createHmac('sha256', Buffer.from('f00d', 'hex')).update('ResourceKeyDigest:my_resource:my_perimeter').digest('base64'),
    );
  });
});

describe('base64 fields', () => {
  it('accepts standard padded base64, tolerates unpadded and url-safe, refuses the rest with a 400', () => {
    expect(decodeBase64('wHrlNOTI9mU6PBdqiq7EQA==', 'key', 128).toString('hex')).toBe('c07ae534e4c8f6653a3c176a8aaec440');
    expect(decodeBase64('wHrlNOTI9mU6PBdqiq7EQA', 'key', 128).length).toBe(16);
    expect(decodeBase64('-_8', 'key', 128)).toEqual(Buffer.from([0xfb, 0xff]));
    for (const bad of ['abc$', 'A', 'AB=C', 'ABC=D===', '+_AA', 'AB=', ' AAAA']) {
      try {
        decodeBase64(bad, 'key', 128);
        expect.unreachable(bad);
      } catch (e) {
        expect(e).toBeInstanceOf(CseError);
        expect((e as CseError).status).toBe(400);
      }
    }
    expect(() => decodeBase64(Buffer.alloc(129).toString('base64'), 'key', 128)).toThrow(/at most 128 bytes/);
  });
});

describe('wrapped key payload', () => {
  it('round-trips and refuses trailing or truncated bytes', () => {
    const w = { dek: Buffer.from('k'.repeat(32)), resourceName: '//googleapis.com/drive/files/é', perimeterId: 'p' };
    const b = encodeDekPayload(w);
    expect(decodeDekPayload(b)).toEqual(w);
    expect(() => decodeDekPayload(Buffer.concat([b, Buffer.from([0])]))).toThrow(CseError);
    expect(() => decodeDekPayload(b.subarray(0, b.length - 1))).toThrow(CseError);
  });

  it('refuses a payload whose lengths run past its end as a 400, not a RangeError', () => {
    // A DEK length of 10 in a 6-byte payload: the resource name's length lay beyond the end.
    for (const p of [
      [1, 10, 0, 0, 0, 0],
      [1, 255, 1, 2, 3, 4, 5],
      [1, 0, 0, 9, 0, 0],
      [1, 1, 7, 0xff, 0xff, 0],
    ]) {
      const e = (() => {
        try {
          return decodeDekPayload(Buffer.from(p));
        } catch (x) {
          return x;
        }
      })();
      expect(e, JSON.stringify(p)).toBeInstanceOf(CseError);
      expect((e as CseError).status).toBe(400);
    }
  });

  it('refuses a private key payload that is not PKCS#8 as a 400, not an OpenSSL error', () => {
    for (const der of [Buffer.alloc(0), Buffer.from([0x30, 0x03, 1, 2, 3]), Buffer.from('not DER')]) {
      const e = (() => {
        try {
          return loadRsa(der);
        } catch (x) {
          return x;
        }
      })();
      expect(e).toBeInstanceOf(CseError);
      expect((e as CseError).status).toBe(400);
    }
  });
});

describe('perimeter rules', () => {
  const rule = PerimeterRuleSchema.parse({
    allOf: [
      { claim: 'email', endsWith: '@Finance.example.com' },
      {
        anyOf: [
          { claim: 'authentication.amr', includes: 'mfa' },
          { claim: 'authorization.role', equals: 'reader' },
        ],
      },
      { not: { claim: 'authentication.blocked', present: true } },
    ],
  });
  it('evaluates on both tokens, email case-insensitive', () => {
    expect(
      evaluatePerimeter(rule, {
        email: 'Bob@finance.example.com',
        authentication: { amr: ['pwd', 'mfa'] },
        authorization: { role: 'writer' },
      }),
    ).toBe(true);
    expect(
      evaluatePerimeter(rule, {
        email: 'bob@finance.example.com',
        authentication: { amr: ['pwd'] },
        authorization: { role: 'reader' },
      }),
    ).toBe(true);
    expect(
      evaluatePerimeter(rule, {
        email: 'bob@finance.example.com',
        authentication: { amr: ['pwd'] },
        authorization: { role: 'writer' },
      }),
    ).toBe(false);
    expect(evaluatePerimeter(rule, { email: 'bob@finance.example.com', authentication: { amr: ['mfa'], blocked: true } })).toBe(false);
    expect(evaluatePerimeter(rule, { email: 'eve@example.com', authentication: { amr: ['mfa'] } })).toBe(false);
    expect(evaluatePerimeter({ claim: 'authentication.__proto__', present: true }, { email: 'a@b', authentication: {} })).toBe(false);
  });
  it('refuses rules that are not well-formed', () => {
    expect(PerimeterRuleSchema.safeParse({ claim: 'email' }).success).toBe(false);
    expect(PerimeterRuleSchema.safeParse({ claim: 'email', equals: 'a', endsWith: 'b' }).success).toBe(false);
    expect(PerimeterRuleSchema.safeParse({ claim: 'headers.x', equals: 'a' }).success).toBe(false);
    expect(PerimeterRuleSchema.safeParse({ claim: 'email', matches: '(' }).success).toBe(false);
  });
});

describe('configuration', () => {
  it('explains what is wrong, field by field', async () => {
    expect(() =>
      parseCseConfig({
        kaclsUrl: 'http://kacls.example.com',
        identityProviders: [{ issuer: 'x', jwksUri: 'ftp://x', audiences: [] }],
        bogus: 1,
      }),
    ).toThrow(
      /kaclsUrl: kaclsUrl must be an https:\/\/ URL[\s\S]*identityProviders\.0\.jwksUri: jwksUri must be https:\/\/\.\.\. or file:[\s\S]*identityProviders\.0\.audiences: list every accepted audience[\s\S]*unknown field\(s\) bogus/,
    );
    const dir = tempDir();
    await expect(loadCseConfig(write(dir, 'bad.json', '{'))).rejects.toThrow(/is not JSON/);
    await expect(loadCseConfig(`${dir}/missing.json`)).rejects.toThrow(/cannot read/);
    const ok = await loadCseConfig(write(dir, 'ok.json', JSON.stringify({ kaclsUrl: 'https://kacls.example.com/v1/' })));
    expect(ok).toMatchObject({
      enabled: true,
      allowGuests: false,
      clockSkewSeconds: 60,
      privilegedUsers: [],
      corsOrigins: ['https://client-side-encryption.google.com'],
    });
    expect((await loadCseConfig(undefined)).enabled).toBe(false);
  });
});

describe('small helpers', () => {
  it('sanitizes reasons', () => {
    expect(sanitizeReason("{client:'drive'\nop:'read'}\u202e")).toBe("{client:'drive'?op:'read'}?");
    expect(Buffer.byteLength(sanitizeReason('é'.repeat(600)))).toBeLessThanOrEqual(1024);
  });
});

import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { KmsError } from '@polykms/core';
import { fromJwe, toJwe } from './jwe.ts';

const b64u = (v: string | Buffer) => Buffer.from(v).toString('base64url');

describe('OVH compact JWE', () => {
  const kid = randomUUID();
  // A core blob: header (21) | iv (12) | tag (16) | ciphertext.
  const blob = Buffer.concat([Buffer.alloc(21), randomBytes(12), randomBytes(16), randomBytes(20)]);
  const jwe = toJwe(blob, kid, 3, 256, 'ciphertext');
  const parts = jwe.split('.');
  const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString()) as Record<string, unknown>;
  const withHeader = (text: string | Buffer) => [b64u(text), ...parts.slice(1)].join('.');
  const refused = (s: string, kind: 'ciphertext' | 'datakey' = 'ciphertext') => {
    let e: unknown;
    try {
      fromJwe(s, kind);
    } catch (x) {
      e = x;
    }
    expect(e, s).toBeInstanceOf(KmsError);
    expect(e).toMatchObject({
      kind: 'invalid_argument',
      message: `the ${kind === 'datakey' ? 'data key' : 'ciphertext'} is not a ciphertext produced by this KMS`,
    });
  };

  it('reads back what it wrote', () => {
    const r = fromJwe(jwe, 'ciphertext');
    expect(r.keyId).toBe(kid);
    expect(r.blob.subarray(21).equals(blob.subarray(21))).toBe(true);
    refused(jwe, 'datakey');
  });

  it('refuses a protected header that is not a JSON object, as invalid input (it was a TypeError: a 500)', () => {
    for (const v of ['null', '[]', '[{}]', '0', '1e999', '"dir"', 'true', '{}', '', '{', `\ufeff${JSON.stringify(header)}`]) {
      refused(withHeader(v));
      refused(withHeader(v), 'datakey');
    }
    refused(withHeader(JSON.stringify([header])));
    refused(withHeader(Buffer.from(JSON.stringify(header), 'utf16le')));
  });

  it('refuses members of the wrong type, huge or oddly encoded, without throwing anything else', () => {
    const odd: unknown[] = [null, [], {}, 0, 1.5, -1, 1e300, '', 'x', true, 'A'.repeat(5000), { toString: 1 }, { valueOf: 1 }];
    for (const k of ['alg', 'enc', 'kid', 'okms.kv', 'cty'])
      for (const v of [...odd, [header[k]], typeof header[k] === 'number' ? String(header[k]) : `${String(header[k])}\u0000`])
        refused(withHeader(JSON.stringify({ ...header, [k]: v })));
    // The same values, written differently: escapes, duplicate members, another member order.
    refused(withHeader(JSON.stringify(header).replace('"dir"', '"\\u0064ir"')));
    refused(withHeader(`${JSON.stringify(header).slice(0, -1)},"kid":null}`));
    refused(withHeader(JSON.stringify(Object.fromEntries(Object.entries(header).reverse()))));
  });

  it('refuses wrong part counts and characters outside base64url', () => {
    for (let n = 1; n <= 7; n++) if (n !== 5) refused(Array.from({ length: n }, (_, i) => parts[i % 5]).join('.'));
    for (let i = 0; i < 5; i++)
      for (const ch of ['+', '/', '=', ' ', '%', '\u00e9']) refused(parts.map((p, j) => (j === i ? p + ch : p)).join('.'));
    refused(withHeader(JSON.stringify(header)).replace(/^[^.]+/, (h) => `${h}==`));
  });
});

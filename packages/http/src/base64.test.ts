import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fromStdBase64 } from './base64.ts';

/** The definition, as a regular expression. */
const isStd = (s: string) => s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);

describe('fromStdBase64', () => {
  it('decodes standard base64 with padding, non-canonical trailing bits included', () => {
    expect(fromStdBase64('')).toEqual(Buffer.alloc(0));
    expect(fromStdBase64('aGk=')).toEqual(Buffer.from('hi'));
    expect(fromStdBase64('aGk/')).toEqual(Buffer.from([0x68, 0x69, 0x3f]));
    expect(fromStdBase64('+/+/')).toEqual(Buffer.from('fbffbf', 'hex'));
    // Huawei's own sign example ends "…FYK=": the last bits are not zero.
    expect(fromStdBase64('aGl=')).toEqual(Buffer.from('hi'));
  });

  it('refuses what is not: other than ASCII, URL-safe letters, missing or extra padding, padding inside, spaces', () => {
    for (const s of [
      'aGk\u0141',
      'aGk\u012d',
      '\u0161Gk=',
      '\uff41Gk=',
      'aGk\ud841',
      'aGk',
      'aGk==',
      'a===',
      '====',
      'aG-_',
      'aGk-',
      'aG=k',
      'aG==aGk=',
      'aGk =',
      ' aGk',
      'aGk=\n',
      'aGk!',
      'é===',
      'aGk\u0000',
    ])
      expect(fromStdBase64(s), JSON.stringify(s)).toBeUndefined();
  });

  it('accepts exactly what the definition accepts, and decodes as Node does', () => {
    // Above U+00FF, characters whose low byte is a base64 letter or '-' (Node's decoder reads only that
    // byte), a full-width letter and a lone surrogate.
    const chars = fc.constantFrom(...'AZaz09+/=-_ \n!\u00e9\u0000\u0141\u012d\u0161\uff41\ud841'.split(''), 'Q', 'g', 'w');
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 24 }), (a) => {
        const s = a.join('');
        const got = fromStdBase64(s);
        expect(got !== undefined, JSON.stringify(s)).toBe(isStd(s));
        if (got) expect(got).toEqual(Buffer.from(s, 'base64'));
      }),
      { numRuns: 20_000 },
    );
    // Valid strings are rare among random ones: every encoding of random bytes too.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        expect(fromStdBase64(Buffer.from(b).toString('base64'))).toEqual(Buffer.from(b));
      }),
    );
  });
});

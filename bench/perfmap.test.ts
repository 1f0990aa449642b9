import { describe, expect, it } from 'vitest';
import { jitNames } from './perfmap.ts';

describe('jitNames', () => {
  it('names an address by the last span that held it: V8 reuses collected code space', () => {
    const names = jitNames(
      ['1000 100 JS:*first a.js:1:1', '2000 10 JS:^other b.js:2:2', '1080 40 JS:*later c.js:3:3', 'not a line', ''].join('\n'),
    );
    expect(names(0x1000)).toBe('JS:*first a.js:1:1');
    expect(names(0x107f)).toBe('JS:*first a.js:1:1');
    expect(names(0x1080)).toBe('JS:*later c.js:3:3');
    expect(names(0x10bf)).toBe('JS:*later c.js:3:3');
    expect(names(0x10c0)).toBe('JS:*first a.js:1:1');
    expect(names(0x200f)).toBe('JS:^other b.js:2:2');
    expect(names(0x2010)).toBeUndefined();
    expect(names(0xfff)).toBeUndefined();
  });
});

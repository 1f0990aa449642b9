import { describe, expect, it } from 'vitest';
import { annotatedCosts, compileShare, jitNames } from './callgrind.ts';

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

describe('compileShare', () => {
  it("adds V8's runtime entries into its compilers, once each", () => {
    const annotated = [
      '--------------------------------------------------------------------------------',
      '903,812,327 (100.0%)  PROGRAM TOTALS',
      '116,811,968 (14.42%)  ???:v8::internal::Runtime_CompileOptimized(int, unsigned long*, v8::internal::Isolate*) [/usr/bin/node]',
      '  2,983,304 ( 0.37%)  ???:v8::internal::Runtime_CompileLazy(int, unsigned long*, v8::internal::Isolate*) [/usr/bin/node]',
      '    120,000 ( 0.01%)  ???:v8::internal::Runtime_CompileOptimizedOSR(int, unsigned long*, v8::internal::Isolate*) [/usr/bin/node]',
      '     30,000 ( 0.00%)  ???:v8::internal::Runtime_CompileBaseline(int, unsigned long*, v8::internal::Isolate*) [/usr/bin/node]',
      // Inside the outer entry's cost already.
      "  1,000,000 ( 0.12%)  ???:v8::internal::Runtime_CompileLazy(int, unsigned long*, v8::internal::Isolate*)'2 [/usr/bin/node]",
      // Not an entry into a compiler.
      ' 50,000,000 ( 6.00%)  ???:v8::internal::Compiler::Compile(v8::internal::Isolate*, v8::internal::Handle<v8::internal::JSFunction>) [/usr/bin/node]',
      '    400,000 ( 0.05%)  ???:v8::internal::Runtime_CompileForOnStackReplacement(int) [/usr/bin/node]',
    ].join('\n');
    expect(compileShare(annotated)).toBe(116_811_968 + 2_983_304 + 120_000 + 30_000);
    expect(compileShare('')).toBe(0);
  });
});

describe('annotatedCosts', () => {
  it('reads function lines: cost, name without the file, recursion depth; skips the rest', () => {
    const annotated = [
      'Events shown:  Ir',
      '--------------------------------------------------------------------------------',
      '903,812,327 (100.0%)  PROGRAM TOTALS',
      ' 54,406,668 ( 6.72%)  ???:v8::internal::JsonStringifier::SerializeString(v8::internal::Handle<v8::internal::String>) [/usr/bin/node]',
      '  9,723,000 ( 1.07%)  ???:0x000000000d31bd00 [???]',
      "  1,615,022 ( 0.20%)  ???:Builtins_CallFunction_ReceiverIsNotNullOrUndefined'2 [/usr/bin/node]",
      '     41,543 ( 0.01%)  home/iojs/build/ws/out/../deps/uv/src/unix/core.c:uv_run [/usr/bin/node]',
    ].join('\n');
    expect(annotatedCosts(annotated)).toEqual([
      { ir: 54_406_668, fn: 'v8::internal::JsonStringifier::SerializeString(v8::internal::Handle<v8::internal::String>)', depth: 1 },
      { ir: 9_723_000, fn: '0x000000000d31bd00', depth: 1 },
      { ir: 1_615_022, fn: 'Builtins_CallFunction_ReceiverIsNotNullOrUndefined', depth: 2 },
      { ir: 41_543, fn: 'uv_run', depth: 1 },
    ]);
  });
});

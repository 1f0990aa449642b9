import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

// The layering rule of docs/design.md, checked on the files themselves so a shortcut shows up in CI.
const root = join(import.meta.dirname, '..');
const walk = (dir: string): string[] =>
  readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (n === 'node_modules' || n.startsWith('.')) return [];
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
const sources = (dir: string) => walk(join(root, dir)).filter((p) => /\.(ts|mts|mjs)$/.test(p));
const rel = (p: string) => relative(root, p);

describe('architecture', () => {
  it('keeps every module of core under 300 lines', () => {
    const long = sources('packages/core/src')
      .map((p) => [rel(p), readFileSync(p, 'utf8').split('\n').length] as const)
      .filter(([, n]) => n > 300);
    expect(long).toEqual([]);
  });

  it('lets apps reach core only through its public entries, never its store', () => {
    // What core's package.json exports, test helpers aside.
    const exported = Object.keys(
      JSON.parse(readFileSync(join(root, 'packages/core/package.json'), 'utf8')).exports as Record<string, string>,
    );
    const publicEntries = new Set(exported.map((e) => e.replace(/^\.\/?/, '')).filter((e) => e !== '' && e !== 'testing'));
    const offenders: string[] = [];
    for (const app of readdirSync(join(root, 'apps'))) {
      for (const p of sources(`apps/${app}/src`)) {
        if (p.endsWith('.test.ts') || /\/src\/testing\.ts$/.test(p)) continue;
        const text = readFileSync(p, 'utf8');
        for (const m of text.matchAll(/from '@polykms\/core\/([^']+)'/g))
          if (!publicEntries.has(m[1]!)) offenders.push(`${rel(p)}: imports a core internal (${m[1]})`);
        if (/packages\/core\/src/.test(text)) offenders.push(`${rel(p)}: imports a core internal by path`);
        if (/from '@polykms\/(core|http)\/testing'/.test(text)) offenders.push(`${rel(p)}: imports a package's test helpers`);
        if (/\b(storeOf|dbOf)\(/.test(text)) offenders.push(`${rel(p)}: reaches the key store directly`);
      }
    }
    expect(offenders).toEqual([]);
  });

  it('names no vendor in core', () => {
    const vendor = /\b(huawei|ovh|okms|google|workspace|kacls)\b/i;
    const offenders = sources('packages/core/src')
      .filter((p) => !p.endsWith('.test.ts'))
      .flatMap((p) =>
        readFileSync(p, 'utf8')
          .split('\n')
          .map((l, i) => [l, i] as const)
          .filter(([l]) => vendor.test(l) && !/^\s*(\/\/|\*|\/\*)/.test(l))
          .map(([l, i]) => `${rel(p)}:${i + 1}: ${l.trim()}`),
      );
    expect(offenders).toEqual([]);
  });

  it('generates key pairs only through generateKeyPairDetached', () => {
    // Node 20's own generateKeyPairSync can deadlock a later JWK export of its keys (core's keypair.ts).
    const allowed = new Set(['packages/core/src/keypair.ts', 'packages/core/src/keypair.test.ts']);
    const offenders = ['packages', 'apps', 'bench', 'reliability', 'test']
      .flatMap(sources)
      .filter(
        (p) => !allowed.has(rel(p)) && !rel(p).startsWith('test/architecture') && /\bgenerateKeyPairSync\b/.test(readFileSync(p, 'utf8')),
      )
      .map(rel);
    expect(offenders).toEqual([]);
  });
});

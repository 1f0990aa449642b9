#!/usr/bin/env node
// Installed entry point: runs the compiled CLI in apps/gateway/dist (built by `pnpm install`), in this
// same process, so signals such as SIGTERM reach the gateway directly. When a source file is newer
// than the build it compiles again first (a fraction of a second); where that is impossible (a
// read-only install) it runs the TypeScript through tsx, as in development.
import { build, currentBuild, DIST } from '../build.mjs';

let m = currentBuild();
if (!m) {
  try {
    m = await build();
  } catch (e) {
    process.stderr.write(`polykms: could not compile to ${DIST} (${e.message.split('\n')[0]}); running the sources through tsx\n`);
  }
}
if (m) await import(new URL(`../dist/${m.entry}`, import.meta.url).href);
else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli.ts');
}

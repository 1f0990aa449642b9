// Compiles the CLI and the gateway (apps/gateway/src/cli.ts and everything of the workspace it imports)
// to JavaScript in apps/gateway/dist, so that a `polykms` call starts without compiling TypeScript.
// Run by `pnpm install` (the root `prepare` script) and again by bin/polykms.mjs whenever a source
// file is newer than the build.
//
// Two rules keep the compiled code equivalent to the sources:
// - every workspace module keeps its own `import.meta.url`, so files it reaches by URL (worker threads
//   such as offload-worker.mjs, the OpenAPI document, the console's assets, createRequire lookups) are
//   found where they are in the source tree, unbundled;
// - third-party packages are not bundled: each import is resolved from the importing source file, as
//   Node would from there, and written as a relative path to that file (pnpm does not hoist a
//   package's dependencies to where the build output lives).
// - a workspace module imported only for its side effects (`import './reflect-polyfill.ts'`) stays a
//   module of its own (dist/side-*.js), because ES modules run imports in the order written and the
//   third-party packages that follow it may depend on those effects; bundled, it would run after them.
import { readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { createHash } from 'node:crypto';
import { basename, dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = join(here, 'dist');
export const MANIFEST = join(DIST, 'build.json');
const ROOT = resolve(here, '../..');
const builtins = new Set(builtinModules);

const toPosix = (p) => p.split(sep).join('/');
const relFromDist = (file) => {
  const r = toPosix(relative(DIST, file));
  return r.startsWith('.') ? r : `./${r}`;
};

/** The build's manifest when it is complete and no source it was made from changed since; else null. */
export function currentBuild() {
  let m;
  try {
    m = JSON.parse(readFileSync(MANIFEST, 'utf8'));
  } catch {
    return null;
  }
  for (const f of m.inputs) {
    try {
      if (statSync(join(ROOT, f)).mtimeMs > m.startedAt) return null;
    } catch {
      return null;
    }
  }
  return m;
}

/**
 * Builds into dist. Output names carry a content hash and the previous build's files stay, so a
 * gateway already running from dist can still load its lazily imported chunks during a rebuild.
 */
export async function build() {
  const esbuild = await import('esbuild');
  const startedAt = Date.now();
  const workspaceFile = (p) => p.startsWith(ROOT + sep) && !p.split(sep).includes('node_modules');
  const sideEffectOnly = new Map(); // importer -> relative specifiers imported without bindings
  const separate = new Map(); // source file -> its own output file (under dist)
  const inputs = new Set();
  const outputs = [];
  const run = async (entryPoints, more) => {
    const result = await esbuild.build({ ...options, entryPoints, ...more });
    for (const f of Object.keys(result.metafile.inputs)) if (workspaceFile(resolve(ROOT, f))) inputs.add(toPosix(f));
    outputs.push(...Object.keys(result.metafile.outputs).map((o) => resolve(ROOT, o)));
    return result;
  };
  const options = {
    absWorkingDir: ROOT,
    outdir: DIST,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    // Node's own resolution: no `module` field or condition.
    mainFields: ['main'],
    conditions: [],
    metafile: true,
    write: true,
    logLevel: 'warning',
    plugins: [
      {
        name: 'polykms',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, async (args) => {
            if (args.pluginData?.polykms || args.path.startsWith('node:') || builtins.has(args.path)) return undefined;
            if (args.path.startsWith('@polykms/')) return undefined;
            const r = await b.resolve(args.path, {
              kind: args.kind,
              importer: args.importer,
              resolveDir: args.resolveDir,
              pluginData: { polykms: true },
            });
            if (r.errors.length) return { errors: r.errors };
            return { path: relFromDist(r.path), external: true };
          });
          b.onResolve({ filter: /^\./ }, (args) => {
            if (!sideEffectOnly.get(args.importer)?.has(args.path)) return undefined;
            const file = resolve(args.resolveDir, args.path);
            // Next to the chunks, so that paths relative to the output directory hold for it too.
            const tag = createHash('sha256')
              .update(toPosix(relative(ROOT, file)))
              .digest('hex')
              .slice(0, 8);
            const out = join(DIST, `side-${basename(file).replace(/\.[cm]?[jt]s$/, '')}-${tag}.js`);
            separate.set(file, out);
            return { path: relFromDist(out), external: true };
          });
          b.onLoad({ filter: /\.(ts|mjs)$/ }, (args) => {
            if (!workspaceFile(args.path)) return undefined;
            const text = readFileSync(args.path, 'utf8');
            sideEffectOnly.set(args.path, new Set([...text.matchAll(/^import\s*['"](\.[^'"]+)['"]/gm)].map((x) => x[1])));
            const own = `new URL(${JSON.stringify(relFromDist(args.path))}, import.meta.url).href`;
            return {
              contents: text.replaceAll('import.meta.url', own),
              loader: args.path.endsWith('.ts') ? 'ts' : 'js',
            };
          });
        },
      },
    ],
  };
  const main = await run({ cli: join(here, 'src/cli.ts') }, { entryNames: '[name]-[hash]', chunkNames: 'chunk-[hash]', splitting: true });
  const entry = Object.entries(main.metafile.outputs).find(([, o]) => o.entryPoint)[0];
  // Each side-effect module on its own (a relative path of its own: nothing in it is shared).
  for (const [file, out] of separate) await run([file], { outfile: out, outdir: undefined });
  let previous = [];
  try {
    previous = JSON.parse(readFileSync(MANIFEST, 'utf8')).files;
  } catch {}
  const files = outputs.map((o) => toPosix(relative(DIST, o)));
  const keep = new Set([...files, ...previous, 'build.json']);
  for (const f of readdirSync(DIST)) if (!keep.has(f) && !f.startsWith('build.json')) rmSync(join(DIST, f), { force: true });
  const tmp = `${MANIFEST}.${process.pid}`;
  writeFileSync(
    tmp,
    `${JSON.stringify({ startedAt, entry: toPosix(relative(DIST, resolve(ROOT, entry))), files, inputs: [...inputs] }, null, 1)}\n`,
  );
  renameSync(tmp, MANIFEST);
  return currentBuild();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const m = await build();
  console.log(`polykms: compiled ${m.inputs.length} source files to ${relative(process.cwd(), DIST) || '.'}`);
}

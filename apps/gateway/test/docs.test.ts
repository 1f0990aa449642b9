/**
 * The guide works as written: every ```sh block of the README and of the dialect READMEs runs, in
 * order, in one shell per file, against a fresh gateway this test starts (free ports, a temporary
 * data directory), from a working directory whose `data/` is that gateway's data directory, as in a
 * clone where `pnpm start` ran. Two things differ from a reader's terminal, both visible here:
 * - the default ports in the text (`localhost:8440`, `:8443`, `:8444`, `:8445`) become the free ports;
 * - `pnpm` is docs-pnpm.mjs: `pnpm polykms` runs the polykms bin (what the root script does), and
 *   `pnpm start` (re)starts the gateway in the background instead of holding the terminal.
 * A block the test cannot run says why in the Markdown, just before it: `<!-- not run: reason -->`.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@polykms/core/testing';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const FILES = ['README.md', 'apps/ovh/README.md', 'apps/huawei/README.md', 'apps/cse/README.md'];
const DEFAULT_PORTS = { admin: 8440, ovh: 8443, huawei: 8444, cse: 8445 } as const;

interface Block {
  file: string;
  line: number;
  code: string;
  notRun?: string;
}

/** The ```sh blocks of a Markdown file, each with the `<!-- not run: ... -->` comment before it, if any. */
export function shellBlocks(file: string): Block[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i]!)) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    let before = i - 1;
    while (before >= 0 && lines[before]!.trim() === '') before--;
    const notRun = before >= 0 ? /^<!--\s*not run:\s*(.+?)\s*-->$/.exec(lines[before]!.trim())?.[1] : undefined;
    blocks.push({ file, line: i + 1, code: lines.slice(i + 1, end).join('\n'), ...(notRun ? { notRun } : {}) });
    i = end;
  }
  return blocks;
}

/** What the guide shows but this test cannot run, and why (the reason is the Markdown's own comment). */
const NOT_RUN: Record<string, string[]> = {
  'README.md': [
    'npx -y pnpm@10.34.9 install && npx -y pnpm@10.34.9 start',
    'npx -y pnpm@10.34.9 install && npx -y pnpm@10.34.9 test',
    'mkdir -p secrets',
    'export POLYKMS_ROOT_KEY',
    'pnpm bench',
  ],
  'apps/ovh/README.md': [],
  'apps/huawei/README.md': [],
  'apps/cse/README.md': [],
};

describe('the guide works as written', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) {
      try {
        process.kill(Number(readFileSync(join(d, 'state', 'gateway.pid'), 'utf8')), 'SIGKILL');
      } catch {}
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('marks every block it does not run, with a reason, and lists them', () => {
    for (const file of FILES) {
      const skipped = shellBlocks(file).filter((b) => b.notRun);
      for (const b of skipped) expect(b.notRun!.length, `${file}:${b.line}`).toBeGreaterThan(10);
      expect(
        skipped.map((b) => b.code.trimStart()),
        `${file}: the blocks marked not run`,
      ).toEqual(NOT_RUN[file]!.map((start) => expect.stringMatching(new RegExp(`^${start.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))));
    }
  });

  for (const file of FILES) {
    it(`runs every command of ${file}`, async () => {
      const blocks = shellBlocks(file).filter((b) => !b.notRun);
      expect(blocks.length).toBeGreaterThan(0);
      const dir = mkdtempSync(join(tmpdir(), 'polykms-docs-'));
      dirs.push(dir);
      const work = join(dir, 'work');
      const state = join(dir, 'state');
      const bin = join(dir, 'bin');
      for (const d of [work, state, bin]) mkdirSync(d);
      writeFileSync(join(bin, 'pnpm'), `#!/bin/sh\nexec "${process.execPath}" "${join(root, 'apps/gateway/test/docs-pnpm.mjs')}" "$@"\n`);
      chmodSync(join(bin, 'pnpm'), 0o755);
      const ports = { admin: await freePort(), ovh: await freePort(), huawei: await freePort(), cse: await freePort() };
      const env: Record<string, string> = {
        PATH: `${bin}:${dirname(process.execPath)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
        HOME: dir,
        LANG: 'C.UTF-8',
        DOCTEST_STATE_DIR: state,
        POLYKMS_DATA_DIR: 'data',
        POLYKMS_ADMIN_PORT: String(ports.admin),
        POLYKMS_OVH_PORT: String(ports.ovh),
        POLYKMS_HUAWEI_PORT: String(ports.huawei),
        POLYKMS_CSE_PORT: String(ports.cse),
        POLYKMS_LOG_LEVEL: 'info',
        POLYKMS_BACKGROUND_NICE: '0',
      };
      const port = (text: string) =>
        text.replace(
          /localhost:(8440|8443|8444|8445)\b/g,
          (_m, p: string) =>
            `localhost:${ports[(Object.keys(DEFAULT_PORTS) as (keyof typeof ports)[]).find((k) => String(DEFAULT_PORTS[k]) === p)!]}`,
        );
      const script = [
        'set -eo pipefail',
        'exec 2>&1',
        // The gateway as the guide assumes it: started once with `pnpm start`, before any block.
        'pnpm start',
        // A marker on a line of its own, even after an answer printed without a final newline.
        ...blocks.map((b) => `printf '\\n### %s\\n' "${b.file}:${b.line}"\n${port(b.code)}`),
        `printf '\\n### done\\n'`,
      ].join('\n');
      writeFileSync(join(state, 'script.sh'), script);
      const r = await new Promise<{ code: number | null; out: string }>((done) => {
        const child = spawn('bash', [join(state, 'script.sh')], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
        let out = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (out += d));
        child.on('close', (code) => done({ code, out }));
      });
      if (process.env.DOCTEST_KEEP) writeFileSync(join(process.env.DOCTEST_KEEP, `${file.replace(/\//g, '_')}.out`), r.out);
      const at = [...r.out.matchAll(/^### (.+)$/gm)].pop()?.[1] ?? '(before the first block)';
      const log = () => {
        try {
          return readFileSync(join(state, 'gateway.log'), 'utf8')
            .split('\n')
            .filter((l) => /"level":(4|5|6)0/.test(l))
            .slice(-10)
            .join('\n');
        } catch {
          return '';
        }
      };
      expect(
        r.code,
        `the block at ${at} failed; its output:\n${r.out.slice(r.out.lastIndexOf(`### ${at}`)).slice(-4000)}\ngateway warnings:\n${log()}`,
      ).toBe(0);
      expect(at).toBe('done');
    }, 600_000);
  }
});

import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Runs the OpenSSL CLI on files in a scratch directory: the independent implementation tests check against. */
export function openssl(files: Record<string, Uint8Array | string>, args: (dir: string) => string[]): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-ossl-'));
  try {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    try {
      const out = execFileSync('openssl', args(dir), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
      return { ok: true, out };
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer };
      return { ok: false, out: `${err.stdout?.toString() ?? ''}${err.stderr?.toString() ?? ''}` };
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Bytes from `openssl ... -hexdump` output ("0000 - 3a 4b ...-...   ascii"). */
export const fromHexdump = (text: string) =>
  Buffer.from(
    text
      .split('\n')
      .map((l) =>
        l
          .replace(/^[0-9a-f]{4} - /, '')
          .slice(0, 48)
          .replace(/[- ]/g, ''),
      )
      .join(''),
    'hex',
  );

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

/**
 * OpenSSL verifies `signature` over `message` with the public key `pubPem`: `dgst -<digest>` with
 * `sigopts` (RSA-PSS padding and salt length), or, without a digest (Ed25519), `pkeyutl -rawin`.
 */
export function opensslVerify(
  pubPem: string,
  message: Uint8Array | string,
  signature: Uint8Array,
  digest?: string,
  sigopts: string[] = [],
): { ok: boolean; out: string } {
  const files = { 'pub.pem': pubPem, 'msg.bin': message, 'sig.bin': signature };
  if (!digest)
    return openssl(files, () => ['pkeyutl', '-verify', '-pubin', '-inkey', 'pub.pem', '-rawin', '-in', 'msg.bin', '-sigfile', 'sig.bin']);
  return openssl(files, () => ['dgst', `-${digest}`, '-verify', 'pub.pem', ...sigopts, '-signature', 'sig.bin', 'msg.bin']);
}

import { randomBytes } from 'node:crypto';
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
 * The customer's side of a key pair import, all with the OpenSSL CLI: a temporary AES key under the RSA
 * wrapping key (RSA-OAEP), and the PKCS#8 DER private key under the temporary key (AES key wrap with
 * padding, RFC 5649: `enc -id-aes256-wrap-pad` with its initial value A65959A6).
 */
export function wrapKeyPairWithOpenssl(
  wrappingSpki: Uint8Array,
  pkcs8: Uint8Array,
  opts: { hash?: 'sha1' | 'sha256'; temporary?: Buffer } = {},
): { wrappedKey: Buffer; wrappedPrivateKey: Buffer } {
  const temporary = opts.temporary ?? randomBytes(32);
  const hash = opts.hash ?? 'sha256';
  const pem = `-----BEGIN PUBLIC KEY-----\n${Buffer.from(wrappingSpki).toString('base64')}\n-----END PUBLIC KEY-----\n`;
  const rsa = openssl({ 'wrap.pem': pem, 'tmp.bin': temporary }, () =>
    `pkeyutl -encrypt -pubin -inkey wrap.pem -in tmp.bin -pkeyopt rsa_padding_mode:oaep -pkeyopt rsa_oaep_md:${hash} -pkeyopt rsa_mgf1_md:${hash} -hexdump`.split(
      ' ',
    ),
  );
  if (!rsa.ok) throw new Error(`openssl pkeyutl: ${rsa.out}`);
  const kwp = openssl({ 'key.der': pkcs8 }, () =>
    `enc -id-aes${temporary.length * 8}-wrap-pad -K ${temporary.toString('hex')} -iv A65959A6 -in key.der -a -A`.split(' '),
  );
  if (!kwp.ok) throw new Error(`openssl enc: ${kwp.out}`);
  return { wrappedKey: fromHexdump(rsa.out), wrappedPrivateKey: Buffer.from(kwp.out.trim(), 'base64') };
}

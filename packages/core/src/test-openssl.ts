import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Long enough for a busy machine; short enough that an openssl that hangs fails its test instead of the run. */
export const OPENSSL_TIMEOUT_MS = 60_000;

/** Runs the OpenSSL CLI on files in a scratch directory: the independent implementation tests check against. */
export function openssl(files: Record<string, Uint8Array | string>, args: (dir: string) => string[]): { ok: boolean; out: string } {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-ossl-'));
  try {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
    try {
      const out = execFileSync('openssl', args(dir), {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: OPENSSL_TIMEOUT_MS,
      }).toString();
      return { ok: true, out };
    } catch (e) {
      const err = e as { stdout?: Buffer; stderr?: Buffer; code?: string; signal?: string | null };
      // A hung or killed openssl refused nothing: a test expecting a refusal must not pass on it.
      if (err.code === 'ETIMEDOUT' || err.signal) throw e;
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

/**
 * RSA-OAEP through `openssl pkeyutl`, MGF1 with the same digest as the label's: `encrypt` takes the
 * public key, `decrypt` the private one. `bytes` is the result read back from the hexdump.
 */
export function opensslOaep(mode: 'encrypt' | 'decrypt', keyPem: string, input: Uint8Array | string, digest: string, label?: Uint8Array) {
  const r = openssl({ 'key.pem': keyPem, 'in.bin': input }, () => [
    'pkeyutl',
    `-${mode}`,
    ...(mode === 'encrypt' ? ['-pubin'] : []),
    '-inkey',
    'key.pem',
    '-in',
    'in.bin',
    '-pkeyopt',
    'rsa_padding_mode:oaep',
    '-pkeyopt',
    `rsa_oaep_md:${digest}`,
    '-pkeyopt',
    `rsa_mgf1_md:${digest}`,
    ...(label ? ['-pkeyopt', `rsa_oaep_label:${Buffer.from(label).toString('hex')}`] : []),
    '-hexdump',
  ]);
  return { ...r, bytes: fromHexdump(r.out) };
}

/** The ECDH secret OpenSSL derives from a private key and the peer's public key, both PEM. */
export function opensslDerive(privatePem: string, peerPublicPem: string) {
  const r = openssl({ 'priv.pem': privatePem, 'peer.pem': peerPublicPem }, () => [
    'pkeyutl',
    '-derive',
    '-inkey',
    'priv.pem',
    '-peerkey',
    'peer.pem',
    '-hexdump',
  ]);
  return { ...r, secret: fromHexdump(r.out) };
}

/** A SubjectPublicKeyInfo (DER) as PEM, the form the OpenSSL CLI reads. */
export const spkiPem = (spki: Uint8Array) =>
  `-----BEGIN PUBLIC KEY-----\n${Buffer.from(spki).toString('base64')}\n-----END PUBLIC KEY-----\n`;

/**
 * The customer's side of a key import with the OpenSSL CLI: `key` under the RSA wrapping key (its
 * SubjectPublicKeyInfo DER, as import parameters give it), RSA-OAEP with `hash` for OAEP and MGF1.
 */
export function wrapKeyWithOpenssl(wrappingSpki: Uint8Array, key: Uint8Array, hash: 'sha1' | 'sha256' = 'sha256'): Buffer {
  const rsa = opensslOaep('encrypt', spkiPem(wrappingSpki), key, hash);
  if (!rsa.ok) throw new Error(`openssl pkeyutl: ${rsa.out}`);
  return rsa.bytes;
}

/**
 * The customer's side of a key pair import, all with the OpenSSL CLI: a temporary AES key under the RSA
 * wrapping key (wrapKeyWithOpenssl), and the PKCS#8 DER private key under the temporary key (AES key wrap
 * with padding, RFC 5649: `enc -id-aes256-wrap-pad` with its initial value A65959A6).
 */
export function wrapKeyPairWithOpenssl(
  wrappingSpki: Uint8Array,
  pkcs8: Uint8Array,
  opts: { hash?: 'sha1' | 'sha256'; temporary?: Buffer } = {},
): { wrappedKey: Buffer; wrappedPrivateKey: Buffer } {
  const temporary = opts.temporary ?? randomBytes(32);
  const wrappedKey = wrapKeyWithOpenssl(wrappingSpki, temporary, opts.hash);
  const kwp = openssl({ 'key.der': pkcs8 }, () =>
    `enc -id-aes${temporary.length * 8}-wrap-pad -K ${temporary.toString('hex')} -iv A65959A6 -in key.der -a -A`.split(' '),
  );
  if (!kwp.ok) throw new Error(`openssl enc: ${kwp.out}`);
  return { wrappedKey, wrappedPrivateKey: Buffer.from(kwp.out.trim(), 'base64') };
}

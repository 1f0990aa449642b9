/** Shared by the pki tests: OpenSSL as the independent judge, and error assertions. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { KmsError, type ErrorKind } from '@polykms/core';

export interface Workdir {
  path: (name: string) => string;
  write: (name: string, content: string | Uint8Array) => string;
  read: (name: string) => string;
  remove: () => void;
}

export function workdir(): Workdir {
  const dir = mkdtempSync(join(tmpdir(), 'polykms-pki-'));
  const path = (name: string) => join(dir, name);
  return {
    path,
    write: (name, content) => {
      writeFileSync(path(name), content);
      return path(name);
    },
    read: (name) => readFileSync(path(name), 'utf8'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** Runs openssl; a non-zero exit throws with its stderr, which the assertion then shows. */
export function openssl(args: string[], input?: string | Uint8Array): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 60_000 });
}

/** openssl's exit status with stdout and stderr together: for the cases that must fail, and for `-info`, which writes to stderr. */
export function opensslStatus(args: string[]): { ok: boolean; output: string } {
  const run = spawnSync('openssl', args, { encoding: 'utf8', timeout: 60_000 });
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` };
}

/** A public key in OpenSSL's canonical PEM, read from a certificate, CSR or private key file. */
export function publicKeyPem(kind: 'x509' | 'req' | 'pkey', file: string): string {
  const pub = kind === 'pkey' ? openssl(['pkey', '-in', file, '-pubout']) : openssl([kind, '-in', file, '-noout', '-pubkey']);
  return openssl(['pkey', '-pubin'], pub);
}

export async function expectKmsError(promise: Promise<unknown> | (() => unknown), kind: ErrorKind, message?: RegExp): Promise<KmsError> {
  let error: unknown;
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (e) {
    error = e;
  }
  expect(error, 'expected a KmsError').toBeInstanceOf(KmsError);
  const kmsError = error as KmsError;
  expect(kmsError.kind).toBe(kind);
  if (message) expect(kmsError.message).toMatch(message);
  return kmsError;
}

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { httpsCall } from '@polykms/http/testing';
import { afterAll } from 'vitest';
import { TestIssuer } from '../src/testing.ts';

export { TestIssuer };
export type { Reply } from '@polykms/http/testing';

/** An HTTPS call as Workspace's clients make it: JSON body, the gateway CA trusted. */
export const call = (base: string, ca: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
  httpsCall(base, { ca }, method, path, body, headers);

/** A directory of the temp dir, removed once the test file is done (the hook is the importing file's). */
const dirs: string[] = [];
export const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'polykms-cse-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
export const write = (dir: string, name: string, data: string | Uint8Array) => {
  const f = join(dir, name);
  writeFileSync(f, data);
  return f;
};

export const DRIVE_ISS = 'gsuitecse-tokenissuer-drive@system.gserviceaccount.com';
export const GMAIL_ISS = 'gsuitecse-tokenissuer-gmail@system.gserviceaccount.com';
export const MIGRATION_ISS = 'apps-security-cse-kaclscommunication@system.gserviceaccount.com';
export const IDP_ISS = 'https://idp.example.test';

/** The usual cast: an IdP, Google's Drive, Gmail and migration issuers, all offline. */
export async function testIssuers(dir: string) {
  return {
    idp: await TestIssuer.create(dir, IDP_ISS),
    drive: await TestIssuer.create(dir, DRIVE_ISS),
    gmail: await TestIssuer.create(dir, GMAIL_ISS),
    migration: await TestIssuer.create(dir, MIGRATION_ISS),
    stranger: await TestIssuer.create(dir, 'https://evil.example.test'),
  };
}
export type Issuers = Awaited<ReturnType<typeof testIssuers>>;

export function baseConfig(kaclsUrl: string, is: Issuers, extra: Record<string, unknown> = {}) {
  return {
    kaclsUrl,
    name: 'test KACLS',
    identityProviders: [{ issuer: is.idp.iss, jwksUri: is.idp.jwksUri, audiences: ['client-web', 'client-desktop'] }],
    authorizationIssuers: [
      { issuer: is.drive.iss, jwksUri: is.drive.jwksUri, application: 'drive' },
      { issuer: is.gmail.iss, jwksUri: is.gmail.jwksUri, application: 'gmail' },
      { issuer: is.migration.iss, jwksUri: is.migration.jwksUri, application: 'migration' },
    ],
    privilegedUsers: ['Admin@Example.com'],
    allowGuests: false,
    perimeters: { finance: { claim: 'email', endsWith: '@finance.example.com' } },
    ...extra,
  };
}

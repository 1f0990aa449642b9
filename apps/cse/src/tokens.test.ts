import { describe, expect, it } from 'vitest';
import { parseCseConfig } from './config.ts';
import { KeySets } from './keysets.ts';
import { TestIssuer } from './testing.ts';
import { TokenVerifier } from './tokens.ts';
import { tempDir } from '../test/helpers.ts';

/** The verified-token cache must never outlive a token's `exp`, nor let a token pass a check it was not verified for. */
describe('TokenVerifier cache', async () => {
  const dir = tempDir();
  const idp = await TestIssuer.create(dir, 'https://idp.example.com');
  const google = await TestIssuer.create(dir, 'gsuitecse-tokenissuer-drive@system.gserviceaccount.com');
  const config = parseCseConfig({
    kaclsUrl: 'https://kacls.example.com/v1',
    clockSkewSeconds: 0,
    identityProviders: [{ issuer: idp.iss, jwksUri: idp.jwksUri, audiences: ['app'] }],
    authorizationIssuers: [{ issuer: google.iss, jwksUri: google.jwksUri, application: 'drive' }],
  });
  const verifier = new TokenVerifier(config, new KeySets(), async () => {
    throw new Error('no delegated tokens here');
  });

  it('refuses a token once its exp has passed, though it verified a moment before', async () => {
    const token = await idp.mint({ email: 'a@example.com' }, { aud: 'app', expIn: 2 });
    expect((await verifier.authenticate(token)).email).toBe('a@example.com');
    expect((await verifier.authenticate(token)).email).toBe('a@example.com');
    await new Promise((r) => setTimeout(r, 2100));
    await expect(verifier.authenticate(token)).rejects.toThrow(/expired/);
  });

  it('a token verified for one use is still checked for another (issuer, audience)', async () => {
    const authn = await idp.mint({ email: 'a@example.com' }, { aud: 'app' });
    await verifier.authenticate(authn);
    await expect(verifier.authorize(authn)).rejects.toThrow(/issuer/);
    const wrongAud = await idp.mint({ email: 'a@example.com' }, { aud: 'other' });
    await expect(verifier.authenticate(wrongAud)).rejects.toThrow(/audience/);
    await expect(verifier.authenticate(wrongAud)).rejects.toThrow(/audience/);
  });

  it('gives back claims no caller can change for the next request', async () => {
    const token = await idp.mint({ email: 'a@example.com' }, { aud: 'app' });
    const first = await verifier.authenticate(token);
    expect(() => ((first.claims as Record<string, unknown>).email = 'mallory@example.com')).toThrow();
    expect(() => ((first as { email: string }).email = 'mallory@example.com')).toThrow();
    expect((await verifier.authenticate(token)).email).toBe('a@example.com');
  });
});

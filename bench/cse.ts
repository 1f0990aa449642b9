import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gatewayCa } from '@polykms/pki';
import { parseCseConfig, startCseServer } from '@polykms/cse';
import { TestIssuer } from '@polykms/cse/testing';
import { openBenchKms } from './store.ts';
import { gcmOpen, gcmSeal, rawSign, referenceKeys, referenceMaterial, referenceRequest, type Operation } from './baselines.ts';
import { LoadClient } from './client.ts';
import { caMaterial, postRequest, type DialectSuite, type PlannedRow } from './dialect.ts';
import { generateKeyPairDetached } from '@polykms/core';

/**
 * Google CSE KACLS methods over real HTTPS with keep-alive, every request verifying both RS256 tokens
 * (IdP and Google-style authorization, JWKS from files), next to their references in one run.
 */
export const cseSuite: DialectSuite = {
  async setup(concurrency) {
    const { kms, obs, close } = await openBenchKms('cse');
    const ca = await gatewayCa(kms);
    const dir = mkdtempSync(join(tmpdir(), 'polykms-bench-cse-'));
    const issuer = async (iss: string) => {
      const t = await TestIssuer.create(dir, iss);
      return {
        iss,
        jwksUri: t.jwksUri,
        mint: (claims: Record<string, unknown>, aud: string) => t.mint(claims, { aud, expIn: 7200 }),
      };
    };
    const idp = await issuer('https://idp.bench.test');
    const drive = await issuer('gsuitecse-tokenissuer-drive@system.gserviceaccount.com');
    const gmail = await issuer('gsuitecse-tokenissuer-gmail@system.gserviceaccount.com');
    const kaclsUrl = 'https://kacls.bench.test/v1';
    const config = parseCseConfig({
      kaclsUrl,
      identityProviders: [{ issuer: idp.iss, jwksUri: idp.jwksUri, audiences: ['bench'] }],
      authorizationIssuers: [
        { issuer: drive.iss, jwksUri: drive.jwksUri, application: 'drive' },
        { issuer: gmail.iss, jwksUri: gmail.jwksUri, application: 'gmail' },
      ],
      privilegedUsers: ['admin@bench.test'],
    });
    const server = await startCseServer(kms, ca, { host: '127.0.0.1', port: 0, config, ...obs });
    const tls = { ca: ca.certPem, servername: 'localhost' };
    const client = new LoadClient(server.port, tls, concurrency);
    const post = async (path: string, body: unknown) => JSON.parse(await client.post(`/v1/${path}`, body));
    const material = referenceMaterial();
    const echo = (body: unknown) => ({ name: 'echo over TLS', request: referenceRequest(undefined, body) });
    const rows: PlannedRow[] = [];

    const rn = '//googleapis.com/drive/files/bench';
    const authentication = await idp.mint({ email: 'user@bench.test' }, 'bench');
    const writer = await drive.mint(
      { email: 'user@bench.test', role: 'writer', resource_name: rn, kacls_url: kaclsUrl },
      'cse-authorization',
    );
    const reader = await drive.mint(
      { email: 'user@bench.test', role: 'reader', resource_name: rn, kacls_url: kaclsUrl },
      'cse-authorization',
    );
    const dek = randomBytes(32);
    const wrapBody = {
      authentication,
      authorization: writer,
      key: dek.toString('base64'),
      reason: "{client:'drive' op:'write'}",
    };
    const { wrapped_key } = await post('wrap', wrapBody);
    rows.push({
      scenario: 'cse.wrap',
      subject: postRequest('/v1/wrap', wrapBody),
      references: [{ name: 'AES-GCM alone over TLS', request: referenceRequest('wrap', wrapBody) }, echo(wrapBody)],
    });
    const unwrapBody = { authentication, authorization: reader, wrapped_key, reason: "{client:'drive' op:'read'}" };
    // The reference opens what its own key sealed (no token checked).
    const aloneUnwrapBody = {
      ...unwrapBody,
      wrapped_key: gcmSeal(Buffer.from(material.aes, 'hex'), dek).toString('base64'),
    };
    rows.push({
      scenario: 'cse.unwrap',
      subject: postRequest('/v1/unwrap', unwrapBody),
      references: [{ name: 'AES-GCM alone over TLS', request: referenceRequest('unwrap', aloneUnwrapBody) }, echo(unwrapBody)],
    });

    const { privateKey } = generateKeyPairDetached('rsa', { modulusLength: 2048 });
    const pem = privateKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    const admin = await idp.mint({ email: 'admin@bench.test' }, 'bench');
    const { wrapped_private_key } = await post('wrapprivatekey', { authentication: admin, private_key: pem });
    const spki = createHash('sha256')
      .update(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
      .digest('base64');
    const signer = await gmail.mint(
      {
        email: 'user@bench.test',
        role: 'signer',
        resource_name: '//gmail.googleapis.com/bench',
        kacls_url: kaclsUrl,
        spki_hash: spki,
        spki_hash_algorithm: 'SHA-256',
      },
      'cse-authorization',
    );
    const digest = createHash('sha256').update(randomBytes(256)).digest();
    const signBody = {
      authentication,
      authorization: signer,
      algorithm: 'SHA256withRSA',
      digest: digest.toString('base64'),
      reason: 'sign',
      wrapped_private_key,
    };
    rows.push({
      scenario: 'cse.privatekeysign.RSA-2048',
      subject: postRequest('/v1/privatekeysign', signBody),
      references: [{ name: 'RSA sign alone over TLS', request: referenceRequest('sign', signBody) }, echo(signBody)],
    });

    return {
      plan: { port: server.port, tls, mtls: false, ca: await caMaterial(kms), material, rows },
      settle: () => kms.sealAudit(),
      async close() {
        await client.close();
        await server.close();
        await close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },

  referenceOps(m) {
    const k = referenceKeys(m);
    const b64 = (s: string) => Buffer.from(s, 'base64');
    return {
      wrap: (b) => ({ wrapped_key: gcmSeal(k.aes, b64(b.key)).toString('base64') }),
      unwrap: (b) => ({ key: gcmOpen(k.aes, b64(b.wrapped_key)).toString('base64') }),
      sign: async (b) => ({ signature: (await rawSign('sha256', b64(b.digest), k.rsa)).toString('base64') }),
    } satisfies Record<string, Operation>;
  },
};

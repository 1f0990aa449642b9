/**
 * KACLS status and certs: GET status (https://developers.google.com/workspace/cse/reference/status)
 * and GET certs, the JWKS a peer KACLS fetches to verify this KACLS's migration tokens
 * (https://developers.google.com/workspace/cse/reference/authentication-tokens, "KACLS authentication token").
 */
import type { Register } from '../app.ts';

export const OPERATIONS = [
  'wrap',
  'unwrap',
  'privilegedwrap',
  'privilegedunwrap',
  'digest',
  'rewrap',
  'privatekeysign',
  'privatekeydecrypt',
  'privilegedprivatekeydecrypt',
  'wrapprivatekey',
  'delegate',
] as const;

export const VERSION = '0.1.0';

export function statusRoutes(route: Register) {
  route('get', 'status', async (c, { config }) =>
    c.json({
      ...(config.name ? { name: config.name } : {}),
      vendor_id: 'polykms',
      version: VERSION,
      server_type: 'KACLS',
      operations_supported: config.enabled ? [...OPERATIONS] : [],
    }),
  );

  route('get', 'certs', async (c, { config, instance }) => {
    if (!config.enabled) return c.json({ keys: [] });
    c.header('Cache-Control', 'public, max-age=300');
    return c.json(await instance.jwks());
  });
}

import type { Kms } from '@polykms/core';
import { createCa, loadCa, type Ca } from './ca.ts';

const CA_SECRET = 'pki/ca';

/**
 * The gateway's CA, kept as one sealed secret (certificate and key together, so two processes starting
 * at once cannot pair one's certificate with the other's key): created on first use, then shared by
 * every process on the same store.
 */
export async function gatewayCa(kms: Kms, commonName = 'polykms gateway CA'): Promise<Ca> {
  let stored = await kms.secrets.get(CA_SECRET);
  if (!stored) {
    const m = await createCa({ commonName, validityDays: 3650 });
    stored = await kms.secrets.putIfAbsent(
      CA_SECRET,
      Buffer.from(JSON.stringify({ certPem: m.certPem, key: m.keyPkcs8Der.toString('base64') })),
    );
  }
  const { certPem, key } = JSON.parse(stored.toString('utf8')) as { certPem: string; key: string };
  return loadCa({ certPem, keyPkcs8Der: Buffer.from(key, 'base64') });
}

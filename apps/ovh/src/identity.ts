import type { TLSSocket } from 'node:tls';
import { KmsError, type Kms } from '@polykms/core';
import { parseClientCertificate } from '@polykms/pki';
import { parsePolicy, type IamPolicy } from './iam.ts';

export interface OvhIdentity {
  okmsId: string;
  tenantId: string;
  credentialId: string;
  identities: string[];
  policies: IamPolicy[];
}

const unauth = (msg: string) => new KmsError('unauthenticated', msg, 'certificate');

/**
 * Who is calling: a client certificate issued by the gateway's CA (the TLS layer checked the chain
 * and the dates), known as an access credential of an OVH domain, not revoked or expired. The domain is
 * the certificate's `okms.domain:<okmsId>` UPN; the identities and policies come from the store.
 */
export async function identify(kms: Kms, socket: TLSSocket | undefined): Promise<OvhIdentity> {
  const peer = socket?.getPeerCertificate?.();
  if (!socket || !peer || !peer.raw) throw unauth('a client certificate is required (mTLS)');
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? 'not trusted');
    throw unauth(why === 'CERT_HAS_EXPIRED' ? 'the client certificate has expired' : `the client certificate is not trusted (${why})`);
  }
  const cert = parseClientCertificate(peer.raw);
  const upn = cert.upns.find((u) => u.startsWith('okms.domain:'));
  if (!upn) throw unauth('the client certificate names no OKMS domain (SAN UPN okms.domain:<id>)');
  const okmsId = upn.slice('okms.domain:'.length);
  const cred = await kms.db
    .selectFrom('credentials as c')
    .innerJoin('tenant_bindings as b', (j) => j.onRef('b.tenant_id', '=', 'c.tenant_id').on('b.dialect', '=', 'ovh').on('b.external_id', '=', okmsId))
    .select(['c.id', 'c.tenant_id', 'c.identities', 'c.revoked_at', 'c.expires_at'])
    .where('c.fingerprint', '=', cert.fingerprintSha256)
    .where('c.dialect', '=', 'ovh')
    .executeTakeFirst();
  if (!cred) throw unauth('the client certificate is not an access credential of this domain');
  if (cred.revoked_at) throw unauth('the client certificate has been revoked');
  if (cred.expires_at.getTime() < Date.now()) throw unauth('the client certificate has expired');
  const rows = await kms.db.selectFrom('policies').select('document').where('tenant_id', '=', cred.tenant_id).where('dialect', '=', 'ovh').execute();
  return { okmsId, tenantId: cred.tenant_id, credentialId: cred.id, identities: cred.identities, policies: rows.map((r) => parsePolicy(r.document)) };
}

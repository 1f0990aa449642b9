import type { TLSSocket } from 'node:tls';
import { BINDINGS_TOPIC, KmsError, type Kms } from '@polykms/core';
import { parseClientCertificate } from '@polykms/pki';
import { parsePolicy, type IamPolicy } from './iam.ts';
import { ovhDb } from './store.ts';

export interface OvhIdentity {
  okmsId: string;
  tenantId: string;
  credentialId: string;
  identities: string[];
  policies: IamPolicy[];
  expiresAt: number;
}

const unauth = (msg: string) => new KmsError('unauthenticated', msg, 'certificate');

/**
 * Who is calling: a client certificate issued by the gateway's CA (the TLS layer checked the chain
 * and the dates), known as an access credential of an OVH domain, not revoked or expired. The domain is
 * the certificate's `okms.domain:<okmsId>` UPN; the identities and policies come from the store.
 */
export const ACCESS_TOPIC = 'ovh.access';
const TTL_MS = 30_000;

/**
 * Identities by certificate fingerprint, so a warm request costs no lookup. Revocations and policy
 * changes publish ACCESS_TOPIC (this process at once, others through NOTIFY), which empties the cache;
 * the TTL bounds staleness should a notification be lost with a dropped connection.
 */
export class IdentityCache {
  private readonly map = new Map<string, { id: OvhIdentity; until: number }>();
  constructor(kms: Kms) {
    kms.subscribe(ACCESS_TOPIC, () => this.map.clear());
    kms.subscribe(BINDINGS_TOPIC, () => this.map.clear());
  }
  get(fp: string) {
    const e = this.map.get(fp);
    if (!e) return undefined;
    if (e.until < Date.now() || e.id.expiresAt < Date.now()) {
      this.map.delete(fp);
      return undefined;
    }
    return e.id;
  }
  set(fp: string, id: OvhIdentity) {
    if (this.map.size > 10_000) this.map.clear();
    this.map.set(fp, { id, until: Date.now() + TTL_MS });
  }
}

/**
 * The peer certificate of a connection, read once: it cannot change while the connection lives, since
 * the listener refuses renegotiation (@polykms/http), and reading it costs ~50 us per request.
 */
const peers = new WeakMap<TLSSocket, { raw: Buffer; fp: string } | null>();
function peerOf(socket: TLSSocket) {
  let p = peers.get(socket);
  if (p === undefined) {
    const c = socket.getPeerCertificate?.();
    p = c?.raw ? { raw: c.raw, fp: c.fingerprint256.replace(/:/g, '').toLowerCase() } : null;
    peers.set(socket, p);
  }
  return p;
}

export async function identify(kms: Kms, socket: TLSSocket | undefined, cache?: IdentityCache): Promise<OvhIdentity> {
  const peer = socket ? peerOf(socket) : null;
  if (!socket || !peer) throw unauth('a client certificate is required (mTLS)');
  if (!socket.authorized) {
    const why = String(socket.authorizationError ?? 'not trusted');
    throw unauth(why === 'CERT_HAS_EXPIRED' ? 'the client certificate has expired' : `the client certificate is not trusted (${why})`);
  }
  const fp = peer.fp;
  const hit = cache?.get(fp);
  if (hit) return hit;
  const cert = parseClientCertificate(peer.raw);
  const upn = cert.upns.find((u) => u.startsWith('okms.domain:'));
  if (!upn) throw unauth('the client certificate names no OKMS domain (SAN UPN okms.domain:<id>)');
  const okmsId = upn.slice('okms.domain:'.length);
  const domain = await kms.tenants.binding('ovh', okmsId);
  const cred =
    domain &&
    (await (
      await ovhDb(kms)
    )
      .selectFrom('credentials')
      .select(['id', 'tenant_id', 'identities', 'revoked_at', 'expires_at'])
      .where('tenant_id', '=', domain.tenant_id)
      .where('fingerprint', '=', cert.fingerprintSha256)
      .where('dialect', '=', 'ovh')
      .executeTakeFirst());
  if (!cred) throw unauth('the client certificate is not an access credential of this domain');
  if (cred.revoked_at) throw unauth('the client certificate has been revoked');
  if (cred.expires_at.getTime() < Date.now()) throw unauth('the client certificate has expired');
  const rows = await (await ovhDb(kms))
    .selectFrom('policies')
    .select('document')
    .where('tenant_id', '=', cred.tenant_id)
    .where('dialect', '=', 'ovh')
    .execute();
  const id = {
    okmsId,
    tenantId: cred.tenant_id,
    credentialId: cred.id,
    identities: cred.identities,
    policies: rows.map((r) => parsePolicy(r.document)),
    expiresAt: cred.expires_at.getTime(),
  };
  cache?.set(fp, id);
  return id;
}

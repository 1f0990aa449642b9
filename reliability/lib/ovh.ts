import { Client, type Reply, type TlsCreds } from './http.ts';

/** The gateway's admin port: OVH control plane (/v2/okms/...), policies, CA, audit verification. */
export class Admin {
  readonly http: Client;
  constructor(
    readonly url: string,
    readonly token: string,
    /** The gateway CA, for a gateway's own admin port (HTTPS); the test host's is loopback HTTP. */
    ca?: string,
  ) {
    this.http = new Client(url, ca ? { ca } : undefined);
  }

  async call(method: string, path: string, body?: unknown): Promise<Reply> {
    return this.http.send({
      method,
      path,
      json: body,
      headers: { authorization: `Bearer ${this.token}` },
      timeoutMs: 30_000,
    });
  }

  async ok(method: string, path: string, body?: unknown): Promise<any> {
    const r = await this.call(method, path, body);
    if (r.status >= 300) throw new Error(`admin ${method} ${path} -> ${r.status} ${r.text}`);
    return r.json;
  }

  async caPem(): Promise<string> {
    return (await this.ok('GET', '/admin/ca')).certificatePEM;
  }

  async createDomain(region = 'eu-west-rbx'): Promise<string> {
    return (await this.ok('POST', '/v2/okms/resource', { region })).id;
  }

  /** A READY access certificate for these identities, with its private key. */
  async credential(okmsId: string, identityURNs: string[], ca: string): Promise<TlsCreds & { id: string }> {
    const c = await this.ok('POST', `/v2/okms/resource/${okmsId}/credential`, { name: 'reliability', identityURNs });
    const g = await this.ok('GET', `/v2/okms/resource/${okmsId}/credential/${c.id}`);
    return { id: c.id, cert: g.certificatePEM, key: c.privateKeyPEM, ca };
  }

  async policy(okmsId: string, name: string, doc: unknown) {
    return this.ok('PUT', `/admin/ovh/domains/${okmsId}/policies/${name}`, doc);
  }

  async verifyAudit(): Promise<{ ok: boolean; checked: number; pending: number; problems: { problem: string }[] }> {
    return this.ok('POST', '/admin/audit/verify');
  }

  close() {
    return this.http.close();
  }
}

export const ACCOUNT = (nic: string) => `urn:v1:eu:identity:account:${nic}`;
export const USER = (nic: string, name: string) => `urn:v1:eu:identity:user:${nic}/${name}`;

/** OVH's ErrorResponse, exactly these four fields. */
export const isOvhError = (j: any) =>
  !!j &&
  typeof j === 'object' &&
  !Array.isArray(j) &&
  Object.keys(j).sort().join(',') === 'error_code,error_id,errors,request_id' &&
  Array.isArray(j.errors) &&
  typeof j.error_code === 'number';

/** The category nibble of an OVH error_code (bits 12-15): 7 is Unavailable. */
export const ovhCategory = (code: number) => (code >>> 12) & 0xf;

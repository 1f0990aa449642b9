import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type Backend } from '@polykms/core/testing';
import { Client, type TlsCreds } from './http.ts';
import { ACCOUNT, Admin } from './ovh.ts';
import { adminToken, freePort, rootKey, startGateway, type Child } from './proc.ts';

/**
 * A real gateway process (`polykms serve`, OVH dialect) that can be killed and started again on the
 * same data: same data directory or database, same root key, same ports, same admin token.
 */
export class GatewayUnderTest {
  child: Child | undefined;
  urls!: { admin: string; ovh: string };
  admin!: Admin;
  private constructor(
    readonly backend: Backend,
    readonly dataDir: string,
    readonly databaseUrl: string | undefined,
    private readonly dropDb: () => Promise<void>,
    readonly rootKey: string,
    readonly token: string,
    readonly adminPort: number,
    readonly ovhPort: number,
  ) {}

  /** A fresh store: a temp directory for PGlite, a throwaway database on DATABASE_URL's server for Postgres. */
  static async create(backend: Backend, opts: { databaseUrl?: string | undefined; rootKey?: string; token?: string } = {}) {
    const dataDir = mkdtempSync(join(tmpdir(), 'polykms-reliability-gw-'));
    let url = opts.databaseUrl;
    let drop = async () => {};
    if (backend === 'postgres' && !url) {
      const db = await createTestDatabase('postgres');
      url = db.url;
      drop = db.drop;
    }
    return new GatewayUnderTest(
      backend,
      dataDir,
      url,
      drop,
      opts.rootKey ?? rootKey(),
      opts.token ?? adminToken(),
      await freePort(),
      await freePort(),
    );
  }

  /** Another process on the same store (Postgres only): same root key and token, its own ports. */
  async sibling(databaseUrl = this.databaseUrl) {
    return GatewayUnderTest.create(this.backend, { databaseUrl, rootKey: this.rootKey, token: this.token });
  }

  async start(databaseUrl = this.databaseUrl) {
    const g = await startGateway({
      dataDir: this.dataDir,
      databaseUrl,
      rootKey: this.rootKey,
      adminToken: this.token,
      adminPort: this.adminPort,
      ovhPort: this.ovhPort,
    });
    this.child = g.child;
    this.urls = g.urls;
    // The admin port is HTTPS under the gateway CA, which the gateway writes into its data directory.
    this.admin ??= new Admin(g.urls.admin, this.token, readFileSync(join(this.dataDir, 'ca.pem'), 'utf8'));
    return this;
  }

  async kill() {
    await this.child?.kill();
  }

  async stop() {
    await this.child?.stop(10_000);
  }

  /** A domain and an account credential on it (allowed everything in its domain). */
  async domainWithRoot(): Promise<{ okmsId: string; creds: TlsCreds; client: Client }> {
    const ca = await this.admin.caPem();
    const okmsId = await this.admin.createDomain();
    const creds = await this.admin.credential(okmsId, [ACCOUNT('xx1111-ovh')], ca);
    return { okmsId, creds, client: new Client(this.urls.ovh, creds) };
  }

  async dispose() {
    await this.stop().catch(() => {});
    await this.admin?.close();
    await this.dropDb().catch(() => {});
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

import type { Kms } from '@polykms/core';
import { serveHttps, type HttpsServer, type Metrics } from '@polykms/http';
import type { Logger } from 'pino';
import type { Ca } from '@polykms/pki';
import { huaweiApp } from './app.ts';
import { IamCache } from './identity.ts';
import { aliasRoutes } from './routes/aliases.ts';
import { importRoutes } from './routes/import.ts';
import { asymmetricRoutes } from './routes/asymmetric.ts';
import { authRoutes } from './routes/auth.ts';
import { cryptoRoutes } from './routes/crypto.ts';
import { grantRoutes } from './routes/grants.ts';
import { keyRoutes } from './routes/keys.ts';
import { pairRoutes } from './routes/pairs.ts';
import { rotationRoutes } from './routes/rotation.ts';
import { tagRoutes } from './routes/tags.ts';
import { LoginGuard } from './throttle.ts';
import { TokenService } from './tokens.ts';

export type HuaweiServer = HttpsServer;

export interface HuaweiOptions {
  host: string;
  port: number;
  hostnames?: string[] | undefined;
  /** IAM token lifetime; Huawei's is 24 hours. */
  tokenTtlSeconds?: number | undefined;
  /** Login throttling (tests inject a clock); one per process by default. */
  logins?: LoginGuard | undefined;
  log?: Logger | undefined;
  metrics?: Metrics | undefined;
}

/** The Hono app of the Huawei endpoint (KMS + IAM tokens), for tests and embedding. */
export function createHuaweiApp(
  kms: Kms,
  opts: {
    tokenTtlSeconds?: number | undefined;
    log?: Logger | undefined;
    metrics?: Metrics | undefined;
    logins?: LoginGuard | undefined;
  } = {},
) {
  const deps = {
    kms,
    tokens: new TokenService(kms, opts.tokenTtlSeconds ?? 86_400),
    cache: new IamCache(kms),
    logins: opts.logins ?? new LoginGuard(),
  };
  return huaweiApp(
    deps,
    {
      open: (app) => authRoutes(deps, app),
      kms: (route) => {
        keyRoutes(kms, route);
        cryptoRoutes(kms, route);
        asymmetricRoutes(kms, route);
        pairRoutes(kms, route);
        rotationRoutes(kms, route);
        tagRoutes(kms, route);
        grantRoutes(kms, route);
        aliasRoutes(kms, route);
        importRoutes(kms, route);
      },
    },
    opts,
  );
}

/** Huawei Cloud / OTC KMS over TLS 1.2+, with IAM's /v3/auth/tokens on the same host. */
export async function startHuaweiServer(kms: Kms, ca: Ca, opts: HuaweiOptions): Promise<HuaweiServer> {
  const app = createHuaweiApp(kms, opts);
  return serveHttps(app.fetch, ca, { host: opts.host, port: opts.port, hostnames: opts.hostnames });
}

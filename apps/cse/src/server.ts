import type { Kms } from '@polykms/core';
import { serveHttps, type HttpsServer, type Metrics } from '@polykms/http';
import type { Logger } from 'pino';
import type { Ca } from '@polykms/pki';
import { cseApp } from './app.ts';
import type { CseConfig } from './config.ts';
import { delegateRoutes } from './routes/delegate.ts';
import { keyRoutes } from './routes/keys.ts';
import { privateKeyRoutes } from './routes/privatekey.ts';
import { statusRoutes } from './routes/status.ts';

export type CseServer = HttpsServer;

export function buildCseApp(kms: Kms, config: CseConfig, obs: { log?: Logger | undefined; metrics?: Metrics | undefined } = {}) {
  return cseApp(
    kms,
    config,
    (route) => {
      statusRoutes(route);
      keyRoutes(route);
      privateKeyRoutes(route);
      delegateRoutes(route);
    },
    obs,
  );
}

/**
 * The KACLS over TLS 1.2+ with a certificate from the gateway's CA (put a public certificate in front
 * for Workspace). With a configuration, the tenant, its KEK and the JWT signing key are made ready
 * before the port opens, so a broken store fails the start, not the first request.
 */
export async function startCseServer(
  kms: Kms,
  ca: Ca,
  opts: {
    host: string;
    port: number;
    hostnames?: string[] | undefined;
    config: CseConfig;
    log?: Logger | undefined;
    metrics?: Metrics | undefined;
  },
): Promise<CseServer> {
  const { app, instance } = buildCseApp(kms, opts.config, opts);
  if (opts.config.enabled) await instance.state();
  return serveHttps(app.fetch, ca, { host: opts.host, port: opts.port, hostnames: opts.hostnames });
}

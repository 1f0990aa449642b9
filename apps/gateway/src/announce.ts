import type { Logger } from 'pino';
import type { GatewayConfig } from './config.ts';

export interface Ready {
  urls: Record<string, string>;
  storage: string;
  adminTokenFile?: string | undefined;
}

/** The start-up lines: where the gateway listens (tests and supervisors wait for it), and first steps. */
export function announce(cfg: GatewayConfig, log: Logger, r: Ready) {
  const where = Object.entries(r.urls)
    .map(([d, u]) => `${d} ${u}`)
    .join(', ');
  log.info({ urls: r.urls, storage: r.storage, dataDir: cfg.databaseUrl ? undefined : cfg.dataDir }, `polykms listening: ${where}`);
  if (r.adminTokenFile)
    log.info({ adminTokenFile: r.adminTokenFile }, `admin API and console: ${r.urls.admin}/console/ with the token in ${r.adminTokenFile}`);
  if (r.urls.ovh)
    log.info(
      'first OVH credential: pnpm polykms ovh domain create --region eu-west-rbx, then pnpm polykms ovh credential create --domain <id> --identity urn:v1:eu:identity:account:<nic> --out data/client (writes data/client.cert, data/client.key, data/client.ca.pem)',
    );
  if (r.urls.huawei)
    log.info(
      `first Huawei user: pnpm polykms huawei user create --domain <account> --name <user> --password <pw> --project <32-hex project id>:"KMS Administrator", then POST ${r.urls.huawei}/v3/auth/tokens (IAM endpoint = KMS endpoint) or pnpm polykms huawei access-key create --user <id>`,
    );
  if (r.urls.cse)
    log.info(
      cfg.cseConfigFile
        ? `Google CSE KACLS at ${r.urls.cse}/v1 with ${cfg.cseConfigFile}; put a publicly trusted TLS front in front of it for Workspace`
        : `Google CSE KACLS at ${r.urls.cse}/v1 answers /status only: create a configuration with pnpm polykms cse config init --config cse.json --kacls-url https://<public name>/v1 (then add-idp, add-issuer) and start with POLYKMS_CSE_CONFIG=cse.json`,
    );
}

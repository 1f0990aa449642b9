export { startCseServer, buildCseApp, type CseServer } from './server.ts';
export {
  loadCseConfig,
  parseCseConfig,
  describeConfigIssues,
  normalizeUrl,
  CseConfigSchema,
  IdentityProviderSchema,
  AuthorizationIssuerSchema,
  PeerSchema,
  DISABLED_CONFIG,
  GOOGLE_AUTHORIZATION_AUDIENCE,
  GOOGLE_CSE_ORIGIN,
  MIGRATION_AUDIENCE,
  APPLICATIONS,
  type CseConfig,
  type CseConfigFile,
} from './config.ts';
export { resourceKeyHash } from './blob.ts';
export type { PerimeterRule } from './perimeter.ts';
export {
  writeDemo,
  demoToken,
  DEMO_ROLES,
  DEMO_USER,
  DEMO_ADMIN,
  DEMO_RESOURCE,
  type DemoTokenRequest,
} from './demo.ts';

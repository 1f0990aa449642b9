export { startOvhServer, type OvhServer } from './server.ts';
export { ovhControlApp } from './control.ts';
export { parsePolicy, type IamPolicy } from './iam.ts';
export { listCredentials } from './store.ts';
export { tenantTokens, tokenView } from './tokens.ts';

export { createCa, loadCa, CA_MAX_VALIDITY_DAYS, type Ca, type CaMaterial, type CreateCaOptions } from './ca.ts';
export {
  issueServerCertificate,
  SERVER_MAX_VALIDITY_DAYS,
  type ServerCertificate,
  type ServerCertificateOptions,
} from './server.ts';
export {
  issueClientCertificate,
  CLIENT_MAX_VALIDITY_DAYS,
  type ClientCertificate,
  type ClientCertificateOptions,
} from './client.ts';
export { parseClientCertificate, UPN_OID, type CertificateFacts, type ClientIdentity } from './inspect.ts';
export { exportPkcs12, PKCS12_DEFAULT_ITERATIONS, type Pkcs12Options } from './pkcs12.ts';
export type { KeyType } from './keys.ts';
export { gatewayCa } from './store.ts';

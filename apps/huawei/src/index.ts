export { startHuaweiServer, createHuaweiApp, type HuaweiServer, type HuaweiOptions } from './server.ts';
export { huaweiAdminApp } from './admin.ts';
export { ROLES as HUAWEI_ROLES } from './iam.ts';
/** The AK/SK signature pieces, for clients and benchmarks that sign requests themselves. */
export { canonicalRequest, formatSdkDate, signString, stringToSign } from './signer.ts';

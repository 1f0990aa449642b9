export * from './errors.ts';
export * from './keyspec.ts';
export * from './states.ts';
export * from './crypto.ts';
export * from './ciphertext.ts';
export * from './material.ts';
export * from './rootkey.ts';
export * from './rotation.ts';
export * from './audit.ts';
export * from './auditchain.ts';
export * from './authfail.ts';
export * from './cache.ts';
export {
  Kms,
  encodeCursor,
  BINDINGS_TOPIC,
  WRAPPED_FORMATS,
  WRAPPING_ALGORITHMS,
  type WrappedFormat,
  type WrappingAlgorithm,
  type ExportInput,
  type WrappedExport,
  UNWRAP_FAILED,
  type WrappedImportInput,
  IMPORT_WRAP_HASHES,
  type ImportWrapHash,
  type ImportParameters,
  type MaterialImport,
} from './kms.ts';
export * from './types.ts';
export type { Tenants } from './tenants.ts';
export type { SealedSecrets } from './secrets.ts';
export { openStore, type Store, type StoreOptions } from './db/connect.ts';
export { migrateToLatest, migrationsApplied } from './db/migrations.ts';
export type { DialectStorage } from './db/dialect.ts';

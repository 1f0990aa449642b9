export * from './errors.ts';
export * from './keyspec.ts';
export * from './states.ts';
export * from './crypto.ts';
export { generateKeyPairDetached } from './keypair.ts';
export * from './ciphertext.ts';
export * from './material.ts';
export * from './rootkey.ts';
export * from './rotation.ts';
export * from './audit.ts';
export * from './auditchain.ts';
export * from './authfail.ts';
export * from './cache.ts';
export { Kms } from './kms.ts';
export { encodeCursor } from './operations/list.ts';
export type { ReEncryptSource, ReEncryptTarget } from './operations/reencrypt.ts';
export {
  WRAPPED_FORMATS,
  WRAPPING_ALGORITHMS,
  type WrappedFormat,
  type WrappingAlgorithm,
  type ExportInput,
  type WrappedExport,
} from './operations/export.ts';
export { BINDINGS_TOPIC } from './tenants.ts';
export { UNWRAP_FAILED, type WrappedImportInput } from './operations/import-wrapped.ts';
export { IMPORT_WRAP_HASHES, type ImportWrapHash, type ImportParameters, type MaterialImport } from './operations/import-material.ts';
export * from './types.ts';
export type { Tenants } from './tenants.ts';
export type { SealedSecrets } from './secrets.ts';
export { openStore, shareEmbeddedStore, type Store, type StoreOptions } from './db/connect.ts';
export type { Peer as StorePeer } from './db/pglite-shared.ts';
export { localChannel } from './db/pglite-client.ts';
export { replayWorkerJournal, serveWorkerJournal, workerJournal, workerJournals } from './audit-worker.ts';
export { migrateToLatest, migrationsApplied } from './db/migrations.ts';
export type { DialectStorage } from './db/dialect.ts';

// The replication engine's public surface: pure TypeScript over files, no cluster knowledge.
export { ReplicaStore, type ReplicaStoreOptions, type ApplyReport, type RecoveryOutcome } from './replica/store';
export type { ReplicaTarget } from './replica/receive';
export { ReplicaState } from './replica/state';
export { createDelta, type CreateDeltaOptions, type DeltaReport, type DeltaSource } from './source/delta';
export { HashPool } from './source/hash-pool';
export { SenderCache, type RemoteFileState } from './source/sender-cache';
export { ManifestFile } from './manifest/manifest-file';
export { digestManifestFile } from './manifest/manifest-merge';
export { replicateLocal, localTargets, STATE_FOLDER, LOCAL_MODULE, type ReplicateReport } from './replicate';
export { verifyFiles, type VerifyReport, type FileVerdict } from './verify/verify';
export { DEFAULT_BLOCK_SIZE, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE } from './stream/format';

// The config layer: schemas, loading with every problem reported, resolved shapes.
export * from './schema';
export * from './problems';
export * from './resolved';
export { CLUSTER_FILE, HOST_FILE, configDir, fromConfigDir } from './paths';
export { inspectConfig, loadConfig, invalidConfigError } from './load';
export { fileName } from './cross-check';

// The config layer's schemas in one import (cluster.json, modules/*.json, host.json).
export * from './common';
export * from './cluster';
export * from './module';
export * from './host-local';

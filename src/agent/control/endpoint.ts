import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AgentSettings, CLUSTER_FILE, HOST_FILE, HostLocalFile, configDir, fromConfigDir } from '../../config';
import { ConfigError } from '../../errors';
import { readToken } from './auth';
import type { ControlClientOptions } from './client';

// Where the CLI finds the local agent: only host.json and cluster.json's Agent section are read,
// so `vmmirror status` still works while a module file is being edited.

async function readJsonFile(path: string): Promise<unknown> {
  try {
    return JSON.parse((await readFile(path, 'utf8')).replace(/^\uFEFF/, '')) as unknown;
  } catch (err) {
    throw new ConfigError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message} (run \`vmmirror config validate\`)`, { cause: err });
  }
}

/** The control endpoint and token of the agent configured in `dir`. */
export async function controlEndpoint(dirOption?: string): Promise<ControlClientOptions> {
  const dir = configDir(dirOption);
  const host = HostLocalFile.safeParse(await readJsonFile(join(dir, HOST_FILE)));
  if (!host.success) throw new ConfigError('CONFIG_INVALID', `${HOST_FILE} is invalid (run \`vmmirror config validate\`)`);
  const cluster = (await readJsonFile(join(dir, CLUSTER_FILE))) as { Agent?: unknown };
  const agent = AgentSettings.safeParse(cluster?.Agent ?? {});
  if (!agent.success) throw new ConfigError('CONFIG_INVALID', `${CLUSTER_FILE}: Agent is invalid (run \`vmmirror config validate\`)`);
  const token = await readToken(fromConfigDir(dir, host.data.TokenPath));
  return agent.data.ControlSocket !== undefined ? { socketPath: agent.data.ControlSocket, token } : { port: agent.data.ControlPort ?? 7421, token };
}

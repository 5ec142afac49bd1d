import { mkdir, readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, fromNodeError } from '../errors';
import { writeFileAtomic, writeSecretFile } from '../config/write';
import { Port } from '../config/common';
import { exists } from '../config/load';
import { createHostIdentity, fingerprintOf } from '../peer/certs';
import { saveClaims } from './claims-store';
import { WITNESS_PEER_NAME, WitnessConfigFile } from './schema';

// The witness's own directory: witness.json (zod), its key pair and certificate, claims.json.
// `vmmirror witness init` makes it; `vmmirror witness run` loads it.

export const WITNESS_FILE = 'witness.json';

/** A host to pin, from `--pin <name>=<fingerprint>`. */
export interface PinArg {
  Name: string;
  CertificateFingerprint: string;
}

export const PIN_PLACEHOLDER = 'PASTE-THE-HOST-FINGERPRINT-HERE';

export interface WitnessInitResult {
  dir: string;
  address: string;
  port: number;
  fingerprint: string;
  configFile: string;
  keyPath: string;
  certificatePath: string;
}

export async function initWitness(o: { dir: string; address: string; port?: number; pins: PinArg[]; force?: boolean }): Promise<WitnessInitResult> {
  const dir = resolve(o.dir);
  const port = o.port ?? 7422;
  if (o.address.trim() === '') throw new ConfigError('CONFIG_INVALID', '--address must not be empty', { details: { Field: 'address' } });
  if (!Port.safeParse(port).success) throw new ConfigError('CONFIG_INVALID', '--port must be a whole number from 1 to 65535', { details: { Field: 'port' } });
  if (o.pins.length > 2) throw new ConfigError('CONFIG_INVALID', '--pin: a witness serves exactly two hosts', { details: { Field: 'pin' } });
  const configFile = join(dir, WITNESS_FILE);
  const keyPath = join(dir, 'identity', 'witness.key');
  const certificatePath = join(dir, 'identity', 'witness.crt');
  if (!o.force) {
    for (const p of [configFile, keyPath, certificatePath]) {
      if (await exists(p)) throw new ConfigError('IDENTITY_EXISTS', `${p} already exists: this witness already has an identity (pass --force to replace it; both hosts must then pin the new fingerprint)`, { details: { Path: p } });
    }
  }
  const hosts = [...o.pins];
  while (hosts.length < 2) hosts.push({ Name: `host-${hosts.length + 1}`, CertificateFingerprint: PIN_PLACEHOLDER });
  const doc = { Address: o.address, Port: port, Hosts: hosts };
  if (o.pins.length === 2) parseWitnessConfig(doc, configFile); // complete: check it now, not at the first run
  const identity = createHostIdentity(WITNESS_PEER_NAME);
  await mkdir(join(dir, 'identity'), { recursive: true, mode: 0o700 });
  await writeSecretFile(keyPath, identity.keyPem);
  await writeFileAtomic(certificatePath, identity.certPem);
  await writeFileAtomic(configFile, `${JSON.stringify(doc, null, 2)}\n`);
  // The claims start empty here, once: from then on a missing file is damage, not a new witness
  // (one that forgot its claims could vouch for a stale copy). --force keeps the claims it has.
  const claimsPath = join(dir, 'claims.json'); // the ClaimsPath default: init writes no other
  if (!(await exists(claimsPath))) await saveClaims(claimsPath, {});
  return { dir, address: o.address, port, fingerprint: identity.fingerprint, configFile, keyPath, certificatePath };
}

export interface LoadedWitness {
  dir: string;
  config: WitnessConfigFile;
  keyPem: string;
  certPem: string;
  fingerprint: string;
  claimsPath: string;
}

function parseWitnessConfig(raw: unknown, file: string): WitnessConfigFile {
  const r = WitnessConfigFile.safeParse(raw);
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => ({ File: file, Path: i.path.join('.'), Message: i.message }));
  const text = problems.map((p) => `${p.File}: ${p.Path || '(root)'} ${p.Message}`).join('\n');
  throw new ConfigError('CONFIG_INVALID', `witness configuration is invalid:\n${text}`, { details: { Problems: problems } });
}

export async function loadWitness(dirArg: string): Promise<LoadedWitness> {
  const dir = resolve(dirArg);
  const file = join(dir, WITNESS_FILE);
  const text = await readFile(file, 'utf8').catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError('CONFIG_NOT_FOUND', `${file} not found: run \`vmmirror witness init --dir ${dirArg} --address <addr>\` first`, { details: { Path: file } });
    throw fromNodeError(e, file);
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError('CONFIG_INVALID', `${file}: not JSON (${(e as Error).message})`, { details: { Path: file } });
  }
  const config = parseWitnessConfig(raw, file);
  const inDir = (p: string): string => (isAbsolute(p) ? p : join(dir, p));
  const keyPem = await readFile(inDir(config.KeyPath), 'utf8').catch((e: unknown) => {
    throw fromNodeError(e, inDir(config.KeyPath));
  });
  const certPem = await readFile(inDir(config.CertificatePath), 'utf8').catch((e: unknown) => {
    throw fromNodeError(e, inDir(config.CertificatePath));
  });
  return { dir, config, keyPem, certPem, fingerprint: fingerprintOf(certPem), claimsPath: inDir(config.ClaimsPath) };
}

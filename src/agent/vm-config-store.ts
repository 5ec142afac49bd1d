import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { LoadedConfig } from '../config';
import { VmmirrorError, fromNodeError } from '../errors';
import { syncDir, writeFileDurable } from '../replication/util/durable-file';
import { writeAll } from '../replication/util/write-all';
import { VM_CONFIG_LIMITS, VmConfigAdapter, type VmConfigCommit } from './messages';

// The exported configuration of a module's VM, as received from the host that runs it, kept on
// the host that holds the replica so a takeover can register the replica VM (docs/cluster.md
// "Registering the replica"). Every path here comes from this host's config: the wire's module
// name only selects among configured modules, a file's bytes land in `<index>.part`, and a file
// name from the wire is accepted only when it matches the one layout an export has.
//
//   <DataDirectory>/replicas/<Module>/vm-config/
//     incoming/<transfer>/<index>.part   parts being received (one transfer per module at a time)
//     <transfer>/Virtual Machines/...    complete exports; current.json names the newest
//     current.json                       written atomically (temp + rename + fsync) last
//     pinned/<transfer>                  an export a VM was registered from: Hyper-V keeps using
//                                        the folder it imported in place, so it is never pruned

/** The only names an export may hold: Hyper-V's `Virtual Machines/<GUID>.vmcx|.vmgs|.vmrs` (the simulated driver's is a .vmcx). */
export const EXPORT_FILE = /^Virtual Machines\/[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\.(vmcx|vmgs|vmrs)$/i;
const TRANSFER = /^[0-9a-f]{32}$/;
const FOLDER = 'Virtual Machines/';

export const StoredVmConfig = z
  .object({
    Version: z.literal(1),
    Transfer: z.string().regex(TRANSFER),
    VmId: z.string().regex(/^[0-9a-f-]{36}$/),
    ConfigHash: z.string().regex(/^[0-9a-f]{64}$/),
    Disks: z.array(z.string().min(1).max(255)).min(1).max(64),
    Adapters: z.array(VmConfigAdapter).max(64),
    Files: z.array(z.object({ Name: z.string().regex(EXPORT_FILE), Size: z.number().int().min(0), Sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict()).min(1),
    ReceivedAt: z.string().datetime(),
  })
  .strict();
export type StoredVmConfig = z.infer<typeof StoredVmConfig>;

function invalid(message: string, details: Record<string, unknown> = {}): VmmirrorError {
  return new VmmirrorError('VM_CONFIG_INVALID', message, { details });
}

async function sha256Of(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

async function sizeOrZero(path: string): Promise<number> {
  return stat(path).then((s) => s.size).catch((e: unknown) => {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw fromNodeError(e, path);
  });
}

/** A transfer id names one export once: parts or a commit for one already stored would rewrite its folder. */
async function refuseUsedTransfer(root: string, transfer: string): Promise<void> {
  const used = await stat(join(root, transfer)).then(() => true, (e: unknown) => ((e as NodeJS.ErrnoException).code === 'ENOENT' ? false : Promise.reject(e)));
  if (used) throw invalid(`transfer ${transfer} is already stored here; a new export is sent under a new transfer id`);
}

/** File-system failures as typed errors (a full disk is DISK_FULL), whatever step they hit. */
async function ioErrors<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw fromNodeError(err, what);
  }
}

export class VmConfigStore {
  private readonly modules: Set<string>;
  /** One operation per module at a time: parts and a commit of one module never interleave on disk. */
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly config: Pick<LoadedConfig, 'dataDir' | 'modules'>) {
    this.modules = new Set(config.modules.map((m) => m.name));
  }

  /** The module's folder (the module must be one of this host's). */
  root(module: string): string {
    if (!this.modules.has(module)) throw new VmmirrorError('MODULE_NOT_FOUND', `no module named ${JSON.stringify(module)} on this host`);
    return join(this.config.dataDir, 'replicas', module, 'vm-config');
  }

  private locked<T>(module: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(module) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.locks.set(module, next);
    return next;
  }

  /** Appends one part; `offset` must be where the file ends now (parts come in order). A new transfer discards any other unfinished one. */
  putPart(module: string, transfer: string, file: number, offset: number, data: Buffer): Promise<{ received: number }> {
    return this.locked(module, () => ioErrors(this.root(module), async () => {
      if (!TRANSFER.test(transfer)) throw invalid(`transfer id ${JSON.stringify(transfer)} is not 32 hex digits`);
      if (!Number.isInteger(file) || file < 0 || file >= VM_CONFIG_LIMITS.files) throw invalid(`file index ${file} is out of range (an export has at most ${VM_CONFIG_LIMITS.files} files)`);
      if (data.length > VM_CONFIG_LIMITS.partBytes) throw invalid(`a part of ${data.length} bytes is over the ${VM_CONFIG_LIMITS.partBytes}-byte limit`);
      const incoming = join(this.root(module), 'incoming');
      const dir = join(incoming, transfer);
      // A transfer's first part (its folder made now) checks its id is new and discards any other
      // unfinished transfer; later parts skip both (a commit removes incoming/, so a reused id starts over).
      if ((await mkdir(dir, { recursive: true, mode: 0o700 })) !== undefined) {
        await refuseUsedTransfer(this.root(module), transfer).catch(async (err: unknown) => {
          await rm(dir, { recursive: true, force: true });
          throw err;
        });
        for (const other of await readdir(incoming)) if (other !== transfer) await rm(join(incoming, other), { recursive: true, force: true });
      }
      const path = join(dir, `${file}.part`);
      const size = await sizeOrZero(path);
      if (offset !== size) throw invalid(`part of file ${file} at offset ${offset}, but ${size} bytes are held: parts must come in order`, { offset, held: size });
      if (size + data.length > VM_CONFIG_LIMITS.fileBytes) throw invalid(`file ${file} would grow past ${VM_CONFIG_LIMITS.fileBytes} bytes`);
      let total = 0;
      for (const n of await readdir(dir)) total += await sizeOrZero(join(dir, n));
      if (total + data.length > VM_CONFIG_LIMITS.totalBytes) throw invalid(`the export would grow past ${VM_CONFIG_LIMITS.totalBytes} bytes`);
      const fh = await open(path, size === 0 ? 'w' : 'r+', 0o600);
      try {
        // A short write on a nearly full disk is looped or DISK_FULL, and a failed part is cut off
        // again, so the file holds whole parts only and the next offset the sender sends still fits.
        await writeAll(fh, data, size, path).catch(async (err: unknown) => {
          await fh.truncate(size).catch(() => undefined);
          throw err;
        });
      } finally {
        await fh.close();
      }
      return { received: size + data.length };
    }));
  }

  /**
   * Checks every file of the transfer (name pattern, size, SHA-256), moves it into place and makes
   * it current: current.json is replaced atomically, so a crash leaves the old export or the new
   * one, never a mixture. Older complete exports are removed afterwards.
   */
  commit(c: z.output<typeof VmConfigCommit.body>): Promise<{ configHash: string }> {
    return this.locked(c.module, () => ioErrors(this.root(c.module), async () => {
      const root = this.root(c.module);
      if (!TRANSFER.test(c.transfer)) throw invalid(`transfer id ${JSON.stringify(c.transfer)} is not 32 hex digits`);
      // Every file of an export is named by its VM's id, once per kind: so exactly one .vmcx, the
      // VM's own (a driver registers "the" .vmcx of the folder, whatever its name).
      const names = new Set<string>();
      for (const f of c.files) {
        if (!EXPORT_FILE.test(f.name)) throw invalid(`file name ${JSON.stringify(f.name)} is not one an exported configuration has (Virtual Machines/<GUID>.vmcx, .vmgs or .vmrs)`, { name: f.name });
        const own = f.name.slice(FOLDER.length).toLowerCase();
        if (!own.startsWith(`${c.vmId}.`)) throw invalid(`file name ${JSON.stringify(f.name)} is not of VM ${c.vmId}: an export names its files by its VM's id`, { name: f.name });
        if (names.has(own)) throw invalid(`file name ${JSON.stringify(f.name)} is listed twice`);
        names.add(own);
      }
      if (!names.has(`${c.vmId}.vmcx`)) throw invalid(`the export holds no Virtual Machines/${c.vmId}.vmcx`);
      if (c.files.length > VM_CONFIG_LIMITS.files || c.files.reduce((n, f) => n + f.size, 0) > VM_CONFIG_LIMITS.totalBytes) throw invalid('the export is over its size limits');
      // Never replace a stored export's folder (the current one, or one a VM was registered from).
      await refuseUsedTransfer(root, c.transfer);
      const incoming = join(root, 'incoming', c.transfer);
      for (const [i, f] of c.files.entries()) {
        const part = join(incoming, `${i}.part`);
        const size = await sizeOrZero(part);
        if (size !== f.size) throw invalid(`file ${f.name}: ${size} bytes arrived, ${f.size} announced`, { name: f.name });
        // An empty file travels as no part at all (the sender reads nothing to send).
        if (size === 0) await mkdir(incoming, { recursive: true, mode: 0o700 }).then(() => open(part, 'a', 0o600)).then((fh) => fh.close());
        if ((await sha256Of(part)) !== f.sha256) throw invalid(`file ${f.name}: its SHA-256 does not match the announced one`, { name: f.name });
      }
      const dest = join(root, c.transfer);
      await mkdir(join(dest, 'Virtual Machines'), { recursive: true, mode: 0o700 });
      // The folder's name as Hyper-V writes it, whatever case the wire used (this file system may care).
      const files = c.files.map((f) => ({ Name: `${FOLDER}${f.name.slice(FOLDER.length)}`, Size: f.size, Sha256: f.sha256 }));
      for (const [i, f] of files.entries()) {
        const fh = await open(join(incoming, `${i}.part`), 'r+');
        await fh.sync().finally(() => fh.close());
        await rename(join(incoming, `${i}.part`), join(dest, f.Name));
      }
      await syncDir(join(dest, 'Virtual Machines'));
      const record: StoredVmConfig = {
        Version: 1, Transfer: c.transfer, VmId: c.vmId, ConfigHash: c.configHash, Disks: c.disks, Adapters: c.adapters, Files: files, ReceivedAt: new Date().toISOString(),
      };
      await writeFileDurable(join(root, 'current.json'), `${JSON.stringify(record, null, 2)}\n`);
      const pinned = new Set(await readdir(join(root, 'pinned')).catch(() => [] as string[]));
      for (const n of await readdir(root)) {
        if (n !== c.transfer && TRANSFER.test(n) && !pinned.has(n)) await rm(join(root, n), { recursive: true, force: true });
      }
      await rm(join(root, 'incoming'), { recursive: true, force: true });
      return { configHash: c.configHash };
    }));
  }

  /** The current export (folder and record), or null when none was received. A damaged record or a file that no longer matches is VM_CONFIG_INVALID. */
  current(module: string): Promise<{ configDir: string; record: StoredVmConfig } | null> {
    return this.locked(module, () => this.readCurrent(module));
  }

  /**
   * The current export, checked by `check` and pinned in the same step (pinForRegistration), or
   * null: a commit arriving between a read and a pin would otherwise prune the folder just read.
   */
  pinCurrent(module: string, check: (record: StoredVmConfig) => void): Promise<{ configDir: string; record: StoredVmConfig } | null> {
    return this.locked(module, async () => {
      const stored = await this.readCurrent(module);
      if (stored === null) return null;
      check(stored.record);
      await this.writePin(module, stored.record);
      return stored;
    });
  }

  private async readCurrent(module: string): Promise<{ configDir: string; record: StoredVmConfig } | null> {
    const root = this.root(module);
    let text: string;
    try {
      text = await readFile(join(root, 'current.json'), 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw fromNodeError(e, join(root, 'current.json'));
    }
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch {
      raw = undefined;
    }
    const parsed = StoredVmConfig.safeParse(raw);
    if (!parsed.success) throw invalid(`${join(root, 'current.json')} is damaged; the host that runs the VM sends its configuration again after its next cycle (or delete the folder)`, { path: join(root, 'current.json') });
    const record = parsed.data;
    const configDir = join(root, record.Transfer);
    for (const f of record.Files) {
      const path = join(configDir, f.Name);
      if ((await sizeOrZero(path)) !== f.Size || (await sha256Of(path).catch(() => '')) !== f.Sha256) throw invalid(`${path} does not match what was received (size or SHA-256)`, { path });
    }
    return { configDir, record };
  }

  /**
   * Pins an export before a VM is registered from it in place (Hyper-V keeps using the folder it
   * imported from): a pinned folder is never pruned, so later exports cannot delete a registered
   * VM's configuration. Returns the folder to register from.
   */
  pinForRegistration(module: string, record: StoredVmConfig): Promise<string> {
    return this.locked(module, () => this.writePin(module, record));
  }

  private async writePin(module: string, record: StoredVmConfig): Promise<string> {
    const root = this.root(module);
    await mkdir(join(root, 'pinned'), { recursive: true, mode: 0o700 });
    await writeFileDurable(join(root, 'pinned', record.Transfer), `${new Date().toISOString()}\n`);
    return join(root, record.Transfer);
  }
}

import { createServer } from 'node:net';
import { UsageError } from '../errors';

// Where the lab's three processes listen. Default: loopback addresses with ports the OS picks (so
// several labs, and the tests of several engineers, run side by side). With --addresses (a test that
// puts each host and the witness in its own network namespace) the usual ports, as a real cluster.

export interface LabEndpoint {
  address: string;
  port: number;
}

export interface LabEndpoints {
  hva: LabEndpoint;
  hvb: LabEndpoint;
  witness: LabEndpoint;
}

const DEFAULT_PORTS = { hva: 7420, hvb: 7420, witness: 7422 };

/** A port the OS reports free on `address` right now (it may be taken again before the lab starts: then start fails naming it). */
export async function freePort(address: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, address, () => resolve()));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function endpoint(option: string, v: string, defaultPort: number): LabEndpoint {
  const m = /^([^:\s]+)(?::(\d+))?$/.exec(v.trim());
  if (m === null) throw new UsageError(`${option}: ${JSON.stringify(v)} is not an address or address:port`);
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError(`${option}: port ${m[2]} is not from 1 to 65535`);
  return { address: m[1]!, port };
}

/** `--addresses a,b,w` (each may carry `:port`); absent: loopback with OS-picked ports. */
export async function labEndpoints(addresses: string | undefined): Promise<LabEndpoints> {
  if (addresses !== undefined) {
    const parts = addresses.split(',');
    if (parts.length !== 3) throw new UsageError(`--addresses takes three addresses: hva,hvb,witness; got ${JSON.stringify(addresses)}`);
    const [a, b, w] = parts as [string, string, string];
    const r = { hva: endpoint('--addresses', a, DEFAULT_PORTS.hva), hvb: endpoint('--addresses', b, DEFAULT_PORTS.hvb), witness: endpoint('--addresses', w, DEFAULT_PORTS.witness) };
    const keys = [r.hva, r.hvb, r.witness].map((e) => `${e.address.toLowerCase()}:${e.port}`);
    if (new Set(keys).size !== 3) throw new UsageError(`--addresses: hva, hvb and the witness each need their own address:port, got ${keys.join(', ')}`);
    return r;
  }
  // 127.0.0.2-4 are loopback on Linux and Windows; where only 127.0.0.1 exists (macOS) every
  // process shares it, on its own port.
  const distinct = await freePort('127.0.0.2').then(
    () => true,
    () => false,
  );
  const at = distinct ? { hva: '127.0.0.2', hvb: '127.0.0.3', witness: '127.0.0.4' } : { hva: '127.0.0.1', hvb: '127.0.0.1', witness: '127.0.0.1' };
  const ports: number[] = [];
  const pick = async (address: string): Promise<number> => {
    let p = await freePort(address);
    while (ports.includes(p)) p = await freePort(address);
    ports.push(p);
    return p;
  };
  return {
    hva: { address: at.hva, port: await pick(at.hva) },
    hvb: { address: at.hvb, port: await pick(at.hvb) },
    witness: { address: at.witness, port: await pick(at.witness) },
  };
}

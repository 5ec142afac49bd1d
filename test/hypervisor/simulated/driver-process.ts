import { createSimulatedHypervisor } from '../../../src/hypervisor/simulated';

// A throw-away "agent": starts a VM, opens a frozen view, and exits without releasing it, so a
// test can prove the VM and the view outlive the process that drove them.
async function main(): Promise<void> {
  const [stateDir, vmId] = process.argv.slice(2);
  if (stateDir === undefined || vmId === undefined) throw new Error('usage: driver-process <stateDir> <vmId>');
  const hv = createSimulatedHypervisor(stateDir);
  await hv.startVm(vmId, { timeoutMs: 30_000, waitHeartbeat: true });
  const view = await hv.freeze(vmId, { timeoutMs: 30_000 });
  process.stdout.write(JSON.stringify({ viewId: view.viewId }) + '\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
    process.exit(1);
  },
);

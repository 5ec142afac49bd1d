import { mkdir, writeFile, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { benchEngine } from './engine';
import { benchPeerThroughput } from './peer-throughput';
import { benchAgentCycle, type AgentCycleResult } from './agent-cycle';
import { benchCliStartup, type CliStartupResult } from './cli-startup';
import { benchClusterFailover, clusterFailoverRows, type ClusterFailoverResult } from './cluster-failover';
import { balanceRows, benchBalance, type BalanceBenchResult } from './balance';

// `npm run bench`: every benchmark side by side with its anchor, printed as a table of ratios and
// saved as JSON in bench/results/. BENCH_SIZE_GIB sets the engine file size (default 8).

const ROOT = resolve(__dirname, '..');

async function main(): Promise<void> {
  const sizeGiB = Number(process.env.BENCH_SIZE_GIB ?? '8');
  const seed = Number(process.env.BENCH_SEED ?? Date.now() % 2 ** 31);
  const workDir = process.env.BENCH_WORK_DIR ?? join(ROOT, 'bench', 'work');
  const log = (s: string): void => void process.stderr.write(`bench: ${s}\n`);
  log(`seed ${seed}, file ${sizeGiB} GiB, work dir ${workDir}`);
  const engine = await benchEngine({ workDir, sizeBytes: Math.round(sizeGiB * 2 ** 30), seed, log });
  await rm(workDir, { recursive: true, force: true });

  let peer: Record<string, unknown> | undefined;
  try {
    peer = { ...(await benchPeerThroughput({ bytes: 512 << 20 })) };
  } catch (err) {
    log(`peer benchmark failed: ${(err as Error).message}`);
  }

  let cycle: AgentCycleResult | undefined;
  try {
    log('agent-to-agent delta cycle (10% of blocks changed)');
    cycle = await benchAgentCycle({ diskBytes: Number(process.env.BENCH_CYCLE_MIB ?? '512') * 2 ** 20, fraction: 0.1, seed });
  } catch (err) {
    log(`agent cycle benchmark failed: ${(err as Error).message}`);
  }

  let cli: CliStartupResult | undefined;
  try {
    cli = benchCliStartup({ log });
  } catch (err) {
    log(`cli start-up benchmark failed: ${(err as Error).message}`);
  }

  let balance: BalanceBenchResult | undefined;
  try {
    balance = benchBalance({ seed });
  } catch (err) {
    log(`balance benchmark failed: ${(err as Error).message}`);
  }

  let cluster: ClusterFailoverResult | undefined;
  try {
    log('cluster failover: kill/return rounds through vmmirror lab (about 3 minutes)');
    cluster = await benchClusterFailover({ diskMiB: Number(process.env.BENCH_CLUSTER_DISK_MIB ?? '256'), rounds: Number(process.env.BENCH_CLUSTER_ROUNDS ?? '5'), writesPerSecond: Number(process.env.BENCH_CLUSTER_WRITES_PER_SECOND ?? '5'), log });
  } catch (err) {
    log(`cluster failover benchmark failed: ${(err as Error).message}`);
  }

  const mb = (n: number): string => (n / 2 ** 20).toFixed(1);
  const rows: Array<[string, string, string]> = [
    ['raw read (cat > /dev/null)', `${engine.rawReadMs.toFixed(0)} ms`, '1.00x (anchor)'],
    ['raw read into memory (dd bs=4M)', `${engine.ddReadMs.toFixed(0)} ms`, `${(engine.ddReadMs / engine.rawReadMs).toFixed(2)}x cat`],
    ['vmmirror scan mode (whole command)', `${engine.scan.ms.toFixed(0)} ms, sent ${mb(engine.scan.bytesSent)} MiB`, `${engine.ratios.scanOverRawRead.toFixed(2)}x raw read (target <= 1.5)`],
    ['  of which scanning + streaming', `${engine.scan.produceMs} ms`, `${(engine.scan.produceMs / engine.rawReadMs).toFixed(2)}x cat, ${(engine.scan.produceMs / engine.ddReadMs).toFixed(2)}x dd`],
    ['rsync --inplace --no-whole-file', `${engine.rsync.ms.toFixed(0)} ms, sent ${mb(engine.rsync.bytesSent)} MiB`, `${engine.ratios.rsyncOverScan.toFixed(2)}x slower than scan (target >= 5)`],
    ['bytes sent: scan / rsync', '', `${engine.ratios.scanSentOverRsyncSent.toFixed(3)} (target <= 1)`],
    ['vmmirror change-tracking mode', `${engine.changeTracking.ms.toFixed(0)} ms, scanned ${mb(engine.changeTracking.bytesScanned)} MiB`, `${(engine.ratios.ctOverScan * 100).toFixed(1)}% of scan (target < 5%)`],
    ['  of which finding + streaming', `${engine.changeTracking.produceMs} ms`, `${((engine.changeTracking.produceMs / engine.scan.produceMs) * 100).toFixed(1)}% of the scan's`],
    ['peak RSS (scan / change tracking)', `${mb(engine.scan.peakRssBytes)} / ${mb(engine.changeTracking.peakRssBytes)} MiB`, 'target < 200 MiB'],
    ['seed (first replication)', `${engine.seedMs.toFixed(0)} ms`, `${(engine.fileBytes / 2 ** 20 / (engine.seedMs / 1000)).toFixed(0)} MiB/s`],
  ];
  if (peer) {
    const p = peer as { linkBytesPerSec: number; plainTlsBytesPerSec: number; ratio: number };
    rows.push(['peer link stream vs plain TLS', `${mb(p.linkBytesPerSec)} vs ${mb(p.plainTlsBytesPerSec)} MiB/s`, `${p.ratio.toFixed(2)} of the ceiling`]);
  }
  if (cycle) {
    rows.push([
      'agent delta cycle vs plain TLS',
      `${mb(cycle.cycleBytesPerSec)} vs ${mb(cycle.plainTlsBytesPerSec)} MiB/s (${mb(cycle.streamBytes)} MiB in ${cycle.cycleMs} ms)`,
      `${cycle.ratio.toFixed(2)} of the ceiling (target >= 0.70)`,
    ]);
  }
  for (const r of cli?.rows.slice(1) ?? []) {
    rows.push([`${r.name}, CPU`, `${r.medianCpuMs.toFixed(1)} ms (node -e 0: ${cli?.nodeCpuMs.toFixed(1)} ms)`, `${r.ratioToNode.toFixed(2)}x node${r.name.startsWith('vmmirror') ? ' (target < 2)' : ''}`]);
  }
  if (balance) rows.push(...balanceRows(balance));
  if (cluster) rows.push(...clusterFailoverRows(cluster).map(([a, b, c]): [string, string, string] => [`cluster: ${a}`, b, c]));
  const w = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`\nvmmirror benchmark (${sizeGiB} GiB file, ${engine.changedBlocks} x 64 KiB blocks changed = 1%)\n`);
  for (const [a, b, c] of rows) process.stdout.write(`  ${a.padEnd(w)}  ${b.padEnd(36)}  ${c}\n`);
  await mkdir(join(ROOT, 'bench', 'results'), { recursive: true });
  const out = join(ROOT, 'bench', 'results', 'latest.json');
  await writeFile(out, `${JSON.stringify({ date: new Date().toISOString(), engine, peer, cycle, cli, balance, cluster }, null, 2)}\n`);
  process.stdout.write(`saved ${out}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});

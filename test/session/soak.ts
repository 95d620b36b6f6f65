/**
 * Soak (run by soak.test.ts in a child process with --expose-gc): N synthetic
 * clients connect through the pipeline, pass traffic, and hang up, R times
 * over. Prints one JSON line: RSS after each round (after GC), the pipeline's
 * internal sizes after each round, and whether anything was left due.
 */
import { INTERNET, World, ipv4 } from './harness.js';

const N = Number(process.argv[2] ?? 1000);
const ROUNDS = Number(process.argv[3] ?? 3);
const gc = (globalThis as { gc?: () => void }).gc;

const w = new World({ pool: '10.64.0.0/16', maxSessionsPerUser: 0, limits: { ikeSasPerIdentity: 1_000_000, ikeSasPerAddress: 1_000_000 } }, [['soak', 'soak password']]);
const rounds: Array<{ rss: number; heap: number; buffers: number; sizes: Record<string, number>; due: number | null; ms: number }> = [];
for (let r = 0; r < ROUNDS; r++) {
  const t0 = performance.now();
  const clients = [];
  for (let i = 0; i < N; i++) {
    const c = w.client({ user: 'soak', password: 'soak password', address: `198.18.${(i >> 8) & 255}.${i & 255}` });
    if (!c.connect()) throw new Error(`round ${r}: client ${i} did not connect`);
    clients.push(c);
  }
  for (const c of clients) c.sendIp(INTERNET, Buffer.from('soak'));
  w.pump();
  w.pipeline.tunPackets(clients.map((c) => ipv4(INTERNET, c.ppp.address, Buffer.from('back'))), w.now);
  w.pump();
  for (const c of clients) if (c.received.length !== 1) throw new Error(`round ${r}: a client got ${c.received.length} packets back`);
  // leave: CDN, StopCCN, Delete of the IPsec SA and of the IKE SA
  for (const c of clients) c.hangUpAll();
  w.advance(120_000);
  w.clients.length = 0;
  // the test world's own records of what happened are not the server's memory
  w.logs.length = 0;
  w.events.length = 0;
  w.ended.length = 0;
  w.tun.length = 0;
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  rounds.push({ rss: m.rss, heap: m.heapUsed, buffers: m.arrayBuffers, sizes: w.pipeline.sizes(), due: w.pipeline.nextDeadline() ?? null, ms: Math.round(performance.now() - t0) });
}
process.stdout.write(`${JSON.stringify({ n: N, rounds, gc: gc !== undefined })}\n`);

/**
 * ESP benchmark (`npm run bench -- esp`): packets/s and Gbit/s of the engine's
 * batch path against the naive per-packet node:crypto baseline and
 * @noble/ciphers + @noble/hashes, measured in the same run, plus an
 * end-to-end figure over loopback (a forked sender blasting ESP-in-UDP at
 * UdpEndpoints + EspEngine, next to a dgram receiver that only counts).
 * Writes bench/results/esp-<timestamp>.json and bench/results/latest-esp.json.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChildSaUp, EspTransform } from '../src/core/sa.js';
import { EspEngine, type EspInbound, type EspOutbound } from '../src/esp/engine.js';
import { resolveTransform } from '../src/esp/transforms.js';
import { classifyNatt } from '../src/esp/natt.js';
import { UdpEndpoints } from '../src/io/udp.js';
import { benchPath, type PathRow } from './esp-path.js';
import { naiveDecrypt, naiveEncrypt, nobleDecrypt, nobleEncrypt, type BenchKeys } from './esp-naive.js';
import type { GcmBatchProvider, HmacBatchProvider } from '../src/esp/hmac.js';
import { nativeGcm, nativeHmac } from '../src/io/udp-native.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const BATCH = 32;
const POOL = 2048;
const SLICE_MS = Number(process.env.ESP_BENCH_SLICE_MS ?? 150);
const ROUNDS = Number(process.env.ESP_BENCH_ROUNDS ?? 6);
const E2E_MS = Number(process.env.ESP_BENCH_E2E_MS ?? 3000);
const E2E_SENDERS = Number(process.env.ESP_BENCH_SENDERS ?? 2);

const TRANSFORMS: Record<string, EspTransform> = {
  'aes128-sha1': { cipher: 'aes-cbc', keyBits: 128, integ: 'hmac-sha1-96' },
  'aes256-sha256': { cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha256-128' },
};
const SIZES = [64, 512, 1400];
/** AES-GCM (what IKEv2 clients propose first), for the node:crypto vs native batch rows. */
const GCM_TRANSFORMS: Record<string, EspTransform> = {
  aes128gcm16: { cipher: 'aes-gcm-16', keyBits: 128, integ: 'none' },
  aes256gcm16: { cipher: 'aes-gcm-16', keyBits: 256, integ: 'none' },
};

export interface EspRow {
  transform: string;
  size: number;
  direction: 'inbound' | 'outbound';
  pps: number;
  naive_pps: number;
  ratio: number;
  noble_pps: number;
  gbps: number;
  naive_gbps: number;
  noble_gbps: number;
  wall_pps: number;
  naive_wall_pps: number;
  wall_ratio: number;
}

function makeSa(name: string, t: EspTransform, n = 0): { ours: ChildSaUp; theirs: ChildSaUp } {
  const spec = resolveTransform(t);
  const authLen = spec.hashLen;
  const a = { spi: 0x1001 + n, encKey: randomBytes(spec.keyLen + spec.saltLen), authKey: randomBytes(authLen) };
  const b = { spi: 0x2002 + n, encKey: randomBytes(spec.keyLen + spec.saltLen), authKey: randomBytes(authLen) };
  const ours: ChildSaUp = {
    type: 'child-sa-up',
    id: `bench-${name}-${n}`,
    ikeSaId: 'ike',
    peer: { address: '127.0.0.1', port: 40000 },
    local: { address: '127.0.0.1', port: 4500 },
    encapsulation: 'udp',
    transform: t,
    inbound: a,
    outbound: b,
    lifetimeSeconds: 3600,
  };
  const theirs: ChildSaUp = { ...ours, id: `bench-${name}-${n}-client`, peer: ours.local, local: ours.peer, inbound: b, outbound: a };
  return { ours, theirs };
}

interface Rate {
  /** packets per second of process CPU time (user + system): robust on a shared machine */
  cpu: number;
  /** packets per second of wall-clock time */
  wall: number;
}

/** Run fn repeatedly for about ms; fn returns packets processed. */
function timed(ms: number, fn: () => number): Rate {
  let packets = 0;
  const c0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  const end = performance.now() + ms;
  do packets += fn();
  while (performance.now() < end);
  const c = process.cpuUsage(c0);
  const wall = Number(process.hrtime.bigint() - w0) / 1e9;
  return { cpu: packets / Math.max(1e-6, (c.user + c.system) / 1e6), wall: packets / wall };
}

const best = (a: Rate, b: Rate): Rate => ({ cpu: Math.max(a.cpu, b.cpu), wall: Math.max(a.wall, b.wall) });

function benchInbound(name: string, t: EspTransform, size: number): Measured {
  const { ours, theirs } = makeSa(name, t);
  const client = new EspEngine();
  client.addSa(theirs);
  const payload = randomBytes(size);
  const pool: EspInbound[] = [];
  while (pool.length < POOL) {
    const { sends } = client.encryptBatch(
      Array.from({ length: BATCH }, () => ({ saId: theirs.id, innerDstPort: 1701, payload })),
      0,
    );
    for (const s of sends) pool.push({ data: s.data, from: ours.peer });
  }
  const batches: EspInbound[][] = [];
  for (let i = 0; i < POOL; i += BATCH) batches.push(pool.slice(i, i + BATCH));
  const keys: BenchKeys = { spec: resolveTransform(t), encKey: ours.inbound.encKey, authKey: ours.inbound.authKey, spi: ours.inbound.spi };
  // Ours: a fresh engine per pass over the pool (the replay window would refuse a second pass).
  let engine = new EspEngine();
  let next = batches.length;
  const oursFn = (): number => {
    if (next === batches.length) {
      engine = new EspEngine();
      engine.addSa(ours);
      next = 0;
    }
    const r = engine.decryptBatch(batches[next++]!, 0);
    if (r.delivered.length !== BATCH) throw new Error(`bench: ours delivered ${r.delivered.length}`);
    return r.delivered.length;
  };
  let ni = 0;
  const naiveFn = (): number => {
    for (let i = 0; i < BATCH; i++) if (!naiveDecrypt(keys, pool[ni++ % POOL]!.data)) throw new Error('bench: naive failed');
    return BATCH;
  };
  let bi = 0;
  const nobleFn = (): number => {
    for (let i = 0; i < BATCH; i++) if (!nobleDecrypt(keys, pool[bi++ % POOL]!.data)) throw new Error('bench: noble failed');
    return BATCH;
  };
  return compare(name, size, oursFn, naiveFn, nobleFn);
}

function benchOutbound(name: string, t: EspTransform, size: number): Measured {
  const { ours } = makeSa(name, t);
  const engine = new EspEngine();
  engine.addSa(ours);
  const payload = randomBytes(size);
  const batch: EspOutbound[] = Array.from({ length: BATCH }, () => ({ saId: ours.id, innerDstPort: 1701, payload }));
  const keys: BenchKeys = { spec: resolveTransform(t), encKey: ours.outbound.encKey, authKey: ours.outbound.authKey, spi: ours.outbound.spi };
  let seq = 0;
  const oursFn = (): number => engine.encryptBatch(batch, 0).sends.length;
  const ivLen = keys.spec.ivLen;
  const naiveFn = (): number => {
    const ivs = randomBytes(BATCH * ivLen);
    for (let i = 0; i < BATCH; i++) naiveEncrypt(keys, ++seq, 1701, payload, ivs.subarray(i * ivLen, (i + 1) * ivLen));
    return BATCH;
  };
  const nobleFn = (): number => {
    const ivs = randomBytes(BATCH * ivLen);
    for (let i = 0; i < BATCH; i++) nobleEncrypt(keys, ++seq, 1701, payload, ivs.subarray(i * ivLen, (i + 1) * ivLen));
    return BATCH;
  };
  return compare(name, size, oursFn, naiveFn, nobleFn);
}

export interface HmacRow {
  transform: string;
  size: number;
  direction: 'inbound' | 'outbound';
  /** Engine packets per CPU-second with HMAC (or AES-GCM) per packet through node:crypto. */
  js_pps: number;
  /** The same with the batch's HMAC (or AES-GCM) in one native call (the addon's OpenSSL). */
  native_pps: number;
  ratio: number;
}

/** The engine with per-packet node:crypto HMAC against the native batch HMAC, interleaved best-of rounds. */
function benchHmac(name: string, t: EspTransform, size: number, direction: 'inbound' | 'outbound'): HmacRow | undefined {
  const hmac = nativeHmac();
  const gcm = nativeGcm();
  if (!hmac || !gcm) return undefined;
  const native = { hmacBatch: hmac, gcmBatch: gcm };
  const { ours, theirs } = makeSa(name, t);
  const payload = randomBytes(size);
  const make = (crypto: { hmacBatch?: HmacBatchProvider; gcmBatch?: GcmBatchProvider }): (() => number) => {
    if (direction === 'outbound') {
      const e = new EspEngine(crypto);
      e.addSa(ours);
      const batch: EspOutbound[] = Array.from({ length: BATCH }, () => ({ saId: ours.id, innerDstPort: 1701, payload }));
      return () => e.encryptBatch(batch, 0).sends.length;
    }
    const client = new EspEngine();
    client.addSa(theirs);
    const batches: EspInbound[][] = [];
    for (let i = 0; i < POOL; i += BATCH) {
      const { sends } = client.encryptBatch(Array.from({ length: BATCH }, () => ({ saId: theirs.id, innerDstPort: 1701, payload })), 0);
      batches.push(sends.map((x) => ({ data: x.data, from: ours.peer })));
    }
    let e = new EspEngine(crypto);
    let next = batches.length;
    return () => {
      if (next === batches.length) {
        e = new EspEngine(crypto);
        e.addSa(ours);
        next = 0;
      }
      const r = e.decryptBatch(batches[next++]!, 0);
      if (r.delivered.length !== BATCH) throw new Error(`bench: delivered ${r.delivered.length}`);
      return BATCH;
    };
  };
  const jsFn = make({});
  const nativeFn = make(native);
  timed(30, jsFn);
  timed(30, nativeFn);
  let js: Rate = { cpu: 0, wall: 0 };
  let nat: Rate = { cpu: 0, wall: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    js = best(js, timed(SLICE_MS, jsFn));
    nat = best(nat, timed(SLICE_MS, nativeFn));
  }
  return { transform: name, size, direction, js_pps: Math.round(js.cpu), native_pps: Math.round(nat.cpu), ratio: round2(nat.cpu / js.cpu) };
}

type Measured = Omit<EspRow, 'direction' | 'gbps' | 'naive_gbps' | 'noble_gbps'>;

/**
 * Interleaved rounds (naive, ours, naive, ours, ...), best of each: the machine
 * is shared, preemption only ever makes a slice slower. pps figures are per
 * CPU-second of this process (user + system, GC threads included); the
 * wall-clock figures are kept as wall_*.
 */
function compare(transform: string, size: number, oursFn: () => number, naiveFn: () => number, nobleFn: () => number): Measured {
  timed(30, oursFn);
  timed(30, naiveFn);
  let ours: Rate = { cpu: 0, wall: 0 };
  let naive: Rate = { cpu: 0, wall: 0 };
  for (let r = 0; r < ROUNDS; r++) {
    naive = best(naive, timed(SLICE_MS, naiveFn));
    ours = best(ours, timed(SLICE_MS, oursFn));
  }
  const noble = timed(SLICE_MS, nobleFn);
  return {
    transform,
    size,
    pps: Math.round(ours.cpu),
    naive_pps: Math.round(naive.cpu),
    ratio: round2(ours.cpu / naive.cpu),
    noble_pps: Math.round(noble.cpu),
    wall_pps: Math.round(ours.wall),
    naive_wall_pps: Math.round(naive.wall),
    wall_ratio: round2(ours.wall / naive.wall),
  };
}

const round2 = (x: number): number => Math.round(x * 100) / 100;
const gbps = (pps: number, size: number): number => Math.round(((pps * size * 8) / 1e9) * 1000) / 1000;

export interface E2eResult {
  size: number;
  transform: string;
  senders: number;
  duration_ms: number;
  count_only_pps: number;
  count_only_sent_pps: number;
  ours_pps: number;
  ours_sent_pps: number;
  ratio: number;
  /** CPU seconds the receiving (parent) process used during each phase */
  count_only_cpu_s: number;
  ours_cpu_s: number;
}

async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

interface Sender {
  child: ChildProcess;
  wait<T>(pred: (m: unknown) => m is T): Promise<T>;
}

const isDone = (m: unknown): m is { done: true; sent: number } => typeof m === 'object' && m !== null && 'done' in m;
const isReady = (m: unknown): m is { ready: true } => typeof m === 'object' && m !== null && 'ready' in m;

async function startSender(theirs: ChildSaUp, size: number): Promise<Sender> {
  const child = fork(join(HERE, 'esp-e2e-sender.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const wait = <T>(pred: (m: unknown) => m is T): Promise<T> =>
    new Promise((resolve, reject) => {
      const onExit = (code: number | null): void => reject(new Error(`sender exited ${code}`));
      const onMsg = (m: unknown): void => {
        if (pred(m)) {
          child.off('message', onMsg);
          child.off('exit', onExit);
          resolve(m);
        }
      };
      child.on('message', onMsg);
      child.once('exit', onExit);
    });
  const hex = (k: ChildSaUp['inbound']): { spi: number; encKey: string; authKey: string } => ({
    spi: k.spi,
    encKey: k.encKey.toString('hex'),
    authKey: k.authKey.toString('hex'),
  });
  const { inbound, outbound, ...rest } = theirs;
  const ready = wait(isReady);
  child.send({ cmd: 'setup', size, sa: { sa: rest, inbound: hex(inbound), outbound: hex(outbound) } });
  await ready;
  return { child, wait };
}

/** All senders blast at port for E2E_MS; returns the total they sent. */
async function blastAll(senders: Sender[], port: number): Promise<number> {
  const done = senders.map((s) => s.wait(isDone));
  for (const s of senders) s.child.send({ cmd: 'blast', port, ms: E2E_MS });
  const r = await Promise.all(done);
  await new Promise((res) => setTimeout(res, 100)); // let the receiver drain its socket buffer
  return r.reduce((a, x) => a + x.sent, 0);
}

/**
 * Forked senders (each its own SA) blast 1400-byte ESP-in-UDP over loopback:
 * first at a dgram socket that only counts, then at UdpEndpoints +
 * EspEngine.decryptBatch (counting delivered L2TP payloads). With 2 senders on
 * a 2-core machine the receiver is CPU-starved, so the ratio reflects the
 * receive path's cost rather than the senders' speed.
 */
async function benchE2e(size: number, name: string, nSenders: number): Promise<E2eResult> {
  const t = TRANSFORMS[name]!;
  const pairs = Array.from({ length: nSenders }, (_, i) => makeSa(name, t, i));
  const senders = await Promise.all(pairs.map((p) => startSender(p.theirs, size)));
  try {
    // 1. count-only receiver
    const port1 = await freePort();
    const plain = dgram.createSocket('udp4');
    let counted = 0;
    plain.on('message', () => counted++);
    await new Promise<void>((r) => plain.bind(port1, '127.0.0.1', () => r()));
    plain.setRecvBufferSize(4 << 20);
    const c1 = process.cpuUsage();
    const sent1 = await blastAll(senders, port1);
    const cpu1 = process.cpuUsage(c1);
    await new Promise<void>((r) => plain.close(() => r()));

    // 2. our path: UdpEndpoints (NAT-T classification, per-turn batch) + EspEngine.decryptBatch
    const engine = new EspEngine();
    for (const p of pairs) engine.addSa(p.ours);
    let delivered = 0;
    let u: UdpEndpoints | null = null;
    for (let i = 0; i < 20 && !u; i++) {
      const base = await freePort();
      const cand = new UdpEndpoints(
        { address: '127.0.0.1', ikePort: base, nattPort: base + 1, recvBufferSize: 4 << 20, classify: classifyNatt },
        {
          onIke: () => {},
          onEspBatch: (batch) => {
            delivered += engine.decryptBatch(batch, performance.now()).delivered.length;
          },
        },
      );
      try {
        await cand.start();
        u = cand;
      } catch {
        // port pair taken
      }
    }
    if (!u) throw new Error('no port pair for the e2e bench');
    const c2 = process.cpuUsage();
    const sent2 = await blastAll(senders, u.nattPort);
    const cpu2 = process.cpuUsage(c2);
    await u.close();
    const secs = E2E_MS / 1000;
    const countPps = Math.round(counted / secs);
    const oursPps = Math.round(delivered / secs);
    return {
      size,
      transform: name,
      senders: nSenders,
      duration_ms: E2E_MS,
      count_only_pps: countPps,
      count_only_sent_pps: Math.round(sent1 / secs),
      ours_pps: oursPps,
      ours_sent_pps: Math.round(sent2 / secs),
      ratio: round2(oursPps / countPps),
      count_only_cpu_s: round2((cpu1.user + cpu1.system) / 1e6),
      ours_cpu_s: round2((cpu2.user + cpu2.system) / 1e6),
    };
  } finally {
    for (const s of senders) s.child.send({ cmd: 'exit' });
  }
}

export async function runEspBench(): Promise<void> {
  const started = Date.now();
  const rows: EspRow[] = [];
  console.log(`ESP benchmark: batch ${BATCH}, ${cpus().length} CPUs, load ${loadavg().map((x) => x.toFixed(2)).join(' ')} (shared machine: numbers are noisy)`);
  console.log('pps = packets per CPU-second of the benchmark process (wall-clock ratio in the last column)');
  console.log('transform       size  dir        ours pps   Gbit/s   naive pps  Gbit/s  ratio   noble pps  wall ratio');
  for (const [name, t] of Object.entries(TRANSFORMS)) {
    for (const size of SIZES) {
      for (const direction of ['inbound', 'outbound'] as const) {
        const r = direction === 'inbound' ? benchInbound(name, t, size) : benchOutbound(name, t, size);
        const row: EspRow = {
          transform: r.transform,
          size: r.size,
          direction,
          pps: r.pps,
          naive_pps: r.naive_pps,
          ratio: r.ratio,
          noble_pps: r.noble_pps,
          wall_pps: r.wall_pps,
          naive_wall_pps: r.naive_wall_pps,
          wall_ratio: r.wall_ratio,
          gbps: gbps(r.pps, size),
          naive_gbps: gbps(r.naive_pps, size),
          noble_gbps: gbps(r.noble_pps, size),
        };
        rows.push(row);
        console.log(
          `${name.padEnd(15)} ${String(size).padStart(4)}  ${direction.padEnd(9)} ${String(row.pps).padStart(9)} ${row.gbps.toFixed(3).padStart(8)} ${String(row.naive_pps).padStart(11)} ${row.naive_gbps.toFixed(3).padStart(7)} ${row.ratio.toFixed(2).padStart(6)} ${String(row.noble_pps).padStart(11)} ${row.wall_ratio.toFixed(2).padStart(11)}`,
        );
      }
    }
  }
  console.log('HMAC / AES-GCM per packet (node:crypto) vs one native call per batch (the addon), engine packets per CPU-second:');
  const hmac: HmacRow[] = [];
  for (const [name, t] of [...Object.entries(TRANSFORMS), ...Object.entries(GCM_TRANSFORMS)]) {
    for (const size of [64, 1400]) {
      for (const direction of ['inbound', 'outbound'] as const) {
        const r = benchHmac(name, t, size, direction);
        if (!r) continue;
        hmac.push(r);
        console.log(`${name.padEnd(15)} ${String(size).padStart(4)}  ${direction.padEnd(9)} node:crypto ${String(r.js_pps).padStart(9)}  native ${String(r.native_pps).padStart(9)}  ratio ${r.ratio.toFixed(2)}`);
      }
    }
  }
  console.log('outbound full path (TUN packet → forwarder → PPP → L2TP → ESP datagram): pipeline vs the previous copy-per-layer path');
  const path: PathRow[] = [];
  for (const [name, t] of Object.entries(TRANSFORMS)) {
    for (const size of [64, 1400]) {
      const r = benchPath(name, t, size, BATCH, ROUNDS, SLICE_MS, timed);
      path.push(r);
      console.log(`${name.padEnd(15)} ${String(size).padStart(4)}  outbound ${String(r.pps).padStart(9)} ${r.gbps.toFixed(3).padStart(8)}  previous ${String(r.baseline_pps).padStart(9)}  ratio ${r.ratio.toFixed(2)}`);
    }
  }
  const e2e = await benchE2e(1400, 'aes128-sha1', E2E_SENDERS);
  console.log(
    `end-to-end ${e2e.transform} ${e2e.size} B over loopback, ${e2e.senders} sender process(es): count-only receiver ${e2e.count_only_pps} pps (sender ${e2e.count_only_sent_pps}), ` +
      `UdpEndpoints+EspEngine ${e2e.ours_pps} pps (sender ${e2e.ours_sent_pps}), ratio ${e2e.ratio}; ` +
      `receiver CPU ${e2e.count_only_cpu_s} s vs ${e2e.ours_cpu_s} s in ${e2e.duration_ms / 1000} s`,
  );
  const result = {
    bench: 'esp',
    date: new Date(started).toISOString(),
    node: process.version,
    cpus: cpus().length,
    cpu: cpus()[0]?.model,
    loadavg: loadavg(),
    batch: BATCH,
    note: `shared 2-core machine; pps per CPU-second of the process (wall_* = wall clock); interleaved best-of-${ROUNDS} slices of ${SLICE_MS} ms`,
    esp: rows,
    hmac,
    path,
    e2e,
    elapsed_ms: Date.now() - started,
  };
  const dir = join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(dir, `esp-${stamp}.json`), json);
  writeFileSync(join(dir, 'latest-esp.json'), json);
  console.log(`wrote bench/results/esp-${stamp}.json (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

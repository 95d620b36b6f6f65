/**
 * Child process for test/io/tun.test.ts, run inside a fresh network namespace
 * (`ip netns exec <ns> node --import tsx test/io/tun-child.ts <mode>`).
 * Prints one line "RESULT <json>" and exits.
 *
 * Modes:
 *   ping   open a TUN, configure 10.99.0.1/24, ping the kernel through it
 *          (single and batched writes), check EBUSY on a second open, close.
 *   full   NetConfig.bringUp (forwarding, auto out interface, nft rules) and
 *          push packets through the kernel rules, reading nft counters; tearDown.
 *   batch  300 packets in one write, some as views with headroom; batch sizes.
 *   lifecycle  open/close loop, close inside the callback, throwing callback, GC.
 *   worker a Worker thread terminated while its TUN is open.
 *   open   just try to open a TUN and report the error (run without CAP_NET_ADMIN).
 *   nodev  the same after hiding /dev/net/tun (run under `unshare -m`).
 *   gso    writes with coalescing (IFF_VNET_HDR): a burst of UDP datagrams to a
 *          local socket, and a TCP stream to a local server (the handshake done
 *          by hand through the TUN); what the sockets receive, and tunStats().
 */
import { execFile } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { promisify } from 'node:util';
import { IP_FORWARD_PATH, NetConfig } from '../../src/io/netcfg.js';
import { nftRules } from '../../src/nat/rules.js';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { ADDON_RELATIVE_PATH, type NativeError, TunDevice, tunStats } from '../../src/io/tun.js';
import { icmpEcho, ipv4 as ipPacket, refChecksum, refOnesSum, refTcpChecksum } from '../nat/packets.js';

const run = promisify(execFile);
const NAME = 'l2tst0';

interface Reply {
  src: string;
  dst: string;
  type: number;
  ident: number;
  seq: number;
  checksumOk: boolean;
}

function ip(b: Buffer, off: number): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

function parseReply(p: Buffer): Reply | undefined {
  if (p.length < 28 || p[0]! >> 4 !== 4 || p[9] !== 1) return undefined;
  const hlen = (p[0]! & 15) * 4;
  const total = p.readUInt16BE(2);
  return {
    src: ip(p, 12),
    dst: ip(p, 16),
    type: p[hlen]!,
    ident: p.readUInt16BE(hlen + 4),
    seq: p.readUInt16BE(hlen + 6),
    checksumOk: refOnesSum(p.subarray(0, hlen)) === 0xffff && refOnesSum(p.subarray(hlen, total)) === 0xffff,
  };
}

/** Waits (safety deadline only) until `done()` holds. */
async function until(done: () => boolean, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
  return true;
}

function errInfo(e: unknown): { code: string | undefined; message: string } {
  const n = e as NativeError;
  return { code: n.code, message: n.message };
}

async function linkExists(name: string): Promise<boolean> {
  try {
    await run('ip', ['link', 'show', 'dev', name]);
    return true;
  } catch {
    return false;
  }
}

async function counters(table: string): Promise<Record<string, number>> {
  const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', table]);
  const out: Record<string, number> = {};
  const doc = JSON.parse(stdout) as { nftables: Array<{ rule?: { comment?: string; expr: Array<Record<string, unknown>> } }> };
  for (const item of doc.nftables) {
    const r = item.rule;
    if (!r) continue;
    const c = r.expr.find((e) => 'counter' in e)?.counter as { packets: number } | undefined;
    if (!c) continue;
    const key = r.comment ?? (r.expr.some((e) => 'masquerade' in e) ? 'masquerade' : 'other');
    out[key] = c.packets;
  }
  return out;
}

async function ping(): Promise<unknown> {
  const batches: number[] = [];
  const replies: Reply[] = [];
  let nonIpv4 = 0;
  const dev = TunDevice.open(NAME, (packets) => {
    batches.push(packets.length);
    for (const p of packets) {
      if (p[0]! >> 4 !== 4) nonIpv4++;
      const r = parseReply(p);
      if (r && r.type === 0) replies.push(r);
    }
  });
  let ebusy: unknown;
  try {
    TunDevice.open(NAME, () => undefined).close();
  } catch (e) {
    ebusy = errInfo(e);
  }
  await new NetConfig({ rules: nftRules() }).configureTun(NAME, '10.99.0.1/24', 1400);

  const single = dev.write([icmpEcho('10.99.0.2', '10.99.0.1', 0x4242, 1)]);
  const gotSingle = await until(() => replies.length >= 1);
  const many = [10, 11, 12, 13, 14].map((s) => icmpEcho('10.99.0.2', '10.99.0.1', 0x4242, s));
  const multi = dev.write(many);
  const gotMulti = await until(() => replies.length >= 6);
  const batchMax = TunDevice.BATCH_MAX;
  const emptyWrite = dev.write([]);
  dev.close();
  dev.close();
  const afterClose = dev.write([icmpEcho('10.99.0.2', '10.99.0.1', 1, 1)]);
  return {
    name: dev.name,
    nonIpv4,
    ebusy,
    single,
    multi,
    gotSingle,
    gotMulti,
    replies,
    batches,
    batchMax,
    emptyWrite,
    afterClose,
    linkAfterClose: await linkExists(NAME),
  };
}

async function full(): Promise<unknown> {
  const replies: Reply[] = [];
  const dev = TunDevice.open(NAME, (packets) => {
    for (const p of packets) {
      const r = parseReply(p);
      if (r) replies.push(r);
    }
  });
  const nc = new NetConfig({ rules: nftRules() });
  // A new namespace copies ip_forward from the host on some kernels (a router or a Docker
  // host has it on): start from "off", which is what the restore is checked against.
  writeFileSync(IP_FORWARD_PATH, '0\n');
  const forwardingBefore = nc.readForwarding();
  const up = await nc.bringUp({ tunName: NAME, pool: '10.99.0.0/24', mtu: 1400, masquerade: true, outInterface: 'auto', clientToClient: false });
  const forwardingUp = nc.readForwarding();
  const tablesUp = await nc.listTables();
  // Through the kernel: a pool source to the outside (masquerade; the outside
  // namespace has no route back to the pool, so its echo reply proves the
  // source was rewritten, and it comes back through conntrack and the
  // established rule), a spoofed source (anti-spoof drop), a client-to-client
  // packet (dropped by default).
  const written = dev.write([
    icmpEcho('10.99.0.2', '192.0.2.1', 1, 1),
    icmpEcho('10.98.0.5', '192.0.2.1', 1, 2),
    icmpEcho('10.99.0.2', '10.99.0.3', 1, 3),
  ]);
  // The kernel processes TUN writes from its backlog: wait (bounded) until all three were counted.
  let seen: Record<string, number> = {};
  const end = Date.now() + 5000;
  for (;;) {
    seen = await counters('l2tpsec');
    const total = Object.values(seen).reduce((a, b) => a + b, 0);
    if ((total >= 3 && replies.length > 0) || Date.now() > end) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await nc.tearDown();
  const forwardingDown = nc.readForwarding();
  const tablesDown = await nc.listTables();
  dev.close();
  return { outInterface: up.outInterface, forwardingBefore, forwardingUp, forwardingDown, tablesUp, tablesDown, written, counters: seen, replies };
}

/** 300 echo requests in one write (some as views with headroom): replies arrive in batches of at most BATCH_MAX. */
async function batch(): Promise<unknown> {
  const batches: number[] = [];
  const seqs = new Set<number>();
  let bad = 0;
  const dev = TunDevice.open(NAME, (packets) => {
    batches.push(packets.length);
    for (const p of packets) {
      const r = parseReply(p);
      if (!r || r.type !== 0) continue;
      if (!r.checksumOk || r.ident !== 0x5151) bad++;
      seqs.add(r.seq);
    }
  });
  await new NetConfig({ rules: nftRules() }).configureTun(NAME, '10.99.0.1/24', 1400);
  const packets = Array.from({ length: 300 }, (_, i) => {
    const p = icmpEcho('10.99.0.2', '10.99.0.1', 0x5151, i);
    if (i % 2 === 0) return p;
    // The same packet at an offset inside a larger buffer (headroom in front, junk after).
    const big = Buffer.alloc(p.length + 48, 0xee);
    p.copy(big, 32);
    return big.subarray(32, 32 + p.length);
  });
  const written = dev.write(packets);
  const all = await until(() => seqs.size >= written);
  dev.close();
  return { written, all, replies: seqs.size, bad, batches, batchMax: TunDevice.BATCH_MAX };
}

/**
 * Open/close many times (no fd leak), close from inside the read callback, an
 * exception thrown by the callback reaches process 'uncaughtException', and
 * finalizers run after close without crashing. The caller checks that the
 * process then exits on its own (no poll handle left keeping the loop alive).
 */
async function lifecycle(): Promise<unknown> {
  const fds = (): number => readdirSync('/proc/self/fd').length;
  const before = fds();
  for (let i = 0; i < 100; i++) TunDevice.open(NAME, () => undefined).close();
  const after = fds();

  let closedInCallback = 0;
  const dev = TunDevice.open(NAME, (packets) => {
    closedInCallback += packets.length;
    dev.close();
  });
  await new NetConfig({ rules: nftRules() }).configureTun(NAME, '10.99.0.1/24', 1400);
  dev.write([1, 2, 3].map((s) => icmpEcho('10.99.0.2', '10.99.0.1', 7, s)));
  await until(() => dev.isClosed);

  const thrown: string[] = [];
  process.on('uncaughtException', (e) => thrown.push(e.message));
  const dev2 = TunDevice.open(NAME, () => {
    throw new Error('boom from onPackets');
  });
  await new NetConfig({ rules: nftRules() }).configureTun(NAME, '10.99.0.1/24', 1400);
  dev2.write([icmpEcho('10.99.0.2', '10.99.0.1', 8, 1)]);
  await until(() => thrown.length > 0);
  dev2.close();

  // The interface deleted under us: polling stops and onError is called once.
  const errors: Array<string | undefined> = [];
  const dev3 = TunDevice.open(NAME, () => undefined, { onError: (e) => errors.push(e.code) });
  await run('ip', ['link', 'delete', 'dev', NAME]);
  await until(() => errors.length > 0);
  await new Promise((r) => setTimeout(r, 50));
  const deletedError = { errors, lastError: dev3.lastError?.code, writeAfterDelete: dev3.write([icmpEcho('10.99.0.2', '10.99.0.1', 9, 1)]) };
  dev3.close();

  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) for (let i = 0; i < 3; i++) gc();
  return { fdsBefore: before, fdsAfter: after, deletedError, closedInCallback, closedFlag: dev.isClosed, thrown, gcRan: gc !== undefined };
}

/** A Worker opens a TUN and is terminated while it is open: no abort, fd closed, name free again. */
async function worker(): Promise<unknown> {
  const addonPath = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ADDON_RELATIVE_PATH);
  const w = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const t = require(workerData).open(${JSON.stringify(NAME)}, () => {});
     parentPort.postMessage(t.name);`,
    { eval: true, workerData: addonPath },
  );
  const opened = await new Promise<unknown>((resolve, reject) => {
    w.once('message', resolve);
    w.once('error', reject);
  });
  const exitCode = await w.terminate();
  let reopened = false;
  try {
    TunDevice.open(NAME, () => undefined).close();
    reopened = true;
  } catch {
    reopened = false;
  }
  return { opened, exitCode, reopened };
}

async function openOnly(hideDevice: boolean): Promise<unknown> {
  // Run under `unshare -m`: hide /dev/net/tun in our private mount namespace.
  if (hideDevice) await run('mount', ['-t', 'tmpfs', 'l2tpsec-test', '/dev/net']);
  try {
    TunDevice.open(NAME, () => undefined).close();
    return { opened: true };
  } catch (e) {
    return { opened: false, ...errInfo(e) };
  }
}

/** An IPv4 UDP datagram with DF, the given ID and a valid checksum. */
function udpDatagram(src: string, dst: string, sport: number, dport: number, id: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8 + payload.length);
  u.writeUInt16BE(sport, 0);
  u.writeUInt16BE(dport, 2);
  u.writeUInt16BE(u.length, 4);
  payload.copy(u, 8);
  const p = ipPacket({ src, dst, proto: 17, payload: u, id, frag: 0x4000 });
  const pseudo = Buffer.alloc(12 + u.length);
  p.copy(pseudo, 0, 12, 20);
  pseudo[9] = 17;
  pseudo.writeUInt16BE(u.length, 10);
  u.copy(pseudo, 12);
  p.writeUInt16BE(refChecksum(pseudo) || 0xffff, 26);
  return p;
}

interface Seg {
  seq: number;
  ack: number;
  flags: number;
  id: number;
  payload?: Buffer;
  options?: number[];
}

function tcpSegment(sport: number, dport: number, s: Seg): Buffer {
  const opts = s.options ?? [];
  const payload = s.payload ?? Buffer.alloc(0);
  const t = Buffer.alloc(20 + opts.length + payload.length);
  t.writeUInt16BE(sport, 0);
  t.writeUInt16BE(dport, 2);
  t.writeUInt32BE(s.seq >>> 0, 4);
  t.writeUInt32BE(s.ack >>> 0, 8);
  t[12] = ((20 + opts.length) / 4) << 4;
  t[13] = s.flags;
  t.writeUInt16BE(65535, 14);
  Buffer.from(opts).copy(t, 20);
  payload.copy(t, 20 + opts.length);
  const p = ipPacket({ src: '10.99.0.2', dst: '10.99.0.1', proto: 6, payload: t, id: s.id, frag: 0x4000 });
  p.writeUInt16BE(refTcpChecksum(p), 36);
  return p;
}

async function gso(): Promise<unknown> {
  let synAck: Buffer | undefined;
  const dev = TunDevice.open(NAME, (packets) => {
    for (const p of packets) if (p[9] === 6 && p.readUInt16BE(22) === 40001 && (p[33]! & 0x12) === 0x12) synAck = Buffer.from(p);
  });
  await new NetConfig({ rules: nftRules() }).configureTun(NAME, '10.99.0.1/24', 1400);
  const before = tunStats();

  // UDP: 40 datagrams of one flow in one write
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(5555, '10.99.0.1', r));
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  const sent = Array.from({ length: 40 }, (_, i) => Buffer.alloc(1000, i + 1));
  const udpWritten = dev.write(sent.map((d, i) => udpDatagram('10.99.0.2', '10.99.0.1', 4000, 5555, 500 + i, d)));
  const udpAll = await until(() => got.length >= sent.length);
  const udpSame = got.length === sent.length && got.every((m, i) => m.equals(sent[i]!));
  const afterUdp = tunStats();
  sock.close();

  // TCP: SYN by hand, then 30 full segments in one write to a local server
  let received = Buffer.alloc(0);
  const server = createServer((c) => c.on('data', (d) => (received = Buffer.concat([received, d]))));
  await new Promise<void>((r) => server.listen(5556, '10.99.0.1', r));
  const isn = 1000;
  dev.write([tcpSegment(40001, 5556, { seq: isn, ack: 0, flags: 0x02, id: 1, options: [2, 4, 0x03, 0xe8] })]);
  const gotSynAck = await until(() => synAck !== undefined);
  const stream = Buffer.alloc(30 * 1000);
  for (let i = 0; i < stream.length; i++) stream[i] = (i * 7 + (i >> 8)) & 0xff;
  let tcpWritten = 0;
  if (synAck) {
    const ack = (synAck.readUInt32BE(24) + 1) >>> 0;
    dev.write([tcpSegment(40001, 5556, { seq: isn + 1, ack, flags: 0x10, id: 2 })]);
    const segs = Array.from({ length: 30 }, (_, i) =>
      tcpSegment(40001, 5556, { seq: isn + 1 + i * 1000, ack, flags: i === 29 ? 0x18 : 0x10, id: 3 + i, payload: stream.subarray(i * 1000, (i + 1) * 1000) }),
    );
    tcpWritten = dev.write(segs);
  }
  const tcpAll = await until(() => received.length >= stream.length);
  const afterTcp = tunStats();
  server.close();
  dev.close();
  return {
    offload: dev.offload,
    udpWritten,
    udpAll,
    udpReceived: got.length,
    udpSame,
    udpSuper: afterUdp.superPackets - before.superPackets,
    udpCoalesced: afterUdp.coalesced - before.coalesced,
    gotSynAck,
    tcpWritten,
    tcpAll,
    tcpSame: received.equals(stream),
    tcpSuper: afterTcp.superPackets - afterUdp.superPackets,
    tcpCoalesced: afterTcp.coalesced - afterUdp.coalesced,
    gsoRefused: afterTcp.gsoRefused,
  };
}

const mode = process.argv[2];
const modes: Record<string, () => Promise<unknown>> = {
  ping,
  full,
  batch,
  lifecycle,
  worker,
  open: () => openOnly(false),
  nodev: () => openOnly(true),
  gso,
};
const result = await (modes[mode ?? ''] ?? (() => Promise.reject(new Error(`unknown mode ${mode}`))))();
process.stdout.write(`RESULT ${JSON.stringify(result)}\n`);
// lifecycle must exit by itself: a leaked poll handle would keep the loop alive.
if (mode !== 'lifecycle') process.exit(0);

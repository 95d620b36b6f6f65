/**
 * The addon's UDP batch socket (native/udp.c through src/io/udp-native.ts) on
 * loopback: recvmmsg batches in the slots, sendmmsg batches, errors, lifetime.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { ADDON_RELATIVE_PATH } from '../../src/io/tun.js';
import { NativeUdpSocket, UDP_BATCH, nativeUdpAvailable } from '../../src/io/udp-native.js';
import { loopbackPeer, until } from './udp-helpers.js';

const skip = nativeUdpAvailable() ? false : 'the addon is not built (node-gyp rebuild -C native)';
const sockets: dgram.Socket[] = [];
const natives: NativeUdpSocket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.close();
  for (const n of natives.splice(0)) n.close();
});

const peer = (): ReturnType<typeof loopbackPeer> => loopbackPeer(sockets);

describe.skipIf(skip)('native UDP batch socket', () => {
  it('receives bursts in batches of at most UDP_BATCH, contents and source as sent', async () => {
    const batches: number[] = [];
    const got: { data: Buffer; address: string; port: number }[] = [];
    const errors: number[] = [];
    const n: NativeUdpSocket = NativeUdpSocket.open('127.0.0.1', 0, {
      recvBufferSize: 4 << 20,
      onBatch: (count) => {
        batches.push(count);
        for (let i = 0; i < count; i++) {
          const m = n.rxMeta;
          const from = n.endpoint(m[4 * i + 1]!, m[4 * i + 2]!);
          got.push({ data: Buffer.from(n.datagram(i, m[4 * i]!)), address: from.address, port: from.port });
        }
      },
      onError: (e) => errors.push(e),
    });
    natives.push(n);
    expect(n.port).toBeGreaterThan(0);
    const c = await peer();
    const sent = Array.from({ length: 500 }, (_, i) => Buffer.alloc(1 + (i % 1400), i & 0xff));
    for (const d of sent) c.s.send(d, n.port, '127.0.0.1');
    await until(() => got.length === 500);
    expect(got.map((g) => g.data)).toEqual(sent);
    expect(got.every((g) => g.address === '127.0.0.1' && g.port === c.port)).toBe(true);
    expect(Math.max(...batches)).toBeLessThanOrEqual(UDP_BATCH);
    // one endpoint object per source, not one per datagram
    const m = n.rxMeta;
    expect(n.endpoint(0x7f000001, c.port)).toBe(n.endpoint(0x7f000001, c.port));
    expect(m.length).toBe(4 * UDP_BATCH);
    expect(errors).toEqual([]);
  });

  it('sendBatch: more than a batch, in order; an unusable destination is dropped and reported, the rest go', async () => {
    const n = NativeUdpSocket.open('127.0.0.1', 0, { onBatch: () => {}, onError: () => {} });
    natives.push(n);
    const c = await peer();
    const sends = Array.from({ length: 3 * UDP_BATCH + 5 }, (_, i) => ({ to: { address: '127.0.0.1', port: c.port }, data: Buffer.alloc(100 + i, i & 0xff) }));
    const bad = [...sends.slice(0, 10), { to: { address: 'not-an-address', port: c.port }, data: Buffer.alloc(8) }, { to: { address: '127.0.0.1', port: 0 }, data: Buffer.alloc(8) }, ...sends.slice(10)];
    expect(n.sendBatch(bad)).toBe(2);
    expect(n.takeSendError()?.errno).toBe(22);
    await until(() => c.got.length === sends.length);
    expect(c.got).toEqual(sends.map((s) => s.data));
    expect(n.takeSendError()).toBeUndefined();
  });

  it.each([true, false])('a burst of equal-size datagrams to one peer (GSO %s) arrives as the same datagrams, in order', async (gso) => {
    const n = NativeUdpSocket.open('127.0.0.1', 0, { gso, onBatch: () => {}, onError: () => {} });
    natives.push(n);
    const a = await peer();
    const b = await peer();
    // runs of 1460-byte datagrams (more than fit one GSO send), a shorter last one, a peer change in between
    const sends = [
      ...Array.from({ length: 50 }, (_, i) => ({ to: { address: '127.0.0.1', port: a.port }, data: Buffer.alloc(1460, i) })),
      { to: { address: '127.0.0.1', port: a.port }, data: Buffer.alloc(700, 0xee) },
      ...Array.from({ length: 5 }, (_, i) => ({ to: { address: '127.0.0.1', port: b.port }, data: Buffer.alloc(1460, 100 + i) })),
      ...Array.from({ length: 8 }, (_, i) => ({ to: { address: '127.0.0.1', port: a.port }, data: Buffer.alloc(200, 200 + i) })),
    ];
    expect(n.sendBatch(sends)).toBe(0);
    await until(() => a.got.length + b.got.length === sends.length);
    expect(a.got).toEqual(sends.filter((s) => s.to.port === a.port).map((s) => s.data));
    expect(b.got).toEqual(sends.filter((s) => s.to.port === b.port).map((s) => s.data));
  });

  it('the receive buffer asked for is granted, beyond net.core.rmem_max when we may (CAP_NET_ADMIN)', () => {
    const n = NativeUdpSocket.open('127.0.0.1', 0, { recvBufferSize: 4 << 20, onBatch: () => {}, onError: () => {} });
    natives.push(n);
    // Linux doubles the value for its bookkeeping; without the capability it stops at rmem_max
    if (process.getuid?.() === 0) expect(n.recvBufferSize).toBeGreaterThanOrEqual(4 << 20);
    else expect(n.recvBufferSize).toBeGreaterThan(0);
  });

  it('sendOne with the non-ESP marker prepends four zero bytes', async () => {
    const n = NativeUdpSocket.open('127.0.0.1', 0, { onBatch: () => {}, onError: () => {} });
    natives.push(n);
    const c = await peer();
    expect(n.sendOne({ address: '127.0.0.1', port: c.port }, Buffer.from('ike message'), true)).toBe(0);
    await until(() => c.got.length === 1);
    expect(c.got[0]).toEqual(Buffer.concat([Buffer.alloc(4), Buffer.from('ike message')]));
  });

  it('a port in use fails with EADDRINUSE; closing frees it; sends after close are dropped', async () => {
    const n = NativeUdpSocket.open('127.0.0.1', 0, { onBatch: () => {}, onError: () => {} });
    expect(() => NativeUdpSocket.open('127.0.0.1', n.port, { onBatch: () => {}, onError: () => {} })).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    n.close();
    n.close();
    expect(n.sendOne({ address: '127.0.0.1', port: 9 }, Buffer.alloc(8), false)).toBe(1);
    const again = NativeUdpSocket.open('127.0.0.1', n.port, { onBatch: () => {}, onError: () => {} });
    again.close();
  });

  it('closing inside the batch callback stops delivery; no fd leak over 100 open/close', async () => {
    let calls = 0;
    const n: NativeUdpSocket = NativeUdpSocket.open('127.0.0.1', 0, {
      onBatch: () => {
        calls++;
        n.close();
      },
      onError: () => {},
    });
    const c = await peer();
    for (let i = 0; i < 200; i++) c.s.send(Buffer.alloc(30, i), n.port, '127.0.0.1');
    await new Promise((r) => setTimeout(r, 100));
    expect(calls).toBe(1);
    const fds = readdirSync('/proc/self/fd').length;
    for (let i = 0; i < 100; i++) NativeUdpSocket.open('127.0.0.1', 0, { onBatch: () => {}, onError: () => {} }).close();
    await new Promise((r) => setTimeout(r, 20));
    expect(readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(fds + 2);
  });

  it('a Worker terminated with its socket open closes it cleanly (no abort; the port is free again)', async () => {
    const addon = join(dirname(fileURLToPath(import.meta.url)), '..', '..', ADDON_RELATIVE_PATH);
    // in a child process: an abort there must fail this test, not kill the test runner
    const script = `
      const { Worker } = require('node:worker_threads');
      const dgram = require('node:dgram');
      const w = new Worker(\`
        const { parentPort, workerData } = require('node:worker_threads');
        const a = require(workerData);
        const ab = (n) => new ArrayBuffer(n);
        const r = a.udpOpen('127.0.0.1', 0, 0, 0, ab(64 * 2048), ab(64 * 16), ab(65536), ab(64 * 16), 2048, 64, () => {});
        parentPort.postMessage(r.port);\`, { eval: true, workerData: ${JSON.stringify(addon)} });
      w.once('message', async (port) => {
        const code = await w.terminate();
        const s = dgram.createSocket('udp4');
        s.once('error', (e) => { console.log('RESULT ' + JSON.stringify({ code, rebound: false, error: e.code })); process.exit(0); });
        s.bind(port, '127.0.0.1', () => { console.log('RESULT ' + JSON.stringify({ code, rebound: true })); s.close(); });
      });`;
    const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { timeout: 20_000 });
    const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
    expect(JSON.parse(line!.slice(7))).toEqual({ code: 1, rebound: true });
  });
});

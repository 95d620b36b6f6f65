import { execFile, execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunDevice, tunAddonAvailable } from '../../src/io/tun.js';
import { createNetns, netnsSkipReason } from './tun-netns.js';

/**
 * The TUN addon against the real kernel, each case in a child process inside a
 * fresh network namespace (test/io/tun-child.ts prints "RESULT <json>").
 */

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const child = join(here, 'tun-child.ts');

const skip = netnsSkipReason(true) ?? (tunAddonAvailable() ? undefined : 'addon not built (node-gyp rebuild -C native)');

async function inNs(ns: string, mode: string, wrap: string[] = [], nodeFlags: string[] = []): Promise<Record<string, unknown>> {
  const { stdout } = await run('ip', ['netns', 'exec', ns, ...wrap, process.execPath, ...nodeFlags, '--import', 'tsx', child, mode], {
    cwd: root,
    timeout: 30_000,
  });
  const line = stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (!line) throw new Error(`child printed no result: ${stdout}`);
  return JSON.parse(line.slice(7)) as Record<string, unknown>;
}

describe.skipIf(skip !== undefined)(`TUN device in a network namespace${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let ns: { name: string; delete(): void } | undefined;
  let outside: { name: string; delete(): void } | undefined;

  beforeAll(() => {
    ns = createNetns('l2tpsec-tun');
    outside = createNetns('l2tpsec-out');
    // An uplink veth to an "outside" namespace (192.0.2.1, no route to the
    // pool) with a default route, for out_interface = "auto" and masquerade.
    const n = ns.name;
    const o = outside.name;
    execFileSync('ip', ['-n', n, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
    execFileSync('ip', ['-n', n, 'link', 'set', 'up1', 'netns', o]);
    execFileSync('ip', ['-n', n, 'address', 'add', '192.0.2.2/24', 'dev', 'up0']);
    execFileSync('ip', ['-n', n, 'link', 'set', 'up0', 'up']);
    execFileSync('ip', ['-n', o, 'address', 'add', '192.0.2.1/24', 'dev', 'up1']);
    execFileSync('ip', ['-n', o, 'link', 'set', 'up1', 'up']);
    execFileSync('ip', ['-n', n, 'route', 'add', 'default', 'via', '192.0.2.1']);
  });

  afterAll(() => {
    ns?.delete();
    outside?.delete();
  });

  it('the kernel answers an ICMP echo written to the TUN; replies come back through the batch read callback', async () => {
    const r = await inNs(ns!.name, 'ping');
    expect(r.name).toBe('l2tst0');
    expect(r.single).toBe(1);
    expect(r.gotSingle).toBe(true);
    // several packets in one write call, all answered
    expect(r.multi).toBe(5);
    expect(r.gotMulti).toBe(true);
    const replies = r.replies as Array<{ src: string; dst: string; type: number; ident: number; seq: number; checksumOk: boolean }>;
    expect(replies.map((x) => x.seq).sort((a, b) => a - b)).toEqual([1, 10, 11, 12, 13, 14]);
    for (const x of replies) expect(x).toMatchObject({ src: '10.99.0.1', dst: '10.99.0.2', type: 0, ident: 0x4242, checksumOk: true });
    const batches = r.batches as number[];
    expect(batches.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(6);
    expect(Math.max(...batches)).toBeLessThanOrEqual(r.batchMax as number);
    // addrgenmode none: the kernel sends no IPv6 router solicitations or MLD into the tunnel
    expect(r.nonIpv4).toBe(0);
    expect(r.emptyWrite).toBe(0);
    expect(r.afterClose).toBe(0);
    // non-persistent device: closing the fd removes the interface
    expect(r.linkAfterClose).toBe(false);
    expect(r.ebusy).toEqual({ code: 'EBUSY', message: expect.stringContaining('l2tst0 is already in use') });
  });

  it('coalesced writes (IFF_VNET_HDR): a UDP burst and a TCP stream reach local sockets byte-exact, as few super-packets', async () => {
    const r = await inNs(ns!.name, 'gso');
    expect(r).toMatchObject({ offload: true, gsoRefused: false, udpWritten: 40, udpAll: true, udpReceived: 40, udpSame: true, gotSynAck: true, tcpWritten: 30, tcpAll: true, tcpSame: true });
    // 40 x 1028-byte datagrams: one super-packet (at most 64 packets and 64 KiB each)
    expect(r.udpSuper).toBe(1);
    expect(r.udpCoalesced).toBe(40);
    // 30 x 1000 bytes of TCP: one super-packet
    expect(r.tcpSuper).toBe(1);
    expect(r.tcpCoalesced).toBe(30);
  });

  it('bringUp: forwarding on, auto out interface, our table; kernel rules masquerade (echo answered from outside), drop spoofed and client-to-client; tearDown restores', async () => {
    const r = await inNs(ns!.name, 'full');
    expect(r.outInterface).toBe('up0');
    expect(r.forwardingBefore).toBe('0');
    expect(r.forwardingUp).toBe('1');
    expect(r.forwardingDown).toBe('0');
    expect(r.tablesUp).toEqual(['l2tpsec']);
    expect(r.tablesDown).toEqual([]);
    expect(r.written).toBe(3);
    // the outside answered the masqueraded echo; conntrack brought the reply back to the client address
    expect(r.replies).toEqual([{ src: '192.0.2.1', dst: '10.99.0.2', type: 0, ident: 1, seq: 1, checksumOk: true }]);
    expect(r.counters).toEqual({
      masquerade: 1,
      'anti-spoof: only pool sources from the TUN': 1,
      'client-to-client denied': 1,
      'no unsolicited connections to clients': 0,
    });
  });

  it('300 packets in one write (views with headroom included) are all answered, read in batches of at most BATCH_MAX', async () => {
    const r = await inNs(ns!.name, 'batch');
    expect(r).toMatchObject({ written: 300, all: true, replies: 300, bad: 0, batchMax: 256 });
    const batches = r.batches as number[];
    expect(Math.max(...batches)).toBeLessThanOrEqual(256);
    expect(batches.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(300);
  });

  it('lifecycle: no fd leak over 100 open/close, close inside the callback, throwing callback, interface deleted, GC; the process exits by itself', async () => {
    const r = await inNs(ns!.name, 'lifecycle', [], ['--expose-gc']);
    expect(r.fdsAfter).toBe(r.fdsBefore);
    expect(r.closedFlag).toBe(true);
    expect(r.closedInCallback).toBeGreaterThan(0);
    expect(r.thrown).toEqual(['boom from onPackets']);
    expect(r.gcRan).toBe(true);
    // interface deleted under us: one error (libuv reports EBADF), reading stopped, writes return 0
    expect(r.deletedError).toEqual({ errors: ['EBADF'], lastError: 'EBADF', writeAfterDelete: 0 });
  });

  it('a Worker terminated with its TUN open closes it cleanly (async cleanup hook; no uv_loop_close abort)', async () => {
    const r = await inNs(ns!.name, 'worker');
    expect(r).toEqual({ opened: 'l2tst0', exitCode: 1, reopened: true });
  });

  it('without CAP_NET_ADMIN the error says so', async () => {
    const r = await inNs(ns!.name, 'open', ['setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin', '--']);
    expect(r).toEqual({ opened: false, code: 'EPERM', message: expect.stringContaining('needs root or CAP_NET_ADMIN') });
  });

  it('with /dev/net/tun hidden the error says it is missing', async () => {
    const r = await inNs(ns!.name, 'nodev', ['unshare', '--mount', '--']);
    expect(r).toEqual({ opened: false, code: 'ENOENT', message: expect.stringMatching(/^\/dev\/net\/tun is missing.*modprobe tun/) });
  });
});

describe.skipIf(!tunAddonAvailable())('TunDevice argument checks (no device needed)', () => {
  it('rejects names the kernel cannot take before touching /dev/net/tun', () => {
    expect(() => TunDevice.open('x'.repeat(16), () => undefined)).toThrow(RangeError);
    expect(() => TunDevice.open('', () => undefined)).toThrow(RangeError);
  });
});

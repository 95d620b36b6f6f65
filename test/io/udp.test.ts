import dgram from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import type { Endpoint } from '../../src/core/sa.js';
import { EspEngine, type EspInbound } from '../../src/esp/engine.js';
import { saPair } from '../esp/helpers.js';
import { UdpEndpoints, type UdpIo } from '../../src/io/udp.js';
import { nativeUdpAvailable } from '../../src/io/udp-native.js';
import { classifyNatt } from '../../src/esp/natt.js';
import { loopbackPeer, startOnFreePorts, until } from './udp-helpers.js';

interface Seen {
  ike: { msg: Buffer; from: Endpoint; to: Endpoint }[];
  esp: EspInbound[][];
}

const opened: UdpEndpoints[] = [];
const sockets: dgram.Socket[] = [];

afterEach(async () => {
  for (const u of opened.splice(0)) await u.close();
  for (const s of sockets.splice(0)) s.close();
});

async function openEndpoints(address: string, counters: Counters, io: UdpIo): Promise<{ u: UdpEndpoints; seen: Seen }> {
  const seen: Seen = { ike: [], esp: [] };
  const u = await startOnFreePorts(
    { address, counters, classify: classifyNatt, io },
    {
      onIke: (msg, from, to) => seen.ike.push({ msg: Buffer.from(msg), from, to }),
      onEspBatch: (batch) => seen.esp.push(batch),
    },
    opened,
  );
  return { u, seen };
}

const client = (): ReturnType<typeof loopbackPeer> => loopbackPeer(sockets);

const ike28 = Buffer.alloc(28, 0x11);

// The addon is built by npm ci; without it only the dgram path can run.
const IOS: UdpIo[] = nativeUdpAvailable() ? ['dgram', 'native'] : ['dgram'];

describe.each(IOS)('UdpEndpoints over loopback, NAT-T port through %s', (io) => {
  it('uses the I/O it was asked for', async () => {
    const { u } = await openEndpoints('127.0.0.1', new Counters(), io);
    expect(u.nattIo).toBe(io);
  });

  it('bound to 0.0.0.0: classifies port 4500, strips the marker, batches ESP, resolves a real local address', async () => {
    const counters = new Counters();
    const { u, seen } = await openEndpoints('0.0.0.0', counters, io);
    const c = await client();
    c.s.send(ike28, u.ikePort, '127.0.0.1');
    c.s.send(Buffer.concat([Buffer.alloc(4), ike28]), u.nattPort, '127.0.0.1');
    const esp = [1, 2, 3, 4, 5].map((i) => Buffer.from([0, 0, 0x10, 0, 0, 0, 0, i, 9, 9, 9, 9]));
    for (const e of esp) c.s.send(e, u.nattPort, '127.0.0.1');
    c.s.send(Buffer.from([0xff]), u.nattPort, '127.0.0.1'); // keepalive
    c.s.send(Buffer.from([0x01]), u.nattPort, '127.0.0.1'); // lone byte other than 0xFF
    c.s.send(Buffer.alloc(0), u.nattPort, '127.0.0.1'); // empty
    c.s.send(Buffer.from([0, 0, 0]), u.nattPort, '127.0.0.1'); // 3 bytes
    c.s.send(Buffer.concat([Buffer.alloc(4), Buffer.alloc(27, 1)]), u.nattPort, '127.0.0.1'); // marker + 27
    c.s.send(Buffer.from([0, 0, 0x10, 0, 1, 2]), u.nattPort, '127.0.0.1'); // ESP of 6 bytes
    await until(() => seen.ike.length === 2 && seen.esp.flat().length === 5 && counters.get('udp.drop.esp-truncated') === 1);
    const ports = seen.ike.map((x) => x.to.port).sort((a, b) => a - b);
    expect(ports).toEqual([u.ikePort, u.nattPort]);
    for (const x of seen.ike) {
      expect(x.msg).toEqual(ike28);
      expect(x.to.address).toBe('127.0.0.1');
      expect(x.from).toEqual({ address: '127.0.0.1', port: c.port });
    }
    expect(seen.esp.flat().map((e) => Buffer.from(e.data))).toEqual(esp);
    expect(seen.esp.length).toBeLessThanOrEqual(5);
    expect(counters.get('udp.rx.keepalive')).toBe(1);
    expect(counters.get('udp.drop.bad-keepalive')).toBe(1);
    expect(counters.get('udp.drop.runt')).toBe(2);
    expect(counters.get('udp.drop.ike-too-short')).toBe(1);
  });

  it('sends IKE with the marker from 4500, without it from 500, ESP raw', async () => {
    const { u } = await openEndpoints('127.0.0.1', new Counters(), io);
    const c = await client();
    const to = { address: '127.0.0.1', port: c.port };
    u.sendIke({ address: '127.0.0.1', port: u.nattPort }, to, ike28);
    await until(() => c.got.length === 1);
    u.sendIke({ address: '127.0.0.1', port: u.ikePort }, to, ike28);
    await until(() => c.got.length === 2);
    u.sendEsp(to, Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
    await until(() => c.got.length === 3);
    expect(c.got[0]).toEqual(Buffer.concat([Buffer.alloc(4), ike28]));
    expect(c.got[1]).toEqual(ike28);
    expect(c.got[2]).toEqual(Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]));
  });

  it('bound to a specific address reports it as `to`; a second bind of the same ports fails; close() is clean', async () => {
    const counters = new Counters();
    const { u, seen } = await openEndpoints('127.0.0.1', counters, io);
    const dup = new UdpEndpoints({ address: '127.0.0.1', ikePort: u.ikePort, nattPort: u.nattPort, classify: classifyNatt, io }, { onIke: () => {}, onEspBatch: () => {} });
    await expect(dup.start()).rejects.toThrow();
    const c = await client();
    c.s.send(ike28, u.ikePort, '127.0.0.1');
    await until(() => seen.ike.length === 1);
    expect(seen.ike[0]!.to).toEqual({ address: '127.0.0.1', port: u.ikePort });
    await u.close();
    opened.splice(opened.indexOf(u), 1);
    u.sendEsp({ address: '127.0.0.1', port: c.port }, Buffer.alloc(8, 1));
    expect(counters.get('udp.send-not-open')).toBe(1);
    // the ports are free again
    const again = new UdpEndpoints({ address: '127.0.0.1', ikePort: u.ikePort, nattPort: u.nattPort, classify: classifyNatt, io }, { onIke: () => {}, onEspBatch: () => {} });
    await again.start();
    await again.close();
  });

  it('a throwing handler is counted and does not stop delivery', async () => {
    const counters = new Counters();
    const errors: unknown[] = [];
    let batches = 0;
    const u = await startOnFreePorts(
      { address: '127.0.0.1', counters, classify: classifyNatt, io },
      {
        onIke: () => {
          throw new Error('boom');
        },
        onEspBatch: () => {
          batches++;
        },
        onError: (e) => errors.push(e),
      },
      opened,
    );
    const c = await client();
    c.s.send(ike28, u.ikePort, '127.0.0.1');
    await until(() => counters.get('udp.handler-error') === 1);
    c.s.send(Buffer.alloc(20, 7), u.nattPort, '127.0.0.1');
    await until(() => batches === 1);
    expect(errors).toHaveLength(1);
  });

  it('keeps arrival order: ESP that came before an IKE message is handed over before it (a CDN and StopCCN, then the Delete)', async () => {
    const order: string[] = [];
    const u = await startOnFreePorts(
      { address: '127.0.0.1', classify: classifyNatt, io },
      {
        onIke: (msg) => order.push(`ike${msg.length}`),
        onEspBatch: (batch) => order.push(`esp[${batch.map((d) => d.data[0]).join(',')}]`),
      },
      opened,
    );
    // what one read of the socket delivers within one turn of the event loop, fed as the socket would
    const deliver = (u as unknown as { onNattDatagram(m: Buffer, r: { address: string; port: number }): void }).onNattDatagram.bind(u);
    const from = { address: '127.0.0.1', port: 40000 };
    const esp = (n: number): Buffer => Buffer.concat([Buffer.from([n, 0, 0, 1]), Buffer.alloc(16, n)]);
    for (const m of [esp(1), esp(2), Buffer.concat([Buffer.alloc(4), ike28]), esp(3), Buffer.concat([Buffer.alloc(4), ike28]), Buffer.concat([Buffer.alloc(4), ike28]), esp(4)]) deliver(m, from);
    await new Promise((r) => setImmediate(r));
    expect(order).toEqual(['esp[1,2]', 'ike28', 'esp[3]', 'ike28', 'ike28', 'esp[4]']);
  });

  it('ESP from a client engine over loopback reaches the server engine through the batch path', async () => {
    const counters = new Counters();
    const { u, seen } = await openEndpoints('127.0.0.1', counters, io);
    const c = await client();
    const { ours, theirs } = saPair('aes128-sha1');
    ours.peer = { address: '127.0.0.1', port: c.port };
    const server = new EspEngine();
    server.addSa(ours);
    const sender = new EspEngine();
    sender.addSa(theirs);
    const payloads = Array.from({ length: 20 }, (_, i) => Buffer.alloc(50 + i, i));
    const { sends } = sender.encryptBatch(payloads.map((payload) => ({ saId: theirs.id, innerDstPort: 1701, payload })), 0);
    for (const s of sends) c.s.send(s.data, u.nattPort, '127.0.0.1');
    await until(() => seen.esp.flat().length === sends.length);
    const got = seen.esp.flatMap((batch) => server.decryptBatch(batch, 0).delivered);
    expect(got.map((d) => Buffer.from(d.payload))).toEqual(payloads);
    expect(got.every((d) => d.saId === ours.id && d.peer.port === c.port)).toBe(true);
  });

  it('bounded local-address resolution: beyond maxResolving, IKE from new peers is dropped and counted', async () => {
    const counters = new Counters();
    const seen: Endpoint[] = [];
    const u = await startOnFreePorts(
      { address: '0.0.0.0', counters, classify: classifyNatt, maxResolving: 0, io },
      { onIke: (_m, from) => seen.push(from), onEspBatch: () => {} },
      opened,
    );
    const c = await client();
    c.s.send(ike28, u.ikePort, '127.0.0.1');
    await until(() => counters.get('udp.drop.resolve-busy') === 1);
    expect(seen).toHaveLength(0);
  });

  it('real sockets: ESP and IKE on the NAT-T port are handed over in arrival order, however the reads split them', async () => {
    const order: string[] = [];
    const counters = new Counters();
    const u = await startOnFreePorts(
      { address: '127.0.0.1', counters, classify: classifyNatt, io },
      {
        onIke: (msg) => order.push(`ike${msg[0]}`),
        onEspBatch: (batch) => {
          for (const d of batch) order.push(`esp${d.data[4]}`);
        },
      },
      opened,
    );
    const c = await client();
    const expected: string[] = [];
    // 300 datagrams in bursts of 100 (more than one recvmmsg batch, within the default receive buffer); every 7th an IKE message behind the marker
    for (let i = 0; i < 300; i++) {
      if (i % 100 === 0) await until(() => order.length === i, 5000);
      const k = i % 250;
      if (i % 7 === 3) {
        c.s.send(Buffer.concat([Buffer.alloc(4), Buffer.alloc(28, k)]), u.nattPort, '127.0.0.1');
        expected.push(`ike${k}`);
      } else {
        c.s.send(Buffer.from([0, 0, 0x10, 0, k, 0, 0, 1, 9, 9, 9, 9]), u.nattPort, '127.0.0.1');
        expected.push(`esp${k}`);
      }
    }
    await until(() => order.length === 300, 5000);
    expect(order).toEqual(expected);
    expect(counters.get('udp.rx.esp') + counters.get('udp.rx.ike-natt')).toBe(300);
  });

  it('a 60000-byte IKE message behind the marker arrives whole (IP-fragmented IKE, e.g. certificates)', async () => {
    const { u, seen } = await openEndpoints('127.0.0.1', new Counters(), io);
    const c = await client();
    const big = Buffer.alloc(60000);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
    big[0] = 1; // not a zero first byte: (0 * 31) & 0xff
    c.s.send(Buffer.concat([Buffer.alloc(4), big]), u.nattPort, '127.0.0.1');
    await until(() => seen.ike.length === 1);
    expect(seen.ike[0]!.msg.equals(big)).toBe(true);
  });

  it('sendEspBatch: 150 datagrams of varied sizes to two clients arrive whole and in order (crossing send batches)', async () => {
    const counters = new Counters();
    const { u } = await openEndpoints('127.0.0.1', counters, io);
    const a = await client();
    const b = await client();
    const sends = Array.from({ length: 150 }, (_, i) => ({
      to: { address: '127.0.0.1', port: i % 3 === 0 ? b.port : a.port },
      data: Buffer.alloc(8 + ((i * 97) % 1500), i),
    }));
    u.sendEspBatch(sends);
    await until(() => a.got.length + b.got.length === 150);
    expect(a.got).toEqual(sends.filter((_, i) => i % 3 !== 0).map((s) => s.data));
    expect(b.got).toEqual(sends.filter((_, i) => i % 3 === 0).map((s) => s.data));
    expect(counters.get('udp.send-dropped')).toBe(0);
  });
});

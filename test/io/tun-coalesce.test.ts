import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { internetChecksum, partialSum } from '../../src/core/ipv4.js';
import { coalesceForTest, tunAddonAvailable } from '../../src/io/tun.js';

/**
 * native/tunoff.c coalesces runs of one flow's packets into super-packets for
 * a TUN write with IFF_VNET_HDR. Checked here against a model of what the
 * kernel does with such a write (virtio_net_hdr semantics: cut the payload at
 * gso_size, copy the headers, advance the IPv4 ID and the TCP sequence, PSH
 * on the last segment only, complete the checksums): the segments must be the
 * packets that went in, in order. The kernel's side is in tun.test.ts.
 */

const skip = tunAddonAvailable() ? undefined : 'addon not built (node-gyp rebuild -C native)';

const GSO_TCPV4 = 1;
const GSO_UDP_L4 = 5;

interface Flow {
  proto: 6 | 17;
  src: number;
  dst: number;
  sport: number;
  dport: number;
}

interface PacketSpec {
  flow: Flow;
  id: number;
  df: boolean;
  payload: Buffer;
  seq?: number;
  ack?: number;
  flags?: number;
  window?: number;
  options?: Buffer;
  /** UDP: send without a checksum (0). */
  noChecksum?: boolean;
  ipOptions?: boolean;
  fragment?: boolean;
  badChecksum?: boolean;
  ttl?: number;
}

function l4Checksum(ip: Buffer, ihl: number): number {
  const pseudo = Buffer.alloc(12);
  ip.copy(pseudo, 0, 12, 20);
  pseudo[9] = ip[9]!;
  pseudo.writeUInt16BE(ip.length - ihl, 10);
  return internetChecksum(ip, ihl, ip.length, partialSum(pseudo));
}

function build(p: PacketSpec): Buffer {
  const ihl = p.ipOptions ? 24 : 20;
  let l4: Buffer;
  if (p.flow.proto === 6) {
    const opts = p.options ?? Buffer.alloc(0);
    l4 = Buffer.alloc(20 + opts.length + p.payload.length);
    l4.writeUInt16BE(p.flow.sport, 0);
    l4.writeUInt16BE(p.flow.dport, 2);
    l4.writeUInt32BE((p.seq ?? 0) >>> 0, 4);
    l4.writeUInt32BE((p.ack ?? 0) >>> 0, 8);
    l4[12] = ((20 + opts.length) / 4) << 4;
    l4[13] = p.flags ?? 0x10;
    l4.writeUInt16BE(p.window ?? 502, 14);
    opts.copy(l4, 20);
    p.payload.copy(l4, 20 + opts.length);
  } else {
    l4 = Buffer.alloc(8 + p.payload.length);
    l4.writeUInt16BE(p.flow.sport, 0);
    l4.writeUInt16BE(p.flow.dport, 2);
    l4.writeUInt16BE(l4.length, 4);
    p.payload.copy(l4, 8);
  }
  const ip = Buffer.alloc(ihl + l4.length);
  ip[0] = 0x40 | (ihl / 4);
  ip.writeUInt16BE(ip.length, 2);
  ip.writeUInt16BE(p.id & 0xffff, 4);
  ip.writeUInt16BE((p.df ? 0x4000 : 0) | (p.fragment ? 0x2000 : 0), 6);
  ip[8] = p.ttl ?? 64;
  ip[9] = p.flow.proto;
  ip.writeUInt32BE(p.flow.src >>> 0, 12);
  ip.writeUInt32BE(p.flow.dst >>> 0, 16);
  l4.copy(ip, ihl);
  ip.writeUInt16BE(internetChecksum(ip, 0, ihl), 10);
  const at = ihl + (p.flow.proto === 6 ? 16 : 6);
  if (!(p.flow.proto === 17 && p.noChecksum)) ip.writeUInt16BE(l4Checksum(ip, ihl) || (p.flow.proto === 17 ? 0xffff : 0), at);
  if (p.badChecksum) ip.writeUInt16BE(ip.readUInt16BE(at) ^ 0x0101, at);
  return ip;
}

/** What the kernel makes of one TUN write with a virtio_net_hdr. */
function segment(w: Buffer): { packets: Buffer[]; gsoType: number } {
  const flags = w[0]!;
  const gsoType = w[1]!;
  const hdrLen = w.readUInt16LE(2);
  const gsoSize = w.readUInt16LE(4);
  const csumStart = w.readUInt16LE(6);
  const csumOffset = w.readUInt16LE(8);
  const pkt = w.subarray(10);
  if (gsoType === 0) {
    expect(flags).toBe(0);
    return { packets: [Buffer.from(pkt)], gsoType };
  }
  expect(flags).toBe(1); // NEEDS_CSUM
  expect(csumStart).toBe(20);
  expect(csumOffset).toBe(gsoType === GSO_TCPV4 ? 16 : 6);
  // the super-packet's IPv4 header is valid as it stands (the kernel's ip_rcv checks it before segmenting)
  expect(internetChecksum(pkt, 0, 20)).toBe(0);
  expect(pkt.readUInt16BE(2)).toBe(pkt.length);
  // the transport checksum holds the pseudo-header sum over the whole length (not complemented)
  const pseudo = Buffer.alloc(12);
  pkt.copy(pseudo, 0, 12, 20);
  pseudo[9] = pkt[9]!;
  pseudo.writeUInt16BE(pkt.length - 20, 10);
  expect(pkt.readUInt16BE(csumStart + csumOffset)).toBe(partialSum(pseudo));
  const head = pkt.subarray(0, hdrLen);
  const payload = pkt.subarray(hdrLen);
  const out: Buffer[] = [];
  const n = Math.ceil(payload.length / gsoSize);
  for (let k = 0; k < n; k++) {
    const chunk = payload.subarray(k * gsoSize, Math.min(payload.length, (k + 1) * gsoSize));
    const s = Buffer.concat([head, chunk]);
    s.writeUInt16BE(s.length, 2);
    s.writeUInt16BE((head.readUInt16BE(4) + k) & 0xffff, 4);
    s.writeUInt16BE(0, 10);
    s.writeUInt16BE(internetChecksum(s, 0, 20), 10);
    if (gsoType === GSO_TCPV4) {
      s.writeUInt32BE((head.readUInt32BE(24) + k * gsoSize) >>> 0, 24);
      if (k < n - 1) s[33] = s[33]! & ~0x09; // PSH and FIN on the last segment only
      s.writeUInt16BE(0, 36);
      s.writeUInt16BE(l4Checksum(s, 20), 36);
    } else {
      s.writeUInt16BE(s.length - 20, 24);
      s.writeUInt16BE(0, 26);
      s.writeUInt16BE(l4Checksum(s, 20) || 0xffff, 26);
    }
    out.push(s);
  }
  return { packets: out, gsoType };
}

/** Bytes that may differ after a round trip: a DF packet's ID (RFC 6864) and the checksums that cover it, a UDP checksum that was absent. */
function normalise(p: Buffer, was: Buffer): Buffer {
  const q = Buffer.from(p);
  const coalescedMayChange = was.length === q.length && (was[0]! & 0x0f) === 5;
  if (coalescedMayChange && (was.readUInt16BE(6) & 0x4000) !== 0) {
    q.writeUInt16BE(was.readUInt16BE(4), 4);
    q.writeUInt16BE(was.readUInt16BE(10), 10);
  }
  if (coalescedMayChange && was[9] === 17 && was.readUInt16BE(26) === 0) q.writeUInt16BE(0, 26);
  return q;
}

function roundTrip(packets: Buffer[]): { out: Buffer[]; writes: Buffer[] } {
  const writes = coalesceForTest(packets);
  const out = writes.flatMap((w) => segment(w).packets);
  return { out, writes };
}

function expectSame(out: Buffer[], packets: Buffer[]): void {
  expect(out.length).toBe(packets.length);
  for (let i = 0; i < packets.length; i++) {
    const o = out[i]!;
    expect(internetChecksum(o, 0, (o[0]! & 0x0f) * 4)).toBe(0);
    expect(normalise(o, packets[i]!).equals(packets[i]!)).toBe(true);
  }
}

const tcp: Flow = { proto: 6, src: 0x0a280002, dst: 0xc0000207, sport: 40000, dport: 443 };
const udp: Flow = { proto: 17, src: 0x0a280002, dst: 0xc0000207, sport: 40001, dport: 5001 };

function tcpRun(n: number, mss: number, opts: Partial<PacketSpec> = {}): Buffer[] {
  return Array.from({ length: n }, (_, i) =>
    build({ flow: tcp, id: 100 + i, df: true, seq: 1000 + i * mss, ack: 77, payload: Buffer.alloc(mss, i), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), ...opts }),
  );
}

function udpRun(n: number, size: number, opts: Partial<PacketSpec> = {}): Buffer[] {
  return Array.from({ length: n }, (_, i) => build({ flow: udp, id: 7 + i, df: false, payload: Buffer.alloc(size, 0x30 + i), ...opts }));
}

describe.skipIf(skip !== undefined)(`TUN write coalescing (native/tunoff.c)${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it('a run of full-size TCP segments becomes one TSO super-packet that segments back into them', () => {
    const pk = tcpRun(10, 1348);
    const { out, writes } = roundTrip(pk);
    expect(writes.length).toBe(1);
    expect(writes[0]![1]).toBe(GSO_TCPV4);
    expect(writes[0]!.readUInt16LE(4)).toBe(1348);
    expectSame(out, pk);
  });

  it('UDP datagrams of one flow become one UDP_L4 super-packet; a shorter last one joins, the next starts anew', () => {
    const pk = [...udpRun(5, 1372), build({ flow: udp, id: 12, df: false, payload: Buffer.alloc(100, 1) }), build({ flow: udp, id: 13, df: false, payload: Buffer.alloc(1372, 2) })];
    const { out, writes } = roundTrip(pk);
    expect(writes.map((w) => [w[1], (w.length - 10 - 28 + 0) > 0 ? segment(w).packets.length : 0])).toEqual([
      [GSO_UDP_L4, 6],
      [0, 1],
    ]);
    expectSame(out, pk);
  });

  it('at most 64 packets and 64 KiB per super-packet', () => {
    const pk = udpRun(150, 200);
    const { out, writes } = roundTrip(pk);
    expect(writes.map((w) => segment(w).packets.length)).toEqual([64, 64, 22]);
    expectSame(out, pk);
    const big = udpRun(60, 1472);
    const r = roundTrip(big);
    for (const w of r.writes) expect(w.length - 10).toBeLessThanOrEqual(65535);
    expect(r.writes.length).toBe(2);
    expectSame(r.out, big);
  });

  it('leaves alone what the kernel would not cut back the same: bad checksums, gaps, other flags, fragments, IP options, non-DF ID jumps', () => {
    const cases: Array<[string, Buffer[]]> = [
      ['bad checksum', tcpRun(3, 500).map((p, i) => (i === 1 ? build({ flow: tcp, id: 101, df: true, seq: 1500, ack: 77, payload: Buffer.alloc(500, 1), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]), badChecksum: true }) : p))],
      ['sequence gap', [...tcpRun(1, 500), build({ flow: tcp, id: 101, df: true, seq: 1501, ack: 77, payload: Buffer.alloc(500), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) })]],
      ['SYN', tcpRun(2, 500, { flags: 0x12 })],
      ['FIN', tcpRun(2, 500, { flags: 0x11 })],
      ['no ACK', tcpRun(2, 500, { flags: 0x08 })],
      ['PSH first', [build({ flow: tcp, id: 100, df: true, seq: 1000, ack: 77, payload: Buffer.alloc(500), flags: 0x18 }), build({ flow: tcp, id: 101, df: true, seq: 1500, ack: 77, payload: Buffer.alloc(500) })]],
      ['ack differs', [build({ flow: tcp, id: 100, df: true, seq: 1000, ack: 77, payload: Buffer.alloc(500) }), build({ flow: tcp, id: 101, df: true, seq: 1500, ack: 78, payload: Buffer.alloc(500) })]],
      ['window differs', [build({ flow: tcp, id: 100, df: true, seq: 1000, ack: 77, payload: Buffer.alloc(500) }), build({ flow: tcp, id: 101, df: true, seq: 1500, ack: 77, window: 9, payload: Buffer.alloc(500) })]],
      ['options differ', [build({ flow: tcp, id: 100, df: true, seq: 1000, payload: Buffer.alloc(500), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }), build({ flow: tcp, id: 101, df: true, seq: 1500, payload: Buffer.alloc(500), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 2, 0, 0, 0, 2]) })]],
      ['pure ACKs', tcpRun(3, 0)],
      ['fragments', udpRun(3, 300, { fragment: true })],
      ['IP options', udpRun(3, 300, { ipOptions: true })],
      ['non-DF ID jump', [build({ flow: udp, id: 1, df: false, payload: Buffer.alloc(300) }), build({ flow: udp, id: 3, df: false, payload: Buffer.alloc(300) })]],
      ['DF differs', [build({ flow: udp, id: 1, df: false, payload: Buffer.alloc(300) }), build({ flow: udp, id: 2, df: true, payload: Buffer.alloc(300) })]],
      ['TTL differs', [build({ flow: udp, id: 1, df: true, payload: Buffer.alloc(300) }), build({ flow: udp, id: 2, df: true, ttl: 9, payload: Buffer.alloc(300) })]],
      ['port differs', [build({ flow: udp, id: 1, df: true, payload: Buffer.alloc(300) }), build({ flow: { ...udp, dport: 9 }, id: 2, df: true, payload: Buffer.alloc(300) })]],
      ['longer second', [build({ flow: udp, id: 1, df: true, payload: Buffer.alloc(300) }), build({ flow: udp, id: 2, df: true, payload: Buffer.alloc(301) })]],
      ['shorter first', [build({ flow: udp, id: 1, df: true, payload: Buffer.alloc(299) }), build({ flow: udp, id: 2, df: true, payload: Buffer.alloc(300) })]],
    ];
    for (const [name, pk] of cases) {
      const writes = coalesceForTest(pk);
      const expected = name === 'bad checksum' ? 3 : pk.length;
      expect(writes.length, name).toBe(expected);
      for (let i = 0; i < pk.length; i++) {
        expect(writes[i]!.subarray(0, 10).equals(Buffer.alloc(10)), name).toBe(true);
        expect(writes[i]!.subarray(10).equals(pk[i]!), name).toBe(true);
      }
    }
  });

  it('DF with any IDs and a UDP datagram without checksum coalesce (segments get consecutive IDs and checksums); PSH ends a run as its last packet', () => {
    const pk = [0, 9, 3].map((id, i) => build({ flow: udp, id, df: true, noChecksum: true, payload: Buffer.alloc(400, i) }));
    const { out, writes } = roundTrip(pk);
    expect(writes.length).toBe(1);
    expectSame(out, pk);
    expect(out.map((p) => p.readUInt16BE(4))).toEqual([0, 1, 2]);
    for (const p of out) expect(l4Checksum(p, 20) === 0 || p.readUInt16BE(26) !== 0).toBe(true);
    const psh = [...tcpRun(2, 600), build({ flow: tcp, id: 102, df: true, seq: 2200, ack: 77, flags: 0x18, payload: Buffer.alloc(600, 2), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) }), build({ flow: tcp, id: 103, df: true, seq: 2800, ack: 77, payload: Buffer.alloc(600, 3), options: Buffer.from([1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]) })];
    const r = roundTrip(psh);
    expect(r.writes.map((w) => w[1])).toEqual([GSO_TCPV4, 0]);
    expectSame(r.out, psh);
  });

  it('property: any mix of flows and odd packets segments back into the same packets in the same order', () => {
    const flows: Flow[] = [tcp, udp, { proto: 6, src: 0x0a280003, dst: 0x08080808, sport: 1234, dport: 80 }];
    const step = fc.record({
      flow: fc.integer({ min: 0, max: 2 }),
      size: fc.oneof(fc.constant(1200), fc.constant(1200), fc.integer({ min: 0, max: 1400 })),
      idStep: fc.oneof(fc.constant(1), fc.constant(1), fc.integer({ min: 0, max: 65535 })),
      df: fc.boolean(),
      flags: fc.oneof(fc.constant(0x10), fc.constant(0x10), fc.constant(0x18), fc.constant(0x11), fc.constant(0x02)),
      seqGap: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 10 })),
      noChecksum: fc.boolean(),
      bad: fc.integer({ min: 0, max: 20 }).map((v) => v === 0),
      fragment: fc.integer({ min: 0, max: 20 }).map((v) => v === 0),
    });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 200 }), (steps) => {
        const state = flows.map(() => ({ id: 1, seq: 5000 }));
        const pk = steps.map((s) => {
          const st = state[s.flow]!;
          st.id = (st.id + s.idStep) & 0xffff;
          st.seq = (st.seq + s.seqGap) >>> 0;
          const f = flows[s.flow]!;
          const p = build({ flow: f, id: st.id, df: s.df, seq: st.seq, ack: 9, flags: s.flags, payload: Buffer.alloc(s.size, st.seq & 0xff), noChecksum: s.noChecksum, badChecksum: s.bad, fragment: s.fragment });
          st.seq = (st.seq + s.size) >>> 0;
          return p;
        });
        const { out, writes } = roundTrip(pk);
        for (const w of writes) expect(w.length - 10).toBeLessThanOrEqual(65535);
        expectSame(out, pk);
        // a packet with a bad checksum goes as it came
        pk.forEach((p, i) => {
          if (steps[i]!.bad) expect(writes.some((w) => w.subarray(10).equals(p))).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });
});

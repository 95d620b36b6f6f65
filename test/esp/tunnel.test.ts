/**
 * ESP tunnel mode (RFC 4303 §3.1.2, UDP-encapsulated per RFC 3948): whole
 * IPv4 packets with Next Header 4 on SAs whose ChildSaUp says mode 'tunnel',
 * in the same engine and batch path as transport mode (L2TP).
 */
import { cbc, gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256 } from '@noble/hashes/sha2.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import type { ChildSaUp } from '../../src/core/sa.js';
import { ESP_IN_DROP_NAMES, ESP_OUT_DROP_NAMES } from '../../src/esp/drops.js';
import { EspEngine, type EspEvent, type EspInbound } from '../../src/esp/engine.js';
import { craft, naiveTunnelInner, open, plaintext, specOf, type Plain } from './craft.js';
import { ipv4Packet, saPair, tunnelPair } from './helpers.js';

const CLIENT_VIP = '10.10.0.2';
const logs = (ev: EspEvent[]) => ev.filter((x): x is Extract<EspEvent, { type: 'log' }> => x.type === 'log');
const bytes = (n: number, seed = 0): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

/** IPv4 packets of many sizes and header lengths (options up to IHL 15). */
function samplePackets(): Buffer[] {
  const out = [0, 1, 13, 14, 15, 16, 17, 100, 1380].map((n) => ipv4Packet(CLIENT_VIP, '198.18.0.1', bytes(n, n)));
  out.push(ipv4Packet(CLIENT_VIP, '198.18.0.1', bytes(9), { options: new Uint8Array(4).fill(1) })); // IHL 6, NOPs
  out.push(ipv4Packet(CLIENT_VIP, '198.18.0.1', bytes(3), { options: new Uint8Array(40).fill(1) })); // IHL 15
  out.push(ipv4Packet(CLIENT_VIP, '8.8.8.8', new Uint8Array(0), { proto: 1 }));
  return out;
}

function setup(name: string, counters = new Counters()) {
  const { ours, theirs } = tunnelPair(name);
  const e = new EspEngine({ counters });
  e.addSa(ours);
  const spec = specOf(ours);
  const pkt = (seq: number, p: Plain): EspInbound => ({ data: craft(spec, ours.inbound, seq, p), from: ours.peer });
  return { ours, theirs, e, counters, spec, pkt };
}

describe('ESP tunnel mode: round trip between two engines (swapped keys)', () => {
  for (const name of ['aes128-sha1', 'aes256-sha256', '3des-sha1', 'aes256-sha512', 'aes128gcm16', 'aes256gcm16']) {
    it(name, () => {
      const { ours, theirs } = tunnelPair(name);
      const serverCounters = new Counters();
      const server = new EspEngine({ counters: serverCounters });
      const client = new EspEngine();
      expect(server.tryAddSa(ours)).toBeUndefined();
      expect(client.tryAddSa(theirs)).toBeUndefined();
      const packets = samplePackets();
      // client → server (innerDstPort means nothing on a tunnel SA)
      const out = client.encryptBatch(
        packets.map((p) => ({ saId: theirs.id, innerDstPort: 0, payload: p })),
        0,
      );
      expect(out.sends).toHaveLength(packets.length);
      const spec = specOf(ours);
      for (const [i, s] of out.sends.entries()) {
        expect(s.to).toEqual(theirs.peer);
        // what went on the wire, opened by the naive reference: the packet, padding 1..n, Next Header 4
        const pt = open(spec, ours.inbound, s.data)!;
        expect(pt[pt.length - 1]).toBe(4);
        expect(naiveTunnelInner(pt)).toEqual(packets[i]);
      }
      const inb = server.decryptBatch(
        out.sends.map((s) => ({ data: s.data, from: ours.peer })),
        0,
      );
      expect(inb.delivered).toEqual([]);
      expect(inb.ipv4.map((d) => Buffer.from(d.packet))).toEqual(packets);
      for (const d of inb.ipv4) {
        expect(d.kind).toBe('ipv4');
        expect(d.saId).toBe(ours.id);
        expect(d.peer).toEqual(ours.peer);
      }
      // server → client
      const back = server.encryptBatch(
        packets.map((p) => ({ saId: ours.id, innerDstPort: 1701, payload: p })),
        0,
      );
      const got = client.decryptBatch(
        back.sends.map((s) => ({ data: s.data, from: theirs.peer })),
        0,
      );
      expect(got.delivered).toEqual([]);
      expect(got.ipv4.map((d) => Buffer.from(d.packet))).toEqual(packets);
      expect(got.ipv4.every((d) => d.saId === theirs.id)).toBe(true);
      expect(server.stats(ours.id)).toMatchObject({ packetsIn: packets.length, packetsOut: packets.length });
      expect(serverCounters.get('esp.in.packets')).toBe(packets.length);
      // the same datagrams again are replays
      const again = server.decryptBatch(
        out.sends.map((s) => ({ data: s.data, from: ours.peer })),
        1,
      );
      expect(again.ipv4).toHaveLength(0);
      expect(serverCounters.get('esp.in.drop.replay-dup')).toBe(packets.length);
    });
  }

  it('mode defaults to transport: an SA without `mode` still carries L2TP', () => {
    const { ours, theirs } = saPair('aes128-sha1');
    expect(ours.mode).toBeUndefined();
    const server = new EspEngine();
    const client = new EspEngine();
    server.addSa(ours);
    client.addSa(theirs);
    const { sends } = client.encryptBatch([{ saId: theirs.id, innerDstPort: 1701, payload: Buffer.from('l2tp') }], 0);
    const r = server.decryptBatch([{ data: sends[0]!.data, from: ours.peer }], 0);
    expect(r.ipv4).toEqual([]);
    expect(r.delivered).toEqual([{ kind: 'l2tp', saId: ours.id, peer: ours.peer, innerSrcPort: 1701, payload: Buffer.from('l2tp') }]);
  });

  it('an SA with an unknown mode is refused, not run as either', () => {
    const { ours } = saPair('aes128-sha1');
    const counters = new Counters();
    const e = new EspEngine({ counters });
    const reason = e.tryAddSa({ ...ours, mode: 'beet' as unknown as 'tunnel' });
    expect(reason).toMatch(/mode beet/);
    expect(counters.get('esp.sa.rejected')).toBe(1);
    expect(e.stats(ours.id)).toBeUndefined();
  });
});

describe('tunnel and transport SAs in one engine and one batch', () => {
  it('each SA delivers its own kind only, in batch order, CBC spans and GCM side by side', () => {
    const t = saPair('aes128-sha1', 'T', 0x1000, 0x2000);
    const u = tunnelPair('aes128-sha1', 'U', 0x1001, 0x2001);
    const g = tunnelPair('aes256gcm16', 'G', 0x1002, 0x2002);
    const counters = new Counters();
    const server = new EspEngine({ counters });
    const client = new EspEngine();
    for (const p of [t, u, g]) {
      server.addSa(p.ours);
      client.addSa(p.theirs);
    }
    const l2tp = [bytes(10, 1), bytes(1400, 2), bytes(0, 3)];
    const ips = samplePackets();
    // interleaved: T, U, G, T, U, G, ...
    const batch = [];
    for (let i = 0; i < ips.length; i++) {
      if (i < l2tp.length) batch.push({ saId: 'T-peer', innerDstPort: 1701, payload: l2tp[i]! });
      batch.push({ saId: i % 2 ? 'G-peer' : 'U-peer', innerDstPort: 0, payload: ips[i]! });
    }
    const { sends } = client.encryptBatch(batch, 0);
    expect(sends).toHaveLength(batch.length);
    const r = server.decryptBatch(
      sends.map((s) => ({ data: s.data, from: t.ours.peer })),
      0,
    );
    expect(r.delivered.map((d) => [d.kind, d.saId, Buffer.from(d.payload)])).toEqual(l2tp.map((p) => ['l2tp', 'T', p]));
    const bySa = (id: string) => r.ipv4.filter((d) => d.saId === id).map((d) => Buffer.from(d.packet));
    expect(bySa('U')).toEqual(ips.filter((_, i) => i % 2 === 0));
    expect(bySa('G')).toEqual(ips.filter((_, i) => i % 2 === 1));
    expect(r.ipv4.every((d) => d.kind === 'ipv4')).toBe(true);
    expect(counters.get('esp.in.packets')).toBe(batch.length);
  });

  it('a tunnel SA never delivers L2TP: a transport-form packet (UDP to 1701, Next Header 17) is not-ipv4', () => {
    const { e, counters, pkt } = setup('aes128-sha1');
    const r = e.decryptBatch([pkt(1, { payload: Buffer.from('l2tp'), srcPort: 1701, dstPort: 1701 })], 0);
    expect(r.delivered).toEqual([]);
    expect(r.ipv4).toEqual([]);
    expect(counters.get('esp.in.drop.not-ipv4')).toBe(1);
  });

  it('a transport SA never delivers IPv4: a tunnel-form packet (Next Header 4) is not-udp', () => {
    for (const name of ['aes128-sha1', 'aes128gcm16']) {
      const { ours } = saPair(name);
      const counters = new Counters();
      const e = new EspEngine({ counters });
      e.addSa(ours);
      const r = e.decryptBatch([{ data: craft(specOf(ours), ours.inbound, 1, { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40)) }), from: ours.peer }], 0);
      expect(r.delivered).toEqual([]);
      expect(r.ipv4).toEqual([]);
      expect(counters.get('esp.in.drop.not-udp')).toBe(1);
    }
  });

  it('property: whatever the plaintext, a tunnel SA yields only ipv4 and a transport SA only l2tp, all accounted for', () => {
    const t = saPair('aes128-sha1', 'T', 0x1000, 0x2000);
    const u = tunnelPair('aes128-sha1', 'U', 0x1001, 0x2001);
    const plainArb: fc.Arbitrary<Plain> = fc.oneof(
      fc.record({ payload: fc.uint8Array({ maxLength: 200 }), dstPort: fc.constantFrom(1701, 1701, 500), nextHeader: fc.constantFrom(17, 4, 59) }),
      fc.record({
        inner: fc.tuple(fc.uint8Array({ maxLength: 200 }), fc.constantFrom(4, 4, 6)).map(([p, v]) => ipv4Packet(CLIENT_VIP, '1.1.1.1', p, { version: v })),
        nextHeader: fc.constantFrom(4, 17, 41),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.boolean(), plainArb), { minLength: 1, maxLength: 20 }), (items) => {
        const counters = new Counters();
        const e = new EspEngine({ counters });
        e.addSa(t.ours);
        e.addSa(u.ours);
        const seq = { T: 0, U: 0 };
        const batch = items.map(([toTunnel, p]) => {
          const sa = toTunnel ? u.ours : t.ours;
          return { data: craft(specOf(sa), sa.inbound, ++seq[toTunnel ? 'U' : 'T'], p), from: sa.peer };
        });
        const r = e.decryptBatch(batch, 0);
        expect(r.delivered.every((d) => d.kind === 'l2tp' && d.saId === 'T')).toBe(true);
        expect(r.ipv4.every((d) => d.kind === 'ipv4' && d.saId === 'U')).toBe(true);
        const drops = Object.entries(counters.snapshot())
          .filter(([k]) => k.startsWith('esp.in.drop.'))
          .reduce((a, [, v]) => a + v, 0);
        expect(drops + r.delivered.length + r.ipv4.length).toBe(batch.length);
      }),
      { numRuns: 150 },
    );
  });
});

describe('tunnel mode inbound: Next Header and inner IPv4 checks', () => {
  const good = ipv4Packet(CLIENT_VIP, '198.18.0.9', bytes(40));
  for (const name of ['aes128-sha1', 'aes128gcm16']) {
    it(`${name}: not-ipv4, dummy-packet, bad-inner-ipv4, padding, each counted under its reason`, () => {
      const { e, counters, pkt } = setup(name);
      const withTotal = (n: number) => ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { totalLength: n });
      const cases: [string, Plain][] = [
        ['not-ipv4', { inner: good, nextHeader: 17 }],
        ['not-ipv4', { inner: good, nextHeader: 6 }],
        ['not-ipv4', { inner: good, nextHeader: 41 }], // IPv6 is not served
        ['not-ipv4', { inner: good, nextHeader: 0 }],
        ['not-ipv4', { inner: good, nextHeader: 255 }],
        ['dummy-packet', { inner: good, nextHeader: 59 }],
        ['dummy-packet', { inner: new Uint8Array(0), nextHeader: 59 }],
        ['bad-inner-ipv4', { inner: new Uint8Array(0) }],
        ['bad-inner-ipv4', { inner: good.subarray(0, 19) }], // shorter than an IPv4 header
        ['bad-inner-ipv4', { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { version: 6 }) }],
        ['bad-inner-ipv4', { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { version: 0 }) }],
        ['bad-inner-ipv4', { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { ihl: 4 }) }],
        ['bad-inner-ipv4', { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { ihl: 0 }) }],
        ['bad-inner-ipv4', { inner: withTotal(0) }],
        ['bad-inner-ipv4', { inner: withTotal(19) }],
        ['bad-inner-ipv4', { inner: withTotal(61) }], // one byte more than there is
        ['bad-inner-ipv4', { inner: withTotal(0xffff) }],
        // IHL 6 (24-byte header) but Total Length 22
        ['bad-inner-ipv4', { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(40), { options: new Uint8Array(4), totalLength: 22 }) }],
        ['bad-pad-length', { inner: good, padLen: 255 }],
        ['bad-padding', { inner: good, padding: new Uint8Array(name.includes('gcm') ? 6 : 18) }],
      ];
      let seq = 1;
      for (const [reason, p] of cases) {
        const before = counters.get(`esp.in.drop.${reason}`);
        const r = e.decryptBatch([pkt(seq++, p)], 0);
        expect(r.ipv4, reason).toEqual([]);
        expect(r.delivered, reason).toEqual([]);
        expect(counters.get(`esp.in.drop.${reason}`), `${reason} ${JSON.stringify(p.nextHeader)}`).toBe(before + 1);
        if (before === 0 && reason !== 'dummy-packet') {
          // the first of each reason is logged (then 5 per 10 s), with what it means
          const line = logs(r.events).find((l) => l.fields?.reason === reason);
          expect(line?.fields).toMatchObject({ reason, detail: ESP_IN_DROP_NAMES[reason as keyof typeof ESP_IN_DROP_NAMES], seq: seq - 1 });
        }
      }
      expect(counters.get('esp.in.packets')).toBe(0);
      // the well-formed packet goes through after all of them (the drops are after the ICV: the window moved, nothing else)
      expect(e.decryptBatch([pkt(seq++, { inner: good })], 0).ipv4.map((d) => Buffer.from(d.packet))).toEqual([good]);
    });
  }

  it('TFC padding after Total Length (RFC 4303 §2.4) is accepted and trimmed; Total Length = all bytes is exact', () => {
    const { e, pkt } = setup('aes256-sha256');
    const tfc = Buffer.concat([good, Buffer.alloc(37, 0xee)]);
    const r = e.decryptBatch([pkt(1, { inner: tfc }), pkt(2, { inner: good }), pkt(3, { inner: Buffer.concat([good, Buffer.alloc(1)]) })], 0);
    expect(r.ipv4.map((d) => Buffer.from(d.packet))).toEqual([good, good, good]);
    expect(r.ipv4.every((d) => d.packet.length === good.length)).toBe(true);
  });

  it('the smallest IPv4 packet (a bare 20-byte header) and the largest header (IHL 15) are accepted', () => {
    const { e, pkt } = setup('3des-sha1');
    const bare = ipv4Packet(CLIENT_VIP, '1.1.1.1', new Uint8Array(0));
    const big = ipv4Packet(CLIENT_VIP, '1.1.1.1', new Uint8Array(0), { options: new Uint8Array(40).fill(1) });
    expect(bare).toHaveLength(20);
    expect(big).toHaveLength(60);
    const r = e.decryptBatch([pkt(1, { inner: bare }), pkt(2, { inner: big })], 0);
    expect(r.ipv4.map((d) => Buffer.from(d.packet))).toEqual([bare, big]);
  });

  it('a bad packet between good ones in one CBC span does not touch its neighbours', () => {
    const { e, counters, pkt } = setup('aes128-sha256');
    const a = ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(100, 7));
    const b = ipv4Packet(CLIENT_VIP, '1.1.1.2', bytes(33, 8));
    const flipped = Buffer.from(pkt(2, { inner: b }).data);
    flipped[30]! ^= 4;
    const r = e.decryptBatch([pkt(1, { inner: a }), { data: flipped, from: pkt(1, { inner: a }).from }, pkt(3, { inner: ipv4Packet(CLIENT_VIP, '1.1.1.1', bytes(4), { version: 5 }) }), pkt(4, { inner: b })], 0);
    expect(r.ipv4.map((d) => Buffer.from(d.packet))).toEqual([a, b]);
    expect(counters.get('esp.in.drop.bad-icv')).toBe(1);
    expect(counters.get('esp.in.drop.bad-inner-ipv4')).toBe(1);
  });
});

describe('tunnel mode outbound', () => {
  it('wrong-mode: an L2TP head, or a payload that is not exactly one IPv4 packet; no sequence number used', () => {
    for (const name of ['aes128-sha1', 'aes128gcm16']) {
      const counters = new Counters();
      const { ours, theirs } = tunnelPair(name);
      const e = new EspEngine({ counters });
      e.addSa(ours);
      const ip = ipv4Packet('198.18.0.1', CLIENT_VIP, bytes(50));
      const bad = [
        { saId: ours.id, innerDstPort: 1701, head: Buffer.from([0xc8, 0x02]), payload: ip },
        { saId: ours.id, innerDstPort: 1701, head: new Uint8Array(0), payload: ip },
        { saId: ours.id, innerDstPort: 1701, payload: Buffer.from('c802003c0000000000000000', 'hex') }, // L2TP bytes
        { saId: ours.id, innerDstPort: 0, payload: new Uint8Array(0) },
        { saId: ours.id, innerDstPort: 0, payload: ip.subarray(0, 19) },
        { saId: ours.id, innerDstPort: 0, payload: ip.subarray(0, ip.length - 1) }, // Total Length longer than the bytes
        { saId: ours.id, innerDstPort: 0, payload: Buffer.concat([ip, Buffer.alloc(1)]) }, // bytes past Total Length
        { saId: ours.id, innerDstPort: 0, payload: ipv4Packet('198.18.0.1', CLIENT_VIP, bytes(50), { version: 6 }) },
        { saId: ours.id, innerDstPort: 0, payload: ipv4Packet('198.18.0.1', CLIENT_VIP, bytes(50), { ihl: 4 }) },
      ];
      const r = e.encryptBatch(bad, 0);
      expect(r.sends).toEqual([]);
      expect(counters.get('esp.out.drop.wrong-mode')).toBe(bad.length);
      expect(logs(r.events)[0]!.fields).toMatchObject({ reason: 'wrong-mode', detail: ESP_OUT_DROP_NAMES['wrong-mode'], saId: ours.id });
      // innerDstPort means nothing here: 0, 1701, -1 and NaN all send
      const ok = e.encryptBatch([0, 1701, -1, Number.NaN].map((innerDstPort) => ({ saId: ours.id, innerDstPort, payload: ip })), 0);
      expect(ok.sends).toHaveLength(4);
      expect(ok.sends.map((s) => s.data.readUInt32BE(4))).toEqual([1, 2, 3, 4]);
      const peer = new EspEngine();
      peer.addSa(theirs);
      expect(peer.decryptBatch(ok.sends.map((s) => ({ data: s.data, from: theirs.peer })), 0).ipv4.map((d) => Buffer.from(d.packet))).toEqual([ip, ip, ip, ip]);
    }
  });

  it('a transport SA keeps its own checks (bad-port, not wrong-mode) and its UDP framing', () => {
    const counters = new Counters();
    const { ours } = saPair('aes128-sha1');
    const e = new EspEngine({ counters });
    e.addSa(ours);
    const ip = ipv4Packet('198.18.0.1', CLIENT_VIP, bytes(50));
    expect(e.encryptBatch([{ saId: ours.id, innerDstPort: 0, payload: ip }], 0).sends).toEqual([]);
    expect(counters.get('esp.out.drop.bad-port')).toBe(1);
    expect(counters.get('esp.out.drop.wrong-mode')).toBe(0);
    const [s] = e.encryptBatch([{ saId: ours.id, innerDstPort: 1701, payload: ip }], 0).sends;
    const pt = open(specOf(ours), ours.outbound, s!.data)!;
    expect(pt[pt.length - 1]).toBe(17);
    expect(pt.readUInt16BE(2)).toBe(1701);
    expect(pt.subarray(8, 8 + ip.length)).toEqual(ip);
  });

  it('one batch to a tunnel SA and a transport SA: each packet framed for its own SA', () => {
    const t = saPair('aes256-sha256', 'T', 0x1000, 0x2000);
    const u = tunnelPair('aes256-sha256', 'U', 0x1001, 0x2001);
    const e = new EspEngine();
    e.addSa(t.ours);
    e.addSa(u.ours);
    const ip = ipv4Packet('198.18.0.1', CLIENT_VIP, bytes(70));
    const { sends } = e.encryptBatch(
      [
        { saId: 'U', innerDstPort: 0, payload: ip },
        { saId: 'T', innerDstPort: 1701, head: Buffer.from([1, 2]), payload: ip },
        { saId: 'U', innerDstPort: 0, payload: ip },
      ],
      0,
    );
    const spec = specOf(t.ours);
    const [u1, u2, t1] = sends; // grouped by SA in order of first appearance
    for (const s of [u1!, u2!]) expect(naiveTunnelInner(open(spec, u.ours.outbound, s.data)!)).toEqual(ip);
    const tp = open(spec, t.ours.outbound, t1!.data)!;
    expect(tp[tp.length - 1]).toBe(17);
    expect(tp.subarray(8, 10)).toEqual(Buffer.from([1, 2]));
  });
});

describe('tunnel mode fuzz', () => {
  const NAMES = ['aes128-sha1', 'aes256gcm16', '3des-sha256', 'aes256-sha384'];
  const sasOf = () => NAMES.map((n, i) => tunnelPair(n, `z${i}`, 0x100 + i, 0x200 + i).ours);

  /** An IPv4 packet with any fields (mostly plausible) and TFC bytes after it. */
  const ipv4Arb: fc.Arbitrary<Uint8Array> = fc
    .record({
      payload: fc.uint8Array({ maxLength: 300 }),
      options: fc.nat({ max: 10 }),
      version: fc.oneof({ weight: 4, arbitrary: fc.constant(4) }, fc.integer({ min: 0, max: 15 })),
      ihl: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.integer({ min: 0, max: 15 })),
      delta: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.integer({ min: -70, max: 70 })),
      tfc: fc.oneof({ weight: 2, arbitrary: fc.constant(new Uint8Array(0)) }, fc.uint8Array({ maxLength: 40 })),
    })
    .map((r) => {
      const base = ipv4Packet(CLIENT_VIP, '1.1.1.1', r.payload, { options: new Uint8Array(r.options * 4), version: r.version, ...(r.ihl !== null ? { ihl: r.ihl } : {}) });
      base.writeUInt16BE(Math.max(0, Math.min(0xffff, base.length + r.delta)), 2); // Total Length off by delta
      return Buffer.concat([base, r.tfc]);
    });
  /** A plausible or broken inner packet: such an IPv4 packet, or any bytes. */
  const innerArb: fc.Arbitrary<Uint8Array> = fc.oneof({ weight: 3, arbitrary: ipv4Arb }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 120 }) });

  const itemArb = fc.record({
    sa: fc.nat({ max: NAMES.length - 1 }),
    inner: innerArb,
    nextHeader: fc.oneof({ weight: 5, arbitrary: fc.constant(4) }, fc.integer({ min: 0, max: 255 })),
    /** true: padding 1..n to the block; else any padding bytes and Pad Length as they come */
    goodPad: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, fc.constant(false)),
    padding: fc.uint8Array({ maxLength: 20 }),
    padLen: fc.nat({ max: 255 }),
    flip: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }))),
  });

  it('never throws; every packet is delivered exactly as the reference parser says, or counted', () => {
    let delivered = 0;
    let total = 0;
    fc.assert(
      fc.property(fc.array(itemArb, { minLength: 1, maxLength: 25 }), fc.nat(), (items, now) => {
        const sas = sasOf();
        const counters = new Counters();
        const e = new EspEngine({ counters });
        for (const sa of sas) e.addSa(sa);
        const seqs = sas.map(() => 0);
        const expected = new Map<string, Buffer[]>();
        const batch: EspInbound[] = items.map((it) => {
          const sa = sas[it.sa]!;
          const spec = specOf(sa);
          let p: Plain = { inner: it.inner, nextHeader: it.nextHeader };
          if (!it.goodPad) {
            // any padding and Pad Length; for a block cipher the plaintext is then cut to whole blocks
            let pt = plaintext(spec, { ...p, padding: it.padding, padLen: it.padLen });
            pt = pt.subarray(0, pt.length - (pt.length % spec.blockSize));
            if (pt.length === 0) pt = Buffer.alloc(spec.blockSize);
            p = { raw: pt };
          }
          const pt = plaintext(spec, p);
          let d = craft(spec, sa.inbound, ++seqs[it.sa]!, p);
          if (it.flip) {
            d = Buffer.from(d);
            d[it.flip[0] % d.length]! ^= 1 << it.flip[1];
          } else {
            const want = naiveTunnelInner(pt);
            if (want) expected.set(sa.id, [...(expected.get(sa.id) ?? []), want]);
          }
          return { data: d, from: sa.peer };
        });
        const r = e.decryptBatch(batch, now);
        expect(r.delivered).toEqual([]);
        for (const sa of sas) {
          expect(r.ipv4.filter((x) => x.saId === sa.id).map((x) => Buffer.from(x.packet))).toEqual(expected.get(sa.id) ?? []);
        }
        const drops = Object.entries(counters.snapshot())
          .filter(([k]) => k.startsWith('esp.in.drop.'))
          .reduce((a, [, v]) => a + v, 0);
        expect(drops + r.ipv4.length).toBe(batch.length);
        expect(counters.get('esp.in.internal-error')).toBe(0);
        delivered += r.ipv4.length;
        total += batch.length;
      }),
      { numRuns: 300 },
    );
    // both outcomes were exercised in earnest (about a fifth is delivered; the bound leaves room for the random draw)
    expect(delivered).toBeGreaterThan(total / 10);
    expect(delivered).toBeLessThan(total * 0.8);
  });

  it('outbound: any payload on a tunnel SA is sent (and opens to itself) or counted wrong-mode; never throws', () => {
    const { ours, theirs } = tunnelPair('aes128-sha1');
    fc.assert(
      fc.property(fc.array(innerArb, { minLength: 1, maxLength: 20 }), (payloads) => {
        const counters = new Counters();
        const e = new EspEngine({ counters });
        e.addSa(ours);
        const peer = new EspEngine();
        peer.addSa(theirs);
        const { sends } = e.encryptBatch(
          payloads.map((payload) => ({ saId: ours.id, innerDstPort: 0, payload })),
          0,
        );
        const exact = payloads.filter((p) => p.length >= 20 && p.length === ((p[2]! << 8) | p[3]!) && p[0]! >> 4 === 4 && (p[0]! & 15) >= 5 && (p[0]! & 15) * 4 <= p.length);
        expect(sends).toHaveLength(exact.length);
        expect(counters.get('esp.out.drop.wrong-mode')).toBe(payloads.length - exact.length);
        const back = peer.decryptBatch(sends.map((s) => ({ data: s.data, from: theirs.peer })), 0);
        expect(back.ipv4.map((x) => Buffer.from(x.packet))).toEqual(exact.map((p) => Buffer.from(p)));
      }),
      { numRuns: 200 },
    );
  });
});

describe('tunnel-mode known answers against @noble/ciphers + @noble/hashes', () => {
  const h = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
  // An ICMP echo request from the client's virtual IP (RFC 792), header checksum by the test helper.
  const echo = ipv4Packet(CLIENT_VIP, '198.18.0.1', Buffer.concat([h('0800f7ff00000000'), Buffer.from('tunnel mode known answer')]), { proto: 1, id: 0x4242 });

  function fixedSa(name: string, keyHex: { enc: string; auth: string }): ChildSaUp {
    const { ours } = tunnelPair(name, 'kat', 0x1000, 0xc0ffee01);
    ours.outbound = { spi: 0xc0ffee01, encKey: h(keyHex.enc), authKey: h(keyHex.auth) };
    ours.inbound = { spi: 0x00001000, encKey: h(keyHex.enc), authKey: h(keyHex.auth) };
    return ours;
  }

  /** RFC 4303 §2.4 payload for tunnel mode: packet | 1..n | n | 4, n the least to reach the block size. */
  function nobleTrailer(packet: Uint8Array, block: number): Buffer {
    const n = (block - ((packet.length + 2) % block)) % block;
    return Buffer.concat([packet, Buffer.from(Array.from({ length: n }, (_, i) => i + 1)), Buffer.from([n, 4])]);
  }

  for (const [name, hash, icvLen, enc, auth] of [
    ['aes128-sha1', sha1, 12, '000102030405060708090a0b0c0d0e0f', '1112131415161718191a1b1c1d1e1f2021222324'],
    ['aes256-sha256', sha256, 16, '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', 'a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf'],
  ] as const) {
    it(`${name}: the engine's packet equals the one noble builds byte for byte, and noble's packet opens in the engine`, () => {
      const sa = fixedSa(name, { enc, auth });
      const iv = h('f0e0d0c0b0a090807060504030201000');
      const e = new EspEngine({ random: (n) => Buffer.concat([iv, Buffer.alloc(Math.max(0, n - 16))]).subarray(0, n) });
      expect(e.tryAddSa(sa)).toBeUndefined();
      e.setOutboundSequence(sa.id, 41);
      const [send] = e.encryptBatch([{ saId: sa.id, innerDstPort: 0, payload: echo }], 0).sends;
      const hdr = h('c0ffee01 0000002a');
      const ct = cbc(h(enc), iv, { disablePadding: true }).encrypt(nobleTrailer(echo, 16));
      const body = Buffer.concat([hdr, iv, ct]);
      const want = Buffer.concat([body, hmac(hash, h(auth), body).subarray(0, icvLen)]);
      expect(send!.data.toString('hex')).toBe(want.toString('hex'));
      // noble → engine: another IV, TFC padding after the packet, sequence 7
      const iv2 = h('00112233445566778899aabbccddeeff');
      const hdr2 = h('00001000 00000007');
      const ct2 = cbc(h(enc), iv2, { disablePadding: true }).encrypt(nobleTrailer(Buffer.concat([echo, Buffer.alloc(11)]), 16));
      const body2 = Buffer.concat([hdr2, iv2, ct2]);
      const pkt = Buffer.concat([body2, hmac(hash, h(auth), body2).subarray(0, icvLen)]);
      const r = e.decryptBatch([{ data: pkt, from: sa.peer }], 0);
      expect(r.ipv4.map((d) => Buffer.from(d.packet).toString('hex'))).toEqual([echo.toString('hex')]);
    });
  }

  it('aes128gcm16: the engine\'s packet equals the one noble builds (nonce = salt | 0^32 | seq, AAD = SPI | seq), and back', () => {
    const enc = '000102030405060708090a0b0c0d0e0f' + 'cafebabe';
    const sa = fixedSa('aes128gcm16', { enc, auth: '' });
    const e = new EspEngine();
    e.addSa(sa);
    e.setOutboundSequence(sa.id, 41);
    const [send] = e.encryptBatch([{ saId: sa.id, innerDstPort: 0, payload: echo }], 0).sends;
    const hdr = h('c0ffee01 0000002a');
    const iv = h('00000000 0000002a');
    const sealed = gcm(h(enc).subarray(0, 16), Buffer.concat([h('cafebabe'), iv]), hdr).encrypt(nobleTrailer(echo, 4));
    expect(send!.data.toString('hex')).toBe(Buffer.concat([hdr, iv, sealed]).toString('hex'));
    const hdr2 = h('00001000 00000009');
    const iv2 = h('0102030405060708');
    const sealed2 = gcm(h(enc).subarray(0, 16), Buffer.concat([h('cafebabe'), iv2]), hdr2).encrypt(nobleTrailer(echo, 4));
    const r = e.decryptBatch([{ data: Buffer.concat([hdr2, iv2, sealed2]), from: sa.peer }], 0);
    expect(r.ipv4.map((d) => Buffer.from(d.packet).toString('hex'))).toEqual([echo.toString('hex')]);
  });
});

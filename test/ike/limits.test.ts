/**
 * Hold under attack (issue 14, findings 1, 3, 4, 5, 7): spoofed MM1 floods, replayed MM1s,
 * limits on IKE and child SAs, Delete payloads with many SPIs, replayed Informationals.
 */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import type { Endpoint } from '../../src/core/sa.js';
import { DOI_IPSEC, ExchangeType, IdType, NotifyType, PayloadType, ProtocolId } from '../../src/ike/wire/constants.js';
import { decodeHeader } from '../../src/ike/wire/header.js';
import { encodeDelete } from '../../src/ike/wire/delete.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import { decodeMessage, encodeMessage, encodePayloadChain } from '../../src/ike/wire/message.js';
import { ipv4ToBytes } from '../../src/core/ipv4.js';
import type { IkeOutput } from '../../src/ike/responder.js';
import { deliver, initiator, mainMode, only, quickMode, responder, sends } from './harness.js';

const P2 = { cipher: 'aes128', auth: 'sha1' } as const;
const noSend = (out: IkeOutput[]) => expect(sends(out)).toHaveLength(0);
const at = (address: string, port: number) => initiator({ seen500: { address, port }, seen4500: { address, port: port + 30000 } });

/** An MM1 as a spoofer sends it: a recorded one with a fresh initiator cookie. */
function spoofed(template: Buffer, n: number): Buffer {
  const m = Buffer.from(template);
  m.writeUInt32BE(0x5f000000 + n, 0);
  m.writeUInt32BE(n + 1, 4);
  return m;
}
const randomAddress = (n: number): Endpoint => ({ address: `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`, port: 500 });

describe('finding 1: spoofed Main Mode 1 cannot lock real clients out', () => {
  it('a flood from thousands of addresses evicts half-open SAs instead of refusing a real client', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const template = initiator().mm1();
    for (let n = 0; n < 3000; n++) r.receive(spoofed(template, n), randomAddress(n), { address: '198.51.100.1', port: 500 }, n);
    expect(counters.get('ike.halfopen.evicted.total')).toBe(2000);
    // Old code refused every MM1 once 1000 were half-open.
    const real = at('203.0.113.50', 500);
    mainMode(r, real, 3000);
    expect(r.list().map((s) => s.peer)).toEqual([{ address: '203.0.113.50', port: 30500 }]);
  });

  it('spoofed MM1s naming one address (a carrier NAT) evict the oldest of that address, a real client there still connects', () => {
    const counters = new Counters();
    const r = responder({ counters, halfOpenPerAddress: 5 });
    const template = initiator().mm1();
    for (let n = 0; n < 40; n++) r.receive(spoofed(template, n), { address: '203.0.113.9', port: 1000 + n }, { address: '198.51.100.1', port: 500 }, n);
    expect(counters.get('ike.halfopen.evicted.per-address')).toBe(35);
    const real = at('203.0.113.9', 2000);
    mainMode(r, real, 100);
    expect(r.list()).toHaveLength(1);
    // Eviction prefers SAs that never answered MM2: a client that sent MM3 survives the next wave.
    const slow = at('203.0.113.9', 3000);
    slow.onMm2(only(deliver(r, slow, slow.mm1(), 200)).data);
    slow.onMm4(only(deliver(r, slow, slow.mm3(), 201)).data);
    for (let n = 100; n < 120; n++) r.receive(spoofed(template, n), { address: '203.0.113.9', port: 1000 + n }, { address: '198.51.100.1', port: 500 }, 202);
    slow.onMm6(only(deliver(r, slow, slow.mm5(), 300)).data);
    expect(r.list()).toHaveLength(2);
  });

  it('half-open SAs still expire after 30 s; limits are configurable', () => {
    const counters = new Counters();
    const r = responder({ counters, halfOpenTotal: 2 });
    for (let k = 0; k < 3; k++) {
      const i = at(`203.0.113.${20 + k}`, 500);
      expect(sends(deliver(r, i, i.mm1(), 0))).toHaveLength(1);
    }
    expect(counters.get('ike.halfopen.evicted.total')).toBe(1);
    expect(r.nextDeadline()).toBe(30_000);
    r.tick(30_000);
    expect(counters.get('ike.halfopen.expired')).toBe(2);
    expect(r.nextDeadline()).toBeUndefined();
  });

  it('IKE messages over 10 KB are dropped unparsed and counted; retransmitted MM1s are still recognised', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    // An MM1 with a 12 KB vendor ID: parseable, but over the cap.
    const m1 = i.mm1();
    const sa = decodeMessage(m1).payloads.sa!.body;
    const chain = encodePayloadChain([{ type: PayloadType.SA, body: sa }, { type: PayloadType.VID, body: Buffer.alloc(12_000, 0x41) }]);
    const big = encodeMessage({ initiatorCookie: Buffer.alloc(8, 0x77), responderCookie: Buffer.alloc(8), exchangeType: ExchangeType.IDENTITY_PROTECTION, flags: 0, messageId: 0 }, PayloadType.SA, chain);
    expect(big.length).toBeGreaterThan(10_000);
    noSend(deliver(r, i, big, 0));
    expect(counters.get('ike.drop.too-big')).toBe(1);
    // A normal MM1, then its retransmission: same reply; another MM1 with the same cookie is not a retransmission.
    const reply = only(deliver(r, i, m1, 1)).data;
    expect(only(deliver(r, i, m1, 2)).data.equals(reply)).toBe(true);
    expect(counters.get('ike.retransmit.mm1')).toBe(1);
    const other = Buffer.from(m1);
    other[other.length - 1]! ^= 1;
    noSend(deliver(r, i, other, 3));
    expect(counters.get('ike.drop.mm1-cookie-reused')).toBe(1);
  });

  it('a flood from random sources writes a bounded number of log lines', () => {
    const r = responder();
    let lines = 0;
    for (let n = 0; n < 5000; n++) {
      const junk = Buffer.alloc(40, 0xab);
      const out = r.receive(junk, randomAddress(n), { address: '198.51.100.1', port: 500 }, n);
      lines += out.filter((o) => o.type === 'log').length;
    }
    // One reason, 5 s: at most 20 lines (old code: one per source address, 5000).
    expect(lines).toBeLessThanOrEqual(20);
    expect(r.counters.get('ike.rx')).toBe(5000);
  });

  it('a spoofed MM1 flood logs a bounded number of lines too (no info line per half-open SA)', () => {
    const r = responder();
    const template = initiator().mm1();
    let lines = 0;
    for (let n = 0; n < 3000; n++) lines += r.receive(spoofed(template, n), randomAddress(n), { address: '198.51.100.1', port: 500 }, n).filter((o) => o.type === 'log').length;
    expect(lines).toBeLessThan(200);
  });
});

describe('finding 4: a replayed or duplicated MM1 never replaces an established SA', () => {
  it('the same MM1 again after Phase 1 completed leaves the SA and its Quick Modes working', () => {
    const r = responder();
    const i = initiator();
    const m1 = i.mm1();
    const src = i.src;
    const dst = i.dst;
    i.onMm2(only(deliver(r, i, m1, 0)).data);
    i.onMm4(only(deliver(r, i, i.mm3(), 10)).data);
    i.onMm6(only(deliver(r, i, i.mm5(), 20)).data);
    // A duplicate of MM1 arrives late (lossy network) from where MM1 came from.
    const dup = r.receive(m1, src, dst, 30);
    const newCookie = decodeHeader(only(dup).data).responderCookie;
    expect(newCookie.equals(i.ckyR)).toBe(false);
    expect(r.list()).toHaveLength(1);
    const { up } = quickMode(r, i, P2, 40);
    expect(up.ikeSaId).toBe(r.list()[0]!.id);
  });

  it('a cookie pair already in the table is never reused, even with a random source that repeats itself', () => {
    const counters = new Counters();
    const r = responder({ counters, random: (n) => Buffer.alloc(n, 0x42) });
    const i = initiator();
    const m1 = i.mm1();
    const first = decodeHeader(only(r.receive(m1, { address: '203.0.113.7', port: 500 }, { address: '198.51.100.1', port: 500 }, 0)).data).responderCookie;
    // the same initiator cookie from another endpoint would get the same responder cookie: refused, the first SA kept
    noSend(r.receive(m1, { address: '203.0.113.8', port: 500 }, { address: '198.51.100.1', port: 500 }, 1));
    expect(counters.get('ike.drop.cookie-collision')).toBe(1);
    expect(first.equals(Buffer.alloc(8, 0x42))).toBe(true);
    expect(only(r.receive(m1, { address: '203.0.113.7', port: 500 }, { address: '198.51.100.1', port: 500 }, 2)).data.subarray(8, 16).equals(first)).toBe(true);
  });

  it('responder cookies are random, not a function of the endpoint and initiator cookie', () => {
    const r = responder();
    const i = initiator();
    const m1 = i.mm1();
    const a = decodeHeader(only(deliver(r, i, m1, 0)).data).responderCookie;
    r.tick(30_000); // the half-open SA expires
    const b = decodeHeader(only(deliver(r, i, m1, 30_001)).data).responderCookie;
    expect(a.equals(b)).toBe(false);
  });
});

describe('finding 3: limits on IKE SAs, child SAs and Delete payloads', () => {
  it('IKE SAs per address: the next client from that address is refused at MM5, others are not', () => {
    const counters = new Counters();
    const r = responder({ counters, ikeSasPerAddress: 2 });
    mainMode(r, at('203.0.113.7', 500));
    mainMode(r, at('203.0.113.7', 1500));
    const third = at('203.0.113.7', 2500);
    third.onMm2(only(deliver(r, third, third.mm1(), 0)).data);
    third.onMm4(only(deliver(r, third, third.mm3(), 0)).data);
    noSend(deliver(r, third, third.mm5(), 0));
    expect(counters.get('ike.limit.per-address')).toBe(1);
    expect(r.list()).toHaveLength(2);
    mainMode(r, at('203.0.113.8', 500));
    expect(r.list()).toHaveLength(3);
  });

  it('IKE SAs per identity and in total', () => {
    const counters = new Counters();
    const id = { idType: IdType.IPV4_ADDR, protocol: 17, port: 500, data: ipv4ToBytes('192.168.1.10') };
    const r = responder({ counters, ikeSasPerIdentity: 2 });
    const mk = (a: string, ident = id) => initiator({ seen500: { address: a, port: 500 }, seen4500: { address: a, port: 4500 }, id: ident });
    mainMode(r, mk('203.0.113.1'));
    mainMode(r, mk('203.0.113.2'));
    expect(() => mainMode(r, mk('203.0.113.3'))).toThrow(/expected one datagram, got 0/);
    expect(counters.get('ike.limit.per-identity')).toBe(1);
    mainMode(r, mk('203.0.113.3', { ...id, data: ipv4ToBytes('192.168.1.11') }));
    const t = responder({ counters, ikeSasTotal: 1 });
    mainMode(t, mk('203.0.113.1'));
    expect(() => mainMode(t, mk('203.0.113.2', { ...id, data: ipv4ToBytes('10.0.0.2') }))).toThrow(/got 0/);
    expect(counters.get('ike.limit.total')).toBe(1);
  });

  it('over a limit, a Phase 1 rekey of the same endpoint and identity replaces its oldest SA; children move over', () => {
    const r = responder({ ikeSasPerAddress: 1 });
    const i = at('203.0.113.7', 500);
    mainMode(r, i, 0);
    const { up } = quickMode(r, i, P2, 0);
    const old = r.list()[0]!.id;
    // The same client runs Main Mode again from the same endpoint (a Phase 1 rekey).
    const again = initiator({ seen500: { address: '203.0.113.7', port: 30500 }, seen4500: { address: '203.0.113.7', port: 30500 } });
    again.onMm2(only(deliver(r, again, again.mm1(), 10)).data);
    again.onMm4(only(deliver(r, again, again.mm3(), 10)).data);
    const out = deliver(r, again, again.mm5(), 10);
    // MM6 to the client, and a Delete for the SA it replaces
    expect(sends(out)).toHaveLength(2);
    again.onMm6(sends(out)[0]!.data);
    expect(out.filter((o) => o.type === 'ike-sa-down')).toEqual([expect.objectContaining({ id: old })]);
    expect(out.some((o) => o.type === 'child-sa-down')).toBe(false);
    expect(r.list()).toHaveLength(1);
    expect(r.list()[0]!.id).not.toBe(old);
    // the child SA lives on under the new SA: deleting it locally works
    expect(r.deleteChildSa(up.id, 20).some((o) => o.type === 'child-sa-down')).toBe(true);
  });

  it('child SAs per IKE SA are capped: the next Quick Mode gets NO-PROPOSAL-CHOSEN', () => {
    const counters = new Counters();
    const r = responder({ counters, childSasPerIkeSa: 2 });
    const i = initiator();
    mainMode(r, i);
    quickMode(r, i, P2);
    quickMode(r, i, P2);
    const q = i.qm1(P2);
    const out = deliver(r, i, q.data, 0);
    const n = i.openInformational(only(out).data);
    expect(n.notifies[0]!.notifyType).toBe(NotifyType.NO_PROPOSAL_CHOSEN);
    expect(out.some((o) => o.type === 'child-sa-up')).toBe(false);
    expect(counters.get('ike.limit.child-sas-per-ike-sa')).toBe(1);
  });

  it('a Delete payload with more SPIs than the cap is ignored whole; within the cap, children are found by SPI', () => {
    const counters = new Counters();
    const r = responder({ counters, maxDeleteSpis: 64 });
    const i = initiator();
    mainMode(r, i);
    const { up } = quickMode(r, i, P2);
    const spi = (v: number) => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(v >>> 0);
      return b;
    };
    const filler = Array.from({ length: 64 }, (_, k) => spi(0x7000_0000 + k));
    const tooMany = encodeDelete({ doi: DOI_IPSEC, protocolId: ProtocolId.IPSEC_ESP, spiSize: 4, spis: [spi(up.outbound.spi), ...filler] });
    const out = deliver(r, i, i.informational([{ type: PayloadType.D, body: tooMany }]), 1);
    expect(out.some((o) => o.type === 'child-sa-down')).toBe(false);
    expect(counters.get('ike.drop.delete-too-many-spis')).toBe(1);
    const ok = encodeDelete({ doi: DOI_IPSEC, protocolId: ProtocolId.IPSEC_ESP, spiSize: 4, spis: [...filler.slice(0, 63), spi(up.outbound.spi)] });
    const out2 = deliver(r, i, i.informational([{ type: PayloadType.D, body: ok }]), 2);
    expect(out2.filter((o) => o.type === 'child-sa-down')).toEqual([expect.objectContaining({ id: up.id })]);
    expect(counters.get('ike.drop.delete-unknown-spi')).toBe(63);
  });
});

describe('finding 7: Informational exchanges are protected against replay', () => {
  it('a captured R-U-THERE replayed (from another port) is not answered again and moves nothing', () => {
    const counters = new Counters();
    const r = responder({ counters, dpdIdle: 30 });
    const i = initiator({ dpd: true });
    mainMode(r, i, 0);
    quickMode(r, i, P2, 0);
    const spi = Buffer.concat([i.ckyI, i.ckyR]);
    const rut = i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 1]) }) }]);
    expect(only(deliver(r, i, rut, 1000)).to).toEqual({ address: '203.0.113.7', port: 4500 });
    const home = i.src;
    i.src = { address: '203.0.113.7', port: 61001 };
    const out = deliver(r, i, rut, 2000);
    noSend(out);
    expect(out.some((o) => o.type === 'peer-moved')).toBe(false);
    expect(counters.get('ike.drop.informational-replay')).toBe(1);
    // Our next DPD probe still goes where the client is.
    expect(only(r.tick(31_000)).to).toEqual(home);
    // A fresh R-U-THERE (new message ID) is answered.
    i.src = home;
    const fresh = i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 2]) }) }]);
    expect(sends(deliver(r, i, fresh, 32_000))).toHaveLength(1);
  });

  it('an Informational reusing a Quick Mode message ID is dropped', () => {
    const counters = new Counters();
    const r = responder({ counters });
    const i = initiator();
    mainMode(r, i);
    const q = i.qm1(P2);
    only(deliver(r, i, q.data, 0));
    const spi = Buffer.concat([i.ckyI, i.ckyR]);
    const n = encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 1]) });
    noSend(deliver(r, i, i.informational([{ type: PayloadType.N, body: n }], q.mid), 1));
    expect(counters.get('ike.drop.informational-replay')).toBe(1);
  });
});

/** HOSTILE-INPUTS.md section D (ESP) and the ESP side of section A, against the engine. */
import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GcmBatchProvider, HmacBatchProvider } from '../../src/esp/hmac.js';
import { nativeGcm, nativeHmac } from '../../src/io/udp-native.js';
import { Counters } from '../../src/core/counters.js';
import { EspEngine, type EspEvent } from '../../src/esp/engine.js';
import { classifyNatt } from '../../src/esp/natt.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

/** Per packet through node:crypto, and (when the addon is built) HMAC and AES-GCM a batch per call through the addon's OpenSSL. */
type Crypto = { hmacBatch?: HmacBatchProvider | undefined; gcmBatch?: GcmBatchProvider | undefined };
const HMACS: [string, Crypto][] = [['node:crypto', {}], ...(nativeHmac() && nativeGcm() ? [['native batch', { hmacBatch: nativeHmac(), gcmBatch: nativeGcm() }] as [string, Crypto]] : [])];
let crypto: Crypto = {};

function setup(name = 'aes128-sha1', replayWindow?: number) {
  const { ours } = saPair(name);
  const counters = new Counters();
  const e = new EspEngine({ counters, ...crypto, ...(replayWindow ? { replayWindow } : {}) });
  e.addSa(ours);
  const spec = specOf(ours);
  const pkt = (seq: number, p: Parameters<typeof craft>[3] = { payload: Buffer.from('l2tp') }) => ({ data: craft(spec, ours.inbound, seq, p), from: ours.peer });
  return { ours, e, counters, spec, pkt };
}

const logs = (ev: EspEvent[]) => ev.filter((x): x is Extract<EspEvent, { type: 'log' }> => x.type === 'log');

describe.each(HMACS)('ESP hostile inputs (HOSTILE-INPUTS.md D), crypto: %s', (_h, provider) => {
  beforeEach(() => {
    crypto = provider;
  });
  it('unknown SPI: dropped, counted, logged rate-limited, nothing sent back', () => {
    const { e, counters } = setup();
    let logged = 0;
    for (let i = 0; i < 200; i++) {
      const d = randomBytes(100);
      d.writeUInt32BE(0xdead0000 + i, 0);
      const r = e.decryptBatch([{ data: d, from: { address: '203.0.113.9', port: 4500 } }], 0);
      expect(r.delivered).toHaveLength(0);
      expect(r.events.every((x) => x.type === 'log')).toBe(true); // no send of any kind exists for input
      logged += logs(r.events).length;
    }
    expect(counters.get('esp.in.drop.unknown-spi')).toBe(200);
    expect(logged).toBe(5);
    const later = e.decryptBatch([{ data: Buffer.from([0xde, 0xad, 0, 0, 0, 0, 0, 1]), from: { address: '203.0.113.9', port: 4500 } }], 20_000);
    const f = logs(later.events)[0]!.fields!;
    expect(f.spi).toBe('0xdead0000');
    expect(f.seq).toBe(1);
    expect(f.from).toBe('203.0.113.9:4500');
    expect(f.suppressed).toBe(195);
  });

  it('truncated packets and bad lengths', () => {
    const { e, counters, pkt } = setup();
    const good = pkt(1).data;
    const batch = [0, 3, 7, 8, 20, 8 + 16 + 12, 8 + 16 + 12 + 15, good.length - 1].map((n) => ({ data: good.subarray(0, n), from: { address: '1.2.3.4', port: 4500 } }));
    const r = e.decryptBatch(batch, 0);
    expect(r.delivered).toHaveLength(0);
    expect(counters.get('esp.in.drop.truncated') + counters.get('esp.in.drop.bad-length')).toBe(batch.length);
    // the intact packet still goes through afterwards: nothing moved the window
    expect(e.decryptBatch([{ data: good, from: { address: '1.2.3.4', port: 4500 } }], 0).delivered).toHaveLength(1);
  });

  it('bad ICV: dropped and logged with SPI, peer and sequence number', () => {
    const { e, counters, pkt, ours } = setup();
    const p = pkt(5);
    const bad = Buffer.from(p.data);
    bad[bad.length - 1]! ^= 1;
    const r = e.decryptBatch([{ data: bad, from: p.from }], 0);
    expect(r.delivered).toHaveLength(0);
    expect(counters.get('esp.in.drop.bad-icv')).toBe(1);
    const f = logs(r.events)[0]!.fields!;
    expect(f).toMatchObject({ reason: 'bad-icv', seq: 5, spi: `0x${ours.inbound.spi.toString(16).padStart(8, '0')}`, peer: '198.51.100.7:40001' });
  });

  it('sequence number 0, duplicates, below the window', () => {
    const { e, counters, pkt } = setup('aes128-sha1', 64);
    expect(e.decryptBatch([pkt(0)], 0).delivered).toHaveLength(0);
    expect(counters.get('esp.in.drop.seq-zero')).toBe(1);
    const p = pkt(200);
    expect(e.decryptBatch([p, p], 0).delivered).toHaveLength(1);
    expect(counters.get('esp.in.drop.replay-dup')).toBe(1);
    expect(e.decryptBatch([pkt(136)], 0).delivered).toHaveLength(0);
    expect(counters.get('esp.in.drop.replay-old')).toBe(1);
    expect(e.decryptBatch([pkt(137)], 0).delivered).toHaveLength(1);
  });

  it('a forged ICV with a huge sequence number does not move the window (CBC and GCM)', () => {
    for (const name of ['aes256-sha256', 'aes128gcm16']) {
      const { e, pkt, counters } = setup(name, 64);
      expect(e.decryptBatch([pkt(10)], 0).delivered).toHaveLength(1);
      const forged = Buffer.from(pkt(0xfffffff0).data);
      forged[forged.length - 3]! ^= 0x80;
      expect(e.decryptBatch([{ data: forged, from: pkt(1).from }], 0).delivered).toHaveLength(0);
      expect(counters.get('esp.in.drop.bad-icv')).toBe(1);
      expect(e.highestInboundSeq(`sa1`)).toBe(10);
      expect(e.decryptBatch([pkt(11), pkt(9)], 0).delivered).toHaveLength(2);
    }
  });

  it('pad length larger than the payload, padding other than 1..n, next header 59 or not 17', () => {
    const { e, counters, pkt, spec } = setup();
    const payload = Buffer.from('abcdef');
    // plaintext = 8 + 6 + padding + 2 = 16 + ... choose padding so the total is 32 bytes (16 pad bytes)
    const pad = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
    expect(spec.blockSize).toBe(16);
    const cases: [string, Parameters<typeof craft>[3]][] = [
      ['bad-pad-length', { raw: Buffer.concat([Buffer.alloc(14, 1), Buffer.from([15, 17])]) }],
      ['bad-pad-length', { raw: Buffer.concat([Buffer.alloc(14, 1), Buffer.from([255, 17])]) }],
      ['bad-padding', { payload, padding: Uint8Array.from(pad).reverse() }],
      ['bad-padding', { payload, padding: new Uint8Array(16) }],
      ['dummy-packet', { payload, padding: pad, nextHeader: 59 }],
      ['not-udp', { payload, padding: pad, nextHeader: 6 }],
      ['not-udp', { payload, padding: pad, nextHeader: 4 }],
    ];
    let seq = 1;
    for (const [reason, p] of cases) {
      const before = counters.get(`esp.in.drop.${reason}`);
      expect(e.decryptBatch([pkt(seq++, p)], 0).delivered).toHaveLength(0);
      expect(counters.get(`esp.in.drop.${reason}`)).toBe(before + 1);
    }
    // the well-formed variant with 16 padding bytes is accepted (RFC 4303 §2.4 allows up to 255)
    expect(e.decryptBatch([pkt(seq++, { payload, padding: pad })], 0).delivered.map((d) => Buffer.from(d.payload))).toEqual([payload]);
  });

  it('inner packet not UDP to port 1701, bad inner lengths, inner source port 0', () => {
    const { e, counters, pkt } = setup();
    const payload = Buffer.from('x'.repeat(20));
    const cases: [string, Parameters<typeof craft>[3]][] = [
      ['not-l2tp', { payload, dstPort: 500 }],
      ['not-l2tp', { payload, dstPort: 1702 }],
      ['bad-inner-port', { payload, srcPort: 0 }],
      ['bad-inner-length', { payload, udpLen: 7 }],
      ['bad-inner-length', { payload, udpLen: 8 + payload.length + 1 }],
      // 7 inner bytes + padding 1..7 + Pad Length 7 + Next Header 17 = one block
      ['inner-truncated', { raw: Buffer.from([0x06, 0xa5, 0x06, 0xa5, 0, 8, 0, 1, 2, 3, 4, 5, 6, 7, 7, 17]) }],
    ];
    let seq = 1;
    for (const [reason, p] of cases) {
      const before = counters.get(`esp.in.drop.${reason}`);
      expect(e.decryptBatch([pkt(seq++, p)], 0).delivered).toHaveLength(0);
      expect(counters.get(`esp.in.drop.${reason}`), reason).toBe(before + 1);
    }
    // a shorter UDP length than the inner bytes (TFC padding) is honoured
    const r = e.decryptBatch([pkt(seq++, { payload, udpLen: 8 + 5 })], 0);
    expect(r.delivered.map((d) => Buffer.from(d.payload).toString())).toEqual(['xxxxx']);
  });

  it('plaintext UDP 1701 (L2TP) arriving on 4500 is not delivered', () => {
    const { e, counters } = setup();
    // An L2TP SCCRQ header (T,L,S bits, version 2) as a bare UDP payload
    const l2tp = Buffer.from('c802003c0000000000000000000000000008000000000001', 'hex');
    const c = classifyNatt(l2tp);
    expect(c.kind).toBe('esp');
    const r = e.decryptBatch([{ data: l2tp, from: { address: '192.0.2.77', port: 1701 } }], 0);
    expect(r.delivered).toHaveLength(0);
    expect(counters.get('esp.in.drop.unknown-spi')).toBe(1);
  });

  it("SA A's packets are attributed to A's peer even when sent from B's endpoint", () => {
    const a = saPair('aes128-sha1', 'A', 0x1111, 0x2222);
    const b = saPair('aes128-sha1', 'B', 0x3333, 0x4444);
    b.ours.peer = { address: '198.51.100.8', port: 40002 };
    const e = new EspEngine({ ...crypto });
    e.addSa(a.ours);
    e.addSa(b.ours);
    const spec = specOf(a.ours);
    const r = e.decryptBatch([{ data: craft(spec, a.ours.inbound, 1, { payload: Buffer.from('hi') }), from: b.ours.peer }], 0);
    expect(r.delivered).toHaveLength(1);
    expect(r.delivered[0]!.saId).toBe('A');
    expect(r.delivered[0]!.peer).toEqual(a.ours.peer);
    expect(r.events).toContainEqual({ type: 'peer-moved', saId: 'A', peer: a.ours.peer, observed: b.ours.peer });
    // B's keys cannot produce A's SPI: a packet with A's SPI under B's keys fails the ICV
    const wrong = craft(spec, { ...b.ours.inbound, spi: a.ours.inbound.spi }, 2, { payload: Buffer.from('hi') });
    const w = e.decryptBatch([{ data: wrong, from: { address: '203.0.113.66', port: 999 } }], 0);
    expect(w.delivered).toHaveLength(0);
    // an unauthenticated packet from a new endpoint is not reported as a NAT port change (HOSTILE-INPUTS A)
    expect(w.events.some((x) => x.type === 'peer-moved')).toBe(false);
  });

  it('a flood of bad packets is logged at most 5 times per reason per 10 s and counted exactly', () => {
    const { e, counters, pkt } = setup();
    const bad = Buffer.from(pkt(1).data);
    bad[20]! ^= 1;
    const batch = Array.from({ length: 1000 }, () => ({ data: bad, from: { address: '1.1.1.1', port: 4500 } }));
    const r = e.decryptBatch(batch, 0);
    expect(logs(r.events)).toHaveLength(5);
    expect(counters.get('esp.in.drop.bad-icv')).toBe(1000);
  });
});

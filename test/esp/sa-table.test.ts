/** SA table (rekey: newest outbound wins, older inbound valid until removed), outbound sequence numbers, addSa validation. */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { EspEngine, REKEY_SEQ_THRESHOLD } from '../../src/esp/engine.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

describe('SA table', () => {
  it('after a rekey the newest SA of a peer sends; the old one still receives until removed', () => {
    const old = saPair('aes128-sha1', 'old', 0x1000, 0x2000).ours;
    const neu = saPair('aes256-sha256', 'new', 0x1001, 0x2001).ours;
    const e = new EspEngine();
    e.addSa(old);
    expect(e.saForPeer(old.peer)).toBe('old');
    e.addSa(neu);
    expect(e.saForPeer({ ...old.peer })).toBe('new');
    const r = e.decryptBatch(
      [
        { data: craft(specOf(old), old.inbound, 1, { payload: Buffer.from('a') }), from: old.peer },
        { data: craft(specOf(neu), neu.inbound, 1, { payload: Buffer.from('b') }), from: neu.peer },
      ],
      0,
    );
    expect(r.delivered.map((d) => d.saId)).toEqual(['old', 'new']);
    e.removeSa('new');
    expect(e.saForPeer(old.peer)).toBe('old');
    e.removeSa('old');
    expect(e.saForPeer(old.peer)).toBeUndefined();
    expect(e.stats('old')).toBeUndefined();
    const after = e.decryptBatch([{ data: craft(specOf(old), old.inbound, 2, { payload: Buffer.from('a') }), from: old.peer }], 0);
    expect(after.delivered).toHaveLength(0);
    expect(e.encryptBatch([{ saId: 'old', innerDstPort: 1701, payload: Buffer.alloc(1) }], 0).sends).toHaveLength(0);
  });

  it('peers behind one NAT (same address, different ports) are different peers', () => {
    const a = saPair('aes128-sha1', 'a', 0x1000, 0x2000).ours;
    const b = saPair('aes128-sha1', 'b', 0x1001, 0x2001).ours;
    b.peer = { address: a.peer.address, port: a.peer.port + 1 };
    const e = new EspEngine();
    e.addSa(a);
    e.addSa(b);
    expect(e.saForPeer(a.peer)).toBe('a');
    expect(e.saForPeer(b.peer)).toBe('b');
    const { sends } = e.encryptBatch(
      [
        { saId: 'a', innerDstPort: 1701, payload: Buffer.alloc(3) },
        { saId: 'b', innerDstPort: 1701, payload: Buffer.alloc(3) },
      ],
      0,
    );
    expect(sends.map((s) => s.to)).toEqual([a.peer, b.peer]);
  });

  it('addSa refuses what ESP cannot run without throwing: counted, reason returned by tryAddSa, logged with the next batch', () => {
    const counters = new Counters();
    const e = new EspEngine({ counters });
    const { ours } = saPair('aes128-sha1');
    expect(e.tryAddSa({ ...ours, inbound: { ...ours.inbound, encKey: Buffer.alloc(15) } })).toMatch(/encKey is 15 bytes/);
    expect(e.tryAddSa({ ...ours, transform: { cipher: 'aes-cbc', keyBits: 128, integ: 'none' } })).toMatch(/without integrity/);
    expect(e.tryAddSa({ ...ours, transform: { cipher: 'aes-gcm-16', keyBits: 128, integ: 'hmac-sha1-96' } })).toMatch(/combined mode/);
    expect(e.tryAddSa({ ...ours, transform: { cipher: 'aes-cbc', keyBits: 64, integ: 'hmac-sha1-96' } })).toMatch(/key length/);
    expect(e.tryAddSa({ ...ours, inbound: { ...ours.inbound, spi: 0 } })).toMatch(/reserved/);
    expect(() => e.addSa({ ...ours, inbound: { ...ours.inbound, spi: 255 } })).not.toThrow();
    expect(counters.get('esp.sa.rejected')).toBe(6);
    expect(e.stats(ours.id)).toBeUndefined();
    expect(e.tryAddSa(ours)).toBeUndefined();
    expect(e.tryAddSa({ ...ours, id: 'other' })).toMatch(/SPI/);
    const { events } = e.decryptBatch([], 0);
    const rejected = events.filter((x) => x.type === 'log' && x.event === 'esp.sa.rejected');
    expect(rejected).toHaveLength(7);
    expect(e.takeEvents()).toEqual([]);
  });

  it("an SA IKE labels raw ESP ('none') runs UDP-encapsulated, with a warning", () => {
    const counters = new Counters();
    const e = new EspEngine({ counters });
    const { ours } = saPair('aes128-sha1');
    expect(e.tryAddSa({ ...ours, encapsulation: 'none' })).toBeUndefined();
    expect(counters.get('esp.sa.raw-esp-requested')).toBe(1);
    expect(e.takeEvents()).toEqual([expect.objectContaining({ type: 'log', level: 'warn', event: 'esp.sa.raw-esp-requested' })]);
    expect(e.saForPeer(ours.peer)).toBe(ours.id);
  });

});

describe('outbound sequence numbers (RFC 4303 §3.3.3)', () => {
  it("emits 'rekey-needed' once past 2^32 - 2^16 and never wraps", () => {
    const counters = new Counters();
    const e = new EspEngine({ counters });
    const { ours } = saPair('aes128-sha1');
    e.addSa(ours);
    const one = [{ saId: ours.id, innerDstPort: 1701, payload: Buffer.alloc(4) }];
    e.setOutboundSequence(ours.id, REKEY_SEQ_THRESHOLD - 1);
    let r = e.encryptBatch(one, 0);
    expect(r.events.filter((x) => x.type === 'rekey-needed')).toHaveLength(0);
    r = e.encryptBatch([...one, ...one], 0);
    expect(r.events.filter((x) => x.type === 'rekey-needed')).toEqual([{ type: 'rekey-needed', saId: ours.id }]);
    expect(r.sends[0]!.data.readUInt32BE(4)).toBe(REKEY_SEQ_THRESHOLD + 1);
    r = e.encryptBatch(one, 0);
    expect(r.events.filter((x) => x.type === 'rekey-needed')).toHaveLength(0);
    e.setOutboundSequence(ours.id, 0xfffffffe);
    r = e.encryptBatch([...one, ...one, ...one], 0);
    expect(r.sends).toHaveLength(1);
    expect(r.sends[0]!.data.readUInt32BE(4)).toBe(0xffffffff);
    expect(counters.get('esp.out.drop.seq-exhausted')).toBe(2);
    expect(r.events.filter((x) => x.type === 'rekey-needed')).toHaveLength(0); // already emitted once
  });

  it('outbound drops: unknown SA, bad port, too big; traffic events and stats', () => {
    const counters = new Counters();
    const e = new EspEngine({ counters });
    const { ours } = saPair('aes128-sha1');
    e.addSa(ours);
    const r = e.encryptBatch(
      [
        { saId: 'nope', innerDstPort: 1701, payload: Buffer.alloc(1) },
        { saId: ours.id, innerDstPort: 0, payload: Buffer.alloc(1) },
        { saId: ours.id, innerDstPort: 70000, payload: Buffer.alloc(1) },
        { saId: ours.id, innerDstPort: 1701, payload: Buffer.alloc(65530) },
        { saId: ours.id, innerDstPort: 1701, payload: Buffer.alloc(10) },
      ],
      0,
    );
    expect(r.sends).toHaveLength(1);
    expect(counters.get('esp.out.drop.unknown-sa')).toBe(1);
    expect(counters.get('esp.out.drop.bad-port')).toBe(2);
    expect(counters.get('esp.out.drop.too-big')).toBe(1);
    expect(e.stats(ours.id)).toEqual({ packetsIn: 0, bytesIn: 0, packetsOut: 1, bytesOut: r.sends[0]!.data.length });
  });
});

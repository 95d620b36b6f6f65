/** NAT rebinding (RFC 3948 §2.2, RFC 3947 §4): the SA follows the peer's newest authenticated packet. */
import { describe, expect, it } from 'vitest';
import { Counters } from '../../src/core/counters.js';
import { EspEngine } from '../../src/esp/engine.js';
import { craft, specOf } from './craft.js';
import { saPair } from './helpers.js';

const moved = { address: '198.51.100.7', port: 40777 };
const elsewhere = { address: '203.0.113.50', port: 4500 };

function setup() {
  const a = saPair('aes128-sha1', 'old', 0x1000, 0x2000);
  const b = saPair('aes128-sha1', 'new', 0x3000, 0x4000); // a rekeyed SA of the same peer
  const counters = new Counters();
  const e = new EspEngine({ counters });
  e.addSa(a.ours);
  e.addSa(b.ours);
  const pkt = (seq: number, from: { address: string; port: number }, sa = a.ours) => ({ data: craft(specOf(sa), sa.inbound, seq, { payload: Buffer.from('l2tp') }), from });
  const sendTo = (saId: string) => e.encryptBatch([{ saId, innerDstPort: 1701, payload: Buffer.from('x') }], 0).sends.map((s) => s.to);
  return { a, b, e, counters, pkt, sendTo };
}

describe('ESP: NAT rebinding', () => {
  it('an authenticated newest packet from a new port moves every SA of that peer, once', () => {
    const { a, e, counters, pkt, sendTo } = setup();
    expect(sendTo('old')).toEqual([a.ours.peer]);
    const r = e.decryptBatch([pkt(1, a.ours.peer), pkt(2, moved)], 0);
    expect(r.delivered.map((d) => d.peer)).toEqual([a.ours.peer, a.ours.peer]); // the identity stays
    expect(r.events.filter((x) => x.type === 'peer-moved')).toEqual([{ type: 'peer-moved', saId: 'old', peer: a.ours.peer, observed: moved }]);
    expect(sendTo('old')).toEqual([moved]);
    expect(sendTo('new')).toEqual([moved]);
    expect(e.destinationOf(a.ours.peer)).toEqual(moved);
    // more packets from there: nothing new to report
    const again = e.decryptBatch([pkt(3, moved)], 0);
    expect(again.events.some((x) => x.type === 'peer-moved')).toBe(false);
    expect(counters.get('esp.in.peer-moved')).toBe(1);
  });

  it('a delayed packet from the old mapping does not pull the SA back', () => {
    const { a, e, counters, pkt, sendTo } = setup();
    e.decryptBatch([pkt(5, moved)], 0);
    const late = e.decryptBatch([pkt(4, a.ours.peer)], 0);
    expect(late.delivered).toHaveLength(1);
    expect(late.events.some((x) => x.type === 'peer-moved')).toBe(false);
    expect(sendTo('old')).toEqual([moved]);
    expect(counters.get('esp.in.peer-moved.stale')).toBe(1);
    // the peer comes back to its first mapping with a newer packet: followed
    e.decryptBatch([pkt(6, a.ours.peer)], 0);
    expect(sendTo('old')).toEqual([a.ours.peer]);
  });

  it('an unauthenticated or replayed packet from a new endpoint moves nothing (HOSTILE-INPUTS A)', () => {
    const { a, e, pkt, sendTo } = setup();
    const good = pkt(1, a.ours.peer);
    e.decryptBatch([good], 0);
    const forged = Buffer.from(pkt(2, elsewhere).data);
    forged[forged.length - 1]! ^= 1;
    const r1 = e.decryptBatch([{ data: forged, from: elsewhere }], 0);
    const r2 = e.decryptBatch([{ data: good.data, from: elsewhere }], 0); // a replay of a captured packet
    expect(r1.delivered).toHaveLength(0);
    expect(r2.delivered).toHaveLength(0);
    expect([...r1.events, ...r2.events].some((x) => x.type === 'peer-moved')).toBe(false);
    expect(sendTo('old')).toEqual([a.ours.peer]);
  });

  it('movePeer (IKE saw the move first) redirects every SA of the peer; new SAs can start with a remote', () => {
    const { a, e, sendTo } = setup();
    expect(e.movePeer(a.ours.peer, moved)).toBe(2);
    expect(e.movePeer(a.ours.peer, moved)).toBe(0);
    expect(sendTo('old')).toEqual([moved]);
    expect(sendTo('new')).toEqual([moved]);
    expect(e.movePeer({ address: '192.0.2.99', port: 1 }, elsewhere)).toBe(0);
    const c = saPair('aes128-sha1', 'third', 0x5000, 0x6000);
    e.addSa({ ...c.ours, remote: moved });
    expect(sendTo('third')).toEqual([moved]);
  });
});

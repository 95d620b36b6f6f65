import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeHeader } from '../../src/l2tp/header.js';
import { PEER, Pair } from './harness.js';

/**
 * L2tpServer.dataFast is receive()'s hot path for data messages: whenever it
 * answers, receive() must have answered the same (one 'ppp-frame' for that
 * session with that frame); whatever it declines goes through receive().
 */
describe('L2TP data fast path agrees with receive()', () => {
  function established() {
    const p = new Pair();
    p.establish();
    const { sessionId, sessionKey } = p.call();
    const sess = p.lac.sessions.get(sessionId)!;
    return { p, sessionId, sessionKey, peerTunnelId: p.lac.peerTunnelId, peerSessionId: sess.peerSessionId };
  }

  it('takes the LAC\'s data messages (L, S, neither) and declines control, offsets, other peers, unknown ids', () => {
    const { p, sessionId, sessionKey, peerTunnelId, peerSessionId } = established();
    const frame = Buffer.from('ff0300214500001c', 'hex');
    const plain = p.lac.data(sessionId, frame);
    expect(p.server.dataFast(plain, PEER, p.now)).toBe(sessionKey);
    expect(plain.subarray(p.server.fastStart, p.server.fastEnd)).toEqual(frame);
    for (const [hasLength, hasSequence] of [[true, true], [false, true], [true, false], [false, false]] as const) {
      const d = encodeHeader({ isControl: false, hasLength, hasSequence, tunnelId: peerTunnelId, sessionId: peerSessionId, ns: 3, nr: 4 }, frame);
      expect(p.server.dataFast(d, PEER, p.now)).toBe(sessionKey);
      expect(d.subarray(p.server.fastStart, p.server.fastEnd)).toEqual(frame);
    }
    const off = encodeHeader({ isControl: false, hasLength: false, hasSequence: true, tunnelId: peerTunnelId, sessionId: peerSessionId, ns: 0, nr: 0, offsetSize: 2 }, frame);
    expect(p.server.dataFast(off, PEER, p.now)).toBeUndefined();
    expect(p.server.dataFast(plain, 'other:1701', p.now)).toBeUndefined();
    expect(p.server.dataFast(p.lac.hello(p.now)[0]!, PEER, p.now)).toBeUndefined();
    const other = encodeHeader({ isControl: false, hasLength: true, hasSequence: false, tunnelId: peerTunnelId, sessionId: (peerSessionId + 1) & 0xffff, ns: 0, nr: 0 }, frame);
    expect(p.server.dataFast(other, PEER, p.now)).toBeUndefined();
  });

  it('property: on any bytes, dataFast is undefined or exactly what receive() delivers', () => {
    const { p, peerTunnelId, peerSessionId } = established();
    let hits = 0;
    const header = fc.record({
      flags: fc.integer({ min: 0, max: 0xffff }),
      useOurIds: fc.boolean(),
      length: fc.option(fc.integer({ min: 0, max: 80 })),
      body: fc.uint8Array({ maxLength: 60 }),
    });
    fc.assert(
      fc.property(header, ({ flags, useOurIds, length, body }) => {
        // half the cases: a header with our ids and a plausible layout, its fields then bent by the flags
        const d = Buffer.alloc(12 + body.length);
        d.writeUInt16BE(useOurIds ? (flags & 0x4b00) | 2 : flags, 0);
        const l = (flags & 0x4000) !== 0;
        let at = 2;
        if (l) {
          d.writeUInt16BE(length ?? d.length, 2);
          at = 4;
        }
        d.writeUInt16BE(useOurIds ? peerTunnelId : body[0] ?? 0, at);
        d.writeUInt16BE(useOurIds ? peerSessionId : body[1] ?? 0, at + 2);
        Buffer.from(body).copy(d, at + 4);
        const fast = p.server.dataFast(d, PEER, p.now);
        const [start, end] = [p.server.fastStart, p.server.fastEnd];
        const out = p.server.receive(d, PEER, p.now).filter((o) => o.type === 'ppp-frame');
        if (fast === undefined) return;
        hits++;
        expect(out).toHaveLength(1);
        const o = out[0]!;
        if (o.type !== 'ppp-frame') throw new Error('unreachable');
        expect(o.sessionKey).toBe(fast);
        expect(Buffer.from(o.frame)).toEqual(d.subarray(start, end));
      }),
      { numRuns: 2000 },
    );
    expect(hits).toBeGreaterThan(100); // the fast path was taken often enough to mean something
  });
});

/** Any message in any state: the LNS never errors internally and every teardown path frees what it allocated. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AvpSpec, encodeAvps } from '../../src/l2tp/avp.js';
import { avpMessageType, avpResultCode, avpU16, avpU32 } from '../../src/l2tp/attributes.js';
import { AvpType } from '../../src/l2tp/constants.js';
import { encodeHeader } from '../../src/l2tp/header.js';
import type { L2tpOutput } from '../../src/l2tp/server.js';
import { PEER, Pair } from './harness.js';

type Cmd =
  | { kind: 'msg'; type: number; sid: number; assigned: number; nsSkew: number; unknownM: boolean; withResult: boolean }
  | { kind: 'tick'; ms: number }
  | { kind: 'close'; pick: number }
  | { kind: 'data'; pick: number };

const cmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({
    kind: fc.constant('msg' as const),
    type: fc.oneof(fc.integer({ min: 1, max: 17 }), fc.constant(10), fc.constant(12), fc.constant(14)),
    sid: fc.integer({ min: 0, max: 3 }),
    assigned: fc.integer({ min: 0, max: 4 }),
    nsSkew: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: -3, max: 10 })),
    unknownM: fc.boolean(),
    withResult: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40_000 }) }),
  fc.record({ kind: fc.constant('close' as const), pick: fc.nat() }),
  fc.record({ kind: fc.constant('data' as const), pick: fc.nat() }),
);

describe('LNS state fuzz', () => {
  it('balanced session-up/down, tunnel-down after its sessions, nothing left after closePeer', () => {
    fc.assert(
      fc.property(fc.boolean(), fc.array(cmd, { maxLength: 40 }), (establish, cmds) => {
        const p = new Pair();
        const up = new Set<string>();
        const downTunnels = new Set<number>();
        const check = (out: L2tpOutput[]): void => {
          for (const o of out) {
            if (o.type === 'session-up') {
              expect(up.has(o.sessionKey)).toBe(false);
              up.add(o.sessionKey);
            } else if (o.type === 'session-down') {
              expect(up.delete(o.sessionKey)).toBe(true);
            } else if (o.type === 'tunnel-down') {
              expect([...up].some((k) => k.startsWith(`${o.peerKey}/${o.tunnelId}/`))).toBe(false);
              downTunnels.add(o.tunnelId);
            }
          }
        };
        check(p.pump(p.lac.start(0)));
        if (establish) check(p.pump(p.lac.call(0).out));
        else p.lac.channel.ns = 1; // pretend the SCCCN was never sent
        const tid = p.lac.peerTunnelId;
        const ourSessions = () => p.server.list().flatMap((t) => t.sessions);
        for (const c of cmds) {
          if (c.kind === 'tick') {
            p.now += c.ms;
            check(p.server.tick(p.now));
          } else if (c.kind === 'close') {
            const s = ourSessions();
            if (s.length > 0) check(p.server.closeSession(s[c.pick % s.length]!.sessionKey, 1, p.now));
          } else if (c.kind === 'data') {
            const s = ourSessions();
            const sid = s.length > 0 ? s[c.pick % s.length]!.sessionId : c.pick & 0xffff;
            check(p.server.receive(encodeHeader({ isControl: false, hasLength: true, hasSequence: false, tunnelId: tid, sessionId: sid }, Buffer.from([0xff, 0x03, 0xc0, 0x21])), PEER, p.now));
          } else {
            const s = ourSessions();
            const sid = c.sid === 0 ? 0 : (s[c.sid % Math.max(1, s.length)]?.sessionId ?? c.sid);
            const avps: AvpSpec[] = [avpMessageType(c.type)];
            if (c.assigned > 0) avps.push(avpU16(AvpType.AssignedSessionId, c.assigned));
            if (c.type === 1 || c.type === 4) avps.push(avpU16(AvpType.AssignedTunnelId, p.lac.tunnelId));
            if (c.withResult) avps.push(avpResultCode(1));
            if (c.type === 12) avps.push(avpU32(AvpType.TxConnectSpeed, 1e6), avpU32(AvpType.FramingType, 1));
            if (c.unknownM) avps.push({ type: 300, value: Buffer.alloc(1), mandatory: true });
            const ch = p.lac.channel;
            const ns = (ch.ns + c.nsSkew) & 0xffff;
            if (c.nsSkew === 0) ch.ns = (ch.ns + 1) & 0xffff;
            const d = encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: c.type === 1 ? 0 : tid, sessionId: sid, ns, nr: ch.nr }, encodeAvps(avps));
            check(p.server.receive(d, PEER, p.now));
          }
          expect(p.server.counters.get('l2tp.drop.internal-error')).toBe(0);
          // the deadline from the heap is the one a scan of every tunnel finds
          expect(p.server.nextDeadline()).toBe(p.server.nextDeadlineByScan());
          // Every session the server lists as up was announced.
          for (const t of p.server.list()) for (const s of t.sessions) if (up.has(s.sessionKey)) expect(downTunnels.has(t.tunnelId)).toBe(false);
        }
        check(p.server.closePeer(PEER, p.now, false));
        expect(up.size).toBe(0);
        expect(p.server.list()).toEqual([]);
        expect(p.server.nextDeadline()).toBeUndefined();
      }),
      { numRuns: 300 },
    );
  });
});

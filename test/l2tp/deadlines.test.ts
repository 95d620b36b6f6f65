/** The LNS's deadlines come from a heap: the same answer as a scan of every tunnel, with many LACs and timers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { L2tpServer } from '../../src/l2tp/server.js';
import { counterRandom, sends } from './harness.js';
import { TestLac } from './lac.js';

type Act = { a: 'start' | 'call' | 'hangup' | 'stop' | 'lose'; lac: number } | { a: 'wait'; ms: number };

const lac = fc.integer({ min: 0, max: 2 });
const actArb: fc.Arbitrary<Act> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ a: fc.constantFrom('start' as const, 'call' as const, 'call' as const, 'hangup' as const, 'hangup' as const, 'stop' as const, 'lose' as const), lac }) },
  { weight: 1, arbitrary: fc.record({ a: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 2000, max: 70_000 })) }) },
);

describe('LNS deadlines', () => {
  const total = { ticks: 0, hangups: 0 };
  it('nextDeadline() equals the scan of all tunnels after every input and timer run; a timer run leaves nothing due', () => {
    fc.assert(
      fc.property(fc.array(actArb, { minLength: 1, maxLength: 40 }), fc.constantFrom(0, 20), (acts, helloInterval) => {
        const server = new L2tpServer({ hostName: 'lns.test', random: counterRandom(), helloInterval });
        const lacs = new Map<number, { lac: TestLac; key: string; calls: number[] }>();
        let now = 0;
        let ticks = 0;
        let hangups = 0;
        /** Deliver datagrams both ways until nothing moves; `lose` drops what the LNS sends. */
        const pump = (n: number, from: Buffer[], lose = false): void => {
          const l = lacs.get(n)!;
          let queue = from;
          for (let i = 0; queue.length > 0 && i < 50; i++) {
            const next: Buffer[] = [];
            for (const d of queue) {
              const out = server.receive(d, l.key, now);
              expect(server.nextDeadline()).toBe(server.nextDeadlineByScan());
              if (lose) continue;
              for (const s of sends(out)) next.push(...l.lac.receive(s, now));
            }
            queue = next;
          }
        };
        for (const act of acts) {
          if (act.a === 'wait') {
            const until = now + act.ms;
            for (let d = server.nextDeadline(); d !== undefined && d <= until; d = server.nextDeadline()) {
              now = Math.max(now, d);
              server.tick(now); // what it sends is lost: the LACs are silent while we wait
              ticks += 1;
              expect(server.nextDeadline()).toBe(server.nextDeadlineByScan());
              const after = server.nextDeadlineByScan();
              if (after !== undefined) expect(after).toBeGreaterThan(now);
            }
            now = until;
            continue;
          }
          let l = lacs.get(act.lac);
          if (act.a === 'start' || !l) {
            l = { lac: new TestLac({ tunnelId: 0x100 + act.lac }), key: `198.51.100.${act.lac + 1}:4500/1701`, calls: [] };
            lacs.set(act.lac, l);
            pump(act.lac, l.lac.start(now));
            continue;
          }
          if (l.lac.state !== 'established') continue;
          if (act.a === 'call') {
            const c = l.lac.call(now);
            pump(act.lac, c.out);
            l.calls.push(c.sessionId);
          } else if (act.a === 'lose') {
            // an ICRQ whose answers are lost: the LNS's retransmission and ICCN wait are pending
            pump(act.lac, l.lac.call(now).out, true);
          } else if (act.a === 'hangup') {
            const keys = server.list().find((t) => t.peerKey === l.key)?.sessions ?? [];
            if (keys.length > 0) server.closeSession(keys[0]!.sessionKey, 1, now);
            hangups += keys.length > 0 ? 1 : 0;
            expect(server.nextDeadline()).toBe(server.nextDeadlineByScan());
          } else if (act.a === 'stop') {
            pump(act.lac, l.lac.stop(now));
          }
        }
        total.ticks += ticks;
        total.hangups += hangups;
      }),
      { numRuns: 300 },
    );
    expect(total.ticks).toBeGreaterThan(50); // timers did run
    expect(total.hangups).toBeGreaterThan(10); // and sessions were closed by the LNS
  });
});

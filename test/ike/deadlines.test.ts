/** The responder's deadlines come from a heap: the same answer as a scan of every SA, through random handshakes, DPD and timers. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HALF_OPEN_TIMEOUT_MS } from '../../src/ike/core.js';
import { DOI_IPSEC, NotifyType, PayloadType, ProtocolId } from '../../src/ike/wire/constants.js';
import { encodeNotify } from '../../src/ike/wire/notify.js';
import type { TestInitiator } from './initiator.js';
import { deliver, initiator, mainMode, only, quickMode, responder } from './harness.js';

type Act =
  | { a: 'mm1'; peer: number }
  | { a: 'mm'; peer: number }
  | { a: 'qm'; peer: number }
  | { a: 'qm1'; peer: number }
  | { a: 'rut'; peer: number }
  | { a: 'del'; peer: number }
  | { a: 'wait'; ms: number };

const peer = fc.integer({ min: 0, max: 2 });
const actArb: fc.Arbitrary<Act> = fc.oneof(
  fc.record({ a: fc.constant('mm1' as const), peer }),
  fc.record({ a: fc.constant('mm' as const), peer }),
  fc.record({ a: fc.constant('qm' as const), peer }),
  fc.record({ a: fc.constant('qm' as const), peer }),
  fc.record({ a: fc.constant('qm1' as const), peer }),
  fc.record({ a: fc.constant('rut' as const), peer }),
  fc.record({ a: fc.constant('del' as const), peer }),
  fc.record({ a: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 5000, max: 90_000 }), fc.integer({ min: 100_000, max: 400_000 })) }),
  // twice: a finished Quick Mode leaves no timer behind, waits must find the others (expiry, QM2 resends, DPD, lifetimes)
  fc.record({ a: fc.constant('wait' as const), ms: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 5000, max: 90_000 }), fc.integer({ min: 100_000, max: 400_000 })) }),
);

describe('IKE responder deadlines', () => {
  const stats = { children: 0, ticks: 0 };
  it('nextDeadline() equals the scan of all SAs after every input and timer run; a timer run leaves nothing due', () => {
    fc.assert(
      fc.property(fc.array(actArb, { minLength: 1, maxLength: 30 }), fc.constantFrom(0, 30, 600), (acts, dpdIdle) => {
        // without DPD (or with a long one) a new Quick Mode moves an SA's deadline earlier
        const r = responder({ dpdIdle, ikeLifetimeMax: 300, childLifetimeMax: 200 });
        const peers = new Map<number, { i: TestInitiator; up: boolean; children: string[] }>();
        const fresh = (n: number) => {
          const addr = `203.0.113.${10 + n}`;
          const p = {
            i: initiator({ dpd: true, natT: true, seen500: { address: addr, port: 500 }, seen4500: { address: addr, port: 4500 }, p1: [{ enc: 'aes128', hash: 'sha1', group: 14, lifetime: 300 }] }),
            up: false,
            children: [] as string[],
          };
          peers.set(n, p);
          return p;
        };
        let now = 0;
        let ticks = 0;
        const check = (): void => {
          expect(r.nextDeadline()).toBe(r.nextDeadlineByScan());
        };
        for (const act of acts) {
          if (act.a === 'wait') {
            const until = now + act.ms;
            // run every timer up to `until`, as the daemon does at each deadline
            for (let d = r.nextDeadline(); d !== undefined && d <= until; d = r.nextDeadline()) {
              now = Math.max(now, d);
              r.tick(now);
              ticks += 1;
              check();
              const after = r.nextDeadlineByScan();
              if (after !== undefined) expect(after).toBeGreaterThan(now);
            }
            now = until;
            continue;
          }
          let p = peers.get(act.peer);
          if (act.a === 'mm1' || act.a === 'mm') p = fresh(act.peer);
          // the other acts go to this peer if it has an SA, else to any peer that has one
          else if (!p?.up) p = [...peers.values()].find((q) => q.up);
          if (!p) continue;
          if (act.a === 'mm1') {
            deliver(r, p.i, p.i.mm1(), now);
          } else if (act.a === 'mm') {
            mainMode(r, p.i, now);
            p.up = true;
          } else if (!p.up) {
            // nothing established for this peer yet
          } else if (act.a === 'qm') {
            try {
              p.children.push(quickMode(r, p.i, { cipher: 'aes128', auth: 'sha1' }, now).up.id);
              stats.children += 1;
            } catch {
              // the SA went (expired, DPD) and the responder answers nothing
            }
          } else if (act.a === 'qm1') {
            deliver(r, p.i, p.i.qm1({ cipher: 'aes128', auth: 'sha1' }).data, now);
          } else if (act.a === 'rut') {
            const spi = Buffer.concat([p.i.ckyI, p.i.ckyR]);
            deliver(r, p.i, p.i.informational([{ type: PayloadType.N, body: encodeNotify({ doi: DOI_IPSEC, protocolId: ProtocolId.ISAKMP, spi, notifyType: NotifyType.R_U_THERE, data: Buffer.from([0, 0, 0, 1]) }) }]), now);
          } else if (act.a === 'del') {
            const id = p.children.shift();
            if (id) r.deleteChildSa(id, now);
          }
          check();
        }
        stats.ticks += ticks;
      }),
      { numRuns: 100 },
    );
    // the runs did establish child SAs and run timers
    expect(stats.children).toBeGreaterThan(5);
    expect(stats.ticks).toBeGreaterThan(10);
  }, 120_000);

  it('a Main Mode in progress and an established SA: the earliest of their deadlines', () => {
    const r = responder({ dpdIdle: 100 });
    const a = initiator({ dpd: true, natT: true });
    mainMode(r, a, 0);
    quickMode(r, a, { cipher: 'aes128', auth: 'sha1' }, 0);
    expect(r.nextDeadline()).toBe(100_000); // DPD after 100 s of silence (a finished Quick Mode keeps no timer)
    const b = initiator({ seen500: { address: '203.0.113.99', port: 500 }, seen4500: { address: '203.0.113.99', port: 4500 } });
    only(deliver(r, b, b.mm1(), 1000));
    expect(r.nextDeadline()).toBe(r.nextDeadlineByScan());
    expect(r.nextDeadline()).toBe(1000 + HALF_OPEN_TIMEOUT_MS);
  });
});

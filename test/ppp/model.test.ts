import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressPool, PppSession, type PppOutput } from '../../src/ppp/index.js';
import { TestClient, type ClientKind } from './client.js';
import { Backend, config } from './harness.js';

/**
 * Random interleavings of a real client's traffic with loss, duplication,
 * garbage and time jumps. Invariants: 'closed' at most once and nothing after
 * it; ip-up only after auth-success and with a pool address leased to the
 * user; the lease is back in the pool once closed; the wrong password never
 * authenticates.
 */
type Step = { op: 'deliver' | 'drop' | 'dup' | 'garbage' | 'time'; n: number; bytes: Uint8Array };

const step: fc.Arbitrary<Step> = fc.record({
  op: fc.constantFrom('deliver', 'deliver', 'deliver', 'deliver', 'deliver', 'deliver', 'drop', 'dup', 'garbage', 'time'),
  n: fc.oneof(fc.integer({ min: 0, max: 4000 }), fc.integer({ min: 0, max: 40_000 })),
  bytes: fc.uint8Array({ maxLength: 40 }),
});

describe('session model under loss, duplication, garbage and time jumps', () => {
  it('keeps its invariants', () => {
    let reachedIpUp = 0;
    fc.assert(
      fc.property(
        fc.constantFrom<ClientKind>('pppd', 'windows', 'macos'),
        fc.constantFrom(true, true, true, false),
        fc.array(step, { minLength: 20, maxLength: 120 }),
        (kind, rightPassword, steps) => {
          const pool = new AddressPool('10.40.0.0/24');
          const backend = new Backend().add('alice', 'secret');
          const s = new PppSession(config({ idleTimeout: 120 }), backend, pool, 0);
          const client = new TestClient({ kind, user: 'alice', password: rightPassword ? 'secret' : 'nope' });
          let now = 0;
          const toServer: Buffer[] = [...client.start()];
          const seen: PppOutput[] = [];
          let closedAt = -1;
          const absorb = (outs: PppOutput[]): void => {
            for (const o of outs) {
              seen.push(o);
              if (closedAt >= 0) throw new Error(`output after closed: ${o.type}`);
              if (o.type === 'closed') closedAt = seen.length;
              if (o.type === 'send') toServer.push(...client.receive(o.frame));
              if (o.type === 'auth-success' && !rightPassword) throw new Error('wrong password authenticated');
              if (o.type === 'ip-up') {
                if (!seen.some((x) => x.type === 'auth-success')) throw new Error('ip-up before auth-success');
                if (!pool.isClientAddress(o.address) || pool.owner(o.address) !== 'alice') throw new Error(`bad lease ${o.address}`);
              }
            }
          };
          absorb(s.start(now));
          for (const st of steps) {
            if (st.op === 'time') {
              now += st.n;
              absorb(s.tick(now));
              continue;
            }
            if (st.op === 'garbage') {
              absorb(s.receive(Buffer.concat([Buffer.from([0xff, 0x03]), st.bytes]), now));
              continue;
            }
            // deliver: the next few queued client frames; drop/dup: the next one.
            const count = st.op === 'deliver' ? 1 + (st.n % 4) : 1;
            for (let k = 0; k < count; k++) {
              const f = toServer.shift();
              if (!f || st.op === 'drop') break;
              absorb(s.receive(f, now));
              if (st.op === 'dup') absorb(s.receive(f, now));
            }
          }
          // Let every timer run out: the session must end (idle timeout at the latest) and free its lease.
          for (let i = 0; i < 500 && closedAt < 0; i++) {
            const d = s.nextDeadline();
            if (d === undefined) break;
            now = Math.max(now, d);
            absorb(s.tick(now));
          }
          if (closedAt < 0) {
            // Only a fully up session without idle expiry could stay; with idleTimeout it must close.
            throw new Error(`never closed (phase ${s.phase}, ${JSON.stringify(s.states)})`);
          }
          if (seen.some((o) => o.type === 'ip-up')) reachedIpUp++;
          return pool.free === 253 && seen.filter((o) => o.type === 'closed').length === 1;
        },
      ),
      { numRuns: 150 },
    );
    // The interesting path is exercised, not only early failures.
    expect(reachedIpUp).toBeGreaterThan(25);
  });
});

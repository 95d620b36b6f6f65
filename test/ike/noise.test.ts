import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChildSaUp } from '../../src/core/sa.js';
import type { IkeOutput } from '../../src/ike/responder.js';
import { initiator, responder, sends } from './harness.js';

type Noise = { kind: 'replay' | 'mutate' | 'random'; pick: number; at: number; val: number; bytes: Uint8Array; otherPort: boolean };
const noiseArb: fc.Arbitrary<Noise> = fc.record({
  kind: fc.constantFrom('replay' as const, 'mutate' as const, 'random' as const),
  pick: fc.nat(100),
  at: fc.nat(400),
  val: fc.nat(255),
  bytes: fc.uint8Array({ maxLength: 120 }),
  otherPort: fc.boolean(),
});

describe('HOSTILE-INPUTS C: any message in any state', () => {
  it('replays, mutations and junk interleaved with a real exchange never break it or throw', () => {
    fc.assert(
      fc.property(fc.array(fc.array(noiseArb, { maxLength: 3 }), { minLength: 5, maxLength: 5 }), (noise) => {
        const r = responder();
        const i = initiator();
        const sent: Buffer[] = [];
        let t = 0;
        const all: IkeOutput[] = [];
        const inject = (step: number): void => {
          for (const n of noise[step]!) {
            let m: Buffer;
            if (n.kind === 'random' || sent.length === 0) m = Buffer.from(n.bytes);
            else {
              m = Buffer.from(sent[n.pick % sent.length]!);
              if (n.kind === 'mutate') m[n.at % m.length] = n.val;
            }
            const from = n.otherPort ? { address: i.src.address, port: i.src.port + 1 } : i.src;
            all.push(...r.receive(m, from, i.dst, t++));
          }
        };
        const legit = (m: Buffer): Buffer => {
          inject(sent.length);
          sent.push(m);
          const out = r.receive(m, i.src, i.dst, t++);
          all.push(...out);
          const s = sends(out);
          return s[s.length - 1]!.data;
        };
        i.onMm2(legit(i.mm1()));
        i.onMm4(legit(i.mm3()));
        i.onMm6(legit(i.mm5()));
        const q = i.qm1({ cipher: 'aes128', auth: 'sha1' });
        i.onQm2(legit(q.data));
        const f = i.qm3(q.mid);
        inject(4);
        const out = r.receive(f.data, i.src, i.dst, t++);
        all.push(...out);
        const ups = [...all, ...out].filter((o): o is ChildSaUp => o.type === 'child-sa-up');
        expect(ups.length).toBeGreaterThanOrEqual(1);
        const up = ups[ups.length - 1]!;
        expect(up.inbound.encKey.equals(f.keys.i2r.encKey)).toBe(true);
        expect(up.outbound.authKey.equals(f.keys.r2i.authKey)).toBe(true);
        expect(all.filter((o) => o.type === 'ike-sa-up')).toHaveLength(1);
        expect(all.filter((o) => o.type === 'child-sa-up')).toHaveLength(1);
      }),
      { numRuns: 40 },
    );
  });
});

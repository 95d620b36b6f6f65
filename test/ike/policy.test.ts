import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { attr, type DataAttribute } from '../../src/ike/wire/attributes.js';
import { DEFAULT_POLICY, phase2ReplyTransform, selectPhase1, selectPhase2 } from '../../src/ike/policy.js';
import type { SaPayload } from '../../src/ike/wire/sa.js';
import { P2Attr } from '../../src/ike/wire/constants.js';

const attrArb: fc.Arbitrary<DataAttribute> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 20 }), basic: fc.constant(true as const), value: fc.oneof(fc.integer({ min: 0, max: 30 }), fc.constantFrom(128, 192, 256, 61443, 61444, 0xffff)) }),
  fc.record({ type: fc.integer({ min: 0, max: 20 }), basic: fc.constant(false as const), bytes: fc.uint8Array({ maxLength: 10 }).map((u) => Buffer.from(u)) }),
);
const saArb: fc.Arbitrary<SaPayload> = fc.record({
  doi: fc.constantFrom(0, 1, 2),
  situation: fc.constantFrom(0, 1, 2),
  proposals: fc.array(fc.record({
    number: fc.integer({ min: 0, max: 3 }),
    protocolId: fc.integer({ min: 0, max: 5 }),
    spi: fc.uint8Array({ maxLength: 8 }).map((u) => Buffer.from(u)),
    transforms: fc.array(fc.record({ number: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 25 }), attributes: fc.array(attrArb, { maxLength: 10 }) }), { minLength: 1, maxLength: 4 }),
  }), { minLength: 1, maxLength: 4 }),
});

describe('proposal policy: every proposal picks one or returns a reason, never throws', () => {
  it('phase 1 and phase 2 over arbitrary SAs', () => {
    fc.assert(fc.property(saArb, fc.boolean(), fc.boolean(), (sa, legacy, ke) => {
      const a = selectPhase1(sa, DEFAULT_POLICY, legacy);
      const b = selectPhase2(sa, DEFAULT_POLICY, legacy, ke);
      for (const r of [a, b]) expect(r.ok || typeof r.reason === 'string').toBe(true);
    }), { numRuns: 500 });
  });

  const esp = (id: number, attrs: DataAttribute[], spi = Buffer.from([1, 2, 3, 4])): SaPayload => ({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 3, spi, transforms: [{ number: 1, id, attributes: attrs }] }] });
  it('AES-GMAC (CVE-2024-3652), tunnel mode, AH+ESP bundles, bad SPI sizes, CBC without auth, GCM with auth: no proposal chosen', () => {
    const t = [attr(P2Attr.ENCAPSULATION_MODE, 4), attr(P2Attr.KEY_LENGTH, 128)];
    expect(selectPhase2(esp(23, t), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(12, [attr(P2Attr.ENCAPSULATION_MODE, 1), attr(P2Attr.KEY_LENGTH, 128), attr(P2Attr.AUTH_ALGORITHM, 2)]), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(12, t), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(20, [...t, attr(P2Attr.AUTH_ALGORITHM, 2)]), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(20, t), DEFAULT_POLICY, false, false).ok).toBe(true);
    expect(selectPhase2(esp(20, t, Buffer.from([1, 2])), DEFAULT_POLICY, false, false).ok).toBe(false);
    const bundle: SaPayload = { doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 2, spi: Buffer.alloc(4, 1), transforms: [{ number: 1, id: 3, attributes: [attr(P2Attr.ENCAPSULATION_MODE, 2), attr(P2Attr.AUTH_ALGORITHM, 2)] }] }, { number: 1, protocolId: 3, spi: Buffer.alloc(4, 2), transforms: [{ number: 1, id: 12, attributes: [...t, attr(P2Attr.AUTH_ALGORITHM, 2)] }] }] };
    expect(selectPhase2(bundle, DEFAULT_POLICY, false, false).ok).toBe(false);
    // PFS group without KE, or KE without a group.
    expect(selectPhase2(esp(12, [...t, attr(P2Attr.AUTH_ALGORITHM, 2), attr(P2Attr.GROUP_DESCRIPTION, 2)]), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(12, [...t, attr(P2Attr.AUTH_ALGORITHM, 2)]), DEFAULT_POLICY, false, true).ok).toBe(false);
    // HMAC-MD5 only with allowLegacy.
    expect(selectPhase2(esp(12, [...t, attr(P2Attr.AUTH_ALGORITHM, 1)]), DEFAULT_POLICY, false, false).ok).toBe(false);
    expect(selectPhase2(esp(12, [...t, attr(P2Attr.AUTH_ALGORITHM, 1)]), DEFAULT_POLICY, true, false).ok).toBe(true);
  });

  it('a lowered reply lifetime replaces only the seconds duration', () => {
    const t = { number: 1, id: 12, attributes: [attr(1, 1), attr(2, 86400), attr(1, 2), attr(2, 250000), attr(4, 4)] };
    const r = phase2ReplyTransform(t, 28800);
    expect(r.attributes).toEqual([attr(1, 1), attr(2, 28800), attr(1, 2), attr(2, 250000), attr(4, 4)]);
  });
});

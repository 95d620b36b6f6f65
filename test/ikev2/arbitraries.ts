/** fast-check arbitraries for IKEv2 payloads (shared by the wire and fuzz tests). */
import fc from 'fast-check';
import { PayloadType } from '../../src/ikev2/wire/constants.js';
import type { Payload } from '../../src/ikev2/wire/message.js';
import type { SaPayload, Transform, TransformAttribute } from '../../src/ikev2/wire/sa.js';
import type { TrafficSelector } from '../../src/ikev2/wire/ts.js';
import type { IkeHeader } from '../../src/ikev2/wire/header.js';

export const buf = (min: number, max: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
const u8 = fc.integer({ min: 0, max: 255 });
const u16 = fc.integer({ min: 0, max: 0xffff });

export const transformArb: fc.Arbitrary<Transform> = fc.record({
  type: u8,
  id: u16,
  attributes: fc.oneof(
    fc.constant([] as TransformAttribute[]),
    fc.tuple(u16).map(([v]) => [{ type: 14, tv: true as const, value: v }]),
    fc.array(fc.record({ type: fc.integer({ min: 0, max: 0x7fff }).filter((t) => t !== 14), tv: fc.constant(false as const), bytes: buf(0, 8) }), { maxLength: 3 }),
  ),
});

export const saArb: fc.Arbitrary<SaPayload> = fc.record({
  proposals: fc.array(fc.record({ number: u8, protocolId: u8, spi: buf(0, 8), transforms: fc.array(transformArb, { maxLength: 6 }) }), { minLength: 1, maxLength: 4 }),
});

export const tsArb: fc.Arbitrary<TrafficSelector> = fc.oneof(
  fc.record({ tsType: fc.constant(7), ipProtocol: u8, startPort: u16, endPort: u16, startAddress: buf(4, 4), endAddress: buf(4, 4) }),
  fc.record({ tsType: fc.constant(8), ipProtocol: u8, startPort: u16, endPort: u16, startAddress: buf(16, 16), endAddress: buf(16, 16) }),
);

const idArb = fc.oneof(
  fc.record({ idType: fc.constant(1), data: buf(4, 4) }),
  fc.record({ idType: fc.constant(5), data: buf(16, 16) }),
  fc.record({ idType: fc.constantFrom(2, 3, 9, 11), data: buf(1, 40) }),
);

const eapArb = fc.tuple(fc.integer({ min: 1, max: 4 }), u8, buf(0, 40)).map(([code, ident, rest]) => {
  const m = Buffer.alloc(4 + rest.length);
  m[0] = code;
  m[1] = ident;
  m.writeUInt16BE(m.length, 2);
  rest.copy(m, 4);
  return { message: m };
});

const cpAttr = fc.oneof(
  fc.record({ type: fc.constantFrom(1, 2, 3, 4, 6), value: fc.oneof(buf(0, 0), buf(4, 4)) }),
  fc.record({ type: fc.constantFrom(7, 0x5ba0, 0x6f00, 25), value: buf(0, 20) }),
);

export const payloadArb: fc.Arbitrary<Payload> = fc.oneof(
  saArb.map((value) => ({ type: PayloadType.SA, value }) as Payload),
  fc.record({ group: u16, data: buf(1, 64) }).map((value) => ({ type: PayloadType.KE, value }) as Payload),
  idArb.map((value) => ({ type: PayloadType.IDi, value }) as Payload),
  idArb.map((value) => ({ type: PayloadType.IDr, value }) as Payload),
  fc.record({ encoding: u8, data: buf(1, 64) }).map((value) => ({ type: PayloadType.CERT, value }) as Payload),
  fc.record({ encoding: u8, data: buf(0, 60) }).map((value) => ({ type: PayloadType.CERTREQ, value }) as Payload),
  fc.record({ method: u8, data: buf(1, 64) }).map((value) => ({ type: PayloadType.AUTH, value }) as Payload),
  buf(16, 256).map((nonce) => ({ type: PayloadType.NONCE, value: { nonce } }) as Payload),
  fc.record({ protocolId: u8, spi: buf(0, 8), type: u16, data: buf(0, 32) }).map((value) => ({ type: PayloadType.N, value }) as Payload),
  fc.oneof(
    fc.constant({ protocolId: 1, spiSize: 0, spis: [] as Buffer[] }),
    fc.array(buf(4, 4), { maxLength: 5 }).map((spis) => ({ protocolId: 3, spiSize: 4, spis })),
  ).map((value) => ({ type: PayloadType.D, value }) as Payload),
  buf(1, 32).map((data) => ({ type: PayloadType.V, value: { data } }) as Payload),
  fc.array(tsArb, { minLength: 1, maxLength: 4 }).map((selectors) => ({ type: PayloadType.TSi, value: { selectors } }) as Payload),
  fc.array(tsArb, { minLength: 1, maxLength: 4 }).map((selectors) => ({ type: PayloadType.TSr, value: { selectors } }) as Payload),
  fc.record({ cfgType: fc.integer({ min: 1, max: 4 }), attributes: fc.array(cpAttr, { maxLength: 5 }) }).map((value) => ({ type: PayloadType.CP, value }) as Payload),
  eapArb.map((value) => ({ type: PayloadType.EAP, value }) as Payload),
);

const SINGLE = new Set<number>([33, 34, 35, 36, 39, 40, 44, 45, 47, 48]);

/** A list of payloads that a valid message may hold (singletons at most once). */
export const payloadListArb: fc.Arbitrary<Payload[]> = fc.array(payloadArb, { maxLength: 8 }).map((ps) => {
  const seen = new Set<number>();
  return ps.filter((p) => (SINGLE.has(p.type) ? (seen.has(p.type) ? false : (seen.add(p.type), true)) : true));
});

export const headerFieldsArb: fc.Arbitrary<Omit<IkeHeader, 'length' | 'nextPayload' | 'majorVersion' | 'minorVersion'>> = fc.record({
  spiI: buf(8, 8),
  spiR: buf(8, 8),
  exchangeType: fc.constantFrom(34, 35, 36, 37),
  flags: fc.constantFrom(0x08, 0x20, 0x00, 0x28),
  messageId: fc.integer({ min: 0, max: 0xffffffff }),
});

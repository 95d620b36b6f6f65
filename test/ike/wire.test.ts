import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import { decodeHeader, encodeHeader, type IsakmpHeader } from '../../src/ike/wire/header.js';
import { decodeAttributes, encodeAttributes, type DataAttribute } from '../../src/ike/wire/attributes.js';
import { decodeSa, encodeSa, type SaPayload } from '../../src/ike/wire/sa.js';
import { decodeKe, encodeKe } from '../../src/ike/wire/ke.js';
import { decodeNonce, encodeNonce } from '../../src/ike/wire/nonce.js';
import { decodeId, encodeId, idToString, type IdPayload } from '../../src/ike/wire/id.js';
import { decodeHash, encodeHash } from '../../src/ike/wire/hash.js';
import { decodeNotify, encodeNotify, type NotifyPayload } from '../../src/ike/wire/notify.js';
import { decodeDelete, encodeDelete, type DeletePayload } from '../../src/ike/wire/delete.js';
import { decodeVendorId, encodeVendorId } from '../../src/ike/wire/vendor.js';
import { decodeNatD, encodeNatD } from '../../src/ike/wire/natd.js';
import { decodeNatOa, encodeNatOa } from '../../src/ike/wire/natoa.js';
import { decodeMessage, decodePayloadChain, encodeMessage, encodePayloadChain, MAX_PAYLOADS, type OutPayload } from '../../src/ike/wire/message.js';
import { Reader, Writer } from '../../src/core/bytes.js';
import { PayloadType } from '../../src/ike/wire/constants.js';

const buf = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((u) => Buffer.from(u));
const RUNS = { numRuns: 200 };

/** Decoding arbitrary bytes either succeeds or throws DecodeError, nothing else. */
function onlyDecodeErrors(f: (b: Uint8Array) => unknown): void {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
      try {
        f(b);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 300 },
  );
}

const attrArb: fc.Arbitrary<DataAttribute> = fc.oneof(
  fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), basic: fc.constant(true as const), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), basic: fc.constant(false as const), bytes: buf(0, 12) }),
);
const saArb: fc.Arbitrary<SaPayload> = fc.record({
  doi: fc.integer({ min: 0, max: 0xffffffff }),
  situation: fc.integer({ min: 0, max: 0xffffffff }),
  proposals: fc.array(
    fc.record({
      number: fc.integer({ min: 0, max: 255 }),
      protocolId: fc.integer({ min: 0, max: 255 }),
      spi: buf(0, 16),
      transforms: fc.array(fc.record({ number: fc.integer({ min: 0, max: 255 }), id: fc.integer({ min: 0, max: 255 }), attributes: fc.array(attrArb, { maxLength: 8 }) }), { minLength: 1, maxLength: 4 }),
    }),
    { minLength: 1, maxLength: 3 },
  ),
});
const idArb: fc.Arbitrary<IdPayload> = fc.oneof(
  fc.record({ idType: fc.constant(1), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(4, 4) }),
  fc.record({ idType: fc.constantFrom(2, 3), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(1, 40) }),
  fc.record({ idType: fc.constantFrom(4, 7), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(8, 8) }),
  fc.record({ idType: fc.constant(5), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(16, 16) }),
  fc.record({ idType: fc.constantFrom(6, 8), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(32, 32) }),
  fc.record({ idType: fc.constantFrom(9, 10, 11), protocol: fc.integer({ min: 0, max: 255 }), port: fc.integer({ min: 0, max: 65535 }), data: buf(1, 40) }),
);
const notifyArb: fc.Arbitrary<NotifyPayload> = fc.record({ doi: fc.integer({ min: 0, max: 0xffffffff }), protocolId: fc.integer({ min: 0, max: 255 }), spi: buf(0, 16), notifyType: fc.integer({ min: 0, max: 65535 }), data: buf(0, 20) });
const deleteArb: fc.Arbitrary<DeletePayload> = fc.integer({ min: 1, max: 16 }).chain((size) =>
  fc.record({ doi: fc.integer({ min: 0, max: 0xffffffff }), protocolId: fc.integer({ min: 0, max: 255 }), spiSize: fc.constant(size), spis: fc.array(buf(size, size), { maxLength: 5 }) }));

describe('ISAKMP header (RFC 2408 §3.1)', () => {
  it('round-trips and requires version 1.0 and length = datagram length', () => {
    fc.assert(
      fc.property(buf(8, 8), buf(8, 8), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), buf(0, 40),
        (ci, cr, np, et, fl, mid, body) => {
          const h: IsakmpHeader = { initiatorCookie: ci, responderCookie: cr, nextPayload: np, majorVersion: 1, minorVersion: 0, exchangeType: et, flags: fl, messageId: mid, length: 28 + body.length };
          const m = Buffer.concat([encodeHeader(h).finish(), body]);
          expect(decodeHeader(m)).toEqual(h);
          expect(() => decodeHeader(m.subarray(0, m.length - 1))).toThrow(DecodeError);
          const v2 = Buffer.from(m);
          v2[17] = 0x20;
          expect(() => decodeHeader(v2)).toThrow(/version/);
        }),
      RUNS,
    );
    expect(() => decodeHeader(new Uint8Array(27))).toThrow(DecodeError);
  });
  it('never throws anything but DecodeError', () => onlyDecodeErrors(decodeHeader));
});

describe('payload codecs round-trip and reject garbage with DecodeError only', () => {
  it('data attributes (TV and TLV)', () => {
    fc.assert(fc.property(fc.array(attrArb, { maxLength: 10 }), (a) => {
      const w = new Writer();
      encodeAttributes(a, w);
      expect(decodeAttributes(new Reader(w.finish()))).toEqual(a);
    }), RUNS);
    onlyDecodeErrors((b) => decodeAttributes(new Reader(b)));
  });
  it('SA / Proposal / Transform', () => {
    fc.assert(fc.property(saArb, (sa) => {
      expect(decodeSa(encodeSa(sa))).toEqual(sa);
    }), RUNS);
    onlyDecodeErrors(decodeSa);
  });
  it('SA with 0 transforms or a transform count that lies is rejected', () => {
    const sa = encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ number: 1, id: 1, attributes: [] }] }] });
    const zero = Buffer.from(sa);
    zero[8 + 7] = 0;
    expect(() => decodeSa(zero)).toThrow(/0 transforms/);
    const lie = Buffer.from(sa);
    lie[8 + 7] = 255;
    expect(() => decodeSa(lie)).toThrow(/announces 255/);
  });
  it('KE, HASH, Vendor ID, NAT-D', () => {
    fc.assert(fc.property(buf(1, 300), (d) => {
      expect(decodeKe(encodeKe({ data: d })).data.equals(d)).toBe(true);
      expect(decodeHash(encodeHash({ data: d })).data.equals(d)).toBe(true);
      expect(decodeVendorId(encodeVendorId({ data: d })).data.equals(d)).toBe(true);
      expect(decodeNatD(encodeNatD({ hash: d })).hash.equals(d)).toBe(true);
    }), RUNS);
    expect(() => decodeKe(new Uint8Array(0))).toThrow(DecodeError);
  });
  it('Nonce: 8..256 bytes only', () => {
    fc.assert(fc.property(buf(8, 256), (d) => {
      expect(decodeNonce(encodeNonce({ data: d })).data.equals(d)).toBe(true);
    }), RUNS);
    for (const n of [0, 7, 257, 1000]) expect(() => decodeNonce(new Uint8Array(n))).toThrow(DecodeError);
  });
  it('ID, every type (RFC 2407 §4.6.2)', () => {
    fc.assert(fc.property(idArb, (id) => {
      expect(decodeId(encodeId(id))).toEqual(id);
      expect(typeof idToString(id)).toBe('string');
    }), RUNS);
    expect(() => decodeId(Buffer.from([1, 17, 6, 165, 10, 0, 0]))).toThrow(DecodeError);
    expect(() => decodeId(Buffer.from([2, 0, 0, 0]))).toThrow(DecodeError);
    onlyDecodeErrors(decodeId);
  });
  it('Notification', () => {
    fc.assert(fc.property(notifyArb, (n) => {
      expect(decodeNotify(encodeNotify(n))).toEqual(n);
    }), RUNS);
    onlyDecodeErrors(decodeNotify);
  });
  it('Delete: num_spi × spi_size must equal the data length', () => {
    fc.assert(fc.property(deleteArb, (d) => {
      expect(decodeDelete(encodeDelete(d))).toEqual(d);
    }), RUNS);
    const huge = Buffer.from([0, 0, 0, 1, 3, 4, 0xff, 0xff, 1, 2, 3, 4]);
    expect(() => decodeDelete(huge)).toThrow(DecodeError);
    onlyDecodeErrors(decodeDelete);
  });
  it('NAT-OA IPv4 and IPv6', () => {
    fc.assert(fc.property(fc.ipV4(), (a) => {
      expect(decodeNatOa(encodeNatOa({ idType: 1, address: a }))).toEqual({ idType: 1, address: a });
    }), RUNS);
    const v6 = { idType: 5, address: '20010db8000000000000000000000001' };
    expect(decodeNatOa(encodeNatOa(v6))).toEqual(v6);
    onlyDecodeErrors(decodeNatOa);
  });
});

describe('message decoder (payload chain walk)', () => {
  const hdr = { initiatorCookie: Buffer.alloc(8, 1), responderCookie: Buffer.alloc(8), exchangeType: 2, flags: 0, messageId: 0 };
  it('round-trips a chain of known payloads', () => {
    fc.assert(fc.property(saArb, buf(8, 64), fc.array(buf(1, 20), { maxLength: 5 }), (sa, nonce, vids) => {
      const payloads: OutPayload[] = [{ type: PayloadType.SA, body: encodeSa(sa) }, { type: PayloadType.NONCE, body: nonce }, ...vids.map((v) => ({ type: PayloadType.VID, body: v }))];
      const m = decodeMessage(encodeMessage(hdr, PayloadType.SA, encodePayloadChain(payloads)));
      expect(m.payloads.sa!.value).toEqual(sa);
      expect(m.payloads.nonce!.value.data.equals(nonce)).toBe(true);
      expect(m.payloads.vendorIds).toEqual(vids);
      expect(m.payloads.order).toEqual(payloads.map((p) => p.type));
    }), RUNS);
  });
  it('rejects payload length < 4 or past the end, trailing bytes, duplicates, too many payloads, unknown types', () => {
    const chain = encodePayloadChain([{ type: PayloadType.VID, body: Buffer.alloc(4) }]);
    const short = Buffer.from(chain);
    short.writeUInt16BE(3, 2);
    expect(() => decodePayloadChain(PayloadType.VID, short, 0, false)).toThrow(/< 4/);
    const long = Buffer.from(chain);
    long.writeUInt16BE(200, 2);
    expect(() => decodePayloadChain(PayloadType.VID, long, 0, false)).toThrow(DecodeError);
    expect(() => decodePayloadChain(PayloadType.VID, Buffer.concat([chain, Buffer.alloc(3)]), 0, false)).toThrow(/after the last/);
    expect(decodePayloadChain(PayloadType.VID, Buffer.concat([chain, Buffer.alloc(3)]), 0, true).chainLength).toBe(chain.length);
    for (const t of [PayloadType.SA, PayloadType.KE, PayloadType.NONCE, PayloadType.HASH]) {
      const body = t === PayloadType.SA ? encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ number: 1, id: 1, attributes: [] }] }] }) : Buffer.alloc(16, 1);
      const dup = encodePayloadChain([{ type: t, body }, { type: t, body }]);
      expect(() => decodePayloadChain(t, dup, 0, false)).toThrow(/duplicate/);
    }
    const many = encodePayloadChain(Array.from({ length: MAX_PAYLOADS + 1 }, () => ({ type: PayloadType.VID, body: Buffer.alloc(1) })));
    expect(() => decodePayloadChain(PayloadType.VID, many, 0, false)).toThrow(/more than 64/);
    expect(decodePayloadChain(PayloadType.VID, encodePayloadChain(Array.from({ length: MAX_PAYLOADS }, () => ({ type: PayloadType.VID, body: Buffer.alloc(1) }))), 0, false).order).toHaveLength(64);
    expect(() => decodePayloadChain(99, chain, 0, false)).toThrow(/unknown payload/);
  });
  it('arbitrary bytes and mutated valid messages only ever throw DecodeError', () => {
    const base = encodeMessage(hdr, PayloadType.SA, encodePayloadChain([
      { type: PayloadType.SA, body: encodeSa({ doi: 1, situation: 1, proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ number: 1, id: 1, attributes: [{ type: 1, basic: true, value: 7 }] }] }] }) },
      { type: PayloadType.ID, body: Buffer.from([1, 17, 1, 244, 10, 0, 0, 1]) },
      { type: PayloadType.D, body: Buffer.from([0, 0, 0, 1, 3, 4, 0, 1, 1, 2, 3, 4]) },
      { type: PayloadType.N, body: Buffer.from([0, 0, 0, 1, 1, 0, 0x60, 2]) },
      { type: PayloadType.NAT_OA, body: Buffer.from([1, 0, 0, 0, 10, 0, 0, 1]) },
    ]));
    expect(decodeMessage(base).payloads.order).toHaveLength(5);
    fc.assert(fc.property(fc.array(fc.tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), (muts) => {
      const m = Buffer.from(base);
      for (const [at, v] of muts) m[at] = v;
      try {
        decodeMessage(m);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }), { numRuns: 500 });
    onlyDecodeErrors(decodeMessage);
  });
});

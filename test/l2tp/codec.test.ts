import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/index.js';
import { decodeAvps, encodeAvp, encodeAvps } from '../../src/l2tp/avp.js';
import { avpResultCode, avpU16, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AvpType, MessageType } from '../../src/l2tp/constants.js';
import { decodeHeader, encodeHeader } from '../../src/l2tp/header.js';
import { xl2tpdSccrqAvps } from './lac.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An SCCRQ captured from xl2tpd 1.3.13 (xelerance/xl2tpd issue #166 packet dump). */
const XL2TPD_SCCRQ = hex(`
  C8 02 00 64 00 00 00 00 00 00 00 00 80 08 00 00 00 00 00 01 80 08 00 00 00 02 01 00 80 0A 00 00 00 03 00 00 00 03
  80 0A 00 00 00 04 00 00 00 00 00 08 00 00 00 06 06 90 80 09 00 00 00 07 4D 32 4D 00 13 00 00 00 08 78 65 6C 65 72
  61 6E 63 65 2E 63 6F 6D 80 08 00 00 00 09 E7 F6 80 08 00 00 00 0A 00 08`);

function expectDecodeError(f: () => unknown, reason?: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    if (reason) expect((e as DecodeError).reason).toBe(reason);
    return;
  }
  throw new Error('expected a DecodeError');
}

describe('L2TP header (RFC 2661 §3.1)', () => {
  it('decodes the xl2tpd SCCRQ header', () => {
    const h = decodeHeader(XL2TPD_SCCRQ);
    expect(h).toMatchObject({ isControl: true, hasLength: true, hasSequence: true, version: 2, length: 100, tunnelId: 0, sessionId: 0, ns: 0, nr: 0, payloadOffset: 12, payloadEnd: 100 });
  });

  it('decodes xl2tpd SCCRQ AVPs into typed attributes', () => {
    const msg = decodeControlMessage(XL2TPD_SCCRQ.subarray(12));
    expect(msg?.messageType).toBe(MessageType.SCCRQ);
    expect(msg?.attrs).toMatchObject({
      protocolVersion: { version: 1, revision: 0 },
      framingCapabilities: 3,
      bearerCapabilities: 0,
      firmwareRevision: 0x0690,
      hostName: 'M2M',
      vendorName: 'xelerance.com',
      assignedTunnelId: 0xe7f6,
      receiveWindowSize: 8,
    });
    expect(msg?.unknownMandatory).toBeUndefined();
  });

  it('the test LAC builds SCCRQ bytes identical to xl2tpd', () => {
    const payload = encodeAvps(xl2tpdSccrqAvps('M2M', 0xe7f6, 8));
    const built = encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: 0, sessionId: 0, ns: 0, nr: 0 }, payload);
    expect(built.toString('hex')).toBe(XL2TPD_SCCRQ.toString('hex'));
  });

  it('rejects version ≠ 2 (L2F 0/1, L2TPv3 3)', () => {
    for (const v of [0, 1, 3, 15]) {
      const b = Buffer.from(XL2TPD_SCCRQ);
      b[1] = (b[1]! & 0xf0) | v;
      expectDecodeError(() => decodeHeader(b), 'version');
    }
  });

  it('rejects control messages without L or S, or with O or P', () => {
    for (const flags of [0x8802, 0xc002, 0xca02, 0xc902, 0x8002]) {
      const b = Buffer.from(XL2TPD_SCCRQ);
      b.writeUInt16BE(flags, 0);
      expectDecodeError(() => decodeHeader(b));
    }
  });

  it('rejects a Length past the datagram or below 12 for control', () => {
    for (const len of [0, 6, 11, 101, 0xffff]) {
      const b = Buffer.from(XL2TPD_SCCRQ);
      b.writeUInt16BE(len, 2);
      expectDecodeError(() => decodeHeader(b), 'length');
    }
  });

  it('handles data headers with and without L, S and Offset', () => {
    const frame = Buffer.from('ff03c021010100040000', 'hex');
    const plain = encodeHeader({ isControl: false, hasLength: false, hasSequence: false, tunnelId: 7, sessionId: 9 }, frame);
    expect(plain.subarray(0, 6).toString('hex')).toBe('000200070009');
    const h1 = decodeHeader(plain);
    expect(Buffer.from(plain.subarray(h1.payloadOffset, h1.payloadEnd))).toEqual(frame);
    const full = encodeHeader({ isControl: false, hasLength: true, hasSequence: true, tunnelId: 7, sessionId: 9, ns: 3, nr: 0, offsetSize: 5 }, frame);
    const h2 = decodeHeader(full);
    expect(h2).toMatchObject({ hasOffset: true, offsetSize: 5, ns: 3, tunnelId: 7, sessionId: 9 });
    expect(Buffer.from(full.subarray(h2.payloadOffset, h2.payloadEnd))).toEqual(frame);
    // Offset past the end.
    const bad = Buffer.from(full);
    bad.writeUInt16BE(200, 12);
    expectDecodeError(() => decodeHeader(bad), 'offset');
  });

  it('round-trips arbitrary headers', () => {
    fc.assert(
      fc.property(
        fc.record({
          isControl: fc.boolean(),
          hasLength: fc.boolean(),
          hasSequence: fc.boolean(),
          tunnelId: fc.integer({ min: 0, max: 0xffff }),
          sessionId: fc.integer({ min: 0, max: 0xffff }),
          ns: fc.integer({ min: 0, max: 0xffff }),
          nr: fc.integer({ min: 0, max: 0xffff }),
          offsetSize: fc.option(fc.integer({ min: 0, max: 20 }), { nil: undefined }),
        }),
        fc.uint8Array({ maxLength: 64 }),
        (f, payload) => {
          const fields = f.isControl ? { ...f, hasLength: true, hasSequence: true, offsetSize: undefined } : f;
          const b = encodeHeader(fields, payload);
          const h = decodeHeader(b);
          expect(h.isControl).toBe(fields.isControl);
          expect(h.tunnelId).toBe(fields.tunnelId);
          expect(h.sessionId).toBe(fields.sessionId);
          if (fields.hasSequence) expect([h.ns, h.nr]).toEqual([fields.ns, fields.nr]);
          expect(Buffer.from(b.subarray(h.payloadOffset, h.payloadEnd))).toEqual(Buffer.from(payload));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes: decodeHeader returns or throws DecodeError only', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (b) => {
        try {
          decodeHeader(b);
        } catch (e) {
          expect(e).toBeInstanceOf(DecodeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('AVP codec (RFC 2661 §4.1)', () => {
  it('every AVP length 0–5 is rejected (each step consumes ≥ 6 bytes)', () => {
    for (let len = 0; len < 6; len++) {
      const b = Buffer.from([0x80 | 0, len, 0, 0, 0, 0, 0, 0, 0, 0]);
      b.writeUInt16BE(0x8000 | len, 0);
      expectDecodeError(() => decodeAvps(b), 'avp-length');
    }
  });

  it('length 6 is an empty value; 1023 fits exactly; past the end is rejected', () => {
    expect(decodeAvps(Buffer.from([0x00, 0x06, 0, 0, 0, 39]))[0]?.value.length).toBe(0);
    const big = encodeAvp({ type: AvpType.PrivateGroupId, value: Buffer.alloc(1017, 0x41) });
    expect(big.readUInt16BE(0) & 0x3ff).toBe(1023);
    expect(decodeAvps(big)[0]?.value.length).toBe(1017);
    expectDecodeError(() => decodeAvps(big.subarray(0, 1022)), 'avp-length');
    expect(() => encodeAvp({ type: 1, value: Buffer.alloc(1018) })).toThrow(RangeError);
  });

  it('Message Type must be the first AVP', () => {
    const p = encodeAvps([avpU16(AvpType.AssignedTunnelId, 5), avpU16(AvpType.MessageType, MessageType.SCCRQ)]);
    expectDecodeError(() => decodeControlMessage(p), 'message-type-not-first');
  });

  it('a vendor AVP reusing IETF type numbers is not read as the IETF type (xl2tpd #163)', () => {
    const p = encodeAvps([
      avpU16(AvpType.MessageType, MessageType.SCCRQ),
      // Broadband Forum Agent-Remote-Id: vendor 3561, type 2 (= Protocol Version for vendor 0), M clear.
      { type: 2, vendorId: 3561, value: Buffer.from('DEU.QSC.CP250572'), mandatory: false },
      { type: AvpType.AssignedTunnelId, vendorId: 9, value: Buffer.from([0, 1]), mandatory: false },
    ]);
    const msg = decodeControlMessage(p);
    expect(msg?.attrs.protocolVersion).toBeUndefined();
    expect(msg?.attrs.assignedTunnelId).toBeUndefined();
    expect(msg?.unknownMandatory).toBeUndefined();
    // Vendor AVP first with type 0 is not a Message Type.
    expectDecodeError(() => decodeControlMessage(encodeAvps([{ type: 0, vendorId: 311, value: Buffer.from([0, 1]), mandatory: true }])), 'message-type-not-first');
    // With the M bit a vendor AVP is an unknown mandatory AVP.
    const m = decodeControlMessage(encodeAvps([avpU16(AvpType.MessageType, 1), { type: 2, vendorId: 3561, value: Buffer.from([1, 0]), mandatory: true }]));
    expect(m?.unknownMandatory?.vendorId).toBe(3561);
  });

  it('reserved bits set make an AVP unrecognised', () => {
    const m = decodeControlMessage(encodeAvps([avpU16(AvpType.MessageType, 1), { ...avpU16(AvpType.AssignedTunnelId, 5), reserved: 2 }]));
    expect(m?.attrs.assignedTunnelId).toBeUndefined();
    expect(m?.unknownMandatory?.type).toBe(AvpType.AssignedTunnelId);
  });

  it('Result Code: the 8-byte AVP (result only) is valid (xl2tpd #175); error code and message decoded', () => {
    const r8 = encodeAvp(avpResultCode(1));
    expect(r8.length).toBe(8);
    const m8 = decodeControlMessage(Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, MessageType.CDN)), r8]));
    expect(m8?.attrs.resultCode).toEqual({ result: 1 });
    const m10 = decodeControlMessage(encodeAvps([avpU16(AvpType.MessageType, 14), avpResultCode(2, 8)]));
    expect(m10?.attrs.resultCode).toEqual({ result: 2, error: 8 });
    const mm = decodeControlMessage(encodeAvps([avpU16(AvpType.MessageType, 14), avpResultCode(2, 6, 'bye')]));
    expect(mm?.attrs.resultCode).toEqual({ result: 2, error: 6, message: 'bye' });
    // 3-byte value (a truncated error code) and 1-byte value are malformed.
    expectDecodeError(() => decodeControlMessage(encodeAvps([avpU16(0, 14), { type: 1, value: Buffer.from([0, 1, 0]), mandatory: true }])), 'avp-value-length');
    expectDecodeError(() => decodeControlMessage(encodeAvps([avpU16(0, 14), { type: 1, value: Buffer.from([0]), mandatory: true }])), 'avp-value-length');
  });

  it('wrong fixed lengths are rejected', () => {
    expectDecodeError(() => decodeControlMessage(encodeAvps([avpU16(0, 1), { type: AvpType.AssignedTunnelId, value: Buffer.from([1]), mandatory: true }])), 'avp-value-length');
    expectDecodeError(() => decodeControlMessage(encodeAvps([{ type: 0, value: Buffer.from([1]), mandatory: true }])), 'avp-value-length');
  });

  it('round-trips arbitrary AVP lists', () => {
    const avp = fc.record({
      type: fc.integer({ min: 0, max: 0xffff }),
      vendorId: fc.integer({ min: 0, max: 0xffff }),
      mandatory: fc.boolean(),
      value: fc.uint8Array({ maxLength: 40 }),
    });
    fc.assert(
      fc.property(fc.array(avp, { maxLength: 8 }), (list) => {
        const dec = decodeAvps(encodeAvps(list));
        expect(dec.map((a) => ({ type: a.type, vendorId: a.vendorId, mandatory: a.mandatory, value: Buffer.from(a.value) }))).toEqual(
          list.map((a) => ({ ...a, value: Buffer.from(a.value) })),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('arbitrary bytes: AVP and message decoders throw DecodeError only', () => {
    const secret = Buffer.from('s3cr3t');
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (b) => {
        for (const f of [() => decodeAvps(b, secret), () => decodeControlMessage(b), () => decodeControlMessage(b, secret)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(DecodeError);
          }
        }
      }),
      { numRuns: 500 },
    );
  });
});

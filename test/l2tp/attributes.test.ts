import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type AvpSpec, encodeAvps } from '../../src/l2tp/avp.js';
import { avpBytes, avpMessageType, avpProtocolVersion, avpResultCode, avpString, avpU16, avpU32, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AVP_TYPE_NAMES, AvpType, MESSAGE_TYPE_NAMES, avpTypeName, messageTypeName } from '../../src/l2tp/constants.js';

const str = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });

describe('typed AVP decode (RFC 2661 §4.4)', () => {
  it('round-trips the AVPs the LNS reads', () => {
    fc.assert(
      fc.property(
        fc.record({
          hostName: str,
          vendorName: str,
          calledNumber: str,
          callingNumber: str,
          assignedTunnelId: u16,
          assignedSessionId: u16,
          receiveWindowSize: u16,
          firmwareRevision: u16,
          framingCapabilities: u32,
          bearerCapabilities: u32,
          callSerialNumber: u32,
          bearerType: u32,
          framingType: u32,
          txConnectSpeed: u32,
          rxConnectSpeed: u32,
          challenge: fc.uint8Array({ minLength: 1, maxLength: 64 }),
          challengeResponse: fc.uint8Array({ minLength: 16, maxLength: 16 }),
          tieBreaker: fc.uint8Array({ minLength: 8, maxLength: 8 }),
          result: fc.record({ result: u16, error: fc.option(u16, { nil: undefined }), message: fc.option(str.filter((s) => s.length > 0), { nil: undefined }) }),
          sequencingRequired: fc.boolean(),
        }),
        (a) => {
          const avps: AvpSpec[] = [
            avpMessageType(10),
            avpProtocolVersion(1, 0),
            avpString(AvpType.HostName, a.hostName),
            avpString(AvpType.VendorName, a.vendorName, false),
            avpString(AvpType.CalledNumber, a.calledNumber),
            avpString(AvpType.CallingNumber, a.callingNumber),
            avpU16(AvpType.AssignedTunnelId, a.assignedTunnelId),
            avpU16(AvpType.AssignedSessionId, a.assignedSessionId),
            avpU16(AvpType.ReceiveWindowSize, a.receiveWindowSize),
            avpU16(AvpType.FirmwareRevision, a.firmwareRevision, false),
            avpU32(AvpType.FramingCapabilities, a.framingCapabilities),
            avpU32(AvpType.BearerCapabilities, a.bearerCapabilities),
            avpU32(AvpType.CallSerialNumber, a.callSerialNumber),
            avpU32(AvpType.BearerType, a.bearerType),
            avpU32(AvpType.FramingType, a.framingType),
            avpU32(AvpType.TxConnectSpeed, a.txConnectSpeed),
            avpU32(AvpType.RxConnectSpeed, a.rxConnectSpeed),
            avpBytes(AvpType.Challenge, a.challenge),
            avpBytes(AvpType.ChallengeResponse, a.challengeResponse),
            avpBytes(AvpType.TieBreaker, a.tieBreaker, false),
            avpResultCode(a.result.result, a.result.error, a.result.message),
            { type: AvpType.Q931CauseCode, value: Buffer.from([0, 16, 7, 0x68, 0x69]), mandatory: true },
            // Proxy authentication AVPs are recognised and ignored.
            { type: AvpType.ProxyAuthenName, value: Buffer.from('user'), mandatory: true },
          ];
          if (a.sequencingRequired) avps.push({ type: AvpType.SequencingRequired, value: new Uint8Array(0), mandatory: true });
          const m = decodeControlMessage(encodeAvps(avps))!;
          expect(m.unknownMandatory).toBeUndefined();
          const { challenge, challengeResponse, tieBreaker, result, sequencingRequired, ...plain } = a;
          expect(m.attrs).toMatchObject(plain);
          expect(Buffer.from(m.attrs.challenge!)).toEqual(Buffer.from(challenge));
          expect(Buffer.from(m.attrs.challengeResponse!)).toEqual(Buffer.from(challengeResponse));
          expect(Buffer.from(m.attrs.tieBreaker!)).toEqual(Buffer.from(tieBreaker));
          const rc: Record<string, unknown> = { result: result.result };
          if (result.error !== undefined || result.message !== undefined) rc.error = result.error ?? 0;
          if (result.message !== undefined) rc.message = result.message;
          expect(m.attrs.resultCode).toEqual(rc);
          expect(m.attrs.sequencingRequired).toBe(sequencingRequired ? true : undefined);
          expect(m.attrs.q931Cause).toEqual({ cause: 16, msg: 7, advisory: 'hi' });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('name tables cover every RFC 2661 message and attribute type', () => {
    expect(Object.keys(MESSAGE_TYPE_NAMES).map(Number)).toEqual([1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16]);
    expect(Object.keys(AVP_TYPE_NAMES).map(Number)).toEqual([...Array.from({ length: 20 }, (_, i) => i), ...Array.from({ length: 19 }, (_, i) => i + 21)]);
    expect(messageTypeName(12)).toBe('ICCN');
    expect(messageTypeName(99)).toBe('type-99');
    expect(avpTypeName(0, 36)).toBe('Random Vector');
    expect(avpTypeName(311, 36)).toBe('vendor-311-type-36');
  });
});

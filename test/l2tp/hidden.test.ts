import { md5 } from '@noble/hashes/legacy.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/index.js';
import { decodeAvps, encodeAvp, encodeAvps } from '../../src/l2tp/avp.js';
import { avpString, avpU16, decodeControlMessage } from '../../src/l2tp/attributes.js';
import { AvpType, MessageType } from '../../src/l2tp/constants.js';
import { challengeResponse, hiddenSubformat, hide, unhide } from '../../src/l2tp/hidden.js';

const secret = Buffer.from('s3cr3t');
const rv = Buffer.from([0xf3, 0x1a, 0x00, 0xff, 0x42, 0x7c, 0x91, 0x08, 0x5d, 0xe6, 0x33, 0xb0, 0x14, 0xaa, 0x69, 0xc2]);

/** Independent implementation of the RFC 2661 §4.3 chain with @noble/hashes (not node:crypto). */
function refHide(type: number, plain: Uint8Array, s: Uint8Array, r: Uint8Array): Uint8Array {
  const out = new Uint8Array(plain.length);
  let prev = new Uint8Array(0);
  for (let i = 0; i < plain.length; i += 16) {
    const b = i === 0 ? md5(new Uint8Array([...[type >> 8, type & 0xff], ...s, ...r])) : md5(new Uint8Array([...s, ...prev]));
    for (let j = 0; j < 16 && i + j < plain.length; j++) out[i + j] = plain[i + j]! ^ b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return out;
}

function rvAvp(): Buffer {
  return encodeAvp({ type: AvpType.RandomVector, value: rv, mandatory: true });
}

/** A hidden Host Name AVP whose ciphered attribute is `attrLen` bytes with a declared length prefix (accel-ppp packet_test.c). */
function craftedHidden(attrLen: number, declared: number): Buffer {
  const value = Buffer.alloc(attrLen);
  const prefix = Buffer.alloc(2);
  prefix.writeUInt16BE(declared);
  prefix.copy(value, 0, 0, Math.min(2, attrLen));
  for (let i = 2; i < attrLen; i++) value[i] = 0x61 + (i % 26);
  const cipher = refHide(AvpType.HostName, value, secret, rv);
  const avp = Buffer.alloc(6 + attrLen);
  avp.writeUInt16BE(0xc000 | (6 + attrLen), 0);
  avp.writeUInt16BE(AvpType.HostName, 4);
  avp.set(cipher, 6);
  return avp;
}

describe('hidden AVPs (RFC 2661 §4.3)', () => {
  it('hide matches an independent MD5 chain and unhide inverts it', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 70 }), fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.uint8Array({ minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 0xffff }), (p, s, r, type) => {
        const c = hide(type, p, s, r);
        expect(Buffer.from(c)).toEqual(Buffer.from(refHide(type, p, s, r)));
        expect(Buffer.from(unhide(type, c, s, r))).toEqual(Buffer.from(p));
      }),
      { numRuns: 200 },
    );
  });

  it("accel-ppp's length-prefix cases (CVE-2020-15173): the deciphered prefix is never trusted", () => {
    const cases: Array<[string, number, number, boolean]> = [
      ['lies about 64K', 16, 0xffff, false],
      ['lies, minimal avp', 2, 0xffff, false],
      ['off by one', 16, 15, false],
      ['one byte too big', 4, 3, false],
      ['fits exactly', 16, 14, true],
      ['fits', 16, 4, true],
      ['empty value', 2, 0, true],
      ['no length prefix', 1, 0, false],
    ];
    for (const [name, attrLen, declared, accept] of cases) {
      const payload = Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, MessageType.HELLO)), rvAvp(), craftedHidden(attrLen, declared)]);
      if (!accept) {
        expect(() => decodeControlMessage(payload, secret), name).toThrow(DecodeError);
        continue;
      }
      const msg = decodeControlMessage(payload, secret);
      const expected = Array.from({ length: declared }, (_, i) => String.fromCharCode(0x61 + ((i + 2) % 26))).join('');
      expect(msg?.attrs.hostName, name).toBe(expected);
    }
  });

  it('a hidden AVP without a preceding Random Vector, or with no value, is rejected', () => {
    const noRv = Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, 1)), craftedHidden(16, 4)]);
    expect(() => decodeControlMessage(noRv, secret)).toThrow(expect.objectContaining({ reason: 'hidden-no-random-vector' }));
    const empty = Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, 1)), rvAvp(), Buffer.from([0xc0, 0x06, 0, 0, 0, AvpType.HostName])]);
    expect(() => decodeControlMessage(empty, secret)).toThrow(expect.objectContaining({ reason: 'hidden-length' }));
    // A Random Vector AFTER the hidden AVP does not count.
    const rvAfter = Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, 1)), craftedHidden(16, 4), rvAvp()]);
    expect(() => decodeControlMessage(rvAfter, secret)).toThrow(DecodeError);
  });

  it('a hidden AVP with no tunnel secret configured is rejected', () => {
    const p = Buffer.concat([encodeAvp(avpU16(AvpType.MessageType, 1)), rvAvp(), craftedHidden(16, 4)]);
    expect(() => decodeControlMessage(p)).toThrow(expect.objectContaining({ reason: 'hidden-no-secret' }));
  });

  it('round trip with padding, multi-block values', () => {
    const host = 'accel-ppp regression test host name';
    const p = encodeAvps([
      avpU16(AvpType.MessageType, MessageType.HELLO),
      { type: AvpType.RandomVector, value: rv, mandatory: true },
      { ...avpString(AvpType.HostName, host), hide: { secret, randomVector: rv, padding: Buffer.alloc(16, 7) } },
      { ...avpU16(AvpType.AssignedTunnelId, 0x1234), hide: { secret, randomVector: rv } },
    ]);
    const msg = decodeControlMessage(p, secret);
    expect(msg?.attrs.hostName).toBe(host);
    expect(msg?.attrs.assignedTunnelId).toBe(0x1234);
  });

  it('a wrong secret never reads outside the AVP: rejected, or a value no longer than the AVP', () => {
    const p = encodeAvps([
      avpU16(AvpType.MessageType, MessageType.HELLO),
      { type: AvpType.RandomVector, value: rv, mandatory: true },
      { ...avpString(AvpType.HostName, 'hidden'), hide: { secret, randomVector: rv, padding: Buffer.alloc(16) } },
    ]);
    for (let i = 0; i < 64; i++) {
      const wrong = Buffer.from(`wrong${String(i).padStart(2, '0')}`);
      try {
        const avps = decodeAvps(p, wrong);
        const h = avps.find((a) => a.type === AvpType.HostName);
        expect(h!.value.length).toBeLessThanOrEqual(2 + 6 + 16 - 2);
        expect(h!.value.buffer).toBeDefined();
      } catch (e) {
        expect(e).toBeInstanceOf(DecodeError);
      }
    }
  });

  it('Challenge Response is MD5(type | secret | challenge) (RFC 2661 §4.4.3)', () => {
    const ch = Buffer.from('0123456789abcdef');
    expect(Buffer.from(challengeResponse(2, secret, ch))).toEqual(Buffer.from(md5(new Uint8Array([2, ...secret, ...ch]))));
    expect(Buffer.from(hiddenSubformat(Buffer.from('ab'), Buffer.from([9])))).toEqual(Buffer.from([0, 2, 0x61, 0x62, 9]));
  });
});

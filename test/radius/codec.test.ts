import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isDecodeError } from '../../src/core/errors.js';
import { ATTRIBUTES, attributeName, CODE } from '../../src/radius/dictionary.js';
import { attr, decodeAttributes, encodeAttributes, getInteger, getOctets, getText } from '../../src/radius/attributes.js';
import {
  findMessageAuthenticator,
  hideUserPassword,
  revealUserPassword,
  saltDecrypt,
  saltEncrypt,
  signAccessRequest,
  signResponse,
  signZeroAuthRequest,
  verifyAccessRequest,
  verifyResponse,
  verifyZeroAuthRequest,
} from '../../src/radius/crypto.js';
import { decodePacket, encodePacket, type RadiusPacket, type RawAttribute } from '../../src/radius/packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// RFC 2865 §7.1 "User Telnet to Specified Host" (secret "xyzzy5461").
const RFC_7_1_REQUEST = hex(`01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
  98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f 78 2a 0a ee 04 06 c0 a8
  01 10 05 06 00 00 00 03`);
const RFC_7_1_ACCEPT = hex(`02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
  9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03`);
// RFC 2865 §7.2 "Framed User Authenticating with CHAP".
const RFC_7_2_REQUEST = hex(`01 01 00 47 2a ee 86 f0 8d 0d 55 96 9c a5 97 8e
  0d 33 67 a2 01 08 66 6c 6f 70 73 79 03 13 16 e9 75 57 c3 16 18 58 95 f2 93 ff 63 44 07 72 75 04 06
  c0 a8 01 10 05 06 00 00 00 14 06 06 00 00 00 02 07 06 00 00 00 01`);
const SECRET = Buffer.from('xyzzy5461');

describe('RADIUS codec: the RFC 2865 §7 examples', () => {
  it('§7.1: the Access-Request decodes, its User-Password reveals "arctangent", and it encodes back to the same octets', () => {
    const p = decodePacket(RFC_7_1_REQUEST);
    expect(p.code).toBe(CODE.AccessRequest);
    expect(p.identifier).toBe(0);
    const attrs = decodeAttributes(p.attributes);
    expect(getText(attrs, 'User-Name')).toBe('nemo');
    expect(getText(attrs, 'NAS-IP-Address')).toBe('192.168.1.16');
    expect(getInteger(attrs, 'NAS-Port')).toBe(3);
    const hidden = getOctets(attrs, 'User-Password')!;
    expect(revealUserPassword(hidden, SECRET, p.authenticator).toString()).toBe('arctangent');
    expect(hideUserPassword(Buffer.from('arctangent'), SECRET, p.authenticator)).toEqual(Buffer.from(hidden));
    expect(encodePacket(p)).toEqual(RFC_7_1_REQUEST);
    // with the secret as context the typed layer shows the clear password and hides it again
    const ctx = { secret: SECRET, authenticator: p.authenticator };
    const clear = decodeAttributes(p.attributes, ctx);
    expect(getText(clear, 'User-Password')).toBe('arctangent');
    expect(encodePacket({ ...p, attributes: encodeAttributes(clear, ctx) })).toEqual(RFC_7_1_REQUEST);
  });

  it('§7.1: the Access-Accept carries a Response Authenticator that checks with the request authenticator and secret, and fails with another secret', () => {
    const req = decodePacket(RFC_7_1_REQUEST);
    const acc = decodePacket(RFC_7_1_ACCEPT);
    expect(acc.code).toBe(CODE.AccessAccept);
    const attrs = decodeAttributes(acc.attributes);
    expect(getInteger(attrs, 'Service-Type')).toBe(1);
    expect(attrs.map((a) => a.name)).toEqual(['Service-Type', 'Attr-15', 'Attr-14']);
    expect(verifyResponse(RFC_7_1_ACCEPT, req.authenticator, SECRET)).toEqual({ authenticator: true, messageAuthenticator: 'absent' });
    expect(verifyResponse(RFC_7_1_ACCEPT, req.authenticator, Buffer.from('xyzzy5462')).authenticator).toBe(false);
    const wrongReq = Buffer.from(req.authenticator);
    wrongReq[0]! ^= 1;
    expect(verifyResponse(RFC_7_1_ACCEPT, wrongReq, SECRET).authenticator).toBe(false);
  });

  it('§7.2: the CHAP Access-Request (Service-Type Framed, Framed-Protocol PPP) decodes and encodes back to the same octets', () => {
    const req = decodePacket(RFC_7_2_REQUEST);
    const ra = decodeAttributes(req.attributes);
    expect(getText(ra, 'User-Name')).toBe('flopsy');
    expect(getOctets(ra, 'CHAP-Password')!.length).toBe(17);
    expect(getText(ra, 'NAS-IP-Address')).toBe('192.168.1.16');
    expect(getInteger(ra, 'NAS-Port')).toBe(20);
    expect(getInteger(ra, 'Service-Type')).toBe(2);
    expect(getInteger(ra, 'Framed-Protocol')).toBe(1);
    expect(encodePacket(req)).toEqual(RFC_7_2_REQUEST);
  });
});

describe('RADIUS codec: bounds', () => {
  const ok = (): Buffer => Buffer.from(RFC_7_1_REQUEST);

  it('a datagram shorter than the header, a Length under 20, over 4096 or past the datagram is a DecodeError', () => {
    for (const n of [0, 1, 3, 4, 19]) expect(() => decodePacket(ok().subarray(0, n))).toThrow(/truncated|Length/);
    const b = ok();
    b.writeUInt16BE(19, 2);
    expect(() => decodePacket(b)).toThrow(/Length 19/);
    b.writeUInt16BE(b.length + 1, 2);
    expect(() => decodePacket(b)).toThrow(/longer than the datagram/);
    const big = Buffer.alloc(5000);
    big.writeUInt16BE(4097, 2);
    expect(() => decodePacket(big)).toThrow(/outside 20..4096/);
  });

  it('octets past Length are padding and ignored (RFC 2865 §3)', () => {
    const padded = Buffer.concat([RFC_7_1_REQUEST, Buffer.from([1, 2, 3, 4])]);
    expect(decodePacket(padded)).toEqual(decodePacket(RFC_7_1_REQUEST));
  });

  it('an attribute Length of 0 or 1, or past the packet, is a DecodeError with its offset', () => {
    for (const len of [0, 1]) {
      const b = ok();
      b[21] = len;
      try {
        decodePacket(b);
        expect.unreachable();
      } catch (e) {
        expect(isDecodeError(e) && e.reason).toBe('bad-attribute-length');
        expect(isDecodeError(e) && e.offset).toBe(20);
      }
    }
    const b = ok();
    b[b.length - 5] = 7; // NAS-Port's Length 6 -> 7: one octet past the end
    expect(() => decodePacket(b)).toThrow(/truncated/);
  });

  it('a Microsoft Vendor-Specific with a broken sub-attribute is a DecodeError; another vendor keeps its opaque octets', () => {
    const mk = (vsa: Buffer): Buffer => {
      const w = Buffer.concat([Buffer.from([2, 7, 0, 0]), Buffer.alloc(16), Buffer.from([26, vsa.length + 2]), vsa]);
      w.writeUInt16BE(w.length, 2);
      return w;
    };
    const ms = (sub: number[]): Buffer => Buffer.concat([Buffer.from([0, 0, 1, 0x37]), Buffer.from(sub)]);
    expect(() => decodePacket(mk(ms([26, 1])))).toThrow(/Length 1/);
    expect(() => decodePacket(mk(ms([26, 9, 1])))).toThrow(/truncated/);
    expect(() => decodePacket(mk(ms([])))).toThrow(/without a sub-attribute/);
    expect(() => decodePacket(mk(Buffer.from([0, 0, 1])))).toThrow(/Vendor-Specific of 3/);
    const other = Buffer.from([0, 0, 0x0a, 0x4c, 0xff, 0x00, 0x01]);
    const p = decodePacket(mk(other));
    expect(p.attributes).toEqual([{ vendor: 0, type: 26, value: other }]);
    expect(decodePacket(encodePacket(p))).toEqual(p);
  });

  it('integer, date and address values of the wrong length are DecodeErrors', () => {
    const raws: RawAttribute[] = [{ vendor: 0, type: 27, value: Buffer.from([0, 0, 1]) }];
    expect(() => decodeAttributes(raws)).toThrow(/Session-Timeout of 3 octets/);
    expect(() => decodeAttributes([{ vendor: 0, type: 8, value: Buffer.alloc(5) }])).toThrow(/Framed-IP-Address of 5/);
  });

  it('the encoder refuses a value longer than an attribute can hold and a packet over 4096 octets', () => {
    const p: RadiusPacket = { code: 1, identifier: 1, authenticator: Buffer.alloc(16), attributes: [{ vendor: 0, type: 25, value: Buffer.alloc(254) }] };
    expect(() => encodePacket(p)).toThrow(RangeError);
    expect(() => encodePacket({ ...p, attributes: [{ vendor: 311, type: 26, value: Buffer.alloc(248) }] })).toThrow(RangeError);
    expect(() => encodePacket({ ...p, attributes: Array.from({ length: 17 }, () => ({ vendor: 0, type: 25, value: Buffer.alloc(253) })) })).toThrow(/> 4096/);
  });
});

describe('RADIUS codec: the attribute table', () => {
  it('names are unique, (vendor, type) pairs are unique, and an unknown attribute is named as FreeRADIUS prints it', () => {
    expect(new Set(ATTRIBUTES.map((a) => a.name)).size).toBe(ATTRIBUTES.length);
    expect(new Set(ATTRIBUTES.map((a) => `${a.vendor}:${a.type}`)).size).toBe(ATTRIBUTES.length);
    expect(attributeName(0, 200)).toBe('Attr-200');
    expect(attributeName(311, 99)).toBe('Attr-26.311.99');
    expect(attributeName(311, 26)).toBe('MS-CHAP2-Success');
  });

  it('Microsoft attributes go in a Vendor-Specific of their own (RFC 2548 §2 layout) and come back', () => {
    const raws = encodeAttributes([attr('MS-CHAP-Challenge', Buffer.alloc(16, 7)), attr('User-Name', 'bob')]);
    const bytes = encodePacket({ code: 1, identifier: 9, authenticator: Buffer.alloc(16), attributes: raws });
    // 26, 2+4+2+16, Vendor-Id 311, Vendor-Type 11, Vendor-Length 18
    expect(bytes.subarray(20, 28)).toEqual(Buffer.from([26, 24, 0, 0, 1, 0x37, 11, 18]));
    expect(decodePacket(bytes).attributes).toEqual(raws.map((r) => ({ ...r, value: Buffer.from(r.value) })));
  });

  it('two Microsoft sub-attributes in one Vendor-Specific are both read', () => {
    const vsa = Buffer.from([0, 0, 1, 0x37, 7, 6, 0, 0, 0, 1, 8, 6, 0, 0, 0, 6]);
    const b = Buffer.concat([Buffer.from([2, 1, 0, 0]), Buffer.alloc(16), Buffer.from([26, vsa.length + 2]), vsa]);
    b.writeUInt16BE(b.length, 2);
    const attrs = decodeAttributes(decodePacket(b).attributes);
    expect(attrs).toEqual([
      { name: 'MS-MPPE-Encryption-Policy', value: 1 },
      { name: 'MS-MPPE-Encryption-Types', value: 6 },
    ]);
  });

  it('the encoder refuses values of the wrong kind', () => {
    expect(() => encodeAttributes([attr('Session-Timeout', 'x')])).toThrow(RangeError);
    expect(() => encodeAttributes([attr('Session-Timeout', -1)])).toThrow(RangeError);
    expect(() => encodeAttributes([attr('Session-Timeout', 2 ** 32)])).toThrow(RangeError);
    expect(() => encodeAttributes([attr('User-Name', 5)])).toThrow(RangeError);
    expect(() => encodeAttributes([attr('User-Password', 'x')])).toThrow(/needs the secret/);
    expect(() => encodeAttributes([attr('No-Such-Attribute', 'x')])).toThrow(/unknown/);
  });
});

describe('RADIUS crypto', () => {
  const auth = Buffer.from('0123456789abcdef');
  const secret = Buffer.from('testing123');

  it('User-Password: hide/reveal round trip for every length 0..128 (padded to 16s)', () => {
    for (let n = 0; n <= 128; n++) {
      const pw = Buffer.alloc(n, 0x61 + (n % 26));
      const hidden = hideUserPassword(pw, secret, auth);
      expect(hidden.length).toBe(Math.max(16, Math.ceil(n / 16) * 16));
      expect(revealUserPassword(hidden, secret, auth)).toEqual(pw);
    }
    expect(() => hideUserPassword(Buffer.alloc(129), secret, auth)).toThrow(RangeError);
    expect(() => revealUserPassword(Buffer.alloc(17), secret, auth)).toThrow(/17 octets/);
  });

  it('salt encryption (RFC 2548 §2.4.2): the salt gets its high bit, the key comes back, every byte of the result depends on the salt', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 2, maxLength: 2 }), (key, salt) => {
        const enc = saltEncrypt(key, secret, auth, salt);
        expect(enc[0]! & 0x80).toBe(0x80);
        expect((enc.length - 2) % 16).toBe(0);
        expect(saltDecrypt(enc, secret, auth)).toEqual(Buffer.from(key));
        const other = saltEncrypt(key, secret, auth, Buffer.from([salt[0]!, salt[1]! ^ 1]));
        expect(other.subarray(2, 18).equals(enc.subarray(2, 18))).toBe(false);
      }),
    );
  });

  it('salt decryption refuses a bad length, a salt without its high bit, a key length past the plaintext', () => {
    expect(() => saltDecrypt(Buffer.alloc(17, 0x80), secret, auth)).toThrow(/17 octets/);
    expect(() => saltDecrypt(Buffer.alloc(18), secret, auth)).toThrow(/high bit/);
    // the first block's keystream depends only on the salt: flipping the ciphertext flips the length octet 16 -> 200
    const forged = saltEncrypt(Buffer.alloc(16), secret, auth, Buffer.from([0x80, 1]));
    forged[2] = forged[2]! ^ 16 ^ 200;
    expect(() => saltDecrypt(forged, secret, auth)).toThrow(/key length 200/);
  });

  it('Access-Request: Message-Authenticator first, an HMAC-MD5 over the packet with it zeroed (RFC 3579 §3.2)', () => {
    const p: RadiusPacket = { code: 1, identifier: 3, authenticator: auth, attributes: encodeAttributes([attr('User-Name', 'bob')]) };
    const bytes = signAccessRequest(p, secret);
    expect(bytes[20]).toBe(80);
    expect(findMessageAuthenticator(bytes)).toBe(22);
    const zeroed = Buffer.from(bytes);
    zeroed.fill(0, 22, 38);
    expect(bytes.subarray(22, 38)).toEqual(createHmac('md5', secret).update(zeroed).digest());
    expect(verifyAccessRequest(bytes, secret)).toBe('valid');
    const tampered = Buffer.from(bytes);
    tampered[tampered.length - 1]! ^= 1;
    expect(verifyAccessRequest(tampered, secret)).toBe('invalid');
  });

  it('responses: authenticator and Message-Authenticator are valid, and tampering with any octet breaks the authenticator', () => {
    const resp: RadiusPacket = { code: 2, identifier: 3, authenticator: Buffer.alloc(16), attributes: encodeAttributes([attr('Session-Timeout', 60)]) };
    const bytes = signResponse(resp, auth, secret);
    expect(verifyResponse(bytes, auth, secret)).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    expect(verifyResponse(signResponse(resp, auth, secret, false), auth, secret)).toEqual({ authenticator: true, messageAuthenticator: 'absent' });
    for (let i = 0; i < bytes.length; i++) {
      if (i >= 4 && i < 20) continue;
      const t = Buffer.from(bytes);
      t[i]! ^= 0x40;
      expect(verifyResponse(t, auth, secret).authenticator).toBe(false);
    }
  });

  it('Accounting-Request: the Request Authenticator is MD5 over the packet with zeros in its place (RFC 2866 §3)', () => {
    const p: RadiusPacket = { code: 4, identifier: 5, authenticator: Buffer.alloc(16), attributes: encodeAttributes([attr('Acct-Status-Type', 1), attr('Acct-Session-Id', 'abc')]) };
    const bytes = signZeroAuthRequest(p, secret);
    expect(verifyZeroAuthRequest(bytes, secret)).toEqual({ authenticator: true, messageAuthenticator: 'valid' });
    expect(verifyZeroAuthRequest(bytes, Buffer.from('wrong')).authenticator).toBe(false);
    expect(verifyZeroAuthRequest(signZeroAuthRequest(p, secret, false), secret)).toEqual({ authenticator: true, messageAuthenticator: 'absent' });
  });

  it('two Message-Authenticators or one of the wrong length are refused', () => {
    const two: RadiusPacket = {
      code: 2,
      identifier: 1,
      authenticator: Buffer.alloc(16),
      attributes: [
        { vendor: 0, type: 80, value: Buffer.alloc(16) },
        { vendor: 0, type: 80, value: Buffer.alloc(16) },
      ],
    };
    expect(() => findMessageAuthenticator(encodePacket(two))).toThrow(/two/);
    expect(() => findMessageAuthenticator(encodePacket({ ...two, attributes: [{ vendor: 0, type: 80, value: Buffer.alloc(15) }] }))).toThrow(/!= 18/);
  });
});

describe('RADIUS codec: properties', () => {
  const rawAttr = fc.oneof(
    fc.record({ vendor: fc.constant(0), type: fc.integer({ min: 1, max: 255 }).filter((t) => t !== 26), value: fc.uint8Array({ maxLength: 253 }) }),
    fc.record({ vendor: fc.constant(311), type: fc.integer({ min: 0, max: 255 }), value: fc.uint8Array({ maxLength: 247 }) }),
  );
  const packet = fc.record({
    code: fc.integer({ min: 0, max: 255 }),
    identifier: fc.integer({ min: 0, max: 255 }),
    authenticator: fc.uint8Array({ minLength: 16, maxLength: 16 }),
    attributes: fc.array(rawAttr, { maxLength: 14 }),
  });

  it('decode(encode(p)) = p', () => {
    fc.assert(
      fc.property(packet, (p) => {
        const bytes = encodePacket(p);
        const back = decodePacket(bytes);
        expect(back.code).toBe(p.code);
        expect(back.identifier).toBe(p.identifier);
        expect(Buffer.from(back.authenticator)).toEqual(Buffer.from(p.authenticator));
        expect(back.attributes.map((a) => ({ ...a, value: Buffer.from(a.value) }))).toEqual(p.attributes.map((a) => ({ ...a, value: Buffer.from(a.value) })));
        expect(encodePacket(back)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('random octets: decodePacket returns or throws DecodeError, never anything else, and a decoded packet re-encodes to a decodable one', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
        try {
          const p = decodePacket(b);
          const again = decodePacket(encodePacket(p));
          expect(again.attributes.length).toBe(p.attributes.length);
          decodeAttributes(p.attributes);
        } catch (e) {
          if (!isDecodeError(e)) throw e;
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('mutations of a valid signed response: decode throws only DecodeError, and verification never passes for a changed packet', () => {
    const secret = Buffer.from('s3cret');
    const reqAuth = Buffer.alloc(16, 9);
    const base = signResponse(
      { code: 2, identifier: 1, authenticator: Buffer.alloc(16), attributes: encodeAttributes([attr('Framed-IP-Address', '10.1.2.3'), attr('MS-CHAP2-Success', Buffer.from('\x01S=00'))]) },
      reqAuth,
      secret,
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: base.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const b = Buffer.from(base);
        b[i]! ^= x;
        try {
          decodePacket(b);
          const check = verifyResponse(b, reqAuth, secret);
          expect(check.authenticator && check.messageAuthenticator === 'valid').toBe(false);
        } catch (e) {
          if (!isDecodeError(e)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});

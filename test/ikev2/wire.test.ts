import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/core/errors.js';
import { Writer } from '../../src/core/bytes.js';
import {
  ExchangeType, NotifyType, PayloadType, nameOf, notifyTypeNames, exchangeTypeNames, payloadTypeNames, encrNames, prfNames, integNames,
  dhGroupNames, authMethodNames, idTypeNames, certEncodingNames, configAttrNames, cfgTypeNames, tsTypeNames, protocolIdNames,
  transformTypeNames, esnNames, hashAlgorithmNames, isErrorNotify, Encr, TransformType,
} from '../../src/ikev2/wire/constants.js';
import { decodeHeader, encodeHeader, IKE_HEADER_LENGTH, isInitiator, isResponse, peekMajorVersion, type IkeHeader } from '../../src/ikev2/wire/header.js';
import { decodeSa, encodeSa, keyLength } from '../../src/ikev2/wire/sa.js';
import { decodeKe } from '../../src/ikev2/wire/ke.js';
import { decodeId, idToString } from '../../src/ikev2/wire/id.js';
import { certReqAuthorities, decodeCert, decodeCertReq } from '../../src/ikev2/wire/cert.js';
import { decodeAuth } from '../../src/ikev2/wire/auth.js';
import { decodeNonce } from '../../src/ikev2/wire/nonce.js';
import { decodeNotify, encodeNotify, notify } from '../../src/ikev2/wire/notify.js';
import { decodeDelete } from '../../src/ikev2/wire/delete.js';
import { decodeTs, encodeTs, ipv4Range } from '../../src/ikev2/wire/ts.js';
import { decodeCp, encodeCp } from '../../src/ikev2/wire/cp.js';
import { decodeEapPayload } from '../../src/ikev2/wire/eap.js';
import { decodeSkf } from '../../src/ikev2/wire/sk.js';
import { decodeMessage, decodePayloadChain, encodeMessage, encodePayloadBody, encodePayloads, findPayload, allPayloads, MAX_PAYLOADS, type Payload } from '../../src/ikev2/wire/message.js';
import { buf, headerFieldsArb, payloadArb, payloadListArb } from './arbitraries.js';

const RUNS = { numRuns: 300 };

function onlyDecodeErrors(f: (b: Uint8Array) => unknown, arb: fc.Arbitrary<Uint8Array> = fc.uint8Array({ maxLength: 300 })): void {
  fc.assert(
    fc.property(arb, (b) => {
      try {
        f(b);
      } catch (e) {
        if (!(e instanceof DecodeError)) throw e;
      }
    }),
    { numRuns: 400 },
  );
}

function expectDecodeError(f: () => unknown, reason: string): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(DecodeError);
    expect((e as DecodeError).reason).toBe(reason);
    return;
  }
  throw new Error(`expected DecodeError ${reason}`);
}

/** A raw chain from (type, critical, body) triples. */
function rawChain(items: [number, boolean, Uint8Array][]): Buffer {
  const w = new Writer();
  items.forEach(([, crit, body], i) => w.u8(items[i + 1]?.[0] ?? 0).u8(crit ? 0x80 : 0).u16(body.length + 4).bytes(body));
  return w.finish();
}

const header = (over: Partial<IkeHeader> = {}): IkeHeader => ({
  spiI: Buffer.alloc(8, 1), spiR: Buffer.alloc(8, 0), nextPayload: 0, majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, flags: 0x08, messageId: 0, length: IKE_HEADER_LENGTH, ...over,
});

describe('name tables', () => {
  it('name every enum and fall back to unknown(n)', () => {
    expect(nameOf(notifyTypeNames, NotifyType.INVALID_KE_PAYLOAD)).toBe('INVALID_KE_PAYLOAD');
    expect(nameOf(notifyTypeNames, 16430)).toBe('IKEV2_FRAGMENTATION_SUPPORTED');
    expect(nameOf(notifyTypeNames, 16431)).toBe('SIGNATURE_HASH_ALGORITHMS');
    expect(nameOf(notifyTypeNames, 16390)).toBe('COOKIE');
    expect(nameOf(exchangeTypeNames, 34)).toBe('IKE_SA_INIT');
    expect(nameOf(payloadTypeNames, 53)).toBe('SKF');
    expect(nameOf(encrNames, 20)).toBe('AES_GCM_16');
    expect(nameOf(prfNames, 7)).toBe('HMAC_SHA2_512');
    expect(nameOf(integNames, 12)).toBe('HMAC_SHA2_256_128');
    expect(nameOf(dhGroupNames, 31)).toBe('CURVE25519');
    expect(nameOf(authMethodNames, 14)).toBe('DIGITAL_SIGNATURE');
    expect(nameOf(idTypeNames, 2)).toBe('ID_FQDN');
    expect(nameOf(certEncodingNames, 4)).toBe('X509_SIGNATURE');
    expect(nameOf(configAttrNames, 1)).toBe('INTERNAL_IP4_ADDRESS');
    expect(nameOf(cfgTypeNames, 2)).toBe('CFG_REPLY');
    expect(nameOf(tsTypeNames, 7)).toBe('TS_IPV4_ADDR_RANGE');
    expect(nameOf(protocolIdNames, 3)).toBe('ESP');
    expect(nameOf(transformTypeNames, 4)).toBe('DH');
    expect(nameOf(esnNames, 0)).toBe('NO_ESN');
    expect(nameOf(hashAlgorithmNames, 2)).toBe('SHA2_256');
    expect(nameOf(notifyTypeNames, 9999)).toBe('unknown(9999)');
    expect(isErrorNotify(NotifyType.AUTHENTICATION_FAILED)).toBe(true);
    expect(isErrorNotify(NotifyType.COOKIE)).toBe(false);
  });
});

describe('IKE header (RFC 7296 §3.1)', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(buf(8, 8), buf(8, 8), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 0xffffffff }), (spiI, spiR, np, ex, flags, mid) => {
        const h = header({ spiI, spiR, nextPayload: np, exchangeType: ex, flags, messageId: mid });
        expect(decodeHeader(encodeHeader(h).finish())).toEqual(h);
      }),
      RUNS,
    );
  });
  it('refuses a major version other than 2, ignores the minor version', () => {
    expectDecodeError(() => decodeHeader(encodeHeader(header({ majorVersion: 1 })).finish()), 'major-version');
    expectDecodeError(() => decodeHeader(encodeHeader(header({ majorVersion: 3 })).finish()), 'major-version');
    expect(decodeHeader(encodeHeader(header({ minorVersion: 1 })).finish()).minorVersion).toBe(1);
  });
  it('checks the length against the datagram', () => {
    for (const n of [0, 1, 27]) expectDecodeError(() => decodeHeader(Buffer.alloc(n)), 'short-header');
    const b = encodeHeader(header({ length: 29 })).finish();
    expectDecodeError(() => decodeHeader(b), 'bad-length');
    expectDecodeError(() => decodeHeader(Buffer.concat([encodeHeader(header({ length: 28 })).finish(), Buffer.alloc(1)])), 'bad-length');
  });
  it('reads the flags and the version for demultiplexing', () => {
    expect(isInitiator({ flags: 0x08 })).toBe(true);
    expect(isResponse({ flags: 0x08 })).toBe(false);
    expect(isResponse({ flags: 0x20 })).toBe(true);
    expect(peekMajorVersion(encodeHeader(header()).finish())).toBe(2);
    expect(peekMajorVersion(encodeHeader(header({ majorVersion: 1 })).finish())).toBe(1);
    expect(peekMajorVersion(Buffer.alloc(27))).toBeUndefined();
  });
});

describe('payload codecs round-trip', () => {
  it('every payload type: decode(encode(x)) == x', () => {
    fc.assert(
      fc.property(payloadArb, (p) => {
        const chain = decodePayloadChain(p.type, rawChain([[p.type, false, encodePayloadBody(p)]]));
        expect(chain.payloads).toHaveLength(1);
        expect(chain.payloads[0]!.type).toBe(p.type);
        expect(chain.payloads[0]!.value).toEqual(p.value);
      }),
      { numRuns: 1000 },
    );
  });
  it('messages: decodeMessage(encodeMessage(h, ps)) gives the header and payloads back', () => {
    fc.assert(
      fc.property(headerFieldsArb, payloadListArb, (h, ps) => {
        const m = decodeMessage(encodeMessage(h, ps));
        expect(m.header).toMatchObject(h);
        expect(m.chain.payloads.map((p) => ({ type: p.type, value: p.value }))).toEqual(ps);
      }),
      RUNS,
    );
  });
  for (const [name, f] of Object.entries({
    decodeSa, decodeKe, decodeId, decodeCert, decodeCertReq, decodeAuth, decodeNonce, decodeNotify, decodeDelete, decodeTs, decodeCp, decodeEapPayload,
    decodeSkf: (b: Uint8Array) => decodeSkf(b, 0), decodeHeader, decodeMessage,
  })) {
    it(`${name} on random bytes throws only DecodeError`, () => onlyDecodeErrors(f));
  }
});

describe('SA payload (§3.3)', () => {
  const sa = {
    proposals: [
      { number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [
        { type: TransformType.ENCR, id: Encr.AES_CBC, attributes: [{ type: 14, tv: true as const, value: 256 }] },
        { type: TransformType.PRF, id: 5, attributes: [] },
        { type: TransformType.INTEG, id: 12, attributes: [] },
        { type: TransformType.DH, id: 19, attributes: [] },
      ] },
      { number: 2, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ type: TransformType.ENCR, id: Encr.AES_GCM_16, attributes: [{ type: 14, tv: true as const, value: 128 }] }] },
    ],
  };
  it('reads the Key Length attribute', () => {
    const d = decodeSa(encodeSa(sa));
    expect(keyLength(d.proposals[0]!.transforms[0]!)).toBe(256);
    expect(keyLength(d.proposals[0]!.transforms[1]!)).toBeUndefined();
    expect(keyLength(d.proposals[1]!.transforms[0]!)).toBe(128);
  });
  it('refuses inconsistent substructures', () => {
    const b = encodeSa(sa);
    const noMore = Buffer.from(b);
    noMore[0] = 0; // first proposal says it is the last: bytes follow
    expectDecodeError(() => decodeSa(noMore), 'trailing-bytes');
    const badLast = Buffer.from(b);
    badLast[0] = 3;
    expectDecodeError(() => decodeSa(badLast), 'bad-last-substruc');
    const moreCount = Buffer.from(b);
    moreCount[7] = 5; // 5 transforms announced, 4 present
    expect(() => decodeSa(moreCount)).toThrow(DecodeError);
    const fewer = Buffer.from(b);
    fewer[7] = 3;
    expect(() => decodeSa(fewer)).toThrow(DecodeError);
    expectDecodeError(() => decodeSa(Buffer.alloc(0)), 'empty-sa');
    const twoKeyLengths = encodeSa({ proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ type: 1, id: 12, attributes: [{ type: 14, tv: true, value: 128 }, { type: 14, tv: true, value: 256 }] }] }] });
    expectDecodeError(() => decodeSa(twoKeyLengths), 'duplicate-attribute');
    const tlvKeyLength = encodeSa({ proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [{ type: 1, id: 12, attributes: [{ type: 14, tv: false, bytes: Buffer.from([1, 0]) }] }] }] });
    expectDecodeError(() => decodeSa(tlvKeyLength), 'bad-attribute');
    const short = Buffer.from(b);
    short.writeUInt16BE(3, 2);
    expectDecodeError(() => decodeSa(short), 'bad-proposal-length');
  });
  it('0 and 255 transforms decode when the bytes match', () => {
    expect(decodeSa(encodeSa({ proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: [] }] })).proposals[0]!.transforms).toEqual([]);
    const many = Array.from({ length: 255 }, () => ({ type: 1, id: 12, attributes: [] }));
    expect(decodeSa(encodeSa({ proposals: [{ number: 1, protocolId: 1, spi: Buffer.alloc(0), transforms: many }] })).proposals[0]!.transforms).toHaveLength(255);
  });
});

describe('payload bounds', () => {
  it('Nonce is 16..256 bytes', () => {
    expectDecodeError(() => decodeNonce(Buffer.alloc(15)), 'bad-nonce');
    expect(decodeNonce(Buffer.alloc(16)).nonce).toHaveLength(16);
    expect(decodeNonce(Buffer.alloc(256)).nonce).toHaveLength(256);
    expectDecodeError(() => decodeNonce(Buffer.alloc(257)), 'bad-nonce');
  });
  it('Delete: number of SPIs × size must equal the payload', () => {
    expectDecodeError(() => decodeDelete(Buffer.from([3, 4, 0xff, 0xff, 1, 2, 3, 4])), 'bad-delete');
    expectDecodeError(() => decodeDelete(Buffer.from([1, 0, 0, 1])), 'bad-delete');
    expectDecodeError(() => decodeDelete(Buffer.from([3, 8, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8])), 'bad-delete');
    expect(decodeDelete(Buffer.from([3, 4, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8])).spis).toEqual([Buffer.from([1, 2, 3, 4]), Buffer.from([5, 6, 7, 8])]);
    expect(decodeDelete(Buffer.from([1, 0, 0, 0]))).toEqual({ protocolId: 1, spiSize: 0, spis: [] });
  });
  it('ID: addresses have their size; printable forms', () => {
    expectDecodeError(() => decodeId(Buffer.from([1, 0, 0, 0, 10, 0, 0])), 'bad-id');
    expectDecodeError(() => decodeId(Buffer.from([5, 0, 0, 0, 1, 2, 3, 4])), 'bad-id');
    expectDecodeError(() => decodeId(Buffer.from([2, 0, 0, 0])), 'bad-id');
    expect(idToString(decodeId(Buffer.from([1, 0, 0, 0, 10, 0, 0, 7])))).toBe('10.0.0.7');
    expect(idToString(decodeId(Buffer.concat([Buffer.from([2, 0, 0, 0]), Buffer.from('vpn.example.net')])))).toBe('vpn.example.net');
    expect(idToString(decodeId(Buffer.from([13, 0, 0, 0])))).toBe('ID_NULL:');
  });
  it('TS: type and selector length', () => {
    const ts = encodeTs({ selectors: [ipv4Range(Buffer.from([0, 0, 0, 0]), Buffer.from([255, 255, 255, 255]))] });
    expect(decodeTs(ts).selectors[0]).toMatchObject({ tsType: 7, startPort: 0, endPort: 65535 });
    const badLen = Buffer.from(ts);
    badLen.writeUInt16BE(15, 6);
    expectDecodeError(() => decodeTs(badLen), 'bad-ts-length');
    const badType = Buffer.from(ts);
    badType[4] = 9;
    expectDecodeError(() => decodeTs(badType), 'bad-ts-type');
    const moreCount = Buffer.from(ts);
    moreCount[0] = 2;
    expect(() => decodeTs(moreCount)).toThrow(DecodeError);
    expectDecodeError(() => decodeTs(Buffer.from([0, 0, 0, 0])), 'empty-ts');
  });
  it('CP: empty address attributes in a request, 4 bytes in a reply, others kept', () => {
    const req = decodeCp(encodeCp({ cfgType: 1, attributes: [{ type: 1, value: Buffer.alloc(0) }, { type: 3, value: Buffer.alloc(0) }, { type: 0x5ba0, value: Buffer.from('x') }] }));
    expect(req.attributes.map((a) => a.type)).toEqual([1, 3, 0x5ba0]);
    expectDecodeError(() => decodeCp(encodeCp({ cfgType: 2, attributes: [{ type: 1, value: Buffer.alloc(3) }] })), 'bad-cp-attribute');
    // the R bit is reserved and ignored
    const withR = Buffer.from([2, 0, 0, 0, 0x80, 1, 0, 4, 10, 0, 0, 1]);
    expect(decodeCp(withR).attributes).toEqual([{ type: 1, value: Buffer.from([10, 0, 0, 1]) }]);
  });
  it('EAP payload: the EAP length equals the payload', () => {
    expectDecodeError(() => decodeEapPayload(Buffer.from([1, 1, 0, 5])), 'bad-eap-length');
    expectDecodeError(() => decodeEapPayload(Buffer.from([1, 1, 0])), 'short-eap');
    expect(decodeEapPayload(Buffer.from([3, 7, 0, 4])).message).toEqual(Buffer.from([3, 7, 0, 4]));
  });
  it('CERT must have data; CERTREQ may be empty; authorities are 20-byte hashes', () => {
    expectDecodeError(() => decodeCert(Buffer.from([4])), 'empty-cert');
    expect(certReqAuthorities(decodeCertReq(Buffer.from([4])))).toEqual([]);
    expect(certReqAuthorities(decodeCertReq(Buffer.concat([Buffer.from([4]), Buffer.alloc(40, 9)])))).toHaveLength(2);
    expect(certReqAuthorities(decodeCertReq(Buffer.concat([Buffer.from([4]), Buffer.alloc(21)])))).toBeUndefined();
    expect(certReqAuthorities(decodeCertReq(Buffer.concat([Buffer.from([12]), Buffer.alloc(20)])))).toBeUndefined();
  });
  it('AUTH must have data; KE must have data', () => {
    expectDecodeError(() => decodeAuth(Buffer.from([2, 0, 0, 0])), 'empty-auth');
    expectDecodeError(() => decodeKe(Buffer.from([0, 14, 0, 0])), 'empty-ke');
  });
  it('Notify keeps its SPI and data', () => {
    const n = { protocolId: 3, spi: Buffer.from([1, 2, 3, 4]), type: NotifyType.REKEY_SA, data: Buffer.alloc(0) };
    expect(decodeNotify(encodeNotify(n))).toEqual(n);
    expect(notify(NotifyType.COOKIE, Buffer.from([1]))).toEqual({ protocolId: 0, spi: Buffer.alloc(0), type: 16390, data: Buffer.from([1]) });
  });
  it('SKF: 1 <= number <= total, next payload only in fragment 1', () => {
    expectDecodeError(() => decodeSkf(Buffer.from([0, 0, 0, 1]), 0), 'bad-fragment-number');
    expectDecodeError(() => decodeSkf(Buffer.from([0, 3, 0, 2]), 0), 'bad-fragment-number');
    expectDecodeError(() => decodeSkf(Buffer.from([0, 1, 0, 0]), 0), 'bad-fragment-number');
    expectDecodeError(() => decodeSkf(Buffer.from([0, 2, 0, 2]), 35), 'bad-fragment-next');
    expect(decodeSkf(Buffer.from([0, 1, 0, 2, 9]), 35)).toEqual({ fragmentNumber: 1, totalFragments: 2, encrypted: Buffer.from([9]) });
  });
});

describe('payload chain (§3.2)', () => {
  const v = Buffer.from('vid');
  it('an unknown payload with the critical bit is reported for UNSUPPORTED_CRITICAL_PAYLOAD; without it, skipped', () => {
    const c = decodePayloadChain(43, rawChain([[43, false, v], [200, true, Buffer.alloc(3)], [201, false, Buffer.alloc(2)], [43, true, v]]));
    expect(c.unsupportedCritical).toBe(200);
    expect(c.skipped).toEqual([201]);
    expect(c.payloads.map((p) => p.critical)).toEqual([false, true]); // ignored on known payloads
    expect(decodePayloadChain(43, rawChain([[43, false, v], [201, false, Buffer.alloc(0)]])).unsupportedCritical).toBeUndefined();
  });
  it('IKEv1 payload numbers are unknown in IKEv2', () => {
    expect(decodePayloadChain(1, rawChain([[1, true, Buffer.alloc(8)]])).unsupportedCritical).toBe(1);
  });
  it('refuses duplicates of singletons, lengths < 4, overruns, trailing bytes and too many payloads', () => {
    const ke = Buffer.from([0, 14, 0, 0, 1]);
    expectDecodeError(() => decodePayloadChain(34, rawChain([[34, false, ke], [34, false, ke]])), 'duplicate-payload');
    expect(allPayloads(decodePayloadChain(41, rawChain([[41, false, Buffer.from([0, 0, 0x40, 0])], [41, false, Buffer.from([0, 0, 0x40, 1])]])), PayloadType.N)).toHaveLength(2);
    const short = rawChain([[43, false, v]]);
    short.writeUInt16BE(3, 2);
    expectDecodeError(() => decodePayloadChain(43, short), 'bad-payload-length');
    const over = rawChain([[43, false, v]]);
    over.writeUInt16BE(100, 2);
    expectDecodeError(() => decodePayloadChain(43, over), 'truncated');
    expectDecodeError(() => decodePayloadChain(43, Buffer.concat([rawChain([[43, false, v]]), Buffer.alloc(2)])), 'trailing-bytes');
    const many = rawChain(Array.from({ length: MAX_PAYLOADS + 1 }, () => [43, false, v] as [number, boolean, Buffer]));
    expectDecodeError(() => decodePayloadChain(43, many), 'too-many-payloads');
    expect(decodePayloadChain(43, rawChain(Array.from({ length: MAX_PAYLOADS }, () => [43, false, v] as [number, boolean, Buffer]))).payloads).toHaveLength(MAX_PAYLOADS);
  });
  it('SK ends the chain: its next payload is the first inner type; nothing may follow; not nested', () => {
    const chain = rawChain([[43, false, v], [46, false, Buffer.alloc(40, 7)]]);
    chain[4 + v.length] = 35; // SK's next payload: IDi, the first inner payload
    const c = decodePayloadChain(43, chain);
    expect(c.sk).toMatchObject({ firstInner: 35, offset: 4 + v.length, ivOffset: 8 + v.length });
    expect(c.sk!.data).toEqual(Buffer.alloc(40, 7));
    expectDecodeError(() => decodePayloadChain(46, Buffer.concat([rawChain([[46, false, Buffer.alloc(8)]]), Buffer.alloc(4)])), 'trailing-bytes');
    expectDecodeError(() => decodePayloadChain(46, rawChain([[46, false, Buffer.alloc(8)]]), 0, undefined, false), 'nested-encrypted');
  });
  it('findPayload gives the typed first payload', () => {
    const m = decodeMessage(encodeMessage({ spiI: Buffer.alloc(8, 1), spiR: Buffer.alloc(8), exchangeType: 34, flags: 8, messageId: 0 }, [
      { type: PayloadType.NONCE, value: { nonce: Buffer.alloc(32, 5) } },
      { type: PayloadType.N, value: notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) },
    ]));
    expect(findPayload(m.chain, PayloadType.NONCE)?.value.nonce).toEqual(Buffer.alloc(32, 5));
    expect(findPayload(m.chain, PayloadType.KE)).toBeUndefined();
  });
});

describe('fuzz: mutated valid messages', () => {
  const validMsg = fc.tuple(headerFieldsArb, payloadListArb).map(([h, ps]) => encodeMessage(h, ps));
  it('byte flips, truncations and insertions throw only DecodeError', () => {
    const mutated = fc.tuple(validMsg, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat(), fc.boolean()).map(([m, flips, cut, fix]) => {
      const b = Buffer.from(m);
      for (const [i, x] of flips) b[i % b.length] = x;
      let out = b.subarray(0, Math.max(0, b.length - (cut % 8)));
      if (fix && out.length >= 28) {
        out = Buffer.from(out);
        out.writeUInt32BE(out.length, 24); // keep the header length right so the chain is reached
        out[17] = 0x20;
      }
      return out as Uint8Array;
    });
    onlyDecodeErrors(decodeMessage, mutated);
  });
  it('payload chains of random structure throw only DecodeError', () => {
    const chainArb = fc.array(fc.tuple(fc.constantFrom(0, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, 99), fc.boolean(), buf(0, 40)), { maxLength: 6 }).map((items) => rawChain(items) as Uint8Array);
    onlyDecodeErrors((b) => decodePayloadChain(b.length ? 33 + (b[0]! % 21) : 0, b), chainArb);
  });
  it('encodePayloads links the chain: the first type and each next field', () => {
    const ps: Payload[] = [{ type: PayloadType.V, value: { data: v } }, { type: PayloadType.N, value: notify(16384) }];
    const b = encodePayloads(ps, PayloadType.SK);
    expect(b[0]).toBe(PayloadType.N);
    expect(b[4 + v.length]).toBe(PayloadType.SK);
  });
});
const v = Buffer.from('vid');

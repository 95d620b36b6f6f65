import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { PayloadType, nameOf, payloadTypeNames } from './constants.js';
import { decodeHeader, encodeHeader, IKE_HEADER_LENGTH, type IkeHeader } from './header.js';
import { decodeSa, encodeSa, type SaPayload } from './sa.js';
import { decodeKe, encodeKe, type KePayload } from './ke.js';
import { decodeId, encodeId, type IdPayload } from './id.js';
import { decodeCert, decodeCertReq, encodeCert, encodeCertReq, type CertPayload, type CertReqPayload } from './cert.js';
import { decodeAuth, encodeAuth, type AuthPayload } from './auth.js';
import { decodeNonce, encodeNonce, type NoncePayload } from './nonce.js';
import { decodeNotify, encodeNotify, type NotifyPayload } from './notify.js';
import { decodeDelete, encodeDelete, type DeletePayload } from './delete.js';
import { decodeVendor, encodeVendor, type VendorPayload } from './vendor.js';
import { decodeTs, encodeTs, type TsPayload } from './ts.js';
import { decodeCp, encodeCp, type CpPayload } from './cp.js';
import { decodeEapPayload, encodeEapPayload, type EapPayload } from './eap.js';
import { decodeSkf, type SkfHeader } from './sk.js';

/**
 * Generic payload header (RFC 7296 §3.2):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The chain is walked with bounds checks: length >= 4 and inside the message, at
 * most MAX_PAYLOADS payloads, singletons (SA, KE, IDi, IDr, AUTH, Ni/Nr, TSi, TSr,
 * CP, EAP) at most once. An unknown payload with the critical bit set is not an
 * error of the codec: the chain reports its type in `unsupportedCritical` and the
 * exchange answers UNSUPPORTED_CRITICAL_PAYLOAD (§2.5); an unknown payload without
 * it is skipped. SK and SKF end the chain (§3.14) and carry the type of the first
 * inner payload.
 */
export const MAX_PAYLOADS = 100;
export const GENERIC_HEADER_LENGTH = 4;

interface PayloadValues {
  [PayloadType.SA]: SaPayload;
  [PayloadType.KE]: KePayload;
  [PayloadType.IDi]: IdPayload;
  [PayloadType.IDr]: IdPayload;
  [PayloadType.CERT]: CertPayload;
  [PayloadType.CERTREQ]: CertReqPayload;
  [PayloadType.AUTH]: AuthPayload;
  [PayloadType.NONCE]: NoncePayload;
  [PayloadType.N]: NotifyPayload;
  [PayloadType.D]: DeletePayload;
  [PayloadType.V]: VendorPayload;
  [PayloadType.TSi]: TsPayload;
  [PayloadType.TSr]: TsPayload;
  [PayloadType.CP]: CpPayload;
  [PayloadType.EAP]: EapPayload;
}
export type PlainPayloadType = keyof PayloadValues;

/** A payload other than SK/SKF, typed by its Next Payload number. */
export type Payload = { [K in PlainPayloadType]: { type: K; value: PayloadValues[K] } }[PlainPayloadType];

const CODECS: { [K in PlainPayloadType]: { decode: (b: Uint8Array) => PayloadValues[K]; encode: (v: PayloadValues[K]) => Buffer } } = {
  [PayloadType.SA]: { decode: decodeSa, encode: encodeSa },
  [PayloadType.KE]: { decode: decodeKe, encode: encodeKe },
  [PayloadType.IDi]: { decode: decodeId, encode: encodeId },
  [PayloadType.IDr]: { decode: decodeId, encode: encodeId },
  [PayloadType.CERT]: { decode: decodeCert, encode: encodeCert },
  [PayloadType.CERTREQ]: { decode: decodeCertReq, encode: encodeCertReq },
  [PayloadType.AUTH]: { decode: decodeAuth, encode: encodeAuth },
  [PayloadType.NONCE]: { decode: decodeNonce, encode: encodeNonce },
  [PayloadType.N]: { decode: decodeNotify, encode: encodeNotify },
  [PayloadType.D]: { decode: decodeDelete, encode: encodeDelete },
  [PayloadType.V]: { decode: decodeVendor, encode: encodeVendor },
  [PayloadType.TSi]: { decode: decodeTs, encode: encodeTs },
  [PayloadType.TSr]: { decode: decodeTs, encode: encodeTs },
  [PayloadType.CP]: { decode: decodeCp, encode: encodeCp },
  [PayloadType.EAP]: { decode: decodeEapPayload, encode: encodeEapPayload },
};

const SINGLE = new Set<number>([
  PayloadType.SA, PayloadType.KE, PayloadType.IDi, PayloadType.IDr, PayloadType.AUTH, PayloadType.NONCE,
  PayloadType.TSi, PayloadType.TSr, PayloadType.CP, PayloadType.EAP,
]);

const isPlain = (t: number): t is PlainPayloadType => Object.prototype.hasOwnProperty.call(CODECS, t);

export type DecodedPayload = Payload & {
  critical: boolean;
  /** The body after the generic header (AUTH signs IDi/IDr bodies, §2.15). */
  body: Buffer;
};

/** The SK payload ending a chain: everything before `ivOffset` is the integrity/AAD prefix. */
export interface SkRef {
  /** Type of the first encrypted payload (the SK's Next Payload). */
  firstInner: number;
  /** Offset of the SK generic header in the message. */
  offset: number;
  /** Offset of the IV (end of the AAD / start of the encrypted data). */
  ivOffset: number;
  /** IV | ciphertext | ICV. */
  data: Buffer;
}

export interface SkfRef extends SkRef, Omit<SkfHeader, 'encrypted'> {}

export interface PayloadChain {
  payloads: DecodedPayload[];
  /** Type of the first unknown payload that had the critical bit. */
  unsupportedCritical?: number;
  /** Unknown payload types without the critical bit (skipped). */
  skipped: number[];
  sk?: SkRef;
  skf?: SkfRef;
}

function wrap(e: unknown, type: number, bodyAt: number): never {
  if (e instanceof DecodeError) {
    const msg = e.message.replace(/ \(at offset \d+\)$/, '');
    throw new DecodeError(`${nameOf(payloadTypeNames, type)}: ${msg}`, bodyAt + e.offset, e.reason);
  }
  throw e;
}

/**
 * Walks a payload chain in buf[start, end) starting with type `first`.
 * allowEncrypted: SK/SKF may end the chain (an outer message, not a decrypted one).
 */
export function decodePayloadChain(first: number, buf: Uint8Array, start = 0, end = buf.length, allowEncrypted = true): PayloadChain {
  const r = new Reader(buf, start, end);
  const out: PayloadChain = { payloads: [], skipped: [] };
  const seen = new Set<number>();
  let type = first;
  let count = 0;
  while (type !== PayloadType.NONE) {
    const at = r.offset;
    if (++count > MAX_PAYLOADS) throw new DecodeError(`more than ${MAX_PAYLOADS} payloads`, at, 'too-many-payloads');
    const next = r.u8('next payload');
    const critical = (r.u8('critical') & 0x80) !== 0;
    const len = r.u16('payload length');
    if (len < GENERIC_HEADER_LENGTH) throw new DecodeError(`payload length ${len} < 4`, at, 'bad-payload-length');
    const bodyAt = r.offset;
    const body = r.copy(len - GENERIC_HEADER_LENGTH, `${nameOf(payloadTypeNames, type)} payload`);
    if (type === PayloadType.SK || type === PayloadType.SKF) {
      if (!allowEncrypted) throw new DecodeError(`${nameOf(payloadTypeNames, type)} inside an encrypted payload`, at, 'nested-encrypted');
      if (r.remaining !== 0) throw new DecodeError(`${r.remaining} bytes after ${nameOf(payloadTypeNames, type)}`, r.offset, 'trailing-bytes');
      if (type === PayloadType.SK) out.sk = { firstInner: next, offset: at, ivOffset: bodyAt, data: body };
      else {
        let h: SkfHeader;
        try {
          h = decodeSkf(body, next);
        } catch (e) {
          wrap(e, type, bodyAt);
        }
        out.skf = { firstInner: next, offset: at, ivOffset: bodyAt + 4, data: h.encrypted, fragmentNumber: h.fragmentNumber, totalFragments: h.totalFragments };
      }
      return out;
    }
    if (isPlain(type)) {
      if (SINGLE.has(type)) {
        if (seen.has(type)) throw new DecodeError(`duplicate ${nameOf(payloadTypeNames, type)} payload`, at, 'duplicate-payload');
        seen.add(type);
      }
      let value: unknown;
      try {
        value = CODECS[type].decode(body);
      } catch (e) {
        wrap(e, type, bodyAt);
      }
      out.payloads.push({ type, value, critical, body } as DecodedPayload);
    } else if (critical) {
      out.unsupportedCritical ??= type;
    } else {
      out.skipped.push(type);
    }
    type = next;
  }
  if (r.remaining !== 0) throw new DecodeError(`${r.remaining} bytes after the last payload`, r.offset, 'trailing-bytes');
  return out;
}

export interface DecodedMessage {
  header: IkeHeader;
  chain: PayloadChain;
}

/** Decodes a whole message: header, then the chain up to the end or to SK/SKF. */
export function decodeMessage(msg: Uint8Array): DecodedMessage {
  const header = decodeHeader(msg);
  return { header, chain: decodePayloadChain(header.nextPayload, msg, IKE_HEADER_LENGTH, msg.length, true) };
}

/** Encodes one payload body (without generic header). */
export function encodePayloadBody(p: Payload): Buffer {
  return (CODECS[p.type].encode as (v: Payload['value']) => Buffer)(p.value);
}

/**
 * Encodes payloads with generic headers, linking Next Payload fields; the last one
 * points to `after` (NONE, or SK when chaining is done by hand).
 */
export function encodePayloads(payloads: readonly Payload[], after: number = PayloadType.NONE): Buffer {
  const w = new Writer(256);
  payloads.forEach((p, i) => {
    const body = encodePayloadBody(p);
    if (body.length + GENERIC_HEADER_LENGTH > 0xffff) throw new RangeError('payload too large');
    w.u8(payloads[i + 1]?.type ?? after).u8(0).u16(body.length + GENERIC_HEADER_LENGTH).bytes(body);
  });
  return w.finish();
}

export type HeaderFields = Omit<IkeHeader, 'length' | 'nextPayload' | 'majorVersion' | 'minorVersion'>;

/** An unencrypted message (IKE_SA_INIT, or an answer without keys). */
export function encodeMessage(h: HeaderFields, payloads: readonly Payload[]): Buffer {
  const body = encodePayloads(payloads);
  const w = new Writer(IKE_HEADER_LENGTH + body.length);
  encodeHeader({ ...h, nextPayload: payloads[0]?.type ?? PayloadType.NONE, majorVersion: 2, minorVersion: 0, length: IKE_HEADER_LENGTH + body.length }, w);
  return w.bytes(body).finish();
}

/** The first payload of a type, typed. */
export function findPayload<K extends PlainPayloadType>(chain: { payloads: readonly DecodedPayload[] }, type: K): (DecodedPayload & { type: K; value: PayloadValues[K] }) | undefined {
  return chain.payloads.find((p) => p.type === type) as (DecodedPayload & { type: K; value: PayloadValues[K] }) | undefined;
}

/** All payloads of a type, typed values. */
export function allPayloads<K extends PlainPayloadType>(chain: { payloads: readonly DecodedPayload[] }, type: K): PayloadValues[K][] {
  return chain.payloads.filter((p) => p.type === type).map((p) => p.value as PayloadValues[K]);
}

import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { PayloadType, nameOf, payloadTypeNames } from './constants.js';
import { decodeHeader, encodeHeader, ISAKMP_HEADER_LENGTH, type IsakmpHeader } from './header.js';
import { decodeSa, type SaPayload } from './sa.js';
import { decodeKe, type KePayload } from './ke.js';
import { decodeNonce, type NoncePayload } from './nonce.js';
import { decodeId, type IdPayload } from './id.js';
import { decodeHash, type HashPayload } from './hash.js';
import { decodeNotify, type NotifyPayload } from './notify.js';
import { decodeDelete, type DeletePayload } from './delete.js';
import { decodeVendorId } from './vendor.js';
import { decodeNatD } from './natd.js';
import { decodeNatOa, type NatOaPayload } from './natoa.js';

/**
 * Generic payload header (RFC 2408 §3.2):
 * ! Next Payload ! RESERVED ! Payload Length (2) !
 * The payload chain is walked with bounds checks: length >= 4 and within the
 * message, at most MAX_PAYLOADS payloads, no duplicate SA, KE, Nonce or HASH.
 */
export const MAX_PAYLOADS = 64;

/** A payload with the raw body (without the generic header), needed for HASH_I/HASH_R (RFC 2409 §5). */
export interface WithBody<T> {
  value: T;
  body: Buffer;
}

export interface PayloadChain {
  /** Payload types in order of appearance. */
  order: number[];
  sa?: WithBody<SaPayload>;
  ke?: WithBody<KePayload>;
  nonce?: WithBody<NoncePayload>;
  hash?: WithBody<HashPayload>;
  ids: WithBody<IdPayload>[];
  notifies: NotifyPayload[];
  deletes: DeletePayload[];
  vendorIds: Buffer[];
  natD: Buffer[];
  natOa: NatOaPayload[];
  /** Bytes from the end of the first payload to the end of the chain (QM HASH input, RFC 2409 §5.5). */
  afterFirst: Buffer;
  /** Bytes of the chain itself, without any padding after it. */
  chainLength: number;
}

export interface DecodedMessage {
  header: IsakmpHeader;
  payloads: PayloadChain;
}

const KNOWN = new Set<number>([
  PayloadType.SA, PayloadType.KE, PayloadType.ID, PayloadType.CERT, PayloadType.CR, PayloadType.HASH, PayloadType.SIG,
  PayloadType.NONCE, PayloadType.N, PayloadType.D, PayloadType.VID, PayloadType.NAT_D, PayloadType.NAT_OA,
  PayloadType.NAT_D_DRAFT, PayloadType.NAT_OA_DRAFT,
]);

function once<T>(cur: T | undefined, type: number, at: number): void {
  if (cur !== undefined) throw new DecodeError(`duplicate ${nameOf(payloadTypeNames, type)} payload`, at, 'duplicate-payload');
}

/**
 * Walks a payload chain that starts at `start` with payload type `first`.
 * allowTrailing: bytes after the last payload are accepted (padding of an encrypted message).
 */
export function decodePayloadChain(first: number, buf: Uint8Array, start: number, allowTrailing: boolean): PayloadChain {
  const r = new Reader(buf, start);
  const out: PayloadChain = { order: [], ids: [], notifies: [], deletes: [], vendorIds: [], natD: [], natOa: [], afterFirst: Buffer.alloc(0), chainLength: 0 };
  let type = first;
  let firstEnd = start;
  while (type !== PayloadType.NONE) {
    const at = r.offset;
    if (!KNOWN.has(type)) throw new DecodeError(`unknown payload type ${type}`, at, 'unknown-payload');
    if (out.order.length >= MAX_PAYLOADS) throw new DecodeError(`more than ${MAX_PAYLOADS} payloads`, at, 'too-many-payloads');
    const next = r.u8('next payload');
    r.skip(1, 'reserved');
    const len = r.u16('payload length');
    if (len < 4) throw new DecodeError(`payload length ${len} < 4`, at, 'bad-payload-length');
    const body = r.copy(len - 4, `${nameOf(payloadTypeNames, type)} payload`);
    try {
      switch (type) {
        case PayloadType.SA:
          once(out.sa, type, at);
          out.sa = { value: decodeSa(body), body };
          break;
        case PayloadType.KE:
          once(out.ke, type, at);
          out.ke = { value: decodeKe(body), body };
          break;
        case PayloadType.NONCE:
          once(out.nonce, type, at);
          out.nonce = { value: decodeNonce(body), body };
          break;
        case PayloadType.HASH:
          once(out.hash, type, at);
          out.hash = { value: decodeHash(body), body };
          break;
        case PayloadType.ID:
          if (out.ids.length >= 2) throw new DecodeError('more than two ID payloads', at, 'too-many-ids');
          out.ids.push({ value: decodeId(body), body });
          break;
        case PayloadType.N:
          out.notifies.push(decodeNotify(body));
          break;
        case PayloadType.D:
          out.deletes.push(decodeDelete(body));
          break;
        case PayloadType.VID:
          out.vendorIds.push(decodeVendorId(body).data);
          break;
        case PayloadType.NAT_D:
        case PayloadType.NAT_D_DRAFT:
          out.natD.push(decodeNatD(body).hash);
          break;
        case PayloadType.NAT_OA:
        case PayloadType.NAT_OA_DRAFT:
          out.natOa.push(decodeNatOa(body));
          break;
        default:
          break; // CERT, CR, SIG: parsed as opaque, ignored (PSK only)
      }
    } catch (e) {
      if (e instanceof DecodeError && !(e.message.includes('duplicate') || e.message.includes('more than'))) {
        throw new DecodeError(`${nameOf(payloadTypeNames, type)}: ${e.message}`, at + 4 + e.offset, e.reason);
      }
      throw e;
    }
    out.order.push(type);
    if (out.order.length === 1) firstEnd = r.offset;
    type = next;
  }
  if (!allowTrailing && r.remaining !== 0) throw new DecodeError(`${r.remaining} bytes after the last payload`, r.offset, 'trailing-bytes');
  out.chainLength = r.offset - start;
  out.afterFirst = Buffer.from(buf.subarray(firstEnd, r.offset));
  return out;
}

/** Decodes an unencrypted message (header + chain). */
export function decodeMessage(msg: Uint8Array): DecodedMessage {
  const header = decodeHeader(msg);
  return { header, payloads: decodePayloadChain(header.nextPayload, msg, ISAKMP_HEADER_LENGTH, false) };
}

export interface OutPayload {
  type: number;
  body: Buffer;
}

/** Encodes a payload chain (generic headers with next-payload links). */
export function encodePayloadChain(payloads: readonly OutPayload[]): Buffer {
  const w = new Writer(256);
  payloads.forEach((p, i) => {
    const next = payloads[i + 1]?.type ?? PayloadType.NONE;
    if (p.body.length + 4 > 0xffff) throw new RangeError('payload too large');
    w.u8(next).u8(0).u16(p.body.length + 4).bytes(p.body);
  });
  return w.finish();
}

export type HeaderFields = Omit<IsakmpHeader, 'length' | 'nextPayload' | 'majorVersion' | 'minorVersion'>;

/** A whole message from header fields and a body (the chain, or its ciphertext). */
export function encodeMessage(h: HeaderFields, firstPayload: number, body: Buffer): Buffer {
  const w = new Writer(ISAKMP_HEADER_LENGTH + body.length);
  encodeHeader({ ...h, nextPayload: firstPayload, majorVersion: 1, minorVersion: 0, length: ISAKMP_HEADER_LENGTH + body.length }, w);
  w.bytes(body);
  return w.finish();
}

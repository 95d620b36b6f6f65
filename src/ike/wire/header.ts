import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * ISAKMP header (RFC 2408 §3.1):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Initiator                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Responder                            !
 * !                            Cookie                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !  Next Payload ! MjVer ! MnVer ! Exchange Type !     Flags     !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                          Message ID                           !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * !                            Length                             !
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 */
export const ISAKMP_HEADER_LENGTH = 28;

export interface IsakmpHeader {
  initiatorCookie: Buffer;
  responderCookie: Buffer;
  nextPayload: number;
  /** Major/minor version; IKEv1 is 1.0. */
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: number;
  messageId: number;
  length: number;
}

/** Decodes the header; the length must equal the datagram length and the version must be 1.0. */
export function decodeHeader(msg: Uint8Array): IsakmpHeader {
  const r = new Reader(msg);
  if (msg.length < ISAKMP_HEADER_LENGTH) throw new DecodeError(`message of ${msg.length} bytes is shorter than the ISAKMP header`, 0, 'short-header');
  const initiatorCookie = r.copy(8, 'initiator cookie');
  const responderCookie = r.copy(8, 'responder cookie');
  const nextPayload = r.u8('next payload');
  const ver = r.u8('version');
  const exchangeType = r.u8('exchange type');
  const flags = r.u8('flags');
  const messageId = r.u32('message id');
  const length = r.u32('length');
  const majorVersion = ver >>> 4;
  const minorVersion = ver & 0x0f;
  if (majorVersion !== 1 || minorVersion !== 0) throw new DecodeError(`ISAKMP version ${majorVersion}.${minorVersion} is not 1.0`, 17, 'bad-version');
  if (length !== msg.length) throw new DecodeError(`header length ${length} != datagram length ${msg.length}`, 24, 'bad-length');
  return { initiatorCookie, responderCookie, nextPayload, majorVersion, minorVersion, exchangeType, flags, messageId, length };
}

export function encodeHeader(h: IsakmpHeader, w: Writer = new Writer(ISAKMP_HEADER_LENGTH)): Writer {
  if (h.initiatorCookie.length !== 8 || h.responderCookie.length !== 8) throw new RangeError('cookies are 8 bytes');
  w.bytes(h.initiatorCookie).bytes(h.responderCookie);
  w.u8(h.nextPayload).u8(((h.majorVersion & 0xf) << 4) | (h.minorVersion & 0xf)).u8(h.exchangeType).u8(h.flags);
  w.u32(h.messageId).u32(h.length);
  return w;
}

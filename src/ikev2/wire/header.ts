import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { HeaderFlag } from './constants.js';

/**
 * IKE header (RFC 7296 §3.1):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Initiator's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                       IKE SA Responder's SPI                  |
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                          Message ID                           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                            Length                             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Flags: |X|X|R|V|I|X|X|X| (R = Response, V = Version, I = Initiator).
 */
export const IKE_HEADER_LENGTH = 28;

/** Largest message we accept (strongSwan's charon.max_packet default is 10000). */
export const MAX_MESSAGE_LENGTH = 65535;

export interface IkeHeader {
  spiI: Buffer;
  spiR: Buffer;
  nextPayload: number;
  majorVersion: number;
  minorVersion: number;
  exchangeType: number;
  flags: number;
  messageId: number;
  length: number;
}

export const isInitiator = (h: Pick<IkeHeader, 'flags'>): boolean => (h.flags & HeaderFlag.INITIATOR) !== 0;
export const isResponse = (h: Pick<IkeHeader, 'flags'>): boolean => (h.flags & HeaderFlag.RESPONSE) !== 0;

/** The major version of a datagram that may be IKEv1 or IKEv2 (byte 17), undefined when too short: UDP 500/4500 demultiplex on it. */
export function peekMajorVersion(msg: Uint8Array): number | undefined {
  return msg.length < IKE_HEADER_LENGTH ? undefined : msg[17]! >>> 4;
}

/**
 * Decodes the header. The length must equal the datagram length; the major version
 * must be 2 (reason 'major-version': the caller may answer INVALID_MAJOR_VERSION,
 * §2.5); the minor version is ignored as §3.1 requires.
 */
export function decodeHeader(msg: Uint8Array): IkeHeader {
  if (msg.length < IKE_HEADER_LENGTH) throw new DecodeError(`message of ${msg.length} bytes is shorter than the IKE header`, 0, 'short-header');
  const r = new Reader(msg);
  const spiI = r.copy(8, "initiator's SPI");
  const spiR = r.copy(8, "responder's SPI");
  const nextPayload = r.u8('next payload');
  const ver = r.u8('version');
  const exchangeType = r.u8('exchange type');
  const flags = r.u8('flags');
  const messageId = r.u32('message id');
  const length = r.u32('length');
  const majorVersion = ver >>> 4;
  const minorVersion = ver & 0x0f;
  if (majorVersion !== 2) throw new DecodeError(`IKE major version ${majorVersion} is not 2`, 17, 'major-version');
  if (length !== msg.length) throw new DecodeError(`header length ${length} != datagram length ${msg.length}`, 24, 'bad-length');
  if (length > MAX_MESSAGE_LENGTH) throw new DecodeError(`message length ${length} above ${MAX_MESSAGE_LENGTH}`, 24, 'too-long');
  return { spiI, spiR, nextPayload, majorVersion, minorVersion, exchangeType, flags, messageId, length };
}

export function encodeHeader(h: IkeHeader, w: Writer = new Writer(IKE_HEADER_LENGTH)): Writer {
  if (h.spiI.length !== 8 || h.spiR.length !== 8) throw new RangeError('IKE SPIs are 8 bytes');
  w.bytes(h.spiI).bytes(h.spiR);
  w.u8(h.nextPayload).u8(((h.majorVersion & 0xf) << 4) | (h.minorVersion & 0xf)).u8(h.exchangeType).u8(h.flags);
  w.u32(h.messageId).u32(h.length);
  return w;
}

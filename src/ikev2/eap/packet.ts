import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * EAP packet (RFC 3748 §4):
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Code      |  Identifier   |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |  Type-Data ...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Request and Response carry a Type (§4.1, length >= 5); Success and Failure are
 * exactly 4 bytes (§4.2). The Length must equal the message (the IKEv2 EAP
 * payload carries exactly one message).
 */
export const EapCode = { REQUEST: 1, RESPONSE: 2, SUCCESS: 3, FAILURE: 4 } as const;
export const eapCodeNames: Record<number, string> = { 1: 'Request', 2: 'Response', 3: 'Success', 4: 'Failure' };

/** Method types (RFC 3748 §5, IANA "Method Types"). */
export const EapType = { IDENTITY: 1, NOTIFICATION: 2, NAK: 3, MD5_CHALLENGE: 4, OTP: 5, GTC: 6, TLS: 13, TTLS: 21, PEAP: 25, MSCHAPV2: 26, EXPANDED: 254 } as const;
export const eapTypeNames: Record<number, string> = {
  1: 'Identity', 2: 'Notification', 3: 'Nak', 4: 'MD5-Challenge', 5: 'OTP', 6: 'GTC', 13: 'TLS', 21: 'TTLS', 25: 'PEAP', 26: 'MSCHAPv2', 254: 'Expanded',
};

export type EapPacket =
  | { code: typeof EapCode.REQUEST | typeof EapCode.RESPONSE; identifier: number; type: number; data: Buffer }
  | { code: typeof EapCode.SUCCESS | typeof EapCode.FAILURE; identifier: number };

export function decodeEap(msg: Uint8Array): EapPacket {
  const r = new Reader(msg);
  const code = r.u8('eap code');
  const identifier = r.u8('eap identifier');
  const length = r.u16('eap length');
  if (length !== msg.length) throw new DecodeError(`EAP length ${length} != ${msg.length}`, 2, 'bad-eap-length');
  if (code === EapCode.SUCCESS || code === EapCode.FAILURE) {
    if (length !== 4) throw new DecodeError(`EAP ${eapCodeNames[code]} of ${length} bytes`, 2, 'bad-eap-length');
    return { code, identifier };
  }
  if (code !== EapCode.REQUEST && code !== EapCode.RESPONSE) throw new DecodeError(`EAP code ${code}`, 0, 'bad-eap-code');
  const type = r.u8('eap type');
  return { code, identifier, type, data: r.copy(r.remaining, 'type-data') };
}

export function encodeEap(p: EapPacket): Buffer {
  if (!('data' in p)) return new Writer(4).u8(p.code).u8(p.identifier).u16(4).finish();
  const len = 5 + p.data.length;
  if (len > 0xffff) throw new RangeError('EAP message too long');
  return new Writer(len).u8(p.code).u8(p.identifier).u16(len).u8(p.type).bytes(p.data).finish();
}

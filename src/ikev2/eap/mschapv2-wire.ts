import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * EAP-MS-CHAP-V2 Type-Data (draft-kamath-pppext-eap-mschapv2-02 §2):
 *  0                   1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Code      |   Identifier  |            Length             |   (EAP)
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |     Type      |   OpCode      |  MS-CHAPv2-ID |  MS-Length...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   MS-Length   |     Data...
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * MS-Length = EAP Length - 5 (from OpCode to the end).
 * Challenge (Request):  Value-Size = 16 | Challenge[16] | Name
 * Response (Response):  Value-Size = 49 | Peer-Challenge[16] | Reserved[8] | NT-Response[24] | Flags | Name
 * Success (Request):    Message "S=<auth_string> M=<message>"
 * Failure (Request):    Message "E=eeee R=r C=cccc V=vvvv M=<msg>"
 * Success and Failure Responses are the OpCode alone (one byte of Type-Data).
 */
export const MsChapOp = { CHALLENGE: 1, RESPONSE: 2, SUCCESS: 3, FAILURE: 4, CHANGE_PASSWORD: 7 } as const;
export const msChapOpNames: Record<number, string> = { 1: 'Challenge', 2: 'Response', 3: 'Success', 4: 'Failure', 7: 'Change-Password' };

export const MAX_NAME = 255;

export type MsChapMessage =
  | { op: typeof MsChapOp.CHALLENGE; msId: number; challenge: Buffer; name: Buffer }
  | { op: typeof MsChapOp.RESPONSE; msId: number; peerChallenge: Buffer; ntResponse: Buffer; flags: number; name: Buffer }
  | { op: typeof MsChapOp.SUCCESS | typeof MsChapOp.FAILURE; msId: number; message: string }
  /** The peer's one-byte Success/Failure acknowledgement. */
  | { op: typeof MsChapOp.SUCCESS | typeof MsChapOp.FAILURE; ack: true };

/** Decodes Type-Data of an EAP-MSCHAPv2 Request (`fromServer`) or Response. */
export function decodeMsChap(data: Uint8Array, fromServer: boolean): MsChapMessage {
  const r = new Reader(data);
  const op = r.u8('opcode');
  if (!fromServer && (op === MsChapOp.SUCCESS || op === MsChapOp.FAILURE) && data.length === 1) return { op, ack: true };
  const msId = r.u8('ms-chapv2-id');
  const msLength = r.u16('ms-length');
  if (msLength !== data.length) throw new DecodeError(`MS-Length ${msLength} != ${data.length}`, 2, 'bad-ms-length');
  switch (op) {
    case MsChapOp.CHALLENGE: {
      if (!fromServer) break;
      const size = r.u8('value-size');
      if (size !== 16) throw new DecodeError(`challenge Value-Size ${size}`, 4, 'bad-value-size');
      return { op, msId, challenge: r.copy(16, 'challenge'), name: r.copy(r.remaining, 'name') };
    }
    case MsChapOp.RESPONSE: {
      if (fromServer) break;
      const size = r.u8('value-size');
      if (size !== 49) throw new DecodeError(`response Value-Size ${size}`, 4, 'bad-value-size');
      const peerChallenge = r.copy(16, 'peer-challenge');
      r.skip(8, 'reserved');
      const ntResponse = r.copy(24, 'nt-response');
      const flags = r.u8('flags');
      const name = r.copy(r.remaining, 'name');
      if (name.length === 0 || name.length > MAX_NAME) throw new DecodeError(`user name of ${name.length} bytes`, 54, 'bad-name');
      for (const c of name) if (c < 0x20 || c === 0x7f) throw new DecodeError('control character in user name', 54, 'bad-name');
      return { op, msId, peerChallenge, ntResponse, flags, name };
    }
    case MsChapOp.SUCCESS:
    case MsChapOp.FAILURE:
      if (!fromServer) break;
      return { op, msId, message: r.copy(r.remaining, 'message').toString('latin1') };
    default:
      break;
  }
  throw new DecodeError(`MS-CHAPv2 opcode ${op} in a ${fromServer ? 'request' : 'response'}`, 0, 'bad-opcode');
}

export function encodeMsChap(m: MsChapMessage): Buffer {
  if ('ack' in m) return Buffer.from([m.op]);
  const w = new Writer(64).u8(m.op).u8(m.msId);
  const lenAt = w.reserve(2);
  switch (m.op) {
    case MsChapOp.CHALLENGE:
      w.u8(16).bytes(m.challenge).bytes(m.name);
      break;
    case MsChapOp.RESPONSE:
      w.u8(49).bytes(m.peerChallenge).zeros(8).bytes(m.ntResponse).u8(m.flags).bytes(m.name);
      break;
    default:
      w.bytes(Buffer.from(m.message, 'latin1'));
  }
  w.patchU16(lenAt, w.length);
  return w.finish();
}

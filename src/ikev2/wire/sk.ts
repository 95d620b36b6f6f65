import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';

/**
 * Encrypted and Authenticated payload SK (RFC 7296 §3.14):
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Initialization Vector                     |
 * |         (length is block size for encryption algorithm)       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Encrypted IKE Payloads                     ~
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               |             Padding (0-255 octets)            |
 * +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 * |                                               |  Pad Length   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Next Payload is the type of the first encrypted payload. SK is the last
 * payload of a message. With AES-GCM (RFC 5282 §3) the IV is 8 bytes and the
 * checksum is the AEAD tag.
 *
 * Encrypted Fragment payload SKF (RFC 7383 §2.5):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        Fragment Number        |        Total Fragments        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   Initialization Vector                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Encrypted content                        ~
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               |             Padding (0-255 octets)            |
 * +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 * |                                               |  Pad Length   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * Next Payload is non-zero only in fragment 1; 1 <= Fragment Number <= Total Fragments.
 */
export interface EncryptedParts {
  iv: Buffer;
  ciphertext: Buffer;
  icv: Buffer;
}

/** Splits IV | ciphertext | ICV for a cipher suite's IV and ICV sizes; the ciphertext holds at least the Pad Length byte. */
export function splitEncrypted(data: Uint8Array, ivLen: number, icvLen: number): EncryptedParts {
  const r = new Reader(data);
  if (data.length < ivLen + icvLen + 1) throw new DecodeError(`encrypted data of ${data.length} bytes (IV ${ivLen}, ICV ${icvLen})`, 0, 'short-encrypted');
  const iv = r.copy(ivLen, 'iv');
  const ciphertext = r.copy(data.length - ivLen - icvLen, 'ciphertext');
  return { iv, ciphertext, icv: r.copy(icvLen, 'icv') };
}

export interface SkfHeader {
  fragmentNumber: number;
  totalFragments: number;
  /** IV | ciphertext | ICV. */
  encrypted: Buffer;
}

export const SKF_FIELDS = 4;

export function decodeSkf(body: Uint8Array, nextPayload: number): SkfHeader {
  const r = new Reader(body);
  const fragmentNumber = r.u16('fragment number');
  const totalFragments = r.u16('total fragments');
  if (fragmentNumber === 0 || totalFragments === 0 || fragmentNumber > totalFragments) throw new DecodeError(`fragment ${fragmentNumber} of ${totalFragments}`, 0, 'bad-fragment-number');
  if (fragmentNumber !== 1 && nextPayload !== 0) throw new DecodeError(`fragment ${fragmentNumber} with next payload ${nextPayload}`, 0, 'bad-fragment-next');
  return { fragmentNumber, totalFragments, encrypted: r.copy(r.remaining, 'encrypted fragment') };
}

export function encodeSkfFields(fragmentNumber: number, totalFragments: number): Buffer {
  return new Writer(4).u16(fragmentNumber).u16(totalFragments).finish();
}

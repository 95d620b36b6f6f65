import { Flags } from './wire/constants.js';
import { decodeHeader, ISAKMP_HEADER_LENGTH, type IsakmpHeader } from './wire/header.js';
import { decodePayloadChain, encodeMessage, encodePayloadChain, type OutPayload, type PayloadChain } from './wire/message.js';
import { decryptBody, encryptBody, lastBlock } from './crypto/cipher.js';
import type { IkeSa } from './state.js';

/**
 * Encrypted message bodies (RFC 2409 §5.3, App. B): the payload chain is CBC
 * encrypted with SKEYID_e's key, padded with zeros to the block size.
 */
export interface Sealed {
  data: Buffer;
  /** Last cipher block: the next IV of the chain. */
  nextIv: Buffer;
}

export function seal(sa: IkeSa, exchangeType: number, messageId: number, iv: Buffer, payloads: OutPayload[]): Sealed {
  const keys = sa.keys;
  if (!keys) throw new Error('seal without keys');
  const plain = encodePayloadChain(payloads);
  const cipher = encryptBody(sa.choice.cipher, keys.encKey, iv, plain);
  const data = encodeMessage(
    { initiatorCookie: sa.ckyI, responderCookie: sa.ckyR, exchangeType, flags: Flags.ENCRYPTION, messageId },
    payloads[0]?.type ?? 0,
    cipher,
  );
  return { data, nextIv: lastBlock(sa.choice.cipher, cipher) };
}

export interface Opened {
  header: IsakmpHeader;
  payloads: PayloadChain;
  nextIv: Buffer;
}

/**
 * Decrypts and decodes; undefined when the body is not a block multiple. Throws
 * DecodeError when the plaintext does not parse (a wrong key usually lands here).
 * Trailing padding after the chain is tolerated.
 */
export function open(sa: IkeSa, msg: Uint8Array, iv: Buffer): Opened | undefined {
  const keys = sa.keys;
  if (!keys) return undefined;
  const header = decodeHeader(msg);
  const body = msg.subarray(ISAKMP_HEADER_LENGTH);
  const plain = decryptBody(sa.choice.cipher, keys.encKey, iv, body);
  if (!plain) return undefined;
  const payloads = decodePayloadChain(header.nextPayload, plain, 0, true);
  return { header, payloads, nextIv: lastBlock(sa.choice.cipher, body) };
}

import { createCipheriv, createDecipheriv, timingSafeEqual } from 'node:crypto';
import { cbc, hmac } from '../../core/oneshot.js';
import { Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { PayloadType } from '../wire/constants.js';
import { encodeHeader, IKE_HEADER_LENGTH } from '../wire/header.js';
import { encodePayloads, GENERIC_HEADER_LENGTH, type HeaderFields, type Payload, type SkRef } from '../wire/message.js';
import { encodeSkfFields, splitEncrypted, SKF_FIELDS } from '../wire/sk.js';
import { icvBytes, type SkSuite } from './algorithms.js';

/**
 * Protection of SK and SKF payloads (RFC 7296 §3.14, RFC 5282, RFC 7383 §2.5).
 *
 * The message is prefix | IV | ciphertext | ICV, where prefix is everything from
 * the IKE header to the end of the SK (or SKF) header including, for SKF, the
 * Fragment Number and Total Fragments. With CBC + HMAC the checksum is the
 * truncated HMAC of prefix | IV | ciphertext; with AES-GCM the prefix is the
 * additional authenticated data and the nonce is salt | IV (RFC 5282 §4, §5.1).
 * The plaintext is payloads | padding | Pad Length.
 */
export interface SkKeys {
  /** Encryption key without the salt. */
  encKey: Buffer;
  /** The last 4 bytes of SK_e with GCM, empty with CBC. */
  salt: Buffer;
  /** SK_a, empty with an AEAD. */
  integKey: Buffer;
}

/** Splits SK_ei/SK_er (key | salt) and pairs it with SK_ai/SK_ar. */
export function skKeys(suite: SkSuite, ske: Buffer, ska: Buffer | undefined): SkKeys {
  if (ske.length !== suite.encr.keyBytes + suite.encr.saltBytes) throw new RangeError('SK_e size does not match the cipher');
  return { encKey: ske.subarray(0, suite.encr.keyBytes), salt: ske.subarray(suite.encr.keyBytes), integKey: ska ?? Buffer.alloc(0) };
}

/** Ciphertext length for `plainLen` payload bytes: plus Pad Length, rounded up to the block. */
export function ciphertextLength(suite: SkSuite, plainLen: number): number {
  const b = suite.encr.blockSize;
  return Math.ceil((plainLen + 1) / b) * b;
}

/** IV | ciphertext | ICV length for `plainLen` payload bytes. */
export function encryptedLength(suite: SkSuite, plainLen: number): number {
  return suite.encr.ivBytes + ciphertextLength(suite, plainLen) + icvBytes(suite);
}

function gcmNonce(keys: SkKeys, iv: Uint8Array): Buffer {
  return Buffer.concat([keys.salt, iv]);
}

/**
 * Encrypts `plain` (a payload chain) for a message whose bytes before the IV are
 * `prefix` (header length already final). Returns IV | ciphertext | ICV.
 */
export function sealEncrypted(suite: SkSuite, keys: SkKeys, prefix: Uint8Array, plain: Uint8Array, iv: Buffer): Buffer {
  const { encr } = suite;
  if (iv.length !== encr.ivBytes) throw new RangeError('IV size');
  const ctLen = ciphertextLength(suite, plain.length);
  const padded = Buffer.alloc(ctLen);
  padded.set(plain);
  padded[ctLen - 1] = ctLen - plain.length - 1; // Pad Length; padding bytes are zero
  if (encr.aead) {
    const c = createCipheriv(encr.node as 'aes-128-gcm', keys.encKey, gcmNonce(keys, iv), { authTagLength: encr.tagBytes });
    c.setAAD(prefix);
    const ct = Buffer.concat([c.update(padded), c.final()]);
    return Buffer.concat([iv, ct, c.getAuthTag()]);
  }
  const ct = cbc(encr.node, keys.encKey, iv, padded, true);
  const integ = suite.integ;
  if (!integ) throw new RangeError('CBC without an integrity algorithm');
  const mac = hmac(integ.hash, keys.integKey, prefix, iv, ct).subarray(0, integ.icvBytes);
  return Buffer.concat([iv, ct, mac]);
}

/**
 * Checks and decrypts IV | ciphertext | ICV (`data`) after `prefix`. Returns the
 * payload bytes without padding, or undefined when the checksum is wrong (the
 * message is dropped without an answer, §2.21.2). A checked message with broken
 * padding or a ciphertext that is not whole blocks throws DecodeError.
 */
export function openEncrypted(suite: SkSuite, keys: SkKeys, prefix: Uint8Array, data: Uint8Array): Buffer | undefined {
  const { encr } = suite;
  const { iv, ciphertext, icv } = splitEncrypted(data, encr.ivBytes, icvBytes(suite));
  let plain: Buffer;
  if (encr.aead) {
    const d = createDecipheriv(encr.node as 'aes-128-gcm', keys.encKey, gcmNonce(keys, iv), { authTagLength: encr.tagBytes });
    d.setAAD(prefix);
    d.setAuthTag(icv);
    try {
      plain = Buffer.concat([d.update(ciphertext), d.final()]);
    } catch {
      return undefined;
    }
  } else {
    const integ = suite.integ;
    if (!integ) throw new RangeError('CBC without an integrity algorithm');
    const mac = hmac(integ.hash, keys.integKey, prefix, iv, ciphertext).subarray(0, integ.icvBytes);
    if (!timingSafeEqual(mac, icv)) return undefined;
    if (ciphertext.length % encr.blockSize !== 0) throw new DecodeError(`ciphertext of ${ciphertext.length} bytes is not whole blocks`, prefix.length, 'bad-ciphertext');
    plain = cbc(encr.node, keys.encKey, iv, ciphertext, false);
  }
  const padLen = plain[plain.length - 1]!;
  if (padLen + 1 > plain.length) throw new DecodeError(`pad length ${padLen} in ${plain.length} bytes`, prefix.length, 'bad-padding');
  return plain.subarray(0, plain.length - padLen - 1);
}

/** Opens the SK payload of a decoded message (`msg` is the whole datagram). */
export function openSk(suite: SkSuite, keys: SkKeys, msg: Uint8Array, sk: SkRef): Buffer | undefined {
  return openEncrypted(suite, keys, msg.subarray(0, sk.ivOffset), sk.data);
}

/** An encrypted message: header | SK { inner payloads }. `random` gives the IV. */
export function encodeEncryptedMessage(h: HeaderFields, inner: readonly Payload[], suite: SkSuite, keys: SkKeys, random: (n: number) => Buffer): Buffer {
  const plain = encodePayloads(inner);
  const encLen = encryptedLength(suite, plain.length);
  const total = IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + encLen;
  const w = new Writer(total);
  encodeHeader({ ...h, nextPayload: PayloadType.SK, majorVersion: 2, minorVersion: 0, length: total }, w);
  w.u8(inner[0]?.type ?? PayloadType.NONE).u8(0).u16(GENERIC_HEADER_LENGTH + encLen);
  const prefix = w.finish();
  return Buffer.concat([prefix, sealEncrypted(suite, keys, prefix, plain, random(suite.encr.ivBytes))]);
}

/**
 * Splits a message into SKF fragments of at most `maxLength` bytes each (RFC 7383
 * §2.5.1: the IKE header, the SKF header and its fields, IV, ICV and padding all
 * count). All fragments carry the message's header fields and Message ID.
 */
export function encodeFragments(h: HeaderFields, inner: readonly Payload[], suite: SkSuite, keys: SkKeys, maxLength: number, random: (n: number) => Buffer): Buffer[] {
  const plain = encodePayloads(inner);
  const overhead = IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + SKF_FIELDS + suite.encr.ivBytes + icvBytes(suite);
  const b = suite.encr.blockSize;
  const chunk = Math.floor((maxLength - overhead) / b) * b - 1;
  if (chunk < 1) throw new RangeError(`fragment size ${maxLength} leaves no room for data`);
  const total = Math.max(1, Math.ceil(plain.length / chunk));
  if (total > 0xffff) throw new RangeError('too many fragments');
  const out: Buffer[] = [];
  for (let i = 0; i < total; i++) {
    const part = plain.subarray(i * chunk, (i + 1) * chunk);
    const encLen = encryptedLength(suite, part.length);
    const len = IKE_HEADER_LENGTH + GENERIC_HEADER_LENGTH + SKF_FIELDS + encLen;
    const w = new Writer(len);
    encodeHeader({ ...h, nextPayload: PayloadType.SKF, majorVersion: 2, minorVersion: 0, length: len }, w);
    w.u8(i === 0 ? (inner[0]?.type ?? PayloadType.NONE) : PayloadType.NONE).u8(0).u16(GENERIC_HEADER_LENGTH + SKF_FIELDS + encLen);
    w.bytes(encodeSkfFields(i + 1, total));
    const prefix = w.finish();
    out.push(Buffer.concat([prefix, sealEncrypted(suite, keys, prefix, part, random(suite.encr.ivBytes))]));
  }
  return out;
}

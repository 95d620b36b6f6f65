import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { DecodeError } from '../core/errors.js';
import { MESSAGE_AUTHENTICATOR } from './dictionary.js';
import { encodePacket, HEADER_LENGTH, type RadiusPacket } from './packet.js';

/**
 * The shared-secret computations: User-Password hiding (RFC 2865 §5.2), the
 * Response Authenticator (RFC 2865 §3), the Accounting-Request Authenticator
 * (RFC 2866 §3, also Disconnect/CoA-Request, RFC 5176 §2.3), Message-Authenticator
 * (RFC 2869 §5.14, RFC 3579 §3.2) and the salt encryption of MS-MPPE keys
 * (RFC 2548 §2.4.2).
 */

const md5 = (...parts: Uint8Array[]): Buffer => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

const ZERO16 = new Uint8Array(16);

/** RFC 2865 §5.2: the password is padded with NULs to a multiple of 16 (at most 128 octets). */
export function hideUserPassword(password: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Buffer {
  if (password.length > 128) throw new RangeError(`User-Password of ${password.length} octets > 128`);
  const n = Math.max(16, Math.ceil(password.length / 16) * 16);
  const out = Buffer.alloc(n);
  out.set(password);
  let prev: Uint8Array = requestAuthenticator;
  for (let i = 0; i < n; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j]! ^= b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return out;
}

/** The inverse of hideUserPassword (a server's side; for tests and a future PAP proxy check). Trailing NULs removed. */
export function revealUserPassword(hidden: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Buffer {
  if (hidden.length < 16 || hidden.length > 128 || hidden.length % 16 !== 0) throw new DecodeError(`User-Password of ${hidden.length} octets`, 0, 'bad-password');
  const out = Buffer.alloc(hidden.length);
  let prev: Uint8Array = requestAuthenticator;
  for (let i = 0; i < hidden.length; i += 16) {
    const b = md5(secret, prev);
    for (let j = 0; j < 16; j++) out[i + j] = hidden[i + j]! ^ b[j]!;
    prev = hidden.subarray(i, i + 16);
  }
  let end = out.length;
  while (end > 0 && out[end - 1] === 0) end--;
  return out.subarray(0, end);
}

/**
 * RFC 2548 §2.4.2: Salt (2 octets, high bit set), then the key's length (1 octet), the key
 * and NUL padding to a multiple of 16, encrypted as b(1) = MD5(S + R + A), c(i) = p(i) xor b(i),
 * b(i) = MD5(S + c(i-1)); R is the Request Authenticator of the Access-Request.
 */
export function saltEncrypt(key: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array, salt: Uint8Array): Buffer {
  if (salt.length !== 2) throw new RangeError('salt must be 2 octets');
  if (key.length > 239) throw new RangeError(`key of ${key.length} octets`);
  const n = Math.ceil((key.length + 1) / 16) * 16;
  const out = Buffer.alloc(2 + n);
  out[0] = salt[0]! | 0x80;
  out[1] = salt[1]!;
  out[2] = key.length;
  out.set(key, 3);
  let b = md5(secret, requestAuthenticator, out.subarray(0, 2));
  for (let i = 2; i < out.length; i += 16) {
    for (let j = 0; j < 16; j++) out[i + j]! ^= b[j]!;
    b = md5(secret, out.subarray(i, i + 16));
  }
  return out;
}

/** Decrypt an RFC 2548 §2.4.2 value; a wrong length, salt without its high bit or key length past the plaintext: DecodeError. */
export function saltDecrypt(value: Uint8Array, secret: Uint8Array, requestAuthenticator: Uint8Array): Buffer {
  if (value.length < 18 || (value.length - 2) % 16 !== 0) throw new DecodeError(`salt-encrypted value of ${value.length} octets`, 0, 'bad-salted');
  if ((value[0]! & 0x80) === 0) throw new DecodeError('salt without its high bit', 0, 'bad-salted');
  const plain = Buffer.alloc(value.length - 2);
  let b = md5(secret, requestAuthenticator, value.subarray(0, 2));
  for (let i = 2; i < value.length; i += 16) {
    for (let j = 0; j < 16; j++) plain[i - 2 + j] = value[i + j]! ^ b[j]!;
    b = md5(secret, value.subarray(i, i + 16));
  }
  const len = plain[0]!;
  if (len > plain.length - 1) throw new DecodeError(`key length ${len} past the plaintext (${plain.length - 1})`, 0, 'bad-salted');
  return Buffer.from(plain.subarray(1, 1 + len));
}

/**
 * Offset of the Message-Authenticator's value in an encoded packet (the attributes
 * are walked as on the wire; the packet was decoded before, so they are well formed),
 * -1 when there is none, or a DecodeError when there are two or its Length is not 18
 * (RFC 3579 §3.2: at most one, 16 octets).
 */
export function findMessageAuthenticator(bytes: Uint8Array): number {
  const length = (bytes[2]! << 8) | bytes[3]!;
  let at = -1;
  for (let i = HEADER_LENGTH; i + 2 <= length; ) {
    const type = bytes[i]!;
    const len = bytes[i + 1]!;
    if (len < 2) break;
    if (type === MESSAGE_AUTHENTICATOR) {
      if (at >= 0) throw new DecodeError('two Message-Authenticators', i, 'bad-message-authenticator');
      if (len !== 18) throw new DecodeError(`Message-Authenticator Length ${len} != 18`, i, 'bad-message-authenticator');
      at = i + 2;
    }
    i += len;
  }
  return at;
}

const hmacMd5 = (secret: Uint8Array, data: Uint8Array): Buffer => createHmac('md5', secret).update(data).digest();

function withMessageAuthenticatorFirst(p: RadiusPacket): RadiusPacket {
  // BlastRADIUS mitigation: Message-Authenticator first (a forged prefix cannot precede it).
  const rest = p.attributes.filter((a) => !(a.vendor === 0 && a.type === MESSAGE_AUTHENTICATOR));
  return { ...p, attributes: [{ vendor: 0, type: MESSAGE_AUTHENTICATOR, value: ZERO16 }, ...rest] };
}

/**
 * An Access-Request (or Status-Server) with its random Request Authenticator: a
 * Message-Authenticator first, HMAC-MD5 over the packet with it zeroed (RFC 3579 §3.2).
 */
export function signAccessRequest(p: RadiusPacket, secret: Uint8Array): Buffer {
  const bytes = encodePacket(withMessageAuthenticatorFirst(p));
  bytes.set(hmacMd5(secret, bytes), HEADER_LENGTH + 2);
  return bytes;
}

/**
 * Accounting-Request, Disconnect-Request, CoA-Request: Message-Authenticator computed with
 * the Authenticator field zero, then the Request Authenticator = MD5(Code | Identifier |
 * Length | 16 zero octets | attributes | secret) (RFC 2866 §3, RFC 5176 §2.3).
 */
export function signZeroAuthRequest(p: RadiusPacket, secret: Uint8Array, messageAuthenticator = true): Buffer {
  const bytes = encodePacket(messageAuthenticator ? withMessageAuthenticatorFirst({ ...p, authenticator: ZERO16 }) : { ...p, authenticator: ZERO16 });
  if (messageAuthenticator) bytes.set(hmacMd5(secret, bytes), HEADER_LENGTH + 2);
  bytes.set(md5(bytes, secret), 4);
  return bytes;
}

/**
 * A response (Access-Accept/Reject/Challenge, Accounting-Response, Disconnect/CoA ACK/NAK):
 * Message-Authenticator over the packet with the request's authenticator in place, then the
 * Response Authenticator = MD5(Code | Identifier | Length | Request Authenticator | attributes | secret).
 */
export function signResponse(p: RadiusPacket, requestAuthenticator: Uint8Array, secret: Uint8Array, messageAuthenticator = true): Buffer {
  const q = { ...p, authenticator: requestAuthenticator };
  const bytes = encodePacket(messageAuthenticator ? withMessageAuthenticatorFirst(q) : q);
  if (messageAuthenticator) bytes.set(hmacMd5(secret, bytes), HEADER_LENGTH + 2);
  bytes.set(md5(bytes, secret), 4);
  return bytes;
}

export type MessageAuthenticatorCheck = 'absent' | 'valid' | 'invalid';

export interface ResponseCheck {
  /** The Response Authenticator matches. */
  authenticator: boolean;
  messageAuthenticator: MessageAuthenticatorCheck;
}

/** Length-checked constant-time comparison. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function checkMessageAuthenticator(bytes: Uint8Array, vector: Uint8Array, secret: Uint8Array): MessageAuthenticatorCheck {
  let at: number;
  try {
    at = findMessageAuthenticator(bytes);
  } catch {
    return 'invalid'; // two of them, or one of the wrong length
  }
  if (at < 0) return 'absent';
  const length = (bytes[2]! << 8) | bytes[3]!;
  const copy = Buffer.from(bytes.subarray(0, length));
  const got = Buffer.from(copy.subarray(at, at + 16));
  copy.set(vector, 4);
  copy.fill(0, at, at + 16);
  return same(hmacMd5(secret, copy), got) ? 'valid' : 'invalid';
}

/** Check a response datagram (already decoded once) against the request's authenticator. */
export function verifyResponse(bytes: Uint8Array, requestAuthenticator: Uint8Array, secret: Uint8Array): ResponseCheck {
  const length = (bytes[2]! << 8) | bytes[3]!;
  const copy = Buffer.from(bytes.subarray(0, length));
  copy.set(requestAuthenticator, 4);
  const authenticator = same(md5(copy, secret), bytes.subarray(4, 20));
  return { authenticator, messageAuthenticator: checkMessageAuthenticator(bytes, requestAuthenticator, secret) };
}

/** Check an Accounting/Disconnect/CoA-Request (a request whose authenticator is computed, not random). */
export function verifyZeroAuthRequest(bytes: Uint8Array, secret: Uint8Array): ResponseCheck {
  const length = (bytes[2]! << 8) | bytes[3]!;
  const copy = Buffer.from(bytes.subarray(0, length));
  copy.fill(0, 4, 20);
  const authenticator = same(md5(copy, secret), bytes.subarray(4, 20));
  return { authenticator, messageAuthenticator: checkMessageAuthenticator(bytes, ZERO16, secret) };
}

/** Check an Access-Request's Message-Authenticator (a server's side: test servers). */
export function verifyAccessRequest(bytes: Uint8Array, secret: Uint8Array): MessageAuthenticatorCheck {
  return checkMessageAuthenticator(bytes, bytes.subarray(4, 20), secret);
}

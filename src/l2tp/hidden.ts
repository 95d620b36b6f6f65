import { createHash } from 'node:crypto';

/**
 * Hidden AVP cipher, RFC 2661 §4.3: the value (prefixed by its 2-byte
 * original length and optional padding) is XORed with an MD5 chain
 *   b(1) = MD5(Attribute Type | secret | Random Vector), c(1) = p(1) xor b(1)
 *   b(i) = MD5(secret | c(i-1)),                           c(i) = p(i) xor b(i)
 * in 16-byte blocks (the last block may be shorter).
 */
function md5(...parts: Uint8Array[]): Buffer {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
}

function typeBytes(type: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(type & 0xffff);
  return b;
}

/** Decipher a hidden AVP value (the whole subformat: length prefix, value, padding). */
export function unhide(type: number, cipher: Uint8Array, secret: Uint8Array, randomVector: Uint8Array): Buffer {
  const out = Buffer.alloc(cipher.length);
  let prev: Uint8Array | undefined;
  for (let i = 0; i < cipher.length; i += 16) {
    const b = prev === undefined ? md5(typeBytes(type), secret, randomVector) : md5(secret, prev);
    const n = Math.min(16, cipher.length - i);
    for (let j = 0; j < n; j++) out[i + j] = cipher[i + j]! ^ b[j]!;
    prev = cipher.subarray(i, i + 16);
  }
  return out;
}

/** Cipher a plaintext subformat (length prefix, value, padding) for a hidden AVP. */
export function hide(type: number, plain: Uint8Array, secret: Uint8Array, randomVector: Uint8Array): Buffer {
  const out = Buffer.alloc(plain.length);
  let prev: Uint8Array | undefined;
  for (let i = 0; i < plain.length; i += 16) {
    const b = prev === undefined ? md5(typeBytes(type), secret, randomVector) : md5(secret, prev);
    const n = Math.min(16, plain.length - i);
    for (let j = 0; j < n; j++) out[i + j] = plain[i + j]! ^ b[j]!;
    prev = out.subarray(i, i + 16);
  }
  return out;
}

/** The hidden-AVP subformat: 2-byte original length, the value, then `padding` bytes (RFC 2661 §4.3). */
export function hiddenSubformat(value: Uint8Array, padding: Uint8Array = new Uint8Array(0)): Buffer {
  const out = Buffer.alloc(2 + value.length + padding.length);
  out.writeUInt16BE(value.length, 0);
  out.set(value, 2);
  out.set(padding, 2 + value.length);
  return out;
}

/** Challenge Response, RFC 2661 §4.4.3 / §5.1.1: MD5(Message Type as one byte | secret | challenge). */
export function challengeResponse(messageType: number, secret: Uint8Array, challenge: Uint8Array): Buffer {
  return md5(Uint8Array.of(messageType & 0xff), secret, challenge);
}

import { createCipheriv, createDecipheriv, createHash, createHmac } from 'node:crypto';

/**
 * One-shot hashes, HMACs and CBC for the control plane (IKE's PRF, hashes and
 * message bodies, IKEv2's SK payload, MS-CHAPv2, NAT detection).
 *
 * node:crypto builds a Hash/Hmac/Cipher object (a C++ object and its
 * JavaScript wrapper) for every call: about 2 µs for a 100-byte HMAC-SHA1 and
 * 3 µs for a 96-byte AES-CBC once optimized, more before; a handshake makes a
 * few dozen of these. With a provider (the addon's OpenSSL, native/hmac.c and
 * native/once.c, handed in by the host: src/core loads no native code) each is
 * one call writing into a Buffer JavaScript allocated: about 0.3-0.5 µs.
 * Without one, and for what the provider lacks (MD5, more than eight parts),
 * node:crypto. The results are the same bytes either way (test/core/oneshot.test.ts).
 */
export interface OneShotProvider {
  /** out = hash(parts...) (the parts as if concatenated); out holds at least the hash's length. */
  digestOnce(hash: string, out: Uint8Array, ...parts: Uint8Array[]): void;
  /** out = HMAC(key, parts...). */
  hmacOnce(hash: string, out: Uint8Array, key: Uint8Array, ...parts: Uint8Array[]): void;
  /** buf (whole blocks) encrypted or decrypted in place, CBC chained from iv, no padding. */
  cbcOnce?(cipher: string, key: Uint8Array, iv: Uint8Array, buf: Uint8Array, encrypt: boolean): void;
}

/** The hashes a provider computes, with their output lengths. */
const HASH_LENGTH: Record<string, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
/** The most parts a provider takes in one call (native/hmac.c ONCE_PARTS). */
const MAX_PARTS = 8;
/** The ciphers a provider's cbcOnce takes. */
const CBC = new Set(['aes-128-cbc', 'aes-192-cbc', 'aes-256-cbc', 'des-ede3-cbc']);

let provider: OneShotProvider | undefined;

/** Installs (or with undefined removes) the process's provider. */
export function useOneShotProvider(p: OneShotProvider | undefined): void {
  provider = p;
}

/** The provider in use, if any. */
export function oneShotProvider(): OneShotProvider | undefined {
  return provider;
}

/** hash(parts...) as a new Buffer. */
export function digest(name: string, ...parts: Uint8Array[]): Buffer {
  const len = HASH_LENGTH[name];
  if (provider && len !== undefined && parts.length > 0 && parts.length <= MAX_PARTS) {
    const out = Buffer.allocUnsafe(len);
    provider.digestOnce(name, out, ...parts);
    return out;
  }
  const h = createHash(name);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** HMAC(key, parts...) as a new Buffer (RFC 2104). */
export function hmac(name: string, key: Uint8Array, ...parts: Uint8Array[]): Buffer {
  const len = HASH_LENGTH[name];
  if (provider && len !== undefined && parts.length > 0 && parts.length <= MAX_PARTS) {
    const out = Buffer.allocUnsafe(len);
    provider.hmacOnce(name, out, key, ...parts);
    return out;
  }
  const h = createHmac(name, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/**
 * CBC without padding over `data` (whole blocks: the caller pads) as a new
 * Buffer; `data` is not changed. Throws when it is not whole blocks or the key
 * or IV has the wrong length (the callers check the length first).
 */
export function cbc(name: string, key: Uint8Array, iv: Uint8Array, data: Uint8Array, encrypt: boolean): Buffer {
  if (provider?.cbcOnce && CBC.has(name)) {
    const out = Buffer.from(data);
    try {
      provider.cbcOnce(name, key, iv, out, encrypt);
    } catch (e) {
      throw new RangeError(`${name}: ${(e as Error).message}`);
    }
    return out;
  }
  const c = encrypt ? createCipheriv(name, key, iv) : createDecipheriv(name, key, iv);
  c.setAutoPadding(false);
  const a = c.update(data);
  const b = c.final();
  return b.length === 0 ? a : Buffer.concat([a, b]);
}

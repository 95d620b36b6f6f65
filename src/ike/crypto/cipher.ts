import { cbc } from '../../core/oneshot.js';
import { own } from '../../core/bytes.js';
import type { CipherAlg } from './algorithms.js';

/**
 * CBC encryption of ISAKMP message bodies (RFC 2409 §5.3, App. B). The body is
 * padded with zero bytes to the block size; node's PKCS padding is off.
 */
export function encryptBody(alg: CipherAlg, key: Buffer, iv: Buffer, plain: Buffer): Buffer {
  const padLen = (alg.blockSize - (plain.length % alg.blockSize)) % alg.blockSize;
  const padded = padLen ? Buffer.concat([plain, Buffer.alloc(padLen)]) : plain;
  return cbc(alg.node, key, iv, padded, true);
}

/** Undefined when the ciphertext is not a positive multiple of the block size. */
export function decryptBody(alg: CipherAlg, key: Buffer, iv: Buffer, cipher: Uint8Array): Buffer | undefined {
  if (cipher.length === 0 || cipher.length % alg.blockSize !== 0) return undefined;
  return cbc(alg.node, key, iv, cipher, false);
}

/** IV chain (RFC 2409 App. B): the last cipher block of a message is the IV of the next one. */
export function lastBlock(alg: CipherAlg, cipher: Uint8Array): Buffer {
  // own memory: the SA keeps the last one as the seed of its Phase 2 IVs
  return own(cipher.subarray(cipher.length - alg.blockSize));
}

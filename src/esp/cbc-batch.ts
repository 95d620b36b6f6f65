/**
 * CBC over a whole batch of ESP packets with ONE node:crypto cipher call per
 * SA (the per-call cost of createCipheriv/createDecipheriv is larger than the
 * AES work on a 1400-byte packet).
 *
 * DECRYPTION (RFC 3602 §2: P_i = D_K(C_i) xor C_{i-1}, with C_0 = IV).
 * Decrypting a block needs only the ciphertext block in front of it. The
 * inbound records are laid out in one buffer so that every packet's IV
 * immediately precedes its ciphertext, and every IV starts at a multiple of
 * the block size from the span start:
 *
 *   [IV_1][C_1 ...][gap: ICV_1, headroom, SPI|seq of 2][IV_2][C_2 ...][gap]...
 *
 * Decrypting the span as one CBC stream (with any IV) gives, for the blocks
 * of C_k, D_K(C_k,j) xor (the block before it) = exactly the per-packet CBC
 * plaintext, because the block before C_k,1 is IV_k. The blocks decrypted
 * from IV_k and from the gaps are garbage and ignored. Packets never affect
 * each other, so a forged packet cannot corrupt its neighbours (a packet whose
 * ICV failed may lie inside the span: its blocks decrypt to garbage that is
 * wiped and never delivered).
 *
 * ENCRYPTION. Every packet needs a fresh, unpredictable IV (RFC 3602 §3);
 * chaining the previous packet's last ciphertext block as the next IV is the
 * TLS 1.0 (BEAST) flaw and is NOT done. Instead the plaintext stream is
 *
 *   P_1 | R_1 | P_2 | R_2 | ... | P_n        (R_k: fresh random blocks, never sent)
 *
 * encrypted with a random IV_1. The block produced from R_k is
 * X_k = E_K(R_k xor C_k,last) and becomes IV_{k+1}: the stream then continues
 * with C_{k+1},1 = E_K(P_{k+1},1 xor X_k), i.e. standard CBC of packet k+1
 * under IV X_k, so the output is C_1 | IV_2 C_2 | IV_3 C_3 ... and each
 * packet decrypts on its own. X_k is unpredictable: R_k is uniform and secret,
 * so R_k xor C_k,last is uniform and unknown to an observer, and a block
 * cipher (a PRP) maps it to a uniform value the observer cannot compute
 * without K. All plaintexts of the batch are fixed before any IV exists, so
 * no plaintext can be chosen after seeing its IV. IV_1 and all R_k come from
 * one random() call per batch. Tested: every packet decrypts with a naive
 * per-packet decryptor, and IV_{k+1} differs from any function of the
 * previous packet we can compute (test/esp/batch.test.ts, test/esp/kat.test.ts).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';

const ZERO_IV_16 = Buffer.alloc(16);
const ZERO_IV_8 = Buffer.alloc(8);

/**
 * Decrypt buf[from, to) as one CBC stream; the caller reads each packet's
 * plaintext at (ctStart - from, ctEnd - from) of the result. from/to and
 * every IV start must be block-aligned relative to from.
 */
export function decryptCbcSpan(cipherName: string, key: Buffer, blockSize: number, buf: Buffer, from: number, to: number): Buffer {
  const d = createDecipheriv(cipherName, key, blockSize === 8 ? ZERO_IV_8 : ZERO_IV_16);
  d.setAutoPadding(false);
  const out = d.update(buf.subarray(from, to));
  d.final();
  return out;
}

/**
 * Encrypt stream[0, len) = P_1 | R_1 | ... | P_n with IV_1. Output block k of
 * the result is the ciphertext of stream block k (so the block in R_k's place
 * is IV_{k+1}).
 */
export function encryptCbcChained(cipherName: string, key: Buffer, iv1: Uint8Array, stream: Buffer, len: number): Buffer {
  const c = createCipheriv(cipherName, key, iv1);
  c.setAutoPadding(false);
  const out = c.update(stream.subarray(0, len));
  c.final();
  return out;
}

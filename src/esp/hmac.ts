/**
 * HMAC (RFC 2104) computed with two one-shot crypto.hash() calls over a
 * buffer that carries K^ipad as headroom in front of the message.
 *
 * Why not createHmac? Creating an Hmac stream object per packet costs more
 * than hashing a short packet; the ESP record
 * layout of the batch buffers reserves `headroom` bytes in front of every
 * packet anyway, so writing K^ipad there and hashing [K^ipad | message] in one
 * call gives the inner hash; the outer hash runs over a preallocated
 * [K^opad | inner] scratch. Tested against RFC 2202 / RFC 4231 values and createHmac
 * (test/esp/kat.test.ts). Measured in CPU time per call on Node 20 (shared
 * machine): 0-15% cheaper than createHmac (2.5-3.2 us vs 2.9-3.3 us at 1436
 * bytes, ~1.9 vs ~2.0 us at 100 bytes); a createSecretKey KeyObject in place of
 * the Buffer key gave no consistent gain. The big win of the fast path is the
 * batched cipher call, not this.
 *
 * With a HmacBatchProvider (the addon's OpenSSL, injected by the host) a whole
 * batch is signed or verified in one native call from keyed hash states
 * (signMany, verifyMany); without one, the same per span in JavaScript.
 */
import { createHash, hash as oneShotHash, timingSafeEqual } from 'node:crypto';

/**
 * HMAC over many spans of one buffer in one call (the addon's OpenSSL HMAC,
 * native/hmac.c, handed in by the host: src/esp does not load native code).
 */
export interface HmacBatchProvider {
  /** Keyed inner and outer hash states; an opaque handle. */
  hmacKey(hash: string, key: Uint8Array): object;
  /**
   * For k < n: the message is buf[spans[2k], spans[2k+1]), its ICV slot the icvLen bytes after it.
   * verify: ok[k] = 1 when the truncated HMAC equals the slot (constant time); returns the matches.
   * sign: writes the truncated HMAC into the slot; returns n.
   */
  hmacBatch(key: object, buf: Uint8Array, spans: Uint32Array, n: number, icvLen: number, verify: boolean, ok: Uint8Array): number;
}

/**
 * AES-GCM (RFC 4106) over a batch of packets in one call (the addon's OpenSSL
 * EVP, native/gcm.c, handed in by the host like HmacBatchProvider).
 */
export interface GcmBatchProvider {
  /** One keyed context for one direction of one SA (key of 16, 24 or 32 bytes, 4-byte salt). */
  gcmKey(key: Uint8Array, salt: Uint8Array, encrypt: boolean): object;
  /**
   * Record k = recs[6k..6k+5] = [aad, iv, in, len, out, tag] offsets: AAD src[aad, +8), nonce
   * salt | src[iv, +8), text src[in, +len) into dst[out, +len), 16-byte tag at tag (written into
   * dst when encrypting; read from src and checked when decrypting: ok[k] = 1 if authentic,
   * else 0 and the output zeroed). Returns how many were authentic (or encrypted).
   */
  gcmBatch(key: object, src: Uint8Array, dst: Uint8Array, recs: Uint32Array, n: number, ok: Uint8Array): number;
}

/**
 * AES-CBC encryption of a batch of records in one call, several records
 * interleaved so the CPU's AES unit is not waiting on CBC's chain (the
 * addon's AES-NI code, native/cbc.c, handed in by the host).
 */
export interface CbcBatchProvider {
  /** The expanded encryption key (16 or 32 bytes), or undefined where the provider cannot (no AES instructions, other sizes). */
  cbcKey(key: Uint8Array): object | undefined;
  /**
   * For k < n, record k is buf[recs[2k], +recs[2k+1]): a 16-byte IV then whole blocks, encrypted in place
   * chained from the IV. makeIv: the provider writes the IVs first (unpredictable, RFC 3602 §2.4).
   */
  cbcEncryptBatch(key: object, buf: Uint8Array, recs: Uint32Array, n: number, makeIv?: boolean): number;
  /**
   * Record k as above (an IV, then whole blocks of ciphertext), decrypted in place; the IV stays.
   * Absent: inbound CBC stays on node:crypto.
   */
  cbcDecryptBatch?(key: object, buf: Uint8Array, recs: Uint32Array, n: number): number;
  /** The expanded decryption key for cbcDecryptBatch, or undefined where the provider cannot. */
  cbcDecryptKey?(key: Uint8Array): object | undefined;
}

export const NO_OK = new Uint8Array(0);

export class PreparedHmac {
  /** Bytes the caller must leave in front of the message (the hash block length). */
  readonly headroom: number;
  private readonly ipad: Buffer;
  private readonly outer: Buffer;

  /** The provider's keyed handle, when one was given. */
  private readonly native: object | undefined;

  constructor(
    private readonly hashName: string,
    key: Uint8Array,
    blockLen: number,
    hashLen: number,
    private readonly batch?: HmacBatchProvider,
  ) {
    this.headroom = blockLen;
    this.native = batch?.hmacKey(hashName, key);
    // RFC 2104 §2: keys longer than B are hashed first, shorter ones zero-padded.
    const k = key.length > blockLen ? createHash(hashName).update(key).digest() : key;
    this.ipad = Buffer.alloc(blockLen, 0x36);
    this.outer = Buffer.alloc(blockLen + hashLen, 0);
    this.outer.fill(0x5c, 0, blockLen);
    for (let i = 0; i < k.length; i++) {
      this.ipad[i]! ^= k[i]!;
      this.outer[i]! ^= k[i]!;
    }
  }

  /**
   * HMAC over buf[start, end). Overwrites buf[start - headroom, start) with
   * K^ipad (scratch space the caller reserved). Returns the full digest.
   */
  digestWithHeadroom(buf: Buffer, start: number, end: number): Buffer {
    const h = start - this.headroom;
    this.ipad.copy(buf, h);
    const inner = oneShotHash(this.hashName, buf.subarray(h, end), 'buffer');
    inner.copy(this.outer, this.headroom);
    return oneShotHash(this.hashName, this.outer, 'buffer');
  }

  /** Whether sign/verify run as one native call per batch. */
  get batched(): boolean {
    return this.native !== undefined;
  }

  /**
   * HMAC of buf[spans[2k], spans[2k+1]) for k < n, truncated to icvLen and
   * written right after each span. Without a provider, per span with
   * digestWithHeadroom (the caller's headroom in front of each span then
   * holds K^ipad: wipe it).
   */
  signMany(buf: Buffer, spans: Uint32Array, n: number, icvLen: number): void {
    if (this.native !== undefined) {
      this.batch!.hmacBatch(this.native, buf, spans, n, icvLen, false, NO_OK);
      return;
    }
    for (let k = 0; k < n; k++) {
      const end = spans[2 * k + 1]!;
      this.digestWithHeadroom(buf, spans[2 * k]!, end).copy(buf, end, 0, icvLen);
    }
  }

  /** ok[k] = 1 when the ICV after span k is its HMAC truncated to icvLen (constant-time compare), else 0. */
  verifyMany(buf: Buffer, spans: Uint32Array, n: number, icvLen: number, ok: Uint8Array): void {
    if (this.native !== undefined) {
      this.batch!.hmacBatch(this.native, buf, spans, n, icvLen, true, ok);
      return;
    }
    for (let k = 0; k < n; k++) {
      const end = spans[2 * k + 1]!;
      const mac = this.digestWithHeadroom(buf, spans[2 * k]!, end);
      ok[k] = timingSafeEqual(mac.subarray(0, icvLen), buf.subarray(end, end + icvLen)) ? 1 : 0;
    }
  }
}

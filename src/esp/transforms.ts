/**
 * ESP transforms (RFC 4303 §3.2) resolved from the negotiated EspTransform
 * into the numbers the fast path needs: node:crypto cipher name, block size,
 * IV length (RFC 3602 §3 for AES-CBC, RFC 2451 for 3DES-CBC, RFC 4106 §3.1 for
 * AES-GCM's 8-byte explicit IV) and ICV length (RFC 2404 HMAC-SHA1-96,
 * RFC 4868 HMAC-SHA2-256-128 / 384-192 / 512-256, RFC 2403 HMAC-MD5-96,
 * RFC 4106 §6 the 16-byte GCM ICV).
 */
import type { EspCipher, EspInteg, EspTransform } from '../core/sa.js';

export interface TransformSpec {
  /** Short name for logs and stats, e.g. "aes128-sha1", "aes256gcm16". */
  readonly name: string;
  readonly mode: 'cbc' | 'gcm';
  /** node:crypto cipher name, e.g. "aes-128-cbc", "des-ede3-cbc", "aes-128-gcm". */
  readonly cipherName: string;
  /** Cipher key bytes (without the GCM salt). */
  readonly keyLen: number;
  /** RFC 4106 §8.1: 4-byte salt at the end of the GCM key material; 0 for CBC. */
  readonly saltLen: number;
  /** Cipher block size; the padded plaintext is a multiple of it (RFC 4303 §2.4). GCM: 4 (32-bit alignment). */
  readonly blockSize: number;
  readonly ivLen: number;
  readonly icvLen: number;
  /** node:crypto hash for the HMAC, or null (GCM: the ICV is the GCM tag). */
  readonly hashName: string | null;
  /** Hash input block size (HMAC ipad/opad length, RFC 2104 §2). */
  readonly hashBlockLen: number;
  /** Full hash output length before truncation to icvLen. */
  readonly hashLen: number;
}

/** Name table for the ciphers (RFC 4303 §3.2 names, as logged). */
export const ESP_CIPHER_NAMES: Record<EspCipher, string> = {
  'aes-cbc': 'ENCR_AES_CBC (RFC 3602)',
  '3des-cbc': 'ENCR_3DES (RFC 2451)',
  'aes-gcm-16': 'ENCR_AES_GCM_ICV16 (RFC 4106)',
};

interface IntegInfo {
  hash: string;
  blockLen: number;
  hashLen: number;
  icvLen: number;
  short: string;
}

/** Name table and parameters of the integrity algorithms. */
export const ESP_INTEG: Record<Exclude<EspInteg, 'none'>, IntegInfo> = {
  'hmac-sha1-96': { hash: 'sha1', blockLen: 64, hashLen: 20, icvLen: 12, short: 'sha1' }, // RFC 2404
  'hmac-sha256-128': { hash: 'sha256', blockLen: 64, hashLen: 32, icvLen: 16, short: 'sha256' }, // RFC 4868 §2.1
  'hmac-sha384-192': { hash: 'sha384', blockLen: 128, hashLen: 48, icvLen: 24, short: 'sha384' },
  'hmac-sha512-256': { hash: 'sha512', blockLen: 128, hashLen: 64, icvLen: 32, short: 'sha512' },
  'hmac-md5-96': { hash: 'md5', blockLen: 64, hashLen: 16, icvLen: 12, short: 'md5' }, // RFC 2403
};

/**
 * Resolve a negotiated transform. Throws TypeError for a combination ESP
 * cannot run (a programming or policy error upstream, never packet-driven).
 */
export function resolveTransform(t: EspTransform): TransformSpec {
  if (t.cipher === 'aes-gcm-16') {
    if (t.keyBits !== 128 && t.keyBits !== 192 && t.keyBits !== 256) throw new TypeError(`AES-GCM key length ${t.keyBits}`);
    if (t.integ !== 'none') throw new TypeError(`AES-GCM is combined mode: integ must be 'none', got ${t.integ}`);
    return {
      name: `aes${t.keyBits}gcm16`,
      mode: 'gcm',
      cipherName: `aes-${t.keyBits}-gcm`,
      keyLen: t.keyBits / 8,
      saltLen: 4,
      blockSize: 4,
      ivLen: 8,
      icvLen: 16,
      hashName: null,
      hashBlockLen: 0,
      hashLen: 0,
    };
  }
  if (t.integ === 'none') throw new TypeError(`${t.cipher} without integrity is refused`);
  const integ = ESP_INTEG[t.integ];
  if (t.cipher === 'aes-cbc') {
    if (t.keyBits !== 128 && t.keyBits !== 192 && t.keyBits !== 256) throw new TypeError(`AES-CBC key length ${t.keyBits}`);
    return {
      name: `aes${t.keyBits}-${integ.short}`,
      mode: 'cbc',
      cipherName: `aes-${t.keyBits}-cbc`,
      keyLen: t.keyBits / 8,
      saltLen: 0,
      blockSize: 16,
      ivLen: 16,
      icvLen: integ.icvLen,
      hashName: integ.hash,
      hashBlockLen: integ.blockLen,
      hashLen: integ.hashLen,
    };
  }
  if (t.cipher === '3des-cbc') {
    if (t.keyBits !== 192) throw new TypeError(`3DES key length ${t.keyBits}`);
    return {
      name: `3des-${integ.short}`,
      mode: 'cbc',
      cipherName: 'des-ede3-cbc',
      keyLen: 24,
      saltLen: 0,
      blockSize: 8,
      ivLen: 8,
      icvLen: integ.icvLen,
      hashName: integ.hash,
      hashBlockLen: integ.blockLen,
      hashLen: integ.hashLen,
    };
  }
  throw new TypeError(`unknown ESP cipher ${String(t.cipher)}`);
}

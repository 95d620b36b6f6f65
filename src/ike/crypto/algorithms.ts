import { P1Enc, P1Hash, P2Auth } from '../wire/constants.js';

/**
 * Algorithm tables: IKE/ESP numbers to node:crypto names and sizes.
 * RFC 2409 App. A (phase 1), RFC 2407 §4.5 / RFC 4868 (phase 2 auth).
 */
export type HashName = 'md5' | 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface HashAlg {
  id: number;
  name: HashName;
  /** Output size in bytes. */
  size: number;
  legacy: boolean;
}

export const HASHES: Record<number, HashAlg> = {
  [P1Hash.MD5]: { id: P1Hash.MD5, name: 'md5', size: 16, legacy: true },
  [P1Hash.SHA1]: { id: P1Hash.SHA1, name: 'sha1', size: 20, legacy: false },
  [P1Hash.SHA2_256]: { id: P1Hash.SHA2_256, name: 'sha256', size: 32, legacy: false },
  [P1Hash.SHA2_384]: { id: P1Hash.SHA2_384, name: 'sha384', size: 48, legacy: false },
  [P1Hash.SHA2_512]: { id: P1Hash.SHA2_512, name: 'sha512', size: 64, legacy: false },
};

export interface CipherAlg {
  /** Phase 1 encryption algorithm number. */
  id: number;
  keyBytes: number;
  blockSize: number;
  /** node:crypto cipher name. */
  node: string;
  label: string;
}

/** The phase 1 cipher for an algorithm and KEY_LENGTH (bits; 0 = attribute absent). Undefined when unsupported. */
export function phase1Cipher(id: number, keyBits: number): CipherAlg | undefined {
  if (id === P1Enc.AES) {
    if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) return undefined; // RFC 3602 §5: KEY_LENGTH is required
    return { id, keyBytes: keyBits / 8, blockSize: 16, node: `aes-${keyBits}-cbc`, label: `aes${keyBits}` };
  }
  if (id === P1Enc['3DES']) {
    if (keyBits !== 0 && keyBits !== 192) return undefined;
    return { id, keyBytes: 24, blockSize: 8, node: 'des-ede3-cbc', label: '3des' };
  }
  return undefined;
}

/** Phase 2 integrity algorithms (RFC 2404, RFC 4868 §2.4): HMAC key size and truncated ICV. */
export interface EspAuthAlg {
  id: number;
  keyBytes: number;
  name: 'hmac-sha1-96' | 'hmac-sha256-128' | 'hmac-sha384-192' | 'hmac-sha512-256' | 'hmac-md5-96';
  legacy: boolean;
}

export const ESP_AUTHS: Record<number, EspAuthAlg> = {
  [P2Auth.HMAC_MD5]: { id: P2Auth.HMAC_MD5, keyBytes: 16, name: 'hmac-md5-96', legacy: true },
  [P2Auth.HMAC_SHA]: { id: P2Auth.HMAC_SHA, keyBytes: 20, name: 'hmac-sha1-96', legacy: false },
  [P2Auth.HMAC_SHA2_256]: { id: P2Auth.HMAC_SHA2_256, keyBytes: 32, name: 'hmac-sha256-128', legacy: false },
  [P2Auth.HMAC_SHA2_384]: { id: P2Auth.HMAC_SHA2_384, keyBytes: 48, name: 'hmac-sha384-192', legacy: false },
  [P2Auth.HMAC_SHA2_512]: { id: P2Auth.HMAC_SHA2_512, keyBytes: 64, name: 'hmac-sha512-256', legacy: false },
};

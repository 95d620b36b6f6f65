import { Encr, Integ, Prf } from '../wire/constants.js';

/**
 * IKEv2 transform numbers to node:crypto names and sizes: the suites the built-in
 * clients of Android, Apple, Windows and strongSwan propose (RFC 8247 §3).
 */
export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

export interface EncrAlg {
  id: number;
  label: string;
  /** CBC with a separate integrity algorithm, or an AEAD (RFC 5282). */
  aead: boolean;
  keyBytes: number;
  /** Salt taken from the end of SK_e (4 for GCM, RFC 5282 §7.1), 0 for CBC. */
  saltBytes: number;
  /** IV carried in SK (block size for CBC, 8 for GCM). */
  ivBytes: number;
  /** Plaintext alignment: 16 for CBC, 1 for GCM. */
  blockSize: number;
  /** AEAD tag length (0 for CBC: the integrity algorithm decides). */
  tagBytes: number;
  /** node:crypto cipher name. */
  node: string;
}

/** The encryption algorithm for a transform ID and its Key Length attribute (bits); undefined when unsupported. */
export function encrAlg(id: number, keyBits: number | undefined): EncrAlg | undefined {
  if (keyBits !== 128 && keyBits !== 192 && keyBits !== 256) return undefined; // AES needs the attribute (RFC 3602 §5, RFC 5282 §8)
  if (id === Encr.AES_CBC) return { id, label: `aes${keyBits}-cbc`, aead: false, keyBytes: keyBits / 8, saltBytes: 0, ivBytes: 16, blockSize: 16, tagBytes: 0, node: `aes-${keyBits}-cbc` };
  const tag = id === Encr.AES_GCM_16 ? 16 : id === Encr.AES_GCM_12 ? 12 : id === Encr.AES_GCM_8 ? 8 : 0;
  if (tag) return { id, label: `aes${keyBits}-gcm${tag * 8}`, aead: true, keyBytes: keyBits / 8, saltBytes: 4, ivBytes: 8, blockSize: 1, tagBytes: tag, node: `aes-${keyBits}-gcm` };
  return undefined;
}

export interface IntegAlg {
  id: number;
  label: string;
  hash: HashName;
  keyBytes: number;
  /** Truncated checksum length. */
  icvBytes: number;
}

/** RFC 2404 and RFC 4868 §2: HMAC keys of the hash's output size, checksums truncated to half (SHA1: 96 bits). */
export const INTEG_ALGS: Record<number, IntegAlg> = {
  [Integ.HMAC_SHA1_96]: { id: Integ.HMAC_SHA1_96, label: 'hmac-sha1-96', hash: 'sha1', keyBytes: 20, icvBytes: 12 },
  [Integ.HMAC_SHA2_256_128]: { id: Integ.HMAC_SHA2_256_128, label: 'hmac-sha256-128', hash: 'sha256', keyBytes: 32, icvBytes: 16 },
  [Integ.HMAC_SHA2_384_192]: { id: Integ.HMAC_SHA2_384_192, label: 'hmac-sha384-192', hash: 'sha384', keyBytes: 48, icvBytes: 24 },
  [Integ.HMAC_SHA2_512_256]: { id: Integ.HMAC_SHA2_512_256, label: 'hmac-sha512-256', hash: 'sha512', keyBytes: 64, icvBytes: 32 },
};

export interface PrfAlg {
  id: number;
  label: string;
  hash: HashName;
  /** Output size; also the preferred key size of SK_d, SK_pi, SK_pr (§2.13). */
  size: number;
}

export const PRF_ALGS: Record<number, PrfAlg> = {
  [Prf.HMAC_SHA1]: { id: Prf.HMAC_SHA1, label: 'prfsha1', hash: 'sha1', size: 20 },
  [Prf.HMAC_SHA2_256]: { id: Prf.HMAC_SHA2_256, label: 'prfsha256', hash: 'sha256', size: 32 },
  [Prf.HMAC_SHA2_384]: { id: Prf.HMAC_SHA2_384, label: 'prfsha384', hash: 'sha384', size: 48 },
  [Prf.HMAC_SHA2_512]: { id: Prf.HMAC_SHA2_512, label: 'prfsha512', hash: 'sha512', size: 64 },
};

/** What protects SK payloads in one IKE SA: an AEAD alone, or CBC plus an integrity algorithm. */
export interface SkSuite {
  encr: EncrAlg;
  integ?: IntegAlg;
}

/** Checksum length of SK for a suite. */
export const icvBytes = (s: SkSuite): number => (s.encr.aead ? s.encr.tagBytes : (s.integ?.icvBytes ?? 0));

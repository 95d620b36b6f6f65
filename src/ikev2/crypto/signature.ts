import { constants, sign, verify, type KeyObject } from 'node:crypto';
import { AuthMethod, HashAlgorithm } from '../wire/constants.js';

/**
 * Signature AUTH payloads (RFC 7296 §3.8, RFC 4754, RFC 7427) over the signed octets
 * of §2.15, with node:crypto doing the signing.
 *
 * - RSA Digital Signature (1): RSASSA-PKCS1-v1_5 with SHA-1 (the hash method 1 implies, RFC 7427 §1).
 * - ECDSA with SHA-256 on P-256 (9), SHA-384 on P-384 (10), SHA-512 on P-521 (11): the
 *   signature is r | s, each as long as the curve's order (RFC 4754 §7).
 * - Digital Signature (14, RFC 7427 §3): AUTH data = length of the AlgorithmIdentifier (1 byte) |
 *   AlgorithmIdentifier (DER) | signature; RSASSA-PSS (MGF1 with the same hash, salt = hash
 *   length) or PKCS#1 v1.5, ECDSA DER-encoded. Used when the client announced
 *   SIGNATURE_HASH_ALGORITHMS, with a hash from its list.
 */
type Hash = 'sha1' | 'sha256' | 'sha384' | 'sha512';

const HASH_OF: Record<number, Hash> = { [HashAlgorithm.SHA1]: 'sha1', [HashAlgorithm.SHA2_256]: 'sha256', [HashAlgorithm.SHA2_384]: 'sha384', [HashAlgorithm.SHA2_512]: 'sha512' };
const HASH_LEN: Record<Hash, number> = { sha1: 20, sha256: 32, sha384: 48, sha512: 64 };

// ---- a few DER objects (X.690) ----
function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, content]);
}
const seq = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
const NULL = Buffer.from([0x05, 0x00]);
const oid = (hex: string): Buffer => tlv(0x06, Buffer.from(hex, 'hex'));
const OID = {
  rsaPkcs1: { sha1: '2a864886f70d010105', sha256: '2a864886f70d01010b', sha384: '2a864886f70d01010c', sha512: '2a864886f70d01010d' } as Record<Hash, string>,
  ecdsa: { sha1: '2a8648ce3d0401', sha256: '2a8648ce3d040302', sha384: '2a8648ce3d040303', sha512: '2a8648ce3d040304' } as Record<Hash, string>,
  hash: { sha1: '2b0e03021a', sha256: '608648016503040201', sha384: '608648016503040202', sha512: '608648016503040203' } as Record<Hash, string>,
  rsaPss: '2a864886f70d01010a',
  mgf1: '2a864886f70d010108',
};

/** AlgorithmIdentifier of RFC 7427 Appendix A for a scheme and hash. */
export function algorithmIdentifier(scheme: 'rsa-pkcs1' | 'rsa-pss' | 'ecdsa', hash: Hash): Buffer {
  if (scheme === 'rsa-pkcs1') return seq(oid(OID.rsaPkcs1[hash]), NULL);
  if (scheme === 'ecdsa') return seq(oid(OID.ecdsa[hash]));
  const h = seq(oid(OID.hash[hash]), NULL);
  const params = seq(tlv(0xa0, h), tlv(0xa1, seq(oid(OID.mgf1), h)), tlv(0xa2, tlv(0x02, Buffer.from([HASH_LEN[hash]]))));
  return seq(oid(OID.rsaPss), params);
}

export interface SignerOptions {
  /** With method 14 and an RSA key: RSASSA-PSS (default) or PKCS#1 v1.5. */
  rsaPss?: boolean;
}

const CURVE_METHOD: Record<string, { method: number; hash: Hash; bytes: number }> = {
  prime256v1: { method: AuthMethod.ECDSA_SHA256_P256, hash: 'sha256', bytes: 32 },
  secp384r1: { method: AuthMethod.ECDSA_SHA384_P384, hash: 'sha384', bytes: 48 },
  secp521r1: { method: AuthMethod.ECDSA_SHA512_P521, hash: 'sha512', bytes: 66 },
};

/** The hash for method 14: the curve's own for ECDSA when announced, else our first choice among the announced. */
function pickHash(peer: number[], preferred: Hash): Hash | undefined {
  const announced = peer.map((h) => HASH_OF[h]).filter((h): h is Hash => h !== undefined && h !== 'sha1');
  if (announced.includes(preferred)) return preferred;
  return (['sha256', 'sha384', 'sha512'] as Hash[]).find((h) => announced.includes(h));
}

/**
 * Signs the octets for the AUTH payload. `peerHashes` are the client's
 * SIGNATURE_HASH_ALGORITHMS (undefined or empty: it sent none, use methods 1/9-11).
 */
export function signAuth(key: KeyObject, octets: Uint8Array, peerHashes: number[] | undefined, opts: SignerOptions = {}): { method: number; data: Buffer } {
  const type = key.asymmetricKeyType;
  const curve = type === 'ec' ? CURVE_METHOD[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (type !== 'rsa' && !curve) throw new RangeError(`no IKEv2 signature method for a ${type} key`);
  const hash = peerHashes?.length ? pickHash(peerHashes, curve?.hash ?? 'sha256') : undefined;
  if (hash) {
    if (curve) return { method: AuthMethod.DIGITAL_SIGNATURE, data: digitalSignature(algorithmIdentifier('ecdsa', hash), sign(hash, octets, { key, dsaEncoding: 'der' })) };
    if (opts.rsaPss ?? true) {
      const sig = sign(hash, octets, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] });
      return { method: AuthMethod.DIGITAL_SIGNATURE, data: digitalSignature(algorithmIdentifier('rsa-pss', hash), sig) };
    }
    return { method: AuthMethod.DIGITAL_SIGNATURE, data: digitalSignature(algorithmIdentifier('rsa-pkcs1', hash), sign(hash, octets, key)) };
  }
  if (curve) return { method: curve.method, data: sign(curve.hash, octets, { key, dsaEncoding: 'ieee-p1363' }) };
  return { method: AuthMethod.RSA_SIG, data: sign('sha1', octets, key) };
}

function digitalSignature(algId: Buffer, sig: Buffer): Buffer {
  return Buffer.concat([Buffer.from([algId.length]), algId, sig]);
}

/** Checks a signature AUTH payload (methods 1, 9-11, 14) with the peer's public key. Never throws. */
export function verifyAuth(key: KeyObject, method: number, data: Uint8Array, octets: Uint8Array): boolean {
  try {
    const type = key.asymmetricKeyType;
    const curve = type === 'ec' ? CURVE_METHOD[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
    if (method === AuthMethod.RSA_SIG) return type === 'rsa' && verify('sha1', octets, key, data);
    if (method === AuthMethod.ECDSA_SHA256_P256 || method === AuthMethod.ECDSA_SHA384_P384 || method === AuthMethod.ECDSA_SHA512_P521) {
      return !!curve && curve.method === method && data.length === 2 * curve.bytes && verify(curve.hash, octets, { key, dsaEncoding: 'ieee-p1363' }, data);
    }
    if (method !== AuthMethod.DIGITAL_SIGNATURE || data.length < 1) return false;
    const n = data[0]!;
    if (data.length < 1 + n) return false;
    const algId = Buffer.from(data.subarray(1, 1 + n));
    const sig = data.subarray(1 + n);
    for (const hash of ['sha256', 'sha384', 'sha512'] as Hash[]) {
      if (curve && algId.equals(algorithmIdentifier('ecdsa', hash))) return verify(hash, octets, { key, dsaEncoding: 'der' }, sig);
      if (type === 'rsa' && algId.equals(algorithmIdentifier('rsa-pkcs1', hash))) return verify(hash, octets, key, sig);
      if (type === 'rsa' && algId.equals(algorithmIdentifier('rsa-pss', hash))) return verify(hash, octets, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[hash] }, sig);
    }
    return false;
  } catch {
    return false;
  }
}

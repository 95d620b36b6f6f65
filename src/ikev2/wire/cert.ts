import { Reader, Writer } from '../../core/bytes.js';
import { DecodeError } from '../../core/errors.js';
import { CertEncoding } from './constants.js';

/**
 * Certificate payload (RFC 7296 §3.6) and Certificate Request payload (§3.7) share a shape:
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Cert Encoding |                                               |
 * +-+-+-+-+-+-+-+-+                                               |
 * ~       Certificate Data (CERT) / Certification Authority       ~
 * |                               (CERTREQ)                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * For X.509 Certificate - Signature (4), a CERTREQ's authority field is a
 * concatenation of SHA-1 hashes of trusted CAs' public keys (§3.7).
 */
export interface CertPayload {
  encoding: number;
  data: Buffer;
}

export type CertReqPayload = CertPayload;

export function decodeCert(body: Uint8Array): CertPayload {
  const r = new Reader(body);
  const encoding = r.u8('cert encoding');
  const data = r.copy(r.remaining, 'certificate data');
  if (data.length === 0) throw new DecodeError('empty certificate', 1, 'empty-cert');
  return { encoding, data };
}

/** CERTREQ may carry no authority (some clients send an empty one): accepted, the data is checked by certReqAuthorities. */
export function decodeCertReq(body: Uint8Array): CertReqPayload {
  const r = new Reader(body);
  const encoding = r.u8('cert encoding');
  return { encoding, data: r.copy(r.remaining, 'certification authority') };
}

export function encodeCert(c: CertPayload): Buffer {
  return new Writer(1 + c.data.length).u8(c.encoding).bytes(c.data).finish();
}
export const encodeCertReq = encodeCert;

/**
 * The 20-byte key hashes of an X.509 CERTREQ; undefined for another encoding or a
 * length that is not a multiple of 20 (the request is then ignored, not fatal).
 */
export function certReqAuthorities(c: CertReqPayload): Buffer[] | undefined {
  if (c.encoding !== CertEncoding.X509_SIGNATURE || c.data.length % 20 !== 0) return undefined;
  const out: Buffer[] = [];
  for (let i = 0; i < c.data.length; i += 20) out.push(c.data.subarray(i, i + 20));
  return out;
}

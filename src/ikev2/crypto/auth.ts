import { timingSafeEqual } from 'node:crypto';
import type { PrfAlg } from './algorithms.js';
import { prf } from './prf.js';

/**
 * AUTH payload computations (RFC 7296 §2.15, §2.16).
 *
 *   InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
 *   MACedIDForI = prf(SK_pi, RestOfInitIDPayload)
 *   ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
 *   MACedIDForR = prf(SK_pr, RestOfRespIDPayload)
 *
 * RealMessage1/2 are the IKE_SA_INIT request/response as sent; the ID "rest" is the
 * ID payload body (ID Type, RESERVED and data, without the generic header).
 *
 *   AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <InitiatorSignedOctets>)
 *
 * With EAP (§2.16) the shared secret is the MSK, or SK_pi/SK_pr when the method
 * makes no MSK.
 */
export const KEY_PAD = Buffer.from('Key Pad for IKEv2', 'ascii');

export function signedOctets(alg: PrfAlg, realMessage: Uint8Array, peerNonce: Uint8Array, skP: Uint8Array, idBody: Uint8Array): Buffer {
  return Buffer.concat([realMessage, peerNonce, prf(alg, skP, idBody)]);
}

/** The shared-key MIC (AUTH method 2, and the EAP AUTH with the MSK). */
export function sharedKeyAuth(alg: PrfAlg, sharedSecret: Uint8Array, octets: Uint8Array): Buffer {
  return prf(alg, prf(alg, sharedSecret, KEY_PAD), octets);
}

/** Constant-time check of a received shared-key AUTH. */
export function verifySharedKeyAuth(alg: PrfAlg, sharedSecret: Uint8Array, octets: Uint8Array, received: Uint8Array): boolean {
  const expected = sharedKeyAuth(alg, sharedSecret, octets);
  return received.length === expected.length && timingSafeEqual(expected, received);
}

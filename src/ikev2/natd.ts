import { digest } from '../core/oneshot.js';
import { ipv4ToBytes } from '../core/ipv4.js';
import type { Endpoint } from '../core/sa.js';

/**
 * NAT detection (RFC 7296 §2.23): NAT_DETECTION_SOURCE_IP and _DESTINATION_IP carry
 *   SHA-1(SPIi | SPIr | IP | Port)
 * with the SPIs of the message's header (SPIr is zero in the IKE_SA_INIT request).
 * The request may hold several source hashes (a multihomed initiator): one match is enough.
 */
export function natDetectionHash(spiI: Uint8Array, spiR: Uint8Array, ep: Endpoint): Buffer {
  const port = Buffer.alloc(2);
  port.writeUInt16BE(ep.port & 0xffff);
  return digest('sha1', spiI, spiR, ipv4ToBytes(ep.address), port);
}

export interface NatResult {
  /** The peer's source address was translated (its hash does not match where the packet came from). */
  peerBehindNat: boolean;
  /** Our address was translated (the peer sent to another address than the one we see). */
  weBehindNat: boolean;
  /** The peer sent NAT detection at all (if not, no NAT-T, §2.23). */
  supported: boolean;
}

export function detectNat(spiI: Uint8Array, spiR: Uint8Array, from: Endpoint, to: Endpoint, sourceHashes: Buffer[], destinationHashes: Buffer[]): NatResult {
  if (sourceHashes.length === 0 || destinationHashes.length === 0) return { peerBehindNat: false, weBehindNat: false, supported: false };
  const src = natDetectionHash(spiI, spiR, from);
  const dst = natDetectionHash(spiI, spiR, to);
  return { peerBehindNat: !sourceHashes.some((h) => h.equals(src)), weBehindNat: !destinationHashes.some((h) => h.equals(dst)), supported: true };
}

import { flat } from './flat.js';
/**
 * What IKE hands to ESP when a child (IPsec) SA comes up or goes down.
 * The only coupling between src/ike and src/esp; both import it from core.
 */
export interface Endpoint {
  address: string;
  port: number;
}

/** "address:port": for logs, status, and as a map key. */
export function endpointText(e: Endpoint): string {
  return flat(e.address, ':', e.port);
}

/** A fresh SPI for an inbound SA: unique among `inUse` (which it joins), never below 256 (RFC 4303 §2.1 reserves 1-255). */
export function freshEspSpi(random: (n: number) => Buffer, inUse: Set<number>): number {
  for (;;) {
    const spi = random(4).readUInt32BE(0);
    if (spi >= 256 && !inUse.has(spi)) {
      inUse.add(spi);
      return spi;
    }
  }
}

export type EspCipher = 'aes-cbc' | '3des-cbc' | 'aes-gcm-16';
export type EspInteg = 'hmac-sha1-96' | 'hmac-sha256-128' | 'hmac-sha384-192' | 'hmac-sha512-256' | 'hmac-md5-96' | 'none';

export interface EspTransform {
  cipher: EspCipher;
  /** Cipher key length in bits (128/192/256 for AES, 192 for 3DES). */
  keyBits: number;
  integ: EspInteg;
}

export interface EspKeys {
  spi: number;
  /** Cipher key; for AES-GCM it carries the 4-byte salt at its end (RFC 4106 §8.1). */
  encKey: Buffer;
  authKey: Buffer;
}

export interface ChildSaUp {
  type: 'child-sa-up';
  /** Stable id of this child SA (unique per daemon run). */
  id: string;
  /** Id of the IKE SA that negotiated it. */
  ikeSaId: string;
  /** The peer's outer address and port as we see them (after NAT): its identity. */
  peer: Endpoint;
  /** Where to send when that is no longer `peer` (the peer's NAT mapping changed); default `peer`. */
  remote?: Endpoint;
  /** Our address and port the peer talks to. */
  local: Endpoint;
  /** 'udp' = RFC 3948 UDP encapsulation on port 4500; 'none' = raw ESP. */
  encapsulation: 'udp' | 'none';
  /**
   * RFC 4303 §3.1: 'transport' (default; IKEv1 + L2TP: the inner packet is a UDP datagram to
   * port 1701) or 'tunnel' (IKEv2: the inner packet is a whole IPv4 packet for the TUN).
   */
  mode?: 'transport' | 'tunnel';
  transform: EspTransform;
  /** Keys for packets we receive (our SPI) and packets we send (the peer's SPI). */
  inbound: EspKeys;
  outbound: EspKeys;
  /** Lifetime in seconds agreed in Quick Mode. */
  lifetimeSeconds: number;
  /** NAT-OA of the peer (its original address) when it sent one. */
  peerOriginalAddress?: string;
  /** The peer's identity from Phase 1, for logs and status. */
  peerId?: string;
  /** Human-readable algorithm names for status ("aes128-sha1-modp1024"). */
  ikeAlgorithms?: string;
}

export interface ChildSaDown {
  type: 'child-sa-down';
  id: string;
  inboundSpi: number;
  reason: string;
}

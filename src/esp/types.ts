/**
 * The ESP engine's public input/output types (the API contract; engine.ts
 * re-exports them).
 */
import type { LogEvent } from '../core/log.js';
import type { Endpoint } from '../core/sa.js';

export interface EspInbound {
  /** One ESP-in-UDP datagram (no marker; first 4 bytes = SPI). */
  data: Uint8Array;
  from: Endpoint;
}
/** Transport mode: the inner UDP payload (L2TP bytes, a view) of an authenticated packet. */
export interface EspDelivered {
  kind: 'l2tp';
  saId: string;
  peer: Endpoint;
  innerSrcPort: number;
  payload: Uint8Array;
}
/**
 * Tunnel mode: the inner IPv4 packet (a view, TFC padding trimmed) of an
 * authenticated packet, for the TUN. Only its form is checked: whether its
 * source is the session's virtual IP is the caller's check.
 */
export interface EspIpv4Delivered {
  kind: 'ipv4';
  saId: string;
  peer: Endpoint;
  packet: Uint8Array;
}
/**
 * Transport SA: `head` + `payload` go in a UDP datagram to `innerDstPort`.
 * Tunnel SA: `payload` is one whole IPv4 packet (Total Length = its length),
 * sent with Next Header 4; `innerDstPort` is ignored and `head` must be absent.
 */
export interface EspOutbound {
  saId: string;
  innerDstPort: number;
  /** Bytes that go in front of `payload` (e.g. the L2TP and PPP headers), so neither is copied to join them. */
  head?: Uint8Array;
  payload: Uint8Array;
}
/** The UDP payload to send from our port 4500. */
export interface EspSend {
  to: Endpoint;
  data: Buffer;
}
export type EspEvent =
  | LogEvent
  | { type: 'rekey-needed'; saId: string }
  /** The newest authenticated packet of the SA came from another outer endpoint (the peer's NAT mapping changed): every SA of `peer` now sends to `observed`. */
  | { type: 'peer-moved'; saId: string; peer: Endpoint; observed: Endpoint };

export interface EspSaStats {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
}

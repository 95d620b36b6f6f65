import { Reader } from '../core/bytes.js';
import { DecodeError } from '../core/errors.js';
import { bytesToIPv4 } from '../core/ipv4.js';
import type { Endpoint } from '../core/sa.js';
import { detectNat, natDetectionHash, type NatResult } from './natd.js';
import { NotifyType, PayloadType } from './wire/constants.js';
import type { Payload } from './wire/message.js';
import { notify, type NotifyPayload } from './wire/notify.js';

/**
 * MOBIKE (RFC 4555) notification data, pure codecs.
 *
 * NO_NATS_ALLOWED (§4.2.2): the addresses and ports the sender used, IPv4:
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                      Source IPv4 address                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   Destination IPv4 address                    |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |          Source port          |       Destination port        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * (IPv6: 16 + 16 + 2 + 2 octets; we only serve IPv4, so it can never match.)
 *
 * ADDITIONAL_IP4_ADDRESS (§4.2.1): 4 octets; ADDITIONAL_IP6_ADDRESS: 16.
 * COOKIE2 (§4.2.3, RFC 7296 §3.10.1): 8 to 64 octets, copied into the response.
 */
export interface SentPath {
  family: 4 | 6;
  /** Dotted quad for IPv4, hex for IPv6. */
  source: string;
  destination: string;
  sourcePort: number;
  destinationPort: number;
}

const hex6 = (b: Buffer): string => b.toString('hex');

export function decodeNoNatsAllowed(data: Uint8Array): SentPath {
  const r = new Reader(data);
  if (data.length !== 12 && data.length !== 36) throw new DecodeError(`NO_NATS_ALLOWED of ${data.length} octets (12 or 36)`, 0, 'no-nats-length');
  const n = data.length === 12 ? 4 : 16;
  const src = r.copy(n, 'no-nats source');
  const dst = r.copy(n, 'no-nats destination');
  const sourcePort = r.u16('no-nats source port');
  const destinationPort = r.u16('no-nats destination port');
  return n === 4
    ? { family: 4, source: bytesToIPv4(src), destination: bytesToIPv4(dst), sourcePort, destinationPort }
    : { family: 6, source: hex6(src), destination: hex6(dst), sourcePort, destinationPort };
}

/** Whether the path the sender put in NO_NATS_ALLOWED is the one the packet arrived on (no translation in between). */
export function samePath(p: SentPath, from: Endpoint, to: Endpoint): boolean {
  return p.family === 4 && p.source === from.address && p.destination === to.address && p.sourcePort === from.port && p.destinationPort === to.port;
}

/** An ADDITIONAL_IP4_ADDRESS (4 octets, dotted quad) or ADDITIONAL_IP6_ADDRESS (16 octets, hex). */
export function decodeAdditionalAddress(type: number, data: Uint8Array): string {
  const want = type === NotifyType.ADDITIONAL_IP4_ADDRESS ? 4 : 16;
  if (data.length !== want) throw new DecodeError(`additional address of ${data.length} octets (${want})`, 0, 'additional-address-length');
  return want === 4 ? bytesToIPv4(data) : hex6(Buffer.from(data));
}

export const COOKIE2_MIN = 8;
export const COOKIE2_MAX = 64;
/** The peer addresses kept per IKE SA (strongSwan keeps 8 as well); the rest is ignored. */
export const MAX_PEER_ADDRESSES = 8;

/** What the MOBIKE notifies of one INFORMATIONAL request say. Never throws: a malformed one is reported in `malformed`. */
export interface MobikeRequest {
  update: boolean;
  /** COOKIE2 to copy into the response (when 8-64 octets). */
  cookie2?: Buffer;
  /** NO_NATS_ALLOWED, when present and well-formed. */
  noNats?: SentPath;
  natSource: Buffer[];
  natDestination: Buffer[];
  /** ADDITIONAL_*_ADDRESS (at most MAX_PEER_ADDRESSES); undefined when none was sent. */
  additional?: string[];
  noAdditional: boolean;
  /** Reasons of notifies that were malformed (counted; a malformed NO_NATS_ALLOWED refuses the update). */
  malformed: string[];
}

export function readMobike(ns: NotifyPayload[]): MobikeRequest {
  const m: MobikeRequest = { update: false, natSource: [], natDestination: [], noAdditional: false, malformed: [] };
  for (const n of ns) {
    switch (n.type) {
      case NotifyType.UPDATE_SA_ADDRESSES:
        m.update = true;
        break;
      case NotifyType.COOKIE2:
        if (n.data.length >= COOKIE2_MIN && n.data.length <= COOKIE2_MAX) m.cookie2 = n.data;
        else m.malformed.push('cookie2-length');
        break;
      case NotifyType.NO_NATS_ALLOWED:
        try {
          m.noNats = decodeNoNatsAllowed(n.data);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          m.malformed.push(e.reason);
        }
        break;
      case NotifyType.NAT_DETECTION_SOURCE_IP:
        if (m.natSource.length < 16) m.natSource.push(n.data);
        break;
      case NotifyType.NAT_DETECTION_DESTINATION_IP:
        if (m.natDestination.length < 16) m.natDestination.push(n.data);
        break;
      case NotifyType.ADDITIONAL_IP4_ADDRESS:
      case NotifyType.ADDITIONAL_IP6_ADDRESS:
        try {
          const a = decodeAdditionalAddress(n.type, n.data);
          m.additional ??= [];
          if (m.additional.length < MAX_PEER_ADDRESSES) m.additional.push(a);
        } catch (e) {
          if (!(e instanceof DecodeError)) throw e;
          m.malformed.push(e.reason);
        }
        break;
      case NotifyType.NO_ADDITIONAL_ADDRESSES:
        m.noAdditional = true;
        break;
    }
  }
  return m;
}

/** What the responder does with the MOBIKE part of an INFORMATIONAL request. */
export interface MobikeDecision {
  /** For the response: our NAT detection for this path, COOKIE2 copied, UNEXPECTED_NAT_DETECTED. */
  payloads: Payload[];
  /** UPDATE_SA_ADDRESSES accepted: the IKE SA and its children move to the request's path. */
  move: boolean;
  /** UPDATE_SA_ADDRESSES refused (why, for the log). */
  refused?: string;
  /** NAT detection on this path, when the request carried it. */
  nat?: NatResult;
}

/**
 * RFC 4555 §3.5, §3.9 and RFC 7296 §2.23 for one authenticated, in-window INFORMATIONAL
 * request of an IKE SA (SPIs of its header) that came from `from` to `to`. Nothing of
 * MOBIKE is looked at unless it was negotiated. NAT detection is answered with our
 * hashes for this path (the source one faked when encapsulation is forced, as in
 * IKE_SA_INIT), so a client behind a NAT sees when its mapping changed; COOKIE2 is
 * copied; NO_NATS_ALLOWED that does not describe the path the packet came on (or that
 * is malformed) refuses the update with UNEXPECTED_NAT_DETECTED.
 */
export function mobikeAnswer(
  spiI: Uint8Array,
  spiR: Uint8Array,
  negotiated: boolean,
  m: MobikeRequest,
  from: Endpoint,
  to: Endpoint,
  forceEncapsulation: boolean,
  random: (n: number) => Buffer,
): MobikeDecision {
  const d: MobikeDecision = { payloads: [], move: false };
  if (!negotiated) return d;
  if (m.natSource.length > 0 && m.natDestination.length > 0) {
    d.nat = detectNat(spiI, spiR, from, to, m.natSource, m.natDestination);
    const ourSource = forceEncapsulation ? random(20) : natDetectionHash(spiI, spiR, to);
    d.payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_SOURCE_IP, ourSource) });
    d.payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(spiI, spiR, from)) });
  }
  if (m.update) {
    const badNoNats = m.malformed.find((r) => r.startsWith('no-nats'));
    if (badNoNats) d.refused = 'malformed NO_NATS_ALLOWED';
    else if (m.noNats && !samePath(m.noNats, from, to)) d.refused = `NO_NATS_ALLOWED, but the request was sent ${m.noNats.source}:${m.noNats.sourcePort} -> ${m.noNats.destination}:${m.noNats.destinationPort}`;
    if (d.refused) d.payloads.push({ type: PayloadType.N, value: notify(NotifyType.UNEXPECTED_NAT_DETECTED) });
    else d.move = true;
  }
  if (m.cookie2) d.payloads.push({ type: PayloadType.N, value: notify(NotifyType.COOKIE2, m.cookie2) });
  return d;
}

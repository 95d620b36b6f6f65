import { encodeAvps } from './avp.js';
import {
  avpBytes,
  avpMessageType,
  avpProtocolVersion,
  avpResultCode,
  avpString,
  avpU16,
  avpU32,
} from './attributes.js';
import { AvpType, FRAMING_ASYNC, FRAMING_SYNC, MessageType } from './constants.js';
import { encodeHeader } from './header.js';

/** Builders for the AVP payloads the LNS sends (RFC 2661 §6). */

export const VENDOR_NAME = 'l2tpsec';
/** Firmware Revision we announce (RFC 2661 §4.4.3): 0.1 → 0x0001. */
export const FIRMWARE_REVISION = 0x0001;

export interface SccrpParams {
  hostName: string;
  assignedTunnelId: number;
  receiveWindowSize: number;
  /** MD5(2 | secret | peer's challenge) when the SCCRQ carried a Challenge. */
  challengeResponse?: Uint8Array;
  /** Our challenge when a tunnel secret is configured. */
  challenge?: Uint8Array;
}

/** SCCRP, RFC 2661 §6.2. */
export function buildSccrp(p: SccrpParams): Buffer {
  const avps = [
    avpMessageType(MessageType.SCCRP),
    avpProtocolVersion(1, 0),
    avpU32(AvpType.FramingCapabilities, FRAMING_SYNC | FRAMING_ASYNC),
    // An LNS places no outgoing calls: no bearer capabilities.
    avpU32(AvpType.BearerCapabilities, 0),
    avpU16(AvpType.FirmwareRevision, FIRMWARE_REVISION, false),
    avpString(AvpType.HostName, p.hostName),
    avpString(AvpType.VendorName, VENDOR_NAME, false),
    avpU16(AvpType.AssignedTunnelId, p.assignedTunnelId),
    avpU16(AvpType.ReceiveWindowSize, p.receiveWindowSize),
  ];
  if (p.challengeResponse) avps.push(avpBytes(AvpType.ChallengeResponse, p.challengeResponse));
  if (p.challenge) avps.push(avpBytes(AvpType.Challenge, p.challenge));
  return encodeAvps(avps);
}

/** StopCCN, RFC 2661 §6.4. */
export function buildStopCcn(assignedTunnelId: number, result: number, error?: number, message?: string): Buffer {
  return encodeAvps([
    avpMessageType(MessageType.StopCCN),
    avpU16(AvpType.AssignedTunnelId, assignedTunnelId),
    avpResultCode(result, error, message),
  ]);
}

/** HELLO, RFC 2661 §6.5. */
export function buildHello(): Buffer {
  return encodeAvps([avpMessageType(MessageType.HELLO)]);
}

/** ICRP, RFC 2661 §6.11. */
export function buildIcrp(assignedSessionId: number): Buffer {
  return encodeAvps([avpMessageType(MessageType.ICRP), avpU16(AvpType.AssignedSessionId, assignedSessionId)]);
}

/** CDN, RFC 2661 §6.13. */
export function buildCdn(assignedSessionId: number, result: number, error?: number, message?: string): Buffer {
  return encodeAvps([
    avpMessageType(MessageType.CDN),
    avpResultCode(result, error, message),
    avpU16(AvpType.AssignedSessionId, assignedSessionId),
  ]);
}

/** A one-off control datagram outside any channel (a StopCCN answering a refused SCCRQ). */
export function buildStandalone(peerTunnelId: number, sessionId: number, ns: number, nr: number, avps: Uint8Array): Buffer {
  return encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: peerTunnelId, sessionId, ns, nr }, avps);
}

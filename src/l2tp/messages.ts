import { encodeAvps } from './avp.js';
import { avp, avpMessageType, avpResultCode } from './attributes.js';
import { FRAMING_ASYNC, FRAMING_SYNC, MessageType } from './constants.js';
import { encodeHeader } from './header.js';

/**
 * Builders for the AVP payloads the LNS sends (RFC 2661 §6). Each AVP is
 * named by its ControlAttributes field; its type, layout and M bit come
 * from AVP_TABLE (constants.ts).
 */

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
    avp('protocolVersion', { version: 1, revision: 0 }),
    avp('framingCapabilities', FRAMING_SYNC | FRAMING_ASYNC),
    // An LNS places no outgoing calls: no bearer capabilities.
    avp('bearerCapabilities', 0),
    avp('firmwareRevision', FIRMWARE_REVISION),
    avp('hostName', p.hostName),
    avp('vendorName', VENDOR_NAME),
    avp('assignedTunnelId', p.assignedTunnelId),
    avp('receiveWindowSize', p.receiveWindowSize),
  ];
  if (p.challengeResponse) avps.push(avp('challengeResponse', p.challengeResponse));
  if (p.challenge) avps.push(avp('challenge', p.challenge));
  return encodeAvps(avps);
}

/** StopCCN, RFC 2661 §6.4. */
export function buildStopCcn(assignedTunnelId: number, result: number, error?: number, message?: string): Buffer {
  return encodeAvps([
    avpMessageType(MessageType.StopCCN),
    avp('assignedTunnelId', assignedTunnelId),
    avpResultCode(result, error, message),
  ]);
}

/** HELLO, RFC 2661 §6.5. */
export function buildHello(): Buffer {
  return encodeAvps([avpMessageType(MessageType.HELLO)]);
}

/** ICRP, RFC 2661 §6.11. */
export function buildIcrp(assignedSessionId: number): Buffer {
  return encodeAvps([avpMessageType(MessageType.ICRP), avp('assignedSessionId', assignedSessionId)]);
}

/** CDN, RFC 2661 §6.13. */
export function buildCdn(assignedSessionId: number, result: number, error?: number, message?: string): Buffer {
  return encodeAvps([
    avpMessageType(MessageType.CDN),
    avpResultCode(result, error, message),
    avp('assignedSessionId', assignedSessionId),
  ]);
}

/** A one-off control datagram outside any channel (a StopCCN answering a refused SCCRQ). */
export function buildStandalone(peerTunnelId: number, sessionId: number, ns: number, nr: number, avps: Uint8Array): Buffer {
  return encodeHeader({ isControl: true, hasLength: true, hasSequence: true, tunnelId: peerTunnelId, sessionId, ns, nr }, avps);
}

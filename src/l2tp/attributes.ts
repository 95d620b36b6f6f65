import { DecodeError, Reader } from '../core/index.js';
import { type Avp, type AvpSpec, decodeAvps } from './avp.js';
import { AvpType, isKnownAvpType } from './constants.js';

/** Result Code AVP value, RFC 2661 §4.4.2: result, optional error code, optional message. */
export interface ResultCode {
  result: number;
  error?: number;
  message?: string;
}

/** Q.931 Cause Code AVP value, RFC 2661 §4.4.6. */
export interface Q931Cause {
  cause: number;
  msg: number;
  advisory?: string;
}

/** Call Errors AVP, RFC 2661 §4.4.6 (WEN). */
export interface CallErrors {
  crcErrors: number;
  framingErrors: number;
  hardwareOverruns: number;
  bufferOverruns: number;
  timeoutErrors: number;
  alignmentErrors: number;
}

/** The typed AVPs of one control message (RFC 2661 §4.4); absent when not carried. */
export interface ControlAttributes {
  resultCode?: ResultCode;
  protocolVersion?: { version: number; revision: number };
  framingCapabilities?: number;
  bearerCapabilities?: number;
  tieBreaker?: Uint8Array;
  firmwareRevision?: number;
  hostName?: string;
  vendorName?: string;
  assignedTunnelId?: number;
  receiveWindowSize?: number;
  challenge?: Uint8Array;
  q931Cause?: Q931Cause;
  challengeResponse?: Uint8Array;
  assignedSessionId?: number;
  callSerialNumber?: number;
  minimumBps?: number;
  maximumBps?: number;
  bearerType?: number;
  framingType?: number;
  calledNumber?: string;
  callingNumber?: string;
  subAddress?: string;
  txConnectSpeed?: number;
  rxConnectSpeed?: number;
  physicalChannelId?: number;
  randomVector?: Uint8Array;
  privateGroupId?: Uint8Array;
  sequencingRequired?: boolean;
  accm?: { send: number; receive: number };
  callErrors?: CallErrors;
}

export interface ControlMessage {
  messageType: number;
  /** M bit of the Message Type AVP: an unknown type with M set clears the tunnel (§4.4.1). */
  messageTypeMandatory: boolean;
  avps: Avp[];
  attrs: ControlAttributes;
  /** The first unrecognised AVP with the M bit set (vendor ≠ 0, reserved bits set, or unknown type). */
  unknownMandatory?: Avp;
}

function str(v: Uint8Array): string {
  return Buffer.from(v.buffer, v.byteOffset, v.length).toString('latin1');
}

function exact(a: Avp, n: number): Reader {
  if (a.value.length !== n) {
    throw new DecodeError(`AVP type ${a.type} value of ${a.value.length} bytes, expected ${n}`, a.offset, 'avp-value-length');
  }
  return new Reader(a.value);
}

function atLeast(a: Avp, n: number): Reader {
  if (a.value.length < n) {
    throw new DecodeError(`AVP type ${a.type} value of ${a.value.length} bytes, expected at least ${n}`, a.offset, 'avp-value-length');
  }
  return new Reader(a.value);
}

/** Decode a Result Code value: 2 bytes (result only: the 8-byte AVP, xl2tpd #175), 4, or more with a message. */
export function decodeResultCode(a: Avp): ResultCode {
  const r = atLeast(a, 2);
  const rc: ResultCode = { result: r.u16('result') };
  if (r.remaining === 1) throw new DecodeError('Result Code with a 1-byte error code', a.offset, 'avp-value-length');
  if (r.remaining >= 2) rc.error = r.u16('error');
  if (r.remaining > 0) rc.message = str(r.rest());
  return rc;
}

/** Fill `attrs` from one recognised IETF AVP (RFC 2661 §4.4). Throws DecodeError on a wrong value length. */
function decodeAttribute(a: Avp, attrs: ControlAttributes): void {
  switch (a.type) {
    case AvpType.ResultCode:
      attrs.resultCode = decodeResultCode(a);
      break;
    case AvpType.ProtocolVersion: {
      const r = exact(a, 2);
      attrs.protocolVersion = { version: r.u8(), revision: r.u8() };
      break;
    }
    case AvpType.FramingCapabilities:
      attrs.framingCapabilities = exact(a, 4).u32();
      break;
    case AvpType.BearerCapabilities:
      attrs.bearerCapabilities = exact(a, 4).u32();
      break;
    case AvpType.TieBreaker:
      attrs.tieBreaker = exact(a, 8).rest();
      break;
    case AvpType.FirmwareRevision:
      attrs.firmwareRevision = exact(a, 2).u16();
      break;
    case AvpType.HostName:
      attrs.hostName = str(a.value);
      break;
    case AvpType.VendorName:
      attrs.vendorName = str(a.value);
      break;
    case AvpType.AssignedTunnelId:
      attrs.assignedTunnelId = exact(a, 2).u16();
      break;
    case AvpType.ReceiveWindowSize:
      attrs.receiveWindowSize = exact(a, 2).u16();
      break;
    case AvpType.Challenge:
      attrs.challenge = atLeast(a, 1).rest();
      break;
    case AvpType.Q931CauseCode: {
      const r = atLeast(a, 3);
      const q: Q931Cause = { cause: r.u16(), msg: r.u8() };
      if (r.remaining > 0) q.advisory = str(r.rest());
      attrs.q931Cause = q;
      break;
    }
    case AvpType.ChallengeResponse:
      attrs.challengeResponse = exact(a, 16).rest();
      break;
    case AvpType.AssignedSessionId:
      attrs.assignedSessionId = exact(a, 2).u16();
      break;
    case AvpType.CallSerialNumber:
      attrs.callSerialNumber = exact(a, 4).u32();
      break;
    case AvpType.MinimumBps:
      attrs.minimumBps = exact(a, 4).u32();
      break;
    case AvpType.MaximumBps:
      attrs.maximumBps = exact(a, 4).u32();
      break;
    case AvpType.BearerType:
      attrs.bearerType = exact(a, 4).u32();
      break;
    case AvpType.FramingType:
      attrs.framingType = exact(a, 4).u32();
      break;
    case AvpType.CalledNumber:
      attrs.calledNumber = str(a.value);
      break;
    case AvpType.CallingNumber:
      attrs.callingNumber = str(a.value);
      break;
    case AvpType.SubAddress:
      attrs.subAddress = str(a.value);
      break;
    case AvpType.TxConnectSpeed:
      attrs.txConnectSpeed = exact(a, 4).u32();
      break;
    case AvpType.RxConnectSpeed:
      attrs.rxConnectSpeed = exact(a, 4).u32();
      break;
    case AvpType.PhysicalChannelId:
      attrs.physicalChannelId = exact(a, 4).u32();
      break;
    case AvpType.RandomVector:
      attrs.randomVector = a.value;
      break;
    case AvpType.PrivateGroupId:
      attrs.privateGroupId = a.value;
      break;
    case AvpType.SequencingRequired:
      exact(a, 0);
      attrs.sequencingRequired = true;
      break;
    case AvpType.Accm: {
      const r = exact(a, 10);
      r.skip(2, 'reserved');
      attrs.accm = { send: r.u32(), receive: r.u32() };
      break;
    }
    case AvpType.CallErrors: {
      const r = exact(a, 26);
      r.skip(2, 'reserved');
      attrs.callErrors = {
        crcErrors: r.u32(),
        framingErrors: r.u32(),
        hardwareOverruns: r.u32(),
        bufferOverruns: r.u32(),
        timeoutErrors: r.u32(),
        alignmentErrors: r.u32(),
      };
      break;
    }
    default:
      // Recognised but not used by an LNS: LCP CONFREQ copies and the proxy
      // authentication AVPs (§4.4.5) are ignored; we always renegotiate LCP
      // and authenticate ourselves.
      break;
  }
}

/**
 * Decode a control message payload (the AVPs after the header). Returns
 * null for a ZLB (no AVPs, RFC 2661 §5.8). The Message Type AVP must come
 * first (§4.4.1). Vendor AVPs (vendor ≠ 0) are never read as IETF types
 * (xl2tpd #163). Throws DecodeError.
 */
export function decodeControlMessage(payload: Uint8Array, secret?: Uint8Array): ControlMessage | null {
  const avps = decodeAvps(payload, secret);
  const first = avps[0];
  if (first === undefined) return null;
  if (first.vendorId !== 0 || first.type !== AvpType.MessageType || first.reserved !== 0) {
    throw new DecodeError('Message Type is not the first AVP', first.offset, 'message-type-not-first');
  }
  const messageType = exact(first, 2).u16();
  const msg: ControlMessage = { messageType, messageTypeMandatory: first.mandatory, avps, attrs: {} };
  for (let i = 1; i < avps.length; i++) {
    const a = avps[i]!;
    const recognised = a.reserved === 0 && isKnownAvpType(a.vendorId, a.type) && a.type !== AvpType.MessageType;
    if (!recognised) {
      if (a.mandatory && msg.unknownMandatory === undefined) msg.unknownMandatory = a;
      continue;
    }
    decodeAttribute(a, msg.attrs);
  }
  return msg;
}

// ---- builders for outgoing AVPs (RFC 2661 §4.4) ----

export function avpU16(type: number, v: number, mandatory = true): AvpSpec {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v & 0xffff);
  return { type, value: b, mandatory };
}

export function avpU32(type: number, v: number, mandatory = true): AvpSpec {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return { type, value: b, mandatory };
}

export function avpString(type: number, s: string, mandatory = true): AvpSpec {
  return { type, value: Buffer.from(s, 'latin1'), mandatory };
}

export function avpBytes(type: number, v: Uint8Array, mandatory = true): AvpSpec {
  return { type, value: v, mandatory };
}

export function avpMessageType(t: number): AvpSpec {
  return avpU16(AvpType.MessageType, t, true);
}

/** Result Code AVP: result only (2 bytes), or with error code and optional message. */
export function avpResultCode(result: number, error?: number, message?: string): AvpSpec {
  const msg = message === undefined ? Buffer.alloc(0) : Buffer.from(message, 'latin1').subarray(0, 1000);
  const hasError = error !== undefined || msg.length > 0;
  const b = Buffer.alloc(2 + (hasError ? 2 : 0) + msg.length);
  b.writeUInt16BE(result & 0xffff, 0);
  if (hasError) b.writeUInt16BE((error ?? 0) & 0xffff, 2);
  if (msg.length > 0) b.set(msg, 4);
  return { type: AvpType.ResultCode, value: b, mandatory: true };
}

export function avpProtocolVersion(version = 1, revision = 0): AvpSpec {
  return { type: AvpType.ProtocolVersion, value: Uint8Array.of(version, revision), mandatory: true };
}

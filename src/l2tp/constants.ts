/**
 * L2TPv2 numbers (RFC 2661) with name tables so logs read well.
 */

/** Control message types, RFC 2661 §3.2. */
export const MessageType = {
  SCCRQ: 1,
  SCCRP: 2,
  SCCCN: 3,
  StopCCN: 4,
  HELLO: 6,
  OCRQ: 7,
  OCRP: 8,
  OCCN: 9,
  ICRQ: 10,
  ICRP: 11,
  ICCN: 12,
  CDN: 14,
  WEN: 15,
  SLI: 16,
} as const;

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: 'SCCRQ',
  2: 'SCCRP',
  3: 'SCCCN',
  4: 'StopCCN',
  6: 'HELLO',
  7: 'OCRQ',
  8: 'OCRP',
  9: 'OCCN',
  10: 'ICRQ',
  11: 'ICRP',
  12: 'ICCN',
  14: 'CDN',
  15: 'WEN',
  16: 'SLI',
};

export function messageTypeName(t: number): string {
  return MESSAGE_TYPE_NAMES[t] ?? `type-${t}`;
}

/** Messages that belong to the control connection (the rest are session messages), RFC 2661 §3.2. */
export function isControlConnectionMessage(t: number): boolean {
  return t === MessageType.SCCRQ || t === MessageType.SCCRP || t === MessageType.SCCCN || t === MessageType.StopCCN || t === MessageType.HELLO;
}

/**
 * How an AVP value is laid out on the wire (RFC 2661 §4.4): the codec of
 * each kind is in attributes.ts. `ignored` AVPs are recognised (no Unknown
 * Mandatory AVP) but not read: an LNS always renegotiates LCP and
 * authenticates itself, so the LCP CONFREQ copies and the proxy
 * authentication AVPs (§4.4.5) carry nothing it uses.
 */
export type AvpKind =
  | 'u16'
  | 'u32'
  | 'string'
  | 'bytes'
  | 'flag'
  | 'version'
  | 'result'
  | 'q931'
  | 'accm'
  | 'callErrors'
  | 'ignored';

/** Value length rule: exactly n bytes, at least `min` bytes, or any length when absent. */
export type AvpLength = number | { readonly min: number } | undefined;

/** One IETF attribute (Vendor ID 0). */
export interface AvpDef {
  /** Attribute Type on the wire. */
  readonly type: number;
  /** Key in AvpType. */
  readonly id: string;
  /** RFC 2661 name, for logs. */
  readonly name: string;
  readonly kind: AvpKind;
  readonly length: AvpLength;
  /** Field of ControlAttributes the decoded value goes to; absent when not stored. */
  readonly attr?: string;
  /**
   * M bit the encoder sets by default. Only Firmware Revision and Vendor
   * Name go out with M=0 (RFC 2661 §4.4.3 leaves those two to the sender).
   */
  readonly mandatory: boolean;
}

/**
 * Every IETF attribute type of RFC 2661 §4.4 (20 is reserved). This one table
 * drives the AvpType numbers, the names in logs, which types are recognised,
 * how a value is checked and decoded into ControlAttributes, and how one is
 * encoded (attributes.ts).
 */
export const AVP_TABLE = [
  { type: 0, id: 'MessageType', name: 'Message Type', kind: 'u16', length: 2, mandatory: true },
  { type: 1, id: 'ResultCode', name: 'Result Code', kind: 'result', length: { min: 2 }, attr: 'resultCode', mandatory: true },
  { type: 2, id: 'ProtocolVersion', name: 'Protocol Version', kind: 'version', length: 2, attr: 'protocolVersion', mandatory: true },
  { type: 3, id: 'FramingCapabilities', name: 'Framing Capabilities', kind: 'u32', length: 4, attr: 'framingCapabilities', mandatory: true },
  { type: 4, id: 'BearerCapabilities', name: 'Bearer Capabilities', kind: 'u32', length: 4, attr: 'bearerCapabilities', mandatory: true },
  { type: 5, id: 'TieBreaker', name: 'Tie Breaker', kind: 'bytes', length: 8, attr: 'tieBreaker', mandatory: true },
  { type: 6, id: 'FirmwareRevision', name: 'Firmware Revision', kind: 'u16', length: 2, attr: 'firmwareRevision', mandatory: false },
  { type: 7, id: 'HostName', name: 'Host Name', kind: 'string', length: undefined, attr: 'hostName', mandatory: true },
  { type: 8, id: 'VendorName', name: 'Vendor Name', kind: 'string', length: undefined, attr: 'vendorName', mandatory: false },
  { type: 9, id: 'AssignedTunnelId', name: 'Assigned Tunnel ID', kind: 'u16', length: 2, attr: 'assignedTunnelId', mandatory: true },
  { type: 10, id: 'ReceiveWindowSize', name: 'Receive Window Size', kind: 'u16', length: 2, attr: 'receiveWindowSize', mandatory: true },
  { type: 11, id: 'Challenge', name: 'Challenge', kind: 'bytes', length: { min: 1 }, attr: 'challenge', mandatory: true },
  { type: 12, id: 'Q931CauseCode', name: 'Q.931 Cause Code', kind: 'q931', length: { min: 3 }, attr: 'q931Cause', mandatory: true },
  { type: 13, id: 'ChallengeResponse', name: 'Challenge Response', kind: 'bytes', length: 16, attr: 'challengeResponse', mandatory: true },
  { type: 14, id: 'AssignedSessionId', name: 'Assigned Session ID', kind: 'u16', length: 2, attr: 'assignedSessionId', mandatory: true },
  { type: 15, id: 'CallSerialNumber', name: 'Call Serial Number', kind: 'u32', length: 4, attr: 'callSerialNumber', mandatory: true },
  { type: 16, id: 'MinimumBps', name: 'Minimum BPS', kind: 'u32', length: 4, attr: 'minimumBps', mandatory: true },
  { type: 17, id: 'MaximumBps', name: 'Maximum BPS', kind: 'u32', length: 4, attr: 'maximumBps', mandatory: true },
  { type: 18, id: 'BearerType', name: 'Bearer Type', kind: 'u32', length: 4, attr: 'bearerType', mandatory: true },
  { type: 19, id: 'FramingType', name: 'Framing Type', kind: 'u32', length: 4, attr: 'framingType', mandatory: true },
  { type: 21, id: 'CalledNumber', name: 'Called Number', kind: 'string', length: undefined, attr: 'calledNumber', mandatory: true },
  { type: 22, id: 'CallingNumber', name: 'Calling Number', kind: 'string', length: undefined, attr: 'callingNumber', mandatory: true },
  { type: 23, id: 'SubAddress', name: 'Sub-Address', kind: 'string', length: undefined, attr: 'subAddress', mandatory: true },
  { type: 24, id: 'TxConnectSpeed', name: '(Tx) Connect Speed', kind: 'u32', length: 4, attr: 'txConnectSpeed', mandatory: true },
  { type: 25, id: 'PhysicalChannelId', name: 'Physical Channel ID', kind: 'u32', length: 4, attr: 'physicalChannelId', mandatory: true },
  { type: 26, id: 'InitialReceivedLcpConfReq', name: 'Initial Received LCP CONFREQ', kind: 'ignored', length: undefined, mandatory: true },
  { type: 27, id: 'LastSentLcpConfReq', name: 'Last Sent LCP CONFREQ', kind: 'ignored', length: undefined, mandatory: true },
  { type: 28, id: 'LastReceivedLcpConfReq', name: 'Last Received LCP CONFREQ', kind: 'ignored', length: undefined, mandatory: true },
  { type: 29, id: 'ProxyAuthenType', name: 'Proxy Authen Type', kind: 'ignored', length: undefined, mandatory: true },
  { type: 30, id: 'ProxyAuthenName', name: 'Proxy Authen Name', kind: 'ignored', length: undefined, mandatory: true },
  { type: 31, id: 'ProxyAuthenChallenge', name: 'Proxy Authen Challenge', kind: 'ignored', length: undefined, mandatory: true },
  { type: 32, id: 'ProxyAuthenId', name: 'Proxy Authen ID', kind: 'ignored', length: undefined, mandatory: true },
  { type: 33, id: 'ProxyAuthenResponse', name: 'Proxy Authen Response', kind: 'ignored', length: undefined, mandatory: true },
  { type: 34, id: 'CallErrors', name: 'Call Errors', kind: 'callErrors', length: 26, attr: 'callErrors', mandatory: true },
  { type: 35, id: 'Accm', name: 'ACCM', kind: 'accm', length: 10, attr: 'accm', mandatory: true },
  { type: 36, id: 'RandomVector', name: 'Random Vector', kind: 'bytes', length: undefined, attr: 'randomVector', mandatory: true },
  { type: 37, id: 'PrivateGroupId', name: 'Private Group ID', kind: 'bytes', length: undefined, attr: 'privateGroupId', mandatory: true },
  { type: 38, id: 'RxConnectSpeed', name: 'Rx Connect Speed', kind: 'u32', length: 4, attr: 'rxConnectSpeed', mandatory: true },
  { type: 39, id: 'SequencingRequired', name: 'Sequencing Required', kind: 'flag', length: 0, attr: 'sequencingRequired', mandatory: true },
] as const satisfies readonly AvpDef[];

export type AvpEntry = (typeof AVP_TABLE)[number];

/** IETF attribute types (Vendor ID 0), RFC 2661 §4.4, from AVP_TABLE. */
export const AvpType = Object.fromEntries(AVP_TABLE.map((d) => [d.id, d.type])) as {
  readonly [E in AvpEntry as E['id']]: E['type'];
};

const AVP_BY_TYPE: ReadonlyMap<number, AvpDef> = new Map(AVP_TABLE.map((d) => [d.type, d]));

/** The table entry of an IETF attribute type, or undefined when not recognised (vendor AVPs never are). */
export function avpDef(vendorId: number, type: number): AvpDef | undefined {
  return vendorId === 0 ? AVP_BY_TYPE.get(type) : undefined;
}

export const AVP_TYPE_NAMES: Readonly<Record<number, string>> = Object.fromEntries(AVP_TABLE.map((d) => [d.type, d.name]));

export function avpTypeName(vendorId: number, type: number): string {
  if (vendorId !== 0) return `vendor-${vendorId}-type-${type}`;
  return AVP_BY_TYPE.get(type)?.name ?? `type-${type}`;
}

/** An IETF attribute type this implementation recognises (RFC 2661 §4.4; 20 is reserved). */
export function isKnownAvpType(vendorId: number, type: number): boolean {
  return avpDef(vendorId, type) !== undefined;
}

/** Result codes of StopCCN, RFC 2661 §4.4.2. */
export const StopCcnResult = {
  GeneralRequestToClear: 1,
  GeneralError: 2,
  ChannelExists: 3,
  NotAuthorized: 4,
  ProtocolVersionNotSupported: 5,
  BeingShutDown: 6,
  FsmError: 7,
} as const;

export const STOPCCN_RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'general request to clear control connection',
  2: 'general error',
  3: 'control channel already exists',
  4: 'requester is not authorized',
  5: 'protocol version not supported',
  6: 'requester is being shut down',
  7: 'finite state machine error',
};

/** Result codes of CDN, RFC 2661 §4.4.2. */
export const CdnResult = {
  LostCarrier: 1,
  GeneralError: 2,
  Administrative: 3,
  TemporaryLackOfFacilities: 4,
  PermanentLackOfFacilities: 5,
  InvalidDestination: 6,
  NoCarrier: 7,
  Busy: 8,
  NoDialTone: 9,
  Timeout: 10,
  NoFraming: 11,
} as const;

export const CDN_RESULT_NAMES: Readonly<Record<number, string>> = {
  1: 'lost carrier',
  2: 'general error',
  3: 'administrative reasons',
  4: 'temporary lack of facilities',
  5: 'permanent lack of facilities',
  6: 'invalid destination',
  7: 'no carrier',
  8: 'busy',
  9: 'no dial tone',
  10: 'timeout',
  11: 'no appropriate framing',
};

/** General error codes, RFC 2661 §4.4.2. */
export const ErrorCode = {
  NoError: 0,
  NoControlConnection: 1,
  BadLength: 2,
  OutOfRange: 3,
  InsufficientResources: 4,
  InvalidSessionId: 5,
  VendorError: 6,
  TryAnother: 7,
  UnknownMandatoryAvp: 8,
} as const;

export const ERROR_CODE_NAMES: Readonly<Record<number, string>> = {
  0: 'no general error',
  1: 'no control connection exists yet',
  2: 'length is wrong',
  3: 'field value out of range or reserved field non-zero',
  4: 'insufficient resources',
  5: 'invalid session ID',
  6: 'generic vendor-specific error',
  7: 'try another',
  8: 'unknown mandatory AVP',
};

/** Framing Capabilities / Framing Type bits, RFC 2661 §4.4.3, §4.4.5. */
export const FRAMING_SYNC = 0x1;
export const FRAMING_ASYNC = 0x2;
/** Bearer Capabilities / Bearer Type bits, RFC 2661 §4.4.3, §4.4.5. */
export const BEARER_DIGITAL = 0x1;
export const BEARER_ANALOG = 0x2;

/** The UDP port L2TP uses, RFC 2661 §8.1. */
export const L2TP_PORT = 1701;

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

/** IETF attribute types (Vendor ID 0), RFC 2661 §4.4. */
export const AvpType = {
  MessageType: 0,
  ResultCode: 1,
  ProtocolVersion: 2,
  FramingCapabilities: 3,
  BearerCapabilities: 4,
  TieBreaker: 5,
  FirmwareRevision: 6,
  HostName: 7,
  VendorName: 8,
  AssignedTunnelId: 9,
  ReceiveWindowSize: 10,
  Challenge: 11,
  Q931CauseCode: 12,
  ChallengeResponse: 13,
  AssignedSessionId: 14,
  CallSerialNumber: 15,
  MinimumBps: 16,
  MaximumBps: 17,
  BearerType: 18,
  FramingType: 19,
  CalledNumber: 21,
  CallingNumber: 22,
  SubAddress: 23,
  TxConnectSpeed: 24,
  PhysicalChannelId: 25,
  InitialReceivedLcpConfReq: 26,
  LastSentLcpConfReq: 27,
  LastReceivedLcpConfReq: 28,
  ProxyAuthenType: 29,
  ProxyAuthenName: 30,
  ProxyAuthenChallenge: 31,
  ProxyAuthenId: 32,
  ProxyAuthenResponse: 33,
  CallErrors: 34,
  Accm: 35,
  RandomVector: 36,
  PrivateGroupId: 37,
  RxConnectSpeed: 38,
  SequencingRequired: 39,
} as const;

export const AVP_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: 'Message Type',
  1: 'Result Code',
  2: 'Protocol Version',
  3: 'Framing Capabilities',
  4: 'Bearer Capabilities',
  5: 'Tie Breaker',
  6: 'Firmware Revision',
  7: 'Host Name',
  8: 'Vendor Name',
  9: 'Assigned Tunnel ID',
  10: 'Receive Window Size',
  11: 'Challenge',
  12: 'Q.931 Cause Code',
  13: 'Challenge Response',
  14: 'Assigned Session ID',
  15: 'Call Serial Number',
  16: 'Minimum BPS',
  17: 'Maximum BPS',
  18: 'Bearer Type',
  19: 'Framing Type',
  21: 'Called Number',
  22: 'Calling Number',
  23: 'Sub-Address',
  24: '(Tx) Connect Speed',
  25: 'Physical Channel ID',
  26: 'Initial Received LCP CONFREQ',
  27: 'Last Sent LCP CONFREQ',
  28: 'Last Received LCP CONFREQ',
  29: 'Proxy Authen Type',
  30: 'Proxy Authen Name',
  31: 'Proxy Authen Challenge',
  32: 'Proxy Authen ID',
  33: 'Proxy Authen Response',
  34: 'Call Errors',
  35: 'ACCM',
  36: 'Random Vector',
  37: 'Private Group ID',
  38: 'Rx Connect Speed',
  39: 'Sequencing Required',
};

export function avpTypeName(vendorId: number, type: number): string {
  if (vendorId !== 0) return `vendor-${vendorId}-type-${type}`;
  return AVP_TYPE_NAMES[type] ?? `type-${type}`;
}

/** An IETF attribute type this implementation recognises (RFC 2661 §4.4; 20 is reserved). */
export function isKnownAvpType(vendorId: number, type: number): boolean {
  return vendorId === 0 && AVP_TYPE_NAMES[type] !== undefined;
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

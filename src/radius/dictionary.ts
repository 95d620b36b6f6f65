/**
 * RADIUS codes and the one attribute table: {vendor, type, name, kind} drives
 * decoding, encoding and the names in logs (RFC 2865 §5, RFC 2866 §5, RFC 2869 §5,
 * RFC 5176 §3.5, RFC 2548 §2 for the Microsoft vendor attributes).
 */

/** RFC 2865 §3, RFC 2866 §4, RFC 5176 §3. */
export const CODE = {
  AccessRequest: 1,
  AccessAccept: 2,
  AccessReject: 3,
  AccountingRequest: 4,
  AccountingResponse: 5,
  AccessChallenge: 11,
  StatusServer: 12,
  StatusClient: 13,
  DisconnectRequest: 40,
  DisconnectACK: 41,
  DisconnectNAK: 42,
  CoARequest: 43,
  CoAACK: 44,
  CoANAK: 45,
} as const;

export const CODE_NAMES: Record<number, string> = {
  1: 'Access-Request',
  2: 'Access-Accept',
  3: 'Access-Reject',
  4: 'Accounting-Request',
  5: 'Accounting-Response',
  11: 'Access-Challenge',
  12: 'Status-Server',
  13: 'Status-Client',
  40: 'Disconnect-Request',
  41: 'Disconnect-ACK',
  42: 'Disconnect-NAK',
  43: 'CoA-Request',
  44: 'CoA-ACK',
  45: 'CoA-NAK',
};

/** How an attribute's value is carried (RFC 2865 §5 "text", "string", "address", "integer", "time"). */
export type AttributeKind =
  /** UTF-8 text (RFC 2865 §5 "text"). */
  | 'text'
  /** Binary (RFC 2865 §5 "string"). */
  | 'octets'
  /** 32-bit unsigned, big-endian. */
  | 'integer'
  /** IPv4 address. */
  | 'ipaddr'
  /** Seconds since 1970-01-01 UTC, 32-bit. */
  | 'date'
  /** RFC 2865 §5.2 hidden with the secret and the Request Authenticator. */
  | 'password'
  /** RFC 2548 §2.4.2 salt-encrypted key (MS-MPPE-Send-Key/Recv-Key). */
  | 'salted';

export interface AttributeDef {
  /** 0 for the standard space, else the SMI enterprise number of a Vendor-Specific attribute. */
  vendor: number;
  type: number;
  name: string;
  kind: AttributeKind;
}

export const VENDOR_MICROSOFT = 311;
/** RFC 2865 §5.26 */
export const VENDOR_SPECIFIC = 26;
/** RFC 2869 §5.14 */
export const MESSAGE_AUTHENTICATOR = 80;

const std = (type: number, name: string, kind: AttributeKind): AttributeDef => ({ vendor: 0, type, name, kind });
const ms = (type: number, name: string, kind: AttributeKind): AttributeDef => ({ vendor: VENDOR_MICROSOFT, type, name, kind });

/** The table. Names are the ones FreeRADIUS's dictionaries use. */
export const ATTRIBUTES: readonly AttributeDef[] = [
  // RFC 2865 §5
  std(1, 'User-Name', 'text'),
  std(2, 'User-Password', 'password'),
  std(3, 'CHAP-Password', 'octets'),
  std(4, 'NAS-IP-Address', 'ipaddr'),
  std(5, 'NAS-Port', 'integer'),
  std(6, 'Service-Type', 'integer'),
  std(7, 'Framed-Protocol', 'integer'),
  std(8, 'Framed-IP-Address', 'ipaddr'),
  std(9, 'Framed-IP-Netmask', 'ipaddr'),
  std(11, 'Filter-Id', 'text'),
  std(12, 'Framed-MTU', 'integer'),
  std(18, 'Reply-Message', 'text'),
  std(24, 'State', 'octets'),
  std(25, 'Class', 'octets'),
  std(27, 'Session-Timeout', 'integer'),
  std(28, 'Idle-Timeout', 'integer'),
  std(30, 'Called-Station-Id', 'text'),
  std(31, 'Calling-Station-Id', 'text'),
  std(32, 'NAS-Identifier', 'text'),
  std(33, 'Proxy-State', 'octets'),
  std(60, 'CHAP-Challenge', 'octets'),
  std(61, 'NAS-Port-Type', 'integer'),
  std(62, 'Port-Limit', 'integer'),
  // RFC 2866 §5
  std(40, 'Acct-Status-Type', 'integer'),
  std(41, 'Acct-Delay-Time', 'integer'),
  std(42, 'Acct-Input-Octets', 'integer'),
  std(43, 'Acct-Output-Octets', 'integer'),
  std(44, 'Acct-Session-Id', 'text'),
  std(45, 'Acct-Authentic', 'integer'),
  std(46, 'Acct-Session-Time', 'integer'),
  std(47, 'Acct-Input-Packets', 'integer'),
  std(48, 'Acct-Output-Packets', 'integer'),
  std(49, 'Acct-Terminate-Cause', 'integer'),
  std(50, 'Acct-Multi-Session-Id', 'text'),
  std(51, 'Acct-Link-Count', 'integer'),
  // RFC 2869 §5
  std(52, 'Acct-Input-Gigawords', 'integer'),
  std(53, 'Acct-Output-Gigawords', 'integer'),
  std(55, 'Event-Timestamp', 'date'),
  std(79, 'EAP-Message', 'octets'),
  std(MESSAGE_AUTHENTICATOR, 'Message-Authenticator', 'octets'),
  std(85, 'Acct-Interim-Interval', 'integer'),
  std(87, 'NAS-Port-Id', 'text'),
  // RFC 5176 §3.5
  std(101, 'Error-Cause', 'integer'),
  // RFC 2548 §2
  ms(1, 'MS-CHAP-Response', 'octets'),
  ms(2, 'MS-CHAP-Error', 'octets'),
  ms(7, 'MS-MPPE-Encryption-Policy', 'integer'),
  ms(8, 'MS-MPPE-Encryption-Types', 'integer'),
  ms(11, 'MS-CHAP-Challenge', 'octets'),
  ms(16, 'MS-MPPE-Send-Key', 'salted'),
  ms(17, 'MS-MPPE-Recv-Key', 'salted'),
  ms(25, 'MS-CHAP2-Response', 'octets'),
  ms(26, 'MS-CHAP2-Success', 'octets'),
];

export type AttributeName = (typeof ATTRIBUTES)[number]['name'];

const byName = new Map<string, AttributeDef>(ATTRIBUTES.map((d) => [d.name, d]));
const byKey = new Map<string, AttributeDef>(ATTRIBUTES.map((d) => [`${d.vendor}:${d.type}`, d]));

export function lookupAttribute(name: string): AttributeDef | undefined {
  return byName.get(name);
}

export function attributeByName(name: string): AttributeDef {
  const d = byName.get(name);
  if (!d) throw new RangeError(`unknown RADIUS attribute ${name}`);
  return d;
}

export function attributeDef(vendor: number, type: number): AttributeDef | undefined {
  return byKey.get(`${vendor}:${type}`);
}

/** A log-friendly name: the table's, else "Attr-26.311.99" / "Attr-99" as FreeRADIUS prints unknown ones. */
export function attributeName(vendor: number, type: number): string {
  return attributeDef(vendor, type)?.name ?? (vendor === 0 ? `Attr-${type}` : `Attr-26.${vendor}.${type}`);
}

/** RFC 2865 §5.6 Service-Type values used here. */
export const SERVICE_TYPE = { Login: 1, Framed: 2 } as const;
/** RFC 2865 §5.7 */
export const FRAMED_PROTOCOL = { PPP: 1 } as const;
/** RFC 2865 §5.41 (NAS-Port-Type Virtual = 5). */
export const NAS_PORT_TYPE = { Async: 0, Sync: 1, ISDN: 2, Virtual: 5 } as const;
/** RFC 2866 §5.1, RFC 2869 §2.1 (Interim-Update = 3). */
export const ACCT_STATUS_TYPE = { Start: 1, Stop: 2, InterimUpdate: 3, AccountingOn: 7, AccountingOff: 8 } as const;
/** RFC 2866 §5.6 */
export const ACCT_AUTHENTIC = { RADIUS: 1, Local: 2, Remote: 3 } as const;
/** RFC 2866 §5.10 Acct-Terminate-Cause. */
export const ACCT_TERMINATE_CAUSE = {
  UserRequest: 1,
  LostCarrier: 2,
  LostService: 3,
  IdleTimeout: 4,
  SessionTimeout: 5,
  AdminReset: 6,
  AdminReboot: 7,
  PortError: 8,
  NASError: 9,
  NASRequest: 10,
  NASReboot: 11,
  PortUnneeded: 12,
  PortPreempted: 13,
  PortSuspended: 14,
  ServiceUnavailable: 15,
  Callback: 16,
  UserError: 17,
  HostRequest: 18,
} as const;
/** RFC 5176 §3.5 Error-Cause values a NAS sends. */
export const ERROR_CAUSE = {
  ResidualSessionContextRemoved: 201,
  UnsupportedAttribute: 401,
  MissingAttribute: 402,
  NASIdentificationMismatch: 403,
  InvalidRequest: 404,
  UnsupportedService: 405,
  AdministrativelyProhibited: 501,
  SessionContextNotFound: 503,
  SessionContextNotRemovable: 504,
  ResourcesUnavailable: 506,
} as const;

/** PPP protocol numbers, packet codes and option types, with name tables for logs. */

/** RFC 1661 §2 / IANA PPP DLL protocol numbers we meet. */
export const PROTO = {
  IPv4: 0x0021,
  IPv6: 0x0057,
  IPCP: 0x8021,
  IPv6CP: 0x8057,
  CCP: 0x80fd,
  LCP: 0xc021,
  PAP: 0xc023,
  LQR: 0xc025,
  CHAP: 0xc223,
  EAP: 0xc227,
} as const;

export const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  0x0021: 'IPv4',
  0x0057: 'IPv6',
  0x002d: 'VJ-compressed',
  0x002f: 'VJ-uncompressed',
  0x00fd: 'CCP-data',
  0x8021: 'IPCP',
  0x8057: 'IPv6CP',
  0x80fd: 'CCP',
  0x80fb: 'CCP-link',
  0xc021: 'LCP',
  0xc023: 'PAP',
  0xc025: 'LQR',
  0xc223: 'CHAP',
  0xc227: 'EAP',
};

export function protocolName(p: number): string {
  return PROTOCOL_NAMES[p] ?? `0x${p.toString(16).padStart(4, '0')}`;
}

/** RFC 1661 §5 packet codes (LCP uses all; NCPs use 1–7). */
export const CODE = {
  ConfigureRequest: 1,
  ConfigureAck: 2,
  ConfigureNak: 3,
  ConfigureReject: 4,
  TerminateRequest: 5,
  TerminateAck: 6,
  CodeReject: 7,
  ProtocolReject: 8,
  EchoRequest: 9,
  EchoReply: 10,
  DiscardRequest: 11,
  /** RFC 1570 §2.1 */
  Identification: 12,
  /** RFC 1570 §2.2 */
  TimeRemaining: 13,
} as const;

export const CODE_NAMES: Readonly<Record<number, string>> = {
  1: 'Configure-Request',
  2: 'Configure-Ack',
  3: 'Configure-Nak',
  4: 'Configure-Reject',
  5: 'Terminate-Request',
  6: 'Terminate-Ack',
  7: 'Code-Reject',
  8: 'Protocol-Reject',
  9: 'Echo-Request',
  10: 'Echo-Reply',
  11: 'Discard-Request',
  12: 'Identification',
  13: 'Time-Remaining',
};

export function codeName(c: number): string {
  return CODE_NAMES[c] ?? `code-${c}`;
}

/** RFC 1661 §6 LCP options (plus RFC 1570 / 1990 ones we only name). */
export const LCP_OPT = {
  MRU: 1,
  ACCM: 2,
  AuthenticationProtocol: 3,
  QualityProtocol: 4,
  MagicNumber: 5,
  PFC: 7,
  ACFC: 8,
} as const;

export const LCP_OPT_NAMES: Readonly<Record<number, string>> = {
  1: 'MRU',
  2: 'ACCM',
  3: 'Authentication-Protocol',
  4: 'Quality-Protocol',
  5: 'Magic-Number',
  7: 'Protocol-Field-Compression',
  8: 'Address-and-Control-Field-Compression',
  13: 'Callback',
  17: 'MRRU',
  18: 'Short-Sequence',
  19: 'Endpoint-Discriminator',
};

/** RFC 1332 §3 and RFC 1877 §1 IPCP options. */
export const IPCP_OPT = {
  IPAddresses: 1,
  IPCompressionProtocol: 2,
  IPAddress: 3,
  PrimaryDNS: 129,
  PrimaryNBNS: 130,
  SecondaryDNS: 131,
  SecondaryNBNS: 132,
} as const;

export const IPCP_OPT_NAMES: Readonly<Record<number, string>> = {
  1: 'IP-Addresses',
  2: 'IP-Compression-Protocol',
  3: 'IP-Address',
  129: 'Primary-DNS',
  130: 'Primary-NBNS',
  131: 'Secondary-DNS',
  132: 'Secondary-NBNS',
};

/** RFC 1994 §4 / RFC 2759 §3 CHAP codes; RFC 1334 §2.2 PAP codes. */
export const CHAP_CODE = { Challenge: 1, Response: 2, Success: 3, Failure: 4, ChangePassword: 7 } as const;
export const CHAP_CODE_NAMES: Readonly<Record<number, string>> = { 1: 'Challenge', 2: 'Response', 3: 'Success', 4: 'Failure', 7: 'Change-Password' };
export const PAP_CODE = { AuthenticateRequest: 1, AuthenticateAck: 2, AuthenticateNak: 3 } as const;
export const PAP_CODE_NAMES: Readonly<Record<number, string>> = { 1: 'Authenticate-Request', 2: 'Authenticate-Ack', 3: 'Authenticate-Nak' };

/** CHAP algorithm numbers (RFC 1994 §3, RFC 2433, RFC 2759 §2). */
export const CHAP_ALG = { MD5: 0x05, MSCHAP: 0x80, MSCHAPv2: 0x81 } as const;

/**
 * ISAKMP / IKEv1 / IPsec DOI numbers with name tables for logs.
 * RFC 2408 §3.1, §3.14.1; RFC 2407 §4.4-§4.6; RFC 2409 App. A; RFC 3947; RFC 3706.
 */

/** Next Payload types (RFC 2408 §3.1, RFC 3947 §3.1/§5.2, draft NAT-T 130/131). */
export const PayloadType = {
  NONE: 0,
  SA: 1,
  P: 2,
  T: 3,
  KE: 4,
  ID: 5,
  CERT: 6,
  CR: 7,
  HASH: 8,
  SIG: 9,
  NONCE: 10,
  N: 11,
  D: 12,
  VID: 13,
  NAT_D: 20,
  NAT_OA: 21,
  NAT_D_DRAFT: 130,
  NAT_OA_DRAFT: 131,
} as const;

export const payloadTypeNames: Record<number, string> = {
  0: 'NONE', 1: 'SA', 2: 'P', 3: 'T', 4: 'KE', 5: 'ID', 6: 'CERT', 7: 'CR', 8: 'HASH', 9: 'SIG',
  10: 'NONCE', 11: 'N', 12: 'D', 13: 'VID', 20: 'NAT-D', 21: 'NAT-OA', 130: 'NAT-D(draft)', 131: 'NAT-OA(draft)',
};

/** Exchange types (RFC 2408 §3.1, RFC 2409 §5). */
export const ExchangeType = {
  BASE: 1,
  IDENTITY_PROTECTION: 2, // Main Mode
  AUTHENTICATION_ONLY: 3,
  AGGRESSIVE: 4,
  INFORMATIONAL: 5,
  QUICK_MODE: 32,
  NEW_GROUP_MODE: 33,
} as const;

export const exchangeTypeNames: Record<number, string> = {
  1: 'Base', 2: 'Main Mode', 3: 'Authentication Only', 4: 'Aggressive Mode', 5: 'Informational', 32: 'Quick Mode', 33: 'New Group Mode',
};

/** Header flags (RFC 2408 §3.1). */
export const Flags = { ENCRYPTION: 1, COMMIT: 2, AUTH_ONLY: 4 } as const;

/** Protocol IDs (RFC 2407 §4.4.1). */
export const ProtocolId = { ISAKMP: 1, IPSEC_AH: 2, IPSEC_ESP: 3, IPCOMP: 4 } as const;
export const protocolIdNames: Record<number, string> = { 1: 'ISAKMP', 2: 'AH', 3: 'ESP', 4: 'IPCOMP' };

/** Transform IDs: ISAKMP (RFC 2407 §4.4.2) and ESP (RFC 2407 §4.4.4, RFC 4106). */
export const KEY_IKE = 1;
export const EspTransformId = { DES: 2, '3DES': 3, NULL: 11, AES_CBC: 12, AES_GCM_8: 18, AES_GCM_12: 19, AES_GCM_16: 20, NULL_AUTH_AES_GMAC: 23 } as const;
export const espTransformNames: Record<number, string> = {
  2: 'DES', 3: '3DES', 11: 'NULL', 12: 'AES-CBC', 18: 'AES-GCM-8', 19: 'AES-GCM-12', 20: 'AES-GCM-16', 23: 'AES-GMAC',
};

/** Phase 1 attribute classes (RFC 2409 App. A). */
export const P1Attr = {
  ENCRYPTION: 1,
  HASH: 2,
  AUTH_METHOD: 3,
  GROUP: 4,
  GROUP_TYPE: 5,
  GROUP_PRIME: 6,
  LIFE_TYPE: 11,
  LIFE_DURATION: 12,
  PRF: 13,
  KEY_LENGTH: 14,
  FIELD_SIZE: 15,
  GROUP_ORDER: 16,
} as const;
export const p1AttrNames: Record<number, string> = {
  1: 'Encryption Algorithm', 2: 'Hash Algorithm', 3: 'Authentication Method', 4: 'Group Description', 5: 'Group Type',
  6: 'Group Prime', 11: 'Life Type', 12: 'Life Duration', 13: 'PRF', 14: 'Key Length', 15: 'Field Size', 16: 'Group Order',
};

/** Phase 1 encryption algorithms (RFC 2409 App. A, RFC 3602). */
export const P1Enc = { DES: 1, IDEA: 2, BLOWFISH: 3, RC5: 4, '3DES': 5, CAST: 6, AES: 7 } as const;
export const p1EncNames: Record<number, string> = { 1: 'DES', 2: 'IDEA', 3: 'Blowfish', 4: 'RC5', 5: '3DES', 6: 'CAST', 7: 'AES' };
/** Phase 1 hash algorithms (RFC 2409 App. A, RFC 4868 registry). */
export const P1Hash = { MD5: 1, SHA1: 2, TIGER: 3, SHA2_256: 4, SHA2_384: 5, SHA2_512: 6 } as const;
export const p1HashNames: Record<number, string> = { 1: 'MD5', 2: 'SHA1', 3: 'Tiger', 4: 'SHA2-256', 5: 'SHA2-384', 6: 'SHA2-512' };
/** Authentication methods (RFC 2409 App. A). */
export const AuthMethod = { PSK: 1, DSS: 2, RSA_SIG: 3, RSA_ENC: 4, RSA_REV_ENC: 5 } as const;
export const authMethodNames: Record<number, string> = { 1: 'PSK', 2: 'DSS', 3: 'RSA-Sig', 4: 'RSA-Enc', 5: 'RSA-RevEnc' };
/** Life types (RFC 2409 App. A, RFC 2407 §4.5). */
export const LifeType = { SECONDS: 1, KILOBYTES: 2 } as const;

/** Phase 2 (IPsec DOI) SA attributes (RFC 2407 §4.5). */
export const P2Attr = {
  SA_LIFE_TYPE: 1,
  SA_LIFE_DURATION: 2,
  GROUP_DESCRIPTION: 3,
  ENCAPSULATION_MODE: 4,
  AUTH_ALGORITHM: 5,
  KEY_LENGTH: 6,
  KEY_ROUNDS: 7,
  COMPRESS_DICT_SIZE: 8,
  COMPRESS_PRIVATE_ALG: 9,
} as const;
export const p2AttrNames: Record<number, string> = {
  1: 'SA Life Type', 2: 'SA Life Duration', 3: 'Group Description', 4: 'Encapsulation Mode', 5: 'Authentication Algorithm',
  6: 'Key Length', 7: 'Key Rounds', 8: 'Compress Dictionary Size', 9: 'Compress Private Algorithm',
};

/** Encapsulation modes (RFC 2407 §4.5, RFC 3947 §5.3, draft values 61443/61444). */
export const EncapMode = {
  TUNNEL: 1,
  TRANSPORT: 2,
  UDP_TUNNEL: 3,
  UDP_TRANSPORT: 4,
  UDP_TUNNEL_DRAFT: 61443,
  UDP_TRANSPORT_DRAFT: 61444,
} as const;
export const encapModeNames: Record<number, string> = {
  1: 'Tunnel', 2: 'Transport', 3: 'UDP-Tunnel', 4: 'UDP-Transport', 61443: 'UDP-Tunnel(draft)', 61444: 'UDP-Transport(draft)',
};

/** Phase 2 authentication algorithms (RFC 2407 §4.5, RFC 4868 §2.4). */
export const P2Auth = { HMAC_MD5: 1, HMAC_SHA: 2, DES_MAC: 3, KPDK: 4, HMAC_SHA2_256: 5, HMAC_SHA2_384: 6, HMAC_SHA2_512: 7 } as const;
export const p2AuthNames: Record<number, string> = {
  1: 'HMAC-MD5', 2: 'HMAC-SHA1', 3: 'DES-MAC', 4: 'KPDK', 5: 'HMAC-SHA2-256', 6: 'HMAC-SHA2-384', 7: 'HMAC-SHA2-512',
};

/** Diffie-Hellman groups (RFC 2409 §6, RFC 3526, RFC 5903). */
export const groupNames: Record<number, string> = { 1: 'modp768', 2: 'modp1024', 5: 'modp1536', 14: 'modp2048', 15: 'modp3072', 19: 'ecp256', 20: 'ecp384' };

/** Identification types (RFC 2407 §4.6.2.1). */
export const IdType = {
  IPV4_ADDR: 1,
  FQDN: 2,
  USER_FQDN: 3,
  IPV4_ADDR_SUBNET: 4,
  IPV6_ADDR: 5,
  IPV6_ADDR_SUBNET: 6,
  IPV4_ADDR_RANGE: 7,
  IPV6_ADDR_RANGE: 8,
  DER_ASN1_DN: 9,
  DER_ASN1_GN: 10,
  KEY_ID: 11,
} as const;
export const idTypeNames: Record<number, string> = {
  1: 'ID_IPV4_ADDR', 2: 'ID_FQDN', 3: 'ID_USER_FQDN', 4: 'ID_IPV4_ADDR_SUBNET', 5: 'ID_IPV6_ADDR', 6: 'ID_IPV6_ADDR_SUBNET',
  7: 'ID_IPV4_ADDR_RANGE', 8: 'ID_IPV6_ADDR_RANGE', 9: 'ID_DER_ASN1_DN', 10: 'ID_DER_ASN1_GN', 11: 'ID_KEY_ID',
};

/** Notify message types (RFC 2408 §3.14.1, RFC 2407 §4.6.3, RFC 3706). */
export const NotifyType = {
  INVALID_PAYLOAD_TYPE: 1,
  DOI_NOT_SUPPORTED: 2,
  SITUATION_NOT_SUPPORTED: 3,
  INVALID_COOKIE: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_MINOR_VERSION: 6,
  INVALID_EXCHANGE_TYPE: 7,
  INVALID_FLAGS: 8,
  INVALID_MESSAGE_ID: 9,
  INVALID_PROTOCOL_ID: 10,
  INVALID_SPI: 11,
  INVALID_TRANSFORM_ID: 12,
  ATTRIBUTES_NOT_SUPPORTED: 13,
  NO_PROPOSAL_CHOSEN: 14,
  BAD_PROPOSAL_SYNTAX: 15,
  PAYLOAD_MALFORMED: 16,
  INVALID_KEY_INFORMATION: 17,
  INVALID_ID_INFORMATION: 18,
  INVALID_HASH_INFORMATION: 23,
  AUTHENTICATION_FAILED: 24,
  RESPONDER_LIFETIME: 24576,
  REPLAY_STATUS: 24577,
  INITIAL_CONTACT: 24578,
  R_U_THERE: 36136,
  R_U_THERE_ACK: 36137,
} as const;
export const notifyTypeNames: Record<number, string> = {
  1: 'INVALID-PAYLOAD-TYPE', 2: 'DOI-NOT-SUPPORTED', 3: 'SITUATION-NOT-SUPPORTED', 4: 'INVALID-COOKIE', 5: 'INVALID-MAJOR-VERSION',
  6: 'INVALID-MINOR-VERSION', 7: 'INVALID-EXCHANGE-TYPE', 8: 'INVALID-FLAGS', 9: 'INVALID-MESSAGE-ID', 10: 'INVALID-PROTOCOL-ID',
  11: 'INVALID-SPI', 12: 'INVALID-TRANSFORM-ID', 13: 'ATTRIBUTES-NOT-SUPPORTED', 14: 'NO-PROPOSAL-CHOSEN', 15: 'BAD-PROPOSAL-SYNTAX',
  16: 'PAYLOAD-MALFORMED', 17: 'INVALID-KEY-INFORMATION', 18: 'INVALID-ID-INFORMATION', 23: 'INVALID-HASH-INFORMATION',
  24: 'AUTHENTICATION-FAILED', 24576: 'RESPONDER-LIFETIME', 24577: 'REPLAY-STATUS', 24578: 'INITIAL-CONTACT',
  36136: 'R-U-THERE', 36137: 'R-U-THERE-ACK',
};

/** IPsec DOI (RFC 2407 §4.2) and SIT_IDENTITY_ONLY (§4.2.1). */
export const DOI_IPSEC = 1;
export const SIT_IDENTITY_ONLY = 1;

export function nameOf(table: Record<number, string>, v: number): string {
  return table[v] ?? `unknown(${v})`;
}

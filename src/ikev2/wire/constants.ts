/**
 * IKEv2 numbers (IANA "Internet Key Exchange Version 2 (IKEv2) Parameters") with a
 * name table for every enum, so logs read well. RFC 7296 §3, RFC 7383, RFC 7427,
 * RFC 5282, RFC 8247.
 */

export function nameOf(table: Record<number, string>, v: number): string {
  return table[v] ?? `unknown(${v})`;
}

function names<T extends Record<string, number>>(o: T): Record<number, string> {
  const out: Record<number, string> = {};
  for (const [k, v] of Object.entries(o)) out[v] ??= k;
  return out;
}

/** Exchange types (RFC 7296 §3.1, RFC 9242). */
export const ExchangeType = {
  IKE_SA_INIT: 34,
  IKE_AUTH: 35,
  CREATE_CHILD_SA: 36,
  INFORMATIONAL: 37,
  IKE_SESSION_RESUME: 38,
  IKE_INTERMEDIATE: 43,
} as const;
export const exchangeTypeNames = names(ExchangeType);

/** Header flags (RFC 7296 §3.1): bits 3 (Initiator), 4 (Version), 5 (Response). */
export const HeaderFlag = { INITIATOR: 0x08, VERSION: 0x10, RESPONSE: 0x20 } as const;
export const headerFlagNames = { 0x08: 'I', 0x10: 'V', 0x20: 'R' } as Record<number, string>;

/** Next Payload types (RFC 7296 §3.2, RFC 7383 §2.5). */
export const PayloadType = {
  NONE: 0,
  SA: 33,
  KE: 34,
  IDi: 35,
  IDr: 36,
  CERT: 37,
  CERTREQ: 38,
  AUTH: 39,
  NONCE: 40,
  N: 41,
  D: 42,
  V: 43,
  TSi: 44,
  TSr: 45,
  SK: 46,
  CP: 47,
  EAP: 48,
  GSPM: 49,
  SKF: 53,
} as const;
export const payloadTypeNames = names(PayloadType);

/** Transform types (RFC 7296 §3.3.2). */
export const TransformType = { ENCR: 1, PRF: 2, INTEG: 3, DH: 4, ESN: 5 } as const;
export const transformTypeNames = names(TransformType);

/** Transform type 1, encryption algorithms (RFC 7296 §3.3.2, RFC 5282, RFC 7634). */
export const Encr = {
  DES_IV64: 1,
  DES: 2,
  '3DES': 3,
  RC5: 4,
  IDEA: 5,
  CAST: 6,
  BLOWFISH: 7,
  '3IDEA': 8,
  DES_IV32: 9,
  NULL: 11,
  AES_CBC: 12,
  AES_CTR: 13,
  AES_CCM_8: 14,
  AES_CCM_12: 15,
  AES_CCM_16: 16,
  AES_GCM_8: 18,
  AES_GCM_12: 19,
  AES_GCM_16: 20,
  NULL_AUTH_AES_GMAC: 21,
  CAMELLIA_CBC: 23,
  CHACHA20_POLY1305: 28,
} as const;
export const encrNames = names(Encr);

/** Transform type 2, pseudorandom functions (RFC 7296 §3.3.2, RFC 4868, RFC 4615). */
export const Prf = {
  HMAC_MD5: 1,
  HMAC_SHA1: 2,
  HMAC_TIGER: 3,
  AES128_XCBC: 4,
  HMAC_SHA2_256: 5,
  HMAC_SHA2_384: 6,
  HMAC_SHA2_512: 7,
  AES128_CMAC: 8,
} as const;
export const prfNames = names(Prf);

/** Transform type 3, integrity algorithms (RFC 7296 §3.3.2, RFC 4868). */
export const Integ = {
  NONE: 0,
  HMAC_MD5_96: 1,
  HMAC_SHA1_96: 2,
  DES_MAC: 3,
  KPDK_MD5: 4,
  AES_XCBC_96: 5,
  HMAC_MD5_128: 6,
  HMAC_SHA1_160: 7,
  AES_CMAC_96: 8,
  AES_128_GMAC: 9,
  AES_192_GMAC: 10,
  AES_256_GMAC: 11,
  HMAC_SHA2_256_128: 12,
  HMAC_SHA2_384_192: 13,
  HMAC_SHA2_512_256: 14,
} as const;
export const integNames = names(Integ);

/** Transform type 4, Diffie-Hellman groups (RFC 7296 §3.3.2, RFC 3526, RFC 5903, RFC 8031). */
export const DhGroup = {
  NONE: 0,
  MODP768: 1,
  MODP1024: 2,
  MODP1536: 5,
  MODP2048: 14,
  MODP3072: 15,
  MODP4096: 16,
  MODP6144: 17,
  MODP8192: 18,
  ECP256: 19,
  ECP384: 20,
  ECP521: 21,
  MODP1024_160: 22,
  MODP2048_224: 23,
  MODP2048_256: 24,
  ECP192: 25,
  ECP224: 26,
  BRAINPOOL224: 27,
  BRAINPOOL256: 28,
  BRAINPOOL384: 29,
  BRAINPOOL512: 30,
  CURVE25519: 31,
  CURVE448: 32,
} as const;
export const dhGroupNames = names(DhGroup);

/** Transform type 5, extended sequence numbers (RFC 7296 §3.3.2). */
export const Esn = { NO_ESN: 0, ESN: 1 } as const;
export const esnNames = names(Esn);

/** Transform attribute types (RFC 7296 §3.3.5): only Key Length (TV). */
export const TransformAttr = { KEY_LENGTH: 14 } as const;
export const transformAttrNames = names(TransformAttr);

/** Security protocol identifiers (RFC 7296 §3.3.1). */
export const ProtocolId = { IKE: 1, AH: 2, ESP: 3 } as const;
export const protocolIdNames = names(ProtocolId);

/** Identification types (RFC 7296 §3.5, RFC 7619). */
export const IdType = {
  ID_IPV4_ADDR: 1,
  ID_FQDN: 2,
  ID_RFC822_ADDR: 3,
  ID_IPV6_ADDR: 5,
  ID_DER_ASN1_DN: 9,
  ID_DER_ASN1_GN: 10,
  ID_KEY_ID: 11,
  ID_FC_NAME: 12,
  ID_NULL: 13,
} as const;
export const idTypeNames = names(IdType);

/** Certificate encodings (RFC 7296 §3.6, RFC 7670). */
export const CertEncoding = {
  PKCS7_X509: 1,
  PGP: 2,
  DNS_SIGNED_KEY: 3,
  X509_SIGNATURE: 4,
  KERBEROS_TOKEN: 6,
  CRL: 7,
  ARL: 8,
  SPKI: 9,
  X509_ATTRIBUTE: 10,
  RAW_RSA_KEY: 11,
  HASH_URL_X509_CERT: 12,
  HASH_URL_X509_BUNDLE: 13,
  OCSP_CONTENT: 14,
  RAW_PUBLIC_KEY: 15,
} as const;
export const certEncodingNames = names(CertEncoding);

/** Authentication methods (RFC 7296 §3.8, RFC 4754, RFC 7427, RFC 7619). */
export const AuthMethod = {
  RSA_SIG: 1,
  SHARED_KEY_MIC: 2,
  DSS_SIG: 3,
  ECDSA_SHA256_P256: 9,
  ECDSA_SHA384_P384: 10,
  ECDSA_SHA512_P521: 11,
  GENERIC_SECURE_PASSWORD: 12,
  NULL_AUTH: 13,
  DIGITAL_SIGNATURE: 14,
} as const;
export const authMethodNames = names(AuthMethod);

/** Hash algorithms of SIGNATURE_HASH_ALGORITHMS (RFC 7427 §7). */
export const HashAlgorithm = { SHA1: 1, SHA2_256: 2, SHA2_384: 3, SHA2_512: 4, IDENTITY: 5 } as const;
export const hashAlgorithmNames = names(HashAlgorithm);

/** Traffic selector types (RFC 7296 §3.13.1). */
export const TsType = { TS_IPV4_ADDR_RANGE: 7, TS_IPV6_ADDR_RANGE: 8 } as const;
export const tsTypeNames = names(TsType);

/** Configuration payload types (RFC 7296 §3.15). */
export const CfgType = { CFG_REQUEST: 1, CFG_REPLY: 2, CFG_SET: 3, CFG_ACK: 4 } as const;
export const cfgTypeNames = names(CfgType);

/** Configuration attribute types (RFC 7296 §3.15.1, RFC 8598, RFC 7651). */
export const ConfigAttr = {
  INTERNAL_IP4_ADDRESS: 1,
  INTERNAL_IP4_NETMASK: 2,
  INTERNAL_IP4_DNS: 3,
  INTERNAL_IP4_NBNS: 4,
  INTERNAL_IP4_DHCP: 6,
  APPLICATION_VERSION: 7,
  INTERNAL_IP6_ADDRESS: 8,
  INTERNAL_IP6_DNS: 10,
  INTERNAL_IP6_DHCP: 12,
  INTERNAL_IP4_SUBNET: 13,
  SUPPORTED_ATTRIBUTES: 14,
  INTERNAL_IP6_SUBNET: 15,
  MIP6_HOME_PREFIX: 16,
  INTERNAL_IP6_LINK: 17,
  INTERNAL_IP6_PREFIX: 18,
  HOME_AGENT_ADDRESS: 19,
  P_CSCF_IP4_ADDRESS: 20,
  P_CSCF_IP6_ADDRESS: 21,
  INTERNAL_DNS_DOMAIN: 25,
  INTERNAL_DNSSEC_TA: 26,
} as const;
export const configAttrNames = names(ConfigAttr);

/** Notify message types (RFC 7296 §3.10.1 and later RFCs): errors below 16384, status from 16384. */
export const NotifyType = {
  UNSUPPORTED_CRITICAL_PAYLOAD: 1,
  INVALID_IKE_SPI: 4,
  INVALID_MAJOR_VERSION: 5,
  INVALID_SYNTAX: 7,
  INVALID_MESSAGE_ID: 9,
  INVALID_SPI: 11,
  NO_PROPOSAL_CHOSEN: 14,
  INVALID_KE_PAYLOAD: 17,
  AUTHENTICATION_FAILED: 24,
  SINGLE_PAIR_REQUIRED: 34,
  NO_ADDITIONAL_SAS: 35,
  INTERNAL_ADDRESS_FAILURE: 36,
  FAILED_CP_REQUIRED: 37,
  TS_UNACCEPTABLE: 38,
  INVALID_SELECTORS: 39,
  UNACCEPTABLE_ADDRESSES: 40,
  UNEXPECTED_NAT_DETECTED: 41,
  USE_ASSIGNED_HoA: 42,
  TEMPORARY_FAILURE: 43,
  CHILD_SA_NOT_FOUND: 44,
  INVALID_GROUP_ID: 45,
  AUTHORIZATION_FAILED: 46,
  STATE_NOT_FOUND: 47,
  INITIAL_CONTACT: 16384,
  SET_WINDOW_SIZE: 16385,
  ADDITIONAL_TS_POSSIBLE: 16386,
  IPCOMP_SUPPORTED: 16387,
  NAT_DETECTION_SOURCE_IP: 16388,
  NAT_DETECTION_DESTINATION_IP: 16389,
  COOKIE: 16390,
  USE_TRANSPORT_MODE: 16391,
  HTTP_CERT_LOOKUP_SUPPORTED: 16392,
  REKEY_SA: 16393,
  ESP_TFC_PADDING_NOT_SUPPORTED: 16394,
  NON_FIRST_FRAGMENTS_ALSO: 16395,
  MOBIKE_SUPPORTED: 16396,
  ADDITIONAL_IP4_ADDRESS: 16397,
  ADDITIONAL_IP6_ADDRESS: 16398,
  NO_ADDITIONAL_ADDRESSES: 16399,
  UPDATE_SA_ADDRESSES: 16400,
  COOKIE2: 16401,
  NO_NATS_ALLOWED: 16402,
  AUTH_LIFETIME: 16403,
  MULTIPLE_AUTH_SUPPORTED: 16404,
  ANOTHER_AUTH_FOLLOWS: 16405,
  REDIRECT_SUPPORTED: 16406,
  REDIRECT: 16407,
  REDIRECTED_FROM: 16408,
  TICKET_LT_OPAQUE: 16409,
  TICKET_REQUEST: 16410,
  TICKET_ACK: 16411,
  TICKET_NACK: 16412,
  TICKET_OPAQUE: 16413,
  LINK_ID: 16414,
  USE_WESP_MODE: 16415,
  ROHC_SUPPORTED: 16416,
  EAP_ONLY_AUTHENTICATION: 16417,
  CHILDLESS_IKEV2_SUPPORTED: 16418,
  QUICK_CRASH_DETECTION: 16419,
  IKEV2_MESSAGE_ID_SYNC_SUPPORTED: 16420,
  IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED: 16421,
  IKEV2_MESSAGE_ID_SYNC: 16422,
  IPSEC_REPLAY_COUNTER_SYNC: 16423,
  SECURE_PASSWORD_METHODS: 16424,
  PSK_PERSIST: 16425,
  PSK_CONFIRM: 16426,
  ERX_SUPPORTED: 16427,
  IFOM_CAPABILITY: 16428,
  SENDER_REQUEST_ID: 16429,
  IKEV2_FRAGMENTATION_SUPPORTED: 16430,
  SIGNATURE_HASH_ALGORITHMS: 16431,
  CLONE_IKE_SA_SUPPORTED: 16432,
  CLONE_IKE_SA: 16433,
  PUZZLE: 16434,
  USE_PPK: 16435,
  PPK_IDENTITY: 16436,
  NO_PPK_AUTH: 16437,
  INTERMEDIATE_EXCHANGE_SUPPORTED: 16438,
  IP4_ALLOWED: 16439,
  IP6_ALLOWED: 16440,
  ADDITIONAL_KEY_EXCHANGE: 16441,
  USE_AGGFRAG: 16442,
} as const;
export const notifyTypeNames = names(NotifyType);

/** Notify types below 16384 report errors (RFC 7296 §3.10.1). */
export function isErrorNotify(type: number): boolean {
  return type < 16384;
}

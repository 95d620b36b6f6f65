/**
 * The IKE and ESP proposals the IKEv2 profiles pin, in each client's own vocabulary.
 *
 * The server's choice (src/ikev2/policy.ts, child-policy.ts) prefers, in this order,
 * AES-GCM-16-256, PRF HMAC-SHA2-256 and DH group 19 (ECP256) for the IKE SA, AES-GCM-16-256
 * for ESP, and group 19 for PFS in CREATE_CHILD_SA: a profile asks for exactly that where
 * the client can say it, so the device neither offers nor falls back to modp1024. The
 * test (test/daemon/profile-ikev2.test.ts) puts each choice through the server's real
 * proposal selection. src/daemon may not import src/ikev2, hence the names here.
 */

/** Apple VPN.IKEv2 IKESecurityAssociationParameters / ChildSecurityAssociationParameters. */
export const APPLE_IKE_SA = { EncryptionAlgorithm: 'AES-256-GCM', IntegrityAlgorithm: 'SHA2-256', DiffieHellmanGroup: 19 } as const;
export const APPLE_CHILD_SA = { EncryptionAlgorithm: 'AES-256-GCM', IntegrityAlgorithm: 'SHA2-256', DiffieHellmanGroup: 19 } as const;

/**
 * Windows Set-VpnConnectionIPsecConfiguration. The IKE SA uses AES-256-CBC with SHA-256
 * (a suite Windows itself proposes, now with ECP256 instead of modp1024): how Windows
 * lays out an IKE proposal with GCMAES is not documented, and one with an integrity
 * transform beside AES-GCM is refused by the server (RFC 7296 §3.3). ESP is AES-GCM-256
 * (the documented pairing: GCMAES256 as both cipher and authentication transform).
 */
export const WINDOWS_IPSEC = {
  EncryptionMethod: 'AES256',
  IntegrityCheckMethod: 'SHA256',
  DHGroup: 'ECP256',
  CipherTransformConstants: 'GCMAES256',
  AuthenticationTransformConstants: 'GCMAES256',
  PfsGroup: 'ECP256',
} as const;

/** strongSwan proposal strings (the Android app's .sswan and NetworkManager-strongswan). */
export const STRONGSWAN_IKE = 'aes256gcm16-prfsha256-ecp256';
/** The DH group only applies to rekeyed child SAs (PFS); the first one takes its keys from IKE_AUTH. */
export const STRONGSWAN_ESP = 'aes256gcm16-ecp256';

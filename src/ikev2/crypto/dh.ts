import { dhGroupTable, type DhGroupInfo } from '../../core/dh.js';

/**
 * Diffie-Hellman groups IKEv2 implements (RFC 7296 §3.3.2 transform type 4): MODP
 * 2 (Windows' default), 14, 15, 16; ECP 19, 20, 21 (RFC 5903); Curve25519 31
 * (RFC 8031). Which of them a server accepts is policy (config may refuse 2).
 */
export { generateKeyPair, validKeValue, type DhGroupInfo, type DhKeyPair } from '../../core/dh.js';

export const IKEV2_DH_GROUPS: Record<number, DhGroupInfo> = dhGroupTable([2, 14, 15, 16, 19, 20, 21, 31]);

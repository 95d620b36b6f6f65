import { dhGroupTable, type DhGroupInfo } from '../../core/dh.js';

/**
 * Diffie-Hellman groups IKEv1 offers (RFC 2409 §6.2, RFC 3526, RFC 5903); the
 * implementation is shared with IKEv2 in core/dh.ts.
 */
export { generateKeyPair, validKeValue, type DhGroupInfo, type DhKeyPair } from '../../core/dh.js';

export const DH_GROUPS: Record<number, DhGroupInfo> = dhGroupTable([2, 5, 14, 19, 20]);

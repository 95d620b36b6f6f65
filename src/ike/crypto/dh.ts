import { createDiffieHellman, createECDH, getDiffieHellman, type DiffieHellman } from 'node:crypto';

/**
 * Diffie-Hellman groups for IKEv1 (RFC 2409 §6.2, RFC 3526, RFC 5903).
 * MODP values are left-padded to the prime length. ECP KE data is x|y without
 * the 0x04 prefix (RFC 5903 §7) and the shared secret is the x coordinate.
 */
export interface DhGroupInfo {
  id: number;
  kind: 'modp' | 'ecp';
  /** KE data length in bytes. */
  keLength: number;
  node: string;
}

export const DH_GROUPS: Record<number, DhGroupInfo> = {
  2: { id: 2, kind: 'modp', keLength: 128, node: 'modp2' },
  5: { id: 5, kind: 'modp', keLength: 192, node: 'modp5' },
  14: { id: 14, kind: 'modp', keLength: 256, node: 'modp14' },
  19: { id: 19, kind: 'ecp', keLength: 64, node: 'prime256v1' },
  20: { id: 20, kind: 'ecp', keLength: 96, node: 'secp384r1' },
};

/**
 * One DiffieHellman object per MODP group for the whole process. Creating one
 * (createDiffieHellman(prime, g), and getDiffieHellman('modp2') alike) runs OpenSSL's
 * parameter checks on the prime: about 30-50 ms for the 1024-bit group, most of a
 * modp1024 handshake. The object is reused: each key pair sets its own private value
 * before every use, synchronously, so pairs alive at the same time never mix.
 */
interface Modp {
  p: bigint;
  dh: DiffieHellman;
}
const modps = new Map<string, Modp>();
function modp(name: string): Modp {
  let v = modps.get(name);
  if (!v) {
    const g = getDiffieHellman(name);
    const prime = g.getPrime();
    v = { p: BigInt(`0x${prime.toString('hex')}`), dh: createDiffieHellman(prime, g.getGenerator()) };
    modps.set(name, v);
  }
  return v;
}

function leftPad(b: Buffer, len: number): Buffer {
  if (b.length >= len) return b;
  return Buffer.concat([Buffer.alloc(len - b.length), b]);
}

export interface DhKeyPair {
  group: DhGroupInfo;
  /** Our public value as carried in KE. */
  publicValue: Buffer;
  /** g^xy from the peer's KE value; undefined when the value is invalid. */
  computeShared(peer: Buffer): Buffer | undefined;
}

/** Checks a peer KE value: right length; MODP not 0, 1, p-1 or >= p; ECP on the curve (checked by computeShared). */
export function validKeValue(group: DhGroupInfo, ke: Uint8Array): boolean {
  if (ke.length !== group.keLength) return false;
  if (group.kind === 'ecp') return true;
  const { p } = modp(group.node);
  const y = BigInt(`0x${Buffer.from(ke).toString('hex')}`);
  return y > 1n && y < p - 1n;
}

/** A key pair with the private value taken from `random` (so tests are deterministic). */
export function generateKeyPair(group: DhGroupInfo, random: (n: number) => Buffer): DhKeyPair {
  if (group.kind === 'modp') {
    const { dh } = modp(group.node);
    const priv = Buffer.from(random(32)); // 256-bit exponent (RFC 3526 §8 strength estimates)
    priv[0] = (priv[0] ?? 0) | 0x80;
    dh.setPrivateKey(priv);
    dh.generateKeys();
    return {
      group,
      publicValue: leftPad(dh.getPublicKey(), group.keLength),
      computeShared(peer) {
        if (!validKeValue(group, peer)) return undefined;
        try {
          dh.setPrivateKey(priv); // the shared object may hold another pair's key by now
          return leftPad(dh.computeSecret(peer), group.keLength);
        } catch {
          return undefined;
        }
      },
    };
  }
  const ecdh = createECDH(group.node);
  const coord = group.keLength / 2;
  for (let i = 0; i < 16; i++) {
    try {
      ecdh.setPrivateKey(random(coord));
      break;
    } catch {
      // private key outside [1, n-1]: draw again
    }
  }
  const pub = ecdh.getPublicKey(); // 0x04 | x | y
  return {
    group,
    publicValue: Buffer.from(pub.subarray(1)),
    computeShared(peer) {
      if (peer.length !== group.keLength) return undefined;
      try {
        return leftPad(ecdh.computeSecret(Buffer.concat([Buffer.from([4]), peer])), coord);
      } catch {
        return undefined;
      }
    },
  };
}

import { createDiffieHellman, createECDH, createPrivateKey, createPublicKey, diffieHellman, getDiffieHellman, type DiffieHellman, type KeyObject } from 'node:crypto';

/**
 * Diffie-Hellman groups shared by IKEv1 and IKEv2 (RFC 3526 MODP, RFC 5903 ECP,
 * RFC 8031 Curve25519), on node:crypto. Each protocol keeps its own table of the
 * groups it offers.
 *
 * Wire forms: a MODP value is left-padded to the prime length; an ECP value is
 * x | y without the 0x04 prefix and its shared secret is the x coordinate
 * (RFC 5903 §7, §9); a Curve25519 value is the 32-byte u-coordinate (RFC 8031 §2).
 *
 * Peer values are checked before use (Libreswan CVE-2015-3240, Openswan
 * CVE-2011-3380): the exact length; MODP 1 < y < p-1; ECP coordinates below p
 * and on the curve; Curve25519 a shared secret that is not all zero (RFC 8031 §2.3).
 */
export interface DhGroupInfo {
  id: number;
  kind: 'modp' | 'ecp' | 'x25519';
  /** KE data length in bytes. */
  keLength: number;
  /** node:crypto group or curve name. */
  node: string;
  /**
   * Size of the private value drawn from `random`. A MODP exponent of twice the group's
   * strength in bits (RFC 3526 §8, NIST SP 800-56A §5.6.1.1.1): a shorter one would be the
   * weak point, a longer one costs modular multiplications and adds nothing. modp1024
   * (80 bits) takes 160, the 20 bytes of a DSA-1024 q; modp1536 (90-120) and modp2048
   * (110-160) take 256 bits, modp3072 384, modp4096 512.
   */
  privateBytes: number;
}

/** Every group the project implements, by its IANA number (the same for IKEv1 and IKEv2). */
export const ALL_DH_GROUPS: Record<number, DhGroupInfo> = {
  2: { id: 2, kind: 'modp', keLength: 128, node: 'modp2', privateBytes: 20 },
  5: { id: 5, kind: 'modp', keLength: 192, node: 'modp5', privateBytes: 32 },
  14: { id: 14, kind: 'modp', keLength: 256, node: 'modp14', privateBytes: 32 },
  15: { id: 15, kind: 'modp', keLength: 384, node: 'modp15', privateBytes: 48 },
  16: { id: 16, kind: 'modp', keLength: 512, node: 'modp16', privateBytes: 64 },
  19: { id: 19, kind: 'ecp', keLength: 64, node: 'prime256v1', privateBytes: 32 },
  20: { id: 20, kind: 'ecp', keLength: 96, node: 'secp384r1', privateBytes: 48 },
  21: { id: 21, kind: 'ecp', keLength: 132, node: 'secp521r1', privateBytes: 66 },
  31: { id: 31, kind: 'x25519', keLength: 32, node: 'x25519', privateBytes: 32 },
};

/** A sub-table of ALL_DH_GROUPS (what one protocol offers). */
export function dhGroupTable(ids: readonly number[]): Record<number, DhGroupInfo> {
  const out: Record<number, DhGroupInfo> = {};
  for (const id of ids) {
    const g = ALL_DH_GROUPS[id];
    if (!g) throw new RangeError(`DH group ${id} is not implemented`);
    out[id] = g;
  }
  return out;
}

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

/**
 * Runs the one-time parameter checks of the MODP groups among `ids` now (at start-up)
 * instead of inside the first handshake that asks for one: about 55 ms for modp1024,
 * which every IKEv1 client proposes.
 */
export function warmDhGroups(ids: Iterable<number>): void {
  for (const id of ids) {
    const g = ALL_DH_GROUPS[id];
    if (g?.kind === 'modp') modp(g.node);
  }
}

/** Short Weierstrass curves y² = x³ - 3x + b (mod p) of RFC 5903 (FIPS 186-4 D.1.2). */
const CURVES: Record<string, { p: bigint; b: bigint; bits: number }> = {
  prime256v1: {
    p: 2n ** 256n - 2n ** 224n + 2n ** 192n + 2n ** 96n - 1n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    bits: 256,
  },
  secp384r1: {
    p: 2n ** 384n - 2n ** 128n - 2n ** 96n + 2n ** 32n - 1n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    bits: 384,
  },
  secp521r1: {
    p: 2n ** 521n - 1n,
    b: 0x0051953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    bits: 521,
  },
};

const big = (b: Uint8Array): bigint => (b.length === 0 ? 0n : BigInt(`0x${Buffer.from(b).toString('hex')}`));

function onCurve(curve: string, xy: Uint8Array): boolean {
  const c = CURVES[curve];
  if (!c) return false;
  const half = xy.length / 2;
  const x = big(xy.subarray(0, half));
  const y = big(xy.subarray(half));
  if (x >= c.p || y >= c.p) return false;
  const rhs = (((x * x) % c.p) * x - 3n * x + c.b) % c.p;
  return (y * y - rhs) % c.p === 0n;
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
  computeShared(peer: Uint8Array): Buffer | undefined;
}

/** Checks a peer KE value: right length; MODP not 0, 1, p-1 or >= p; ECP on the curve; X25519 by length (its zero check is on the result). */
export function validKeValue(group: DhGroupInfo, ke: Uint8Array): boolean {
  if (ke.length !== group.keLength) return false;
  if (group.kind === 'ecp') return onCurve(group.node, ke);
  if (group.kind === 'x25519') return true;
  const { p } = modp(group.node);
  const y = big(ke);
  return y > 1n && y < p - 1n;
}

// DER prefixes of PKCS#8 and SPKI for a raw X25519 key (RFC 8410 §7, §10.1).
const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');

/** A key pair with the private value taken from `random` (so tests are deterministic). */
export function generateKeyPair(group: DhGroupInfo, random: (n: number) => Buffer): DhKeyPair {
  if (group.kind === 'modp') {
    const { dh } = modp(group.node);
    const priv = Buffer.from(random(group.privateBytes));
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
  if (group.kind === 'x25519') {
    const priv: KeyObject = createPrivateKey({ key: Buffer.concat([X25519_PKCS8, random(32)]), format: 'der', type: 'pkcs8' });
    const pubDer = createPublicKey(priv).export({ format: 'der', type: 'spki' });
    return {
      group,
      publicValue: Buffer.from(pubDer.subarray(pubDer.length - 32)),
      computeShared(peer) {
        if (peer.length !== 32) return undefined;
        try {
          const s = diffieHellman({ privateKey: priv, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: 'der', type: 'spki' }) });
          return s.every((b) => b === 0) ? undefined : s;
        } catch {
          return undefined;
        }
      },
    };
  }
  const ecdh = createECDH(group.node);
  const coord = group.keLength / 2;
  const bits = CURVES[group.node]?.bits ?? coord * 8;
  let drawn = false;
  for (let i = 0; i < 32 && !drawn; i++) {
    const k = random(coord);
    if (bits % 8) k[0] = k[0]! & ((1 << bits % 8) - 1); // P-521: 66 bytes hold 521 bits
    try {
      ecdh.setPrivateKey(k);
      drawn = true;
    } catch {
      // private key outside [1, n-1]: draw again
    }
  }
  if (!drawn) throw new Error(`no valid ${group.node} private key in 32 draws`);
  const pub = ecdh.getPublicKey(); // 0x04 | x | y
  return {
    group,
    publicValue: Buffer.from(pub.subarray(1)),
    computeShared(peer) {
      if (!validKeValue(group, peer)) return undefined;
      try {
        return leftPad(ecdh.computeSecret(Buffer.concat([Buffer.from([4]), peer])), coord);
      } catch {
        return undefined;
      }
    },
  };
}

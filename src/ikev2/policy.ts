import { encrAlg, INTEG_ALGS, PRF_ALGS, type EncrAlg, type IntegAlg, type PrfAlg } from './crypto/algorithms.js';
import { IKEV2_DH_GROUPS, type DhGroupInfo } from './crypto/dh.js';
import { DhGroup, Encr, Integ, Prf, ProtocolId, TransformType, TransformAttr, dhGroupNames, nameOf } from './wire/constants.js';
import { keyLength, type Proposal, type SaPayload, type Transform } from './wire/sa.js';

/**
 * IKE SA proposal policy (RFC 7296 §2.7, §3.3.6): which transforms the server accepts,
 * in its order of preference. Defaults cover the built-in clients of Android 12+, iOS,
 * macOS, Windows (MODP1024, which the configuration can refuse) and strongSwan
 * (shared/CLIENTS.md).
 */
export interface Ikev2Policy {
  /** AES-CBC and AES-GCM-8/12/16 with the key lengths allowed. */
  encr: { id: number; keyBits: number[] }[];
  prf: number[];
  integ: number[];
  /** DH groups in order of preference (the one asked for in INVALID_KE_PAYLOAD). */
  dh: number[];
}

export const DEFAULT_IKEV2_POLICY: Ikev2Policy = {
  encr: [
    { id: Encr.AES_GCM_16, keyBits: [256, 128] },
    { id: Encr.AES_CBC, keyBits: [256, 128] },
    { id: Encr.AES_GCM_12, keyBits: [256, 128] },
    { id: Encr.AES_GCM_8, keyBits: [256, 128] },
  ],
  prf: [Prf.HMAC_SHA2_256, Prf.HMAC_SHA2_384, Prf.HMAC_SHA2_512, Prf.HMAC_SHA1],
  integ: [Integ.HMAC_SHA2_256_128, Integ.HMAC_SHA2_384_192, Integ.HMAC_SHA2_512_256, Integ.HMAC_SHA1_96],
  dh: [DhGroup.ECP256, DhGroup.CURVE25519, DhGroup.ECP384, DhGroup.MODP2048, DhGroup.ECP521, DhGroup.MODP3072, DhGroup.MODP4096, DhGroup.MODP1024],
};

/** The policy without MODP1024 (config `allow_modp1024 = false`). */
export function withoutModp1024(p: Ikev2Policy): Ikev2Policy {
  return { ...p, dh: p.dh.filter((g) => g !== DhGroup.MODP1024) };
}

export interface IkeSuite {
  encr: EncrAlg;
  prf: PrfAlg;
  integ: IntegAlg | undefined;
  dh: DhGroupInfo;
}

export interface IkeChoice {
  suite: IkeSuite;
  /** The initiator's SPI in that proposal (IKE SA rekey), empty in IKE_SA_INIT. */
  peerSpi: Buffer;
  /** The proposal as it goes back in the response: the peer's number, one transform of each type. */
  reply: Proposal;
  /** The client proposed this group but sent KE for another (answer INVALID_KE_PAYLOAD). */
  keMismatch: boolean;
}

export const suiteLabel = (s: IkeSuite): string => [s.encr.label, s.integ?.label, s.prf.label, nameOf(dhGroupNames, s.dh.id)].filter(Boolean).join('/');

const KNOWN_TYPES = new Set<number>([TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH, TransformType.ESN]);

/** Picks a transform of one type by the policy's order (not the peer's): undefined when none fits. */
function pick<T>(ts: Transform[], type: number, order: number[], get: (t: Transform) => T | undefined): { t: Transform; v: T } | undefined {
  for (const want of order) {
    for (const t of ts) {
      if (t.type !== type || t.id !== want) continue;
      const v = get(t);
      if (v !== undefined) return { t, v };
    }
  }
  return undefined;
}

/** One proposal against the policy; undefined when it cannot be accepted as a whole. */
function evaluate(p: Proposal, policy: Ikev2Policy, keGroup: number | undefined, spiSize: 0 | 8): IkeChoice | undefined {
  // §3.3.1: no SPI in IKE_SA_INIT; the initiator's new SPI in an IKE SA rekey
  if (p.protocolId !== ProtocolId.IKE || p.spi.length !== spiSize) return undefined;
  if (spiSize === 8 && p.spi.equals(Buffer.alloc(8))) return undefined;
  const ts = p.transforms;
  // §3.3.6: a transform type we do not understand makes the proposal unacceptable.
  if (ts.some((t) => !KNOWN_TYPES.has(t.type))) return undefined;
  // §3.3.5: attributes other than Key Length are not defined; reject what we cannot read.
  if (ts.some((t) => t.attributes.some((a) => a.type !== TransformAttr.KEY_LENGTH))) return undefined;
  if (ts.some((t) => t.type === TransformType.ESN)) return undefined; // ESN is for AH/ESP only

  // RFC 7296 §3.3: combined-mode (AEAD) ciphers go in proposals without integrity
  // (or with NONE, RFC 5282 §8); CBC needs one. So an INTEG in the proposal decides which.
  const integs = ts.filter((t) => t.type === TransformType.INTEG);
  const wantsAead = !integs.some((t) => t.id !== Integ.NONE);
  // our order of algorithms and, within one, of key lengths
  let encr: { t: Transform; v: EncrAlg } | undefined;
  for (const want of policy.encr) {
    for (const bits of want.keyBits) {
      const t = ts.find((x) => x.type === TransformType.ENCR && x.id === want.id && keyLength(x) === bits);
      const alg = t ? encrAlg(t.id, bits) : undefined;
      if (t && alg && alg.aead === wantsAead) {
        encr = { t, v: alg };
        break;
      }
    }
    if (encr) break;
  }
  if (!encr) return undefined;
  const prf = pick(ts, TransformType.PRF, policy.prf, (t) => PRF_ALGS[t.id]);
  if (!prf) return undefined;
  let integ: { t: Transform; v: IntegAlg } | undefined;
  if (!encr.v.aead) {
    integ = pick(integs, TransformType.INTEG, policy.integ, (t) => INTEG_ALGS[t.id]);
    if (!integ) return undefined;
  }

  const groups = ts.filter((t) => t.type === TransformType.DH && policy.dh.includes(t.id) && IKEV2_DH_GROUPS[t.id]);
  if (groups.length === 0) return undefined;
  // The group of the KE payload when it is acceptable (no extra round trip), else our preference.
  const byKe = keGroup !== undefined ? groups.find((t) => t.id === keGroup) : undefined;
  const dhT = byKe ?? pick(groups, TransformType.DH, policy.dh, (t) => IKEV2_DH_GROUPS[t.id])!.t;
  const dh = IKEV2_DH_GROUPS[dhT.id]!;

  const reply: Proposal = {
    number: p.number,
    protocolId: ProtocolId.IKE,
    spi: Buffer.alloc(0),
    transforms: [
      { type: TransformType.ENCR, id: encr.t.id, attributes: [{ type: TransformAttr.KEY_LENGTH, tv: true, value: encr.v.keyBytes * 8 }] },
      { type: TransformType.PRF, id: prf.t.id, attributes: [] },
      ...(integ ? [{ type: TransformType.INTEG, id: integ.t.id, attributes: [] }] : []),
      { type: TransformType.DH, id: dh.id, attributes: [] },
    ],
  };
  return { suite: { encr: encr.v, prf: prf.v, integ: integ?.v, dh }, reply, keMismatch: keGroup !== dh.id, peerSpi: Buffer.from(p.spi) };
}

/**
 * Chooses the first acceptable proposal in the peer's order (§2.7: the initiator
 * lists its preference) whose groups include the one of its KE payload, else the
 * first acceptable one (then INVALID_KE_PAYLOAD, §1.2). Undefined: NO_PROPOSAL_CHOSEN. Never throws,
 * whatever the proposals hold (Libreswan CVE-2024-3652: an AES-GMAC proposal).
 */
export function selectIkeProposal(sa: SaPayload, policy: Ikev2Policy, keGroup: number | undefined, spiSize: 0 | 8 = 0): IkeChoice | undefined {
  let first: IkeChoice | undefined;
  for (const p of sa.proposals) {
    const c = evaluate(p, policy, keGroup, spiSize);
    if (c && !c.keMismatch) return c; // one that fits the KE already sent saves a round trip
    first ??= c;
  }
  return first;
}

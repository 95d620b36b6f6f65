import type { ChildSaUp, EspTransform } from '../core/sa.js';
import type { ChildKeys } from './crypto/keys.js';
import type { Ikev2Sa } from './types.js';
import { Encr, Esn, Integ, ProtocolId, TransformAttr, TransformType } from './wire/constants.js';
import { keyLength, type Proposal, type SaPayload, type Transform } from './wire/sa.js';

/**
 * Child SA (ESP) proposals (RFC 7296 §3.3, §2.17): what the ESP engine can run, in our
 * order of preference, and the choice among a client's SAi2. ESP tunnel mode with
 * AES-CBC + HMAC or AES-GCM-16 (RFC 4106); 32-bit sequence numbers (NO_ESN).
 * DH transforms are ignored in IKE_AUTH (the first child takes its keys from the
 * IKE SA, §1.2) and decide PFS in CREATE_CHILD_SA.
 */
export interface ChildPolicy {
  encr: { id: number; keyBits: number[] }[];
  integ: number[];
  /** PFS groups accepted in CREATE_CHILD_SA, in order of preference. */
  dh: number[];
}

export const DEFAULT_CHILD_POLICY: ChildPolicy = {
  encr: [
    { id: Encr.AES_GCM_16, keyBits: [256, 128] },
    { id: Encr.AES_CBC, keyBits: [256, 128] },
  ],
  integ: [Integ.HMAC_SHA2_256_128, Integ.HMAC_SHA2_384_192, Integ.HMAC_SHA2_512_256, Integ.HMAC_SHA1_96],
  dh: [19, 31, 20, 14, 21, 15, 16, 2],
};

const INTEG_NAME: Record<number, EspTransform['integ']> = {
  [Integ.HMAC_SHA1_96]: 'hmac-sha1-96',
  [Integ.HMAC_SHA2_256_128]: 'hmac-sha256-128',
  [Integ.HMAC_SHA2_384_192]: 'hmac-sha384-192',
  [Integ.HMAC_SHA2_512_256]: 'hmac-sha512-256',
};
const INTEG_KEY: Record<number, number> = { [Integ.HMAC_SHA1_96]: 20, [Integ.HMAC_SHA2_256_128]: 32, [Integ.HMAC_SHA2_384_192]: 48, [Integ.HMAC_SHA2_512_256]: 64 };

export interface ChildChoice {
  transform: EspTransform;
  /** KEYMAT sizes per direction (§2.17): cipher key (with the 4-byte GCM salt) and integrity key. */
  encKeyBytes: number;
  integKeyBytes: number;
  /** The SPI the client chose for packets we send it. */
  peerSpi: number;
  /** PFS group of CREATE_CHILD_SA, undefined without PFS. */
  dh: number | undefined;
  /** The proposal number to answer with; the caller adds our SPI with `childReply`. */
  number: number;
  transforms: Transform[];
}

/** The SAr2 proposal: the client's number, our SPI, one transform of each type. */
export function childReply(c: ChildChoice, ourSpi: number): Proposal {
  const spi = Buffer.alloc(4);
  spi.writeUInt32BE(ourSpi >>> 0);
  return { number: c.number, protocolId: ProtocolId.ESP, spi, transforms: c.transforms };
}

export const childLabel = (t: EspTransform): string => (t.cipher === 'aes-gcm-16' ? `aes${t.keyBits}gcm16` : `aes${t.keyBits}-${t.integ}`);

function evaluate(p: Proposal, policy: ChildPolicy, pfs: number | 'ignore' | undefined): ChildChoice | undefined {
  if (p.protocolId !== ProtocolId.ESP || p.spi.length !== 4) return undefined;
  const peerSpi = p.spi.readUInt32BE(0);
  if (peerSpi < 256) return undefined; // RFC 4303 §2.1: 1-255 reserved, 0 never sent
  const ts = p.transforms;
  if (ts.some((t) => t.type < TransformType.ENCR || t.type > TransformType.ESN || t.type === TransformType.PRF)) return undefined;
  if (ts.some((t) => t.attributes.some((a) => a.type !== TransformAttr.KEY_LENGTH))) return undefined;
  const integs = ts.filter((t) => t.type === TransformType.INTEG && t.id !== Integ.NONE);
  const aead = integs.length === 0;
  let encr: { t: Transform; bits: number } | undefined;
  for (const want of policy.encr) {
    if ((want.id === Encr.AES_GCM_16) !== aead) continue;
    for (const bits of want.keyBits) {
      const t = ts.find((x) => x.type === TransformType.ENCR && x.id === want.id && keyLength(x) === bits);
      if (t) {
        encr = { t, bits };
        break;
      }
    }
    if (encr) break;
  }
  if (!encr) return undefined;
  const integ = aead ? undefined : policy.integ.map((id) => integs.find((t) => t.id === id)).find((t) => t !== undefined);
  if (!aead && !integ) return undefined;
  const esns = ts.filter((t) => t.type === TransformType.ESN);
  const noEsn = esns.find((t) => t.id === Esn.NO_ESN);
  if (esns.length > 0 && !noEsn) return undefined; // the engine has 32-bit sequence numbers only
  const groups = ts.filter((t) => t.type === TransformType.DH && t.id !== 0);
  let dh: Transform | undefined;
  if (typeof pfs === 'number') {
    dh = groups.find((t) => t.id === pfs && policy.dh.includes(pfs));
    if (!dh) return undefined;
  } else if (pfs === undefined && groups.length > 0 && !ts.some((t) => t.type === TransformType.DH && t.id === 0)) {
    return undefined; // CREATE_CHILD_SA without KE: the proposal must allow no PFS
  }
  const gcm = encr.t.id === Encr.AES_GCM_16;
  const transform: EspTransform = { cipher: gcm ? 'aes-gcm-16' : 'aes-cbc', keyBits: encr.bits, integ: gcm ? 'none' : INTEG_NAME[integ!.id]! };
  const transforms: Transform[] = [
    { type: TransformType.ENCR, id: encr.t.id, attributes: [{ type: TransformAttr.KEY_LENGTH, tv: true, value: encr.bits }] },
    ...(integ ? [{ type: TransformType.INTEG, id: integ.id, attributes: [] }] : []),
    ...(dh ? [{ type: TransformType.DH, id: dh.id, attributes: [] }] : []),
    { type: TransformType.ESN, id: Esn.NO_ESN, attributes: [] },
  ];
  return { transform, encKeyBytes: encr.bits / 8 + (gcm ? 4 : 0), integKeyBytes: integ ? INTEG_KEY[integ.id]! : 0, peerSpi, dh: dh?.id, number: p.number, transforms };
}

/**
 * The first acceptable ESP proposal in the client's order. `pfs`: 'ignore' in
 * IKE_AUTH; the KE group in a CREATE_CHILD_SA with KE; undefined in one without.
 * Undefined means NO_PROPOSAL_CHOSEN.
 */
export function selectChildProposal(sa: SaPayload, policy: ChildPolicy, pfs: number | 'ignore' | undefined): ChildChoice | undefined {
  for (const p of sa.proposals) {
    const c = evaluate(p, policy, pfs);
    if (c) return c;
  }
  return undefined;
}

/**
 * The child SA handed to ESP for a negotiated proposal: we receive what the initiator
 * sends (i2r keys) on our SPI and send with r2i keys to the SPI it chose.
 */
export function childSaUp(sa: Ikev2Sa, choice: ChildChoice, ourSpi: number, km: ChildKeys, lifetimeSeconds: number | undefined, peerId: string | undefined): ChildSaUp {
  return {
    type: 'child-sa-up',
    id: `${sa.id}-child-${ourSpi.toString(16)}`,
    ikeSaId: sa.id,
    peer: { ...sa.peer },
    local: { ...sa.local },
    encapsulation: sa.local.port === 4500 ? 'udp' : 'none',
    transform: choice.transform,
    inbound: { spi: ourSpi, encKey: km.i2r.encKey, authKey: km.i2r.integKey },
    outbound: { spi: choice.peerSpi, encKey: km.r2i.encKey, authKey: km.r2i.integKey },
    lifetimeSeconds: lifetimeSeconds ?? 28_800,
    ...(peerId ? { peerId } : {}),
    ikeAlgorithms: childLabel(choice.transform),
  };
}

import type { ChildSaUp, EspTransform } from '../core/sa.js';
import { childKeys } from './crypto/keys.js';
import { childSaUp, type ChildChoice } from './child-policy.js';
import type { Ikev2AuthConfig } from './ike-auth.js';
import { FULL_TUNNEL, narrowTrafficSelectors } from './ts-narrow.js';
import { Encr, Esn, Integ, NotifyType, PayloadType, ProtocolId, TransformAttr, TransformType, TsType, isErrorNotify } from './wire/constants.js';
import { allPayloads, findPayload, type Payload, type PayloadChain } from './wire/message.js';
import type { Transform } from './wire/sa.js';
import type { TrafficSelector } from './wire/ts.js';
import type { Ikev2Child, Ikev2Sa } from './types.js';

/**
 * CREATE_CHILD_SA started by us to rekey a child SA the client has not rekeyed
 * (RFC 7296 §1.3.3, §2.8): we are the initiator of this exchange, so
 *
 *   HDR, SK {N(REKEY_SA), SA, Ni, TSi, TSr}  →  HDR, SK {SA, Nr, TSi, TSr}
 *
 * with TSi = our side (0.0.0.0/0, or the configured networks), TSr = the client's virtual
 * IP, the old child's algorithms in one proposal without PFS, our nonce as Ni. §2.17:
 * KEYMAT = prf+(SK_d, Ni | Nr) and the keys of what the initiator sends come first, so
 * here the first half is what WE send (the reverse of a child the client started).
 * Afterwards the initiator of the rekey deletes the old child (§2.8).
 */
export interface OurChildRekey {
  old: Ikev2Child;
  ourSpi: number;
  ni: Buffer;
}

const INTEG_ID: Partial<Record<EspTransform['integ'], number>> = {
  'hmac-sha1-96': Integ.HMAC_SHA1_96,
  'hmac-sha256-128': Integ.HMAC_SHA2_256_128,
  'hmac-sha384-192': Integ.HMAC_SHA2_384_192,
  'hmac-sha512-256': Integ.HMAC_SHA2_512_256,
  none: undefined,
};
const INTEG_KEY_BYTES: Record<number, number> = { [Integ.HMAC_SHA1_96]: 20, [Integ.HMAC_SHA2_256_128]: 32, [Integ.HMAC_SHA2_384_192]: 48, [Integ.HMAC_SHA2_512_256]: 64 };

/** The ESP transforms of a child's algorithms (what SAr2 said), or undefined for one we cannot propose. */
export function transformsOf(t: EspTransform): { transforms: Transform[]; encKeyBytes: number; integKeyBytes: number } | undefined {
  const gcm = t.cipher === 'aes-gcm-16';
  if (!gcm && t.cipher !== 'aes-cbc') return undefined;
  const integ = gcm ? undefined : INTEG_ID[t.integ];
  if (!gcm && integ === undefined) return undefined;
  const transforms: Transform[] = [
    { type: TransformType.ENCR, id: gcm ? Encr.AES_GCM_16 : Encr.AES_CBC, attributes: [{ type: TransformAttr.KEY_LENGTH, tv: true, value: t.keyBits }] },
    ...(integ !== undefined ? [{ type: TransformType.INTEG, id: integ, attributes: [] }] : []),
    { type: TransformType.ESN, id: Esn.NO_ESN, attributes: [] },
  ];
  return { transforms, encKeyBytes: t.keyBits / 8 + (gcm ? 4 : 0), integKeyBytes: integ !== undefined ? INTEG_KEY_BYTES[integ]! : 0 };
}

const u32 = (v: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
};

const ANY: TrafficSelector = { tsType: TsType.TS_IPV4_ADDR_RANGE, ipProtocol: 0, startPort: 0, endPort: 65535, startAddress: Buffer.alloc(4), endAddress: Buffer.alloc(4, 0xff) };

/** Our request, or undefined when this child cannot be rekeyed by us (no virtual IP, algorithms we cannot propose). */
export function childRekeyRequest(cfg: Ikev2AuthConfig, sa: Ikev2Sa, old: Ikev2Child, ourSpi: number, ni: Buffer): Payload[] | undefined {
  const t = old.transform && transformsOf(old.transform);
  if (!t || !sa.virtualIp) return undefined;
  const ts = narrowTrafficSelectors([ANY], [ANY], sa.virtualIp, cfg.localNetworks ?? FULL_TUNNEL);
  if (!ts) return undefined;
  return [
    { type: PayloadType.N, value: { protocolId: ProtocolId.ESP, spi: u32(old.ourSpi), type: NotifyType.REKEY_SA, data: Buffer.alloc(0) } },
    { type: PayloadType.SA, value: { proposals: [{ number: 1, protocolId: ProtocolId.ESP, spi: u32(ourSpi), transforms: t.transforms }] } },
    { type: PayloadType.NONCE, value: { nonce: ni } },
    { type: PayloadType.TSi, value: { selectors: ts.tsr } },
    { type: PayloadType.TSr, value: { selectors: ts.tsi } },
  ];
}

export type ChildRekeyAnswer = { ok: true; child: ChildSaUp } | { ok: false; reason: string };

/** The client's answer to our request: the new child (for ESP), or why there is none. */
export function childRekeyAnswer(cfg: Ikev2AuthConfig, sa: Ikev2Sa, r: OurChildRekey, chain: PayloadChain): ChildRekeyAnswer {
  const err = allPayloads(chain, PayloadType.N).find((n) => isErrorNotify(n.type));
  if (err) return { ok: false, reason: `the client answered notify ${err.type}` };
  const t = r.old.transform && transformsOf(r.old.transform);
  const saP = findPayload(chain, PayloadType.SA);
  const nrP = findPayload(chain, PayloadType.NONCE);
  if (!t || !r.old.transform || !saP || !nrP || !findPayload(chain, PayloadType.TSi) || !findPayload(chain, PayloadType.TSr)) return { ok: false, reason: 'answer without SA, Nr, TSi or TSr' };
  if (findPayload(chain, PayloadType.KE)) return { ok: false, reason: 'KE in the answer to a request without PFS' };
  const p = saP.value.proposals;
  const only = p[0];
  if (p.length !== 1 || !only || only.protocolId !== ProtocolId.ESP || only.spi.length !== 4) return { ok: false, reason: 'not one ESP proposal with a 4-byte SPI' };
  const peerSpi = only.spi.readUInt32BE(0);
  if (peerSpi < 256) return { ok: false, reason: `reserved SPI ${peerSpi}` };
  // the one proposal we made, as we made it (the DH "none" transform of some peers aside)
  const key = (ts: readonly Transform[]): string =>
    ts
      .filter((x) => !(x.type === TransformType.DH && x.id === 0))
      .map((x) => `${x.type}/${x.id}/${x.attributes.map((a) => `${a.type}=${a.tv ? a.value : a.bytes.toString('hex')}`).join(',')}`)
      .sort()
      .join(' ');
  if (key(only.transforms) !== key(t.transforms)) return { ok: false, reason: 'the client chose transforms we did not propose' };
  const km = childKeys(sa.suite.prf, sa.keys.skD, r.ni, nrP.value.nonce, t.encKeyBytes, t.integKeyBytes);
  const choice: ChildChoice = { transform: r.old.transform, encKeyBytes: t.encKeyBytes, integKeyBytes: t.integKeyBytes, peerSpi, dh: undefined, number: 1, transforms: t.transforms };
  // childSaUp receives on i2r keys (a child the client started); here we started it: swap
  return { ok: true, child: childSaUp(sa, choice, r.ourSpi, { i2r: km.r2i, r2i: km.i2r }, cfg.childLifetimeSeconds, sa.user) };
}

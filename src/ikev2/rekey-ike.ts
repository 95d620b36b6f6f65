import { deriveIkeKeys, skeyseedRekey, type IkeKeys } from './crypto/keys.js';
import { generateKeyPair, validKeValue, type DhKeyPair } from './crypto/dh.js';
import { selectIkeProposal, type IkeSuite, type Ikev2Policy } from './policy.js';
import { NotifyType, PayloadType, ProtocolId, TransformAttr, TransformType, isErrorNotify, nameOf, notifyTypeNames } from './wire/constants.js';
import { allPayloads, findPayload, type Payload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Transform } from './wire/sa.js';
import type { Ikev2Sa } from './types.js';

/**
 * Rekey of the IKE SA started by the client (RFC 7296 §1.3.2, §2.18):
 *
 *   HDR, SK {SA, Ni, KEi}  →  HDR, SK {SA, Nr, KEr}
 *
 * The proposal carries the initiator's new SPI, ours goes in the answer.
 *   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)   (the old SA's PRF)
 *   {SK_d | SK_ai | ...} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)   (the new SA's PRF)
 * The children move to the new SA; the client then deletes the old one.
 */
export interface IkeRekey {
  payloads: Payload[];
  next?: { suite: IkeSuite; keys: IkeKeys; spiI: Buffer; spiR: Buffer; ni: Buffer; nr: Buffer };
}

const error = (type: number, data?: Uint8Array): IkeRekey => ({ payloads: [{ type: PayloadType.N, value: notify(type, data) }] });

export function isIkeRekey(chain: PayloadChain): boolean {
  return findPayload(chain, PayloadType.SA)?.value.proposals.some((p) => p.protocolId === ProtocolId.IKE) ?? false;
}

export function rekeyIke(policy: Ikev2Policy, sa: Ikev2Sa, chain: PayloadChain, random: (n: number) => Buffer, newSpiR: () => Buffer): IkeRekey {
  const saP = findPayload(chain, PayloadType.SA);
  const niP = findPayload(chain, PayloadType.NONCE);
  const ke = findPayload(chain, PayloadType.KE)?.value;
  if (!saP || !niP || !ke) return error(NotifyType.INVALID_SYNTAX);
  const choice = selectIkeProposal(saP.value, policy, ke.group, 8);
  if (!choice) return error(NotifyType.NO_PROPOSAL_CHOSEN);
  if (choice.keMismatch) return error(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(choice.suite.dh.id >> 8, choice.suite.dh.id & 0xff));
  if (!validKeValue(choice.suite.dh, ke.data)) return error(NotifyType.INVALID_SYNTAX);
  const dh = generateKeyPair(choice.suite.dh, random);
  const gir = dh.computeShared(ke.data);
  if (!gir) return error(NotifyType.INVALID_SYNTAX);
  const ni = niP.value.nonce;
  const nr = random(32);
  const spiI = choice.peerSpi;
  const spiR = newSpiR();
  const skeyseed = skeyseedRekey(sa.suite.prf, sa.keys.skD, gir, ni, nr);
  const keys = deriveIkeKeys(choice.suite, skeyseed, ni, nr, spiI, spiR);
  const payloads: Payload[] = [
    { type: PayloadType.SA, value: { proposals: [{ ...choice.reply, spi: spiR }] } },
    { type: PayloadType.NONCE, value: { nonce: nr } },
    { type: PayloadType.KE, value: { group: choice.suite.dh.id, data: dh.publicValue } },
  ];
  return { payloads, next: { suite: choice.suite, keys, spiI, spiR, ni: Buffer.from(ni), nr } };
}

/**
 * Rekey of the IKE SA started by us (§1.3.2, §2.18), when the client has not rekeyed it
 * within our lifetime: we are the initiator of the exchange and of the new IKE SA, so
 *
 *   HDR, SK {SA, Ni, KEi}  →  HDR, SK {SA, Nr, KEr}
 *
 * with one proposal, the current suite, our new SPI in it; the client's new SPI comes in
 * its answer. SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr) and
 * {SK_d | SK_ai | ...} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), where Ni and SPIi are ours:
 * on the new SA we are the initiator (our messages carry the I flag, we send with SK_ei
 * and SK_ai, §3.1: "This bit changes to reflect who initiated the last rekey").
 */
export interface OurIkeRekey {
  suite: IkeSuite;
  ourSpi: Buffer;
  ni: Buffer;
  dh: DhKeyPair;
}

/** The transforms of an IKE suite, as one proposal carries them (§3.3.2). */
export function ikeTransforms(s: IkeSuite): Transform[] {
  return [
    { type: TransformType.ENCR, id: s.encr.id, attributes: [{ type: TransformAttr.KEY_LENGTH, tv: true, value: s.encr.keyBytes * 8 }] },
    { type: TransformType.PRF, id: s.prf.id, attributes: [] },
    ...(s.integ ? [{ type: TransformType.INTEG, id: s.integ.id, attributes: [] }] : []),
    { type: TransformType.DH, id: s.dh.id, attributes: [] },
  ];
}

export function ikeRekeyRequest(r: OurIkeRekey): Payload[] {
  return [
    { type: PayloadType.SA, value: { proposals: [{ number: 1, protocolId: ProtocolId.IKE, spi: r.ourSpi, transforms: ikeTransforms(r.suite) }] } },
    { type: PayloadType.NONCE, value: { nonce: r.ni } },
    { type: PayloadType.KE, value: { group: r.suite.dh.id, data: r.dh.publicValue } },
  ];
}

export type IkeRekeyAnswer =
  | { ok: true; next: { suite: IkeSuite; keys: IkeKeys; spiI: Buffer; spiR: Buffer; ni: Buffer; nr: Buffer } }
  /** notify: the client's error notify; group: the one INVALID_KE_PAYLOAD asks for. */
  | { ok: false; reason: string; notify?: number; group?: number };

const transformKey = (ts: readonly Transform[]): string =>
  ts
    .map((x) => `${x.type}/${x.id}/${x.attributes.map((a) => `${a.type}=${a.tv ? a.value : a.bytes.toString('hex')}`).join(',')}`)
    .sort()
    .join(' ');

/** The client's answer to our IKE SA rekey: the new SA's SPIs, nonces and keys, or why there is none. */
export function ikeRekeyAnswer(old: Ikev2Sa, r: OurIkeRekey, chain: PayloadChain): IkeRekeyAnswer {
  const err = allPayloads(chain, PayloadType.N).find((n) => isErrorNotify(n.type));
  if (err) {
    const group = err.type === NotifyType.INVALID_KE_PAYLOAD && err.data.length === 2 ? err.data.readUInt16BE(0) : undefined;
    return { ok: false, reason: `the client answered ${nameOf(notifyTypeNames, err.type)}`, notify: err.type, ...(group !== undefined ? { group } : {}) };
  }
  const saP = findPayload(chain, PayloadType.SA);
  const nrP = findPayload(chain, PayloadType.NONCE);
  const ke = findPayload(chain, PayloadType.KE)?.value;
  if (!saP || !nrP || !ke) return { ok: false, reason: 'answer without SA, Nr or KE' };
  const p = saP.value.proposals;
  const only = p[0];
  if (p.length !== 1 || !only || only.protocolId !== ProtocolId.IKE || only.spi.length !== 8) return { ok: false, reason: 'not one IKE proposal with an 8-byte SPI' };
  if (only.spi.equals(Buffer.alloc(8))) return { ok: false, reason: 'zero SPI' };
  if (transformKey(only.transforms) !== transformKey(ikeTransforms(r.suite))) return { ok: false, reason: 'the client chose transforms we did not propose' };
  if (ke.group !== r.suite.dh.id || !validKeValue(r.suite.dh, ke.data)) return { ok: false, reason: `bad KE (group ${ke.group})` };
  const gir = r.dh.computeShared(ke.data);
  if (!gir) return { ok: false, reason: 'bad KE value' };
  const nr = Buffer.from(nrP.value.nonce);
  if (nr.length < 16 || nr.length > 256) return { ok: false, reason: `nonce of ${nr.length} bytes` };
  const spiR = Buffer.from(only.spi);
  const skeyseed = skeyseedRekey(old.suite.prf, old.keys.skD, gir, r.ni, nr);
  const keys = deriveIkeKeys(r.suite, skeyseed, r.ni, nr, r.ourSpi, spiR);
  return { ok: true, next: { suite: r.suite, keys, spiI: r.ourSpi, spiR, ni: r.ni, nr } };
}

/**
 * §2.8.1 applied to the IKE SA (§2.25.2): both sides rekeyed at once. The new SA made by
 * the exchange that holds the lowest of the four nonces is redundant and is deleted by
 * whoever started that exchange. True when ours (nonces `ourNi`, `theirNr`) is the one.
 */
export function oursRedundant(ourNi: Buffer, theirNr: Buffer, theirNi: Buffer, ourNr: Buffer): boolean {
  const low = (a: Buffer, b: Buffer): Buffer => (Buffer.compare(a, b) <= 0 ? a : b);
  return Buffer.compare(low(ourNi, theirNr), low(theirNi, ourNr)) < 0;
}

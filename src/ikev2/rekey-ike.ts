import { deriveIkeKeys, skeyseedRekey, type IkeKeys } from './crypto/keys.js';
import { generateKeyPair, validKeValue } from './crypto/dh.js';
import { selectIkeProposal, type IkeSuite, type Ikev2Policy } from './policy.js';
import { NotifyType, PayloadType, ProtocolId } from './wire/constants.js';
import { findPayload, type Payload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
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

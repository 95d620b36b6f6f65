import type { ChildSaUp } from '../core/sa.js';
import { childKeys } from './crypto/keys.js';
import { generateKeyPair, IKEV2_DH_GROUPS, validKeValue } from './crypto/dh.js';
import { childReply, childSaUp, DEFAULT_CHILD_POLICY, selectChildProposal } from './child-policy.js';
import type { Ikev2AuthConfig } from './ike-auth.js';
import { FULL_TUNNEL, narrowTrafficSelectors } from './ts-narrow.js';
import { NotifyType, PayloadType, ProtocolId } from './wire/constants.js';
import { allPayloads, findPayload, type Payload, type PayloadChain } from './wire/message.js';
import { notify } from './wire/notify.js';
import type { Ikev2Child, Ikev2Sa } from './types.js';

/**
 * CREATE_CHILD_SA started by the client to rekey a child SA (RFC 7296 §1.3.3):
 *
 *   HDR, SK {N(REKEY_SA), SA, Ni, [KEi,] TSi, TSr}  →  HDR, SK {SA, Nr, [KEr,] TSi, TSr}
 *
 * KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr) with this exchange's nonces (§2.17).
 * The old child stays until the client deletes it. A request without REKEY_SA (an
 * additional child, or an IKE SA rekey) is answered NO_ADDITIONAL_SAS.
 */
export interface CreateChildResult {
  payloads: Payload[];
  child?: ChildSaUp;
  rekeyed?: Ikev2Child;
}

const error = (type: number, data?: Uint8Array): CreateChildResult => ({ payloads: [{ type: PayloadType.N, value: notify(type, data) }] });

export function createChild(cfg: Ikev2AuthConfig, sa: Ikev2Sa, chain: PayloadChain, random: (n: number) => Buffer, newSpi: () => number): CreateChildResult {
  const rekey = allPayloads(chain, PayloadType.N).find((n) => n.type === NotifyType.REKEY_SA);
  if (!rekey || rekey.protocolId !== ProtocolId.ESP || rekey.spi.length !== 4) return error(NotifyType.NO_ADDITIONAL_SAS);
  const peerSpi = rekey.spi.readUInt32BE(0);
  const old = [...sa.children.values()].find((c) => c.peerSpi === peerSpi);
  if (!old) {
    const spi = Buffer.alloc(4);
    spi.writeUInt32BE(peerSpi);
    return { payloads: [{ type: PayloadType.N, value: { protocolId: ProtocolId.ESP, spi, type: NotifyType.CHILD_SA_NOT_FOUND, data: Buffer.alloc(0) } }] };
  }
  const saP = findPayload(chain, PayloadType.SA);
  const niP = findPayload(chain, PayloadType.NONCE);
  const tsi = findPayload(chain, PayloadType.TSi);
  const tsr = findPayload(chain, PayloadType.TSr);
  if (!saP || !niP || !tsi || !tsr || !sa.virtualIp) return error(NotifyType.INVALID_SYNTAX);
  const policy = cfg.childPolicy ?? DEFAULT_CHILD_POLICY;
  const ke = findPayload(chain, PayloadType.KE)?.value;
  const choice = selectChildProposal(saP.value, policy, ke?.group);
  if (!choice) {
    // §1.3: a proposal we could take with another group → INVALID_KE_PAYLOAD naming it
    const other = policy.dh.find((g) => IKEV2_DH_GROUPS[g] && selectChildProposal(saP.value, policy, g));
    if (other !== undefined) return error(NotifyType.INVALID_KE_PAYLOAD, Uint8Array.of(other >> 8, other & 0xff));
    return error(NotifyType.NO_PROPOSAL_CHOSEN);
  }
  let gir: Buffer | undefined;
  let keReply: Payload | undefined;
  if (ke && choice.dh !== undefined) {
    const group = IKEV2_DH_GROUPS[choice.dh]!;
    if (!validKeValue(group, ke.data)) return error(NotifyType.INVALID_SYNTAX);
    const dh = generateKeyPair(group, random);
    gir = dh.computeShared(ke.data);
    if (!gir) return error(NotifyType.INVALID_SYNTAX);
    keReply = { type: PayloadType.KE, value: { group: group.id, data: dh.publicValue } };
  }
  const ts = narrowTrafficSelectors(tsi.value.selectors, tsr.value.selectors, sa.virtualIp, cfg.localNetworks ?? FULL_TUNNEL);
  if (!ts) return error(NotifyType.TS_UNACCEPTABLE);
  const ni = niP.value.nonce;
  const nr = random(32);
  const km = childKeys(sa.suite.prf, sa.keys.skD, ni, nr, choice.encKeyBytes, choice.integKeyBytes, gir);
  const ourSpi = newSpi();
  const payloads: Payload[] = [
    { type: PayloadType.SA, value: { proposals: [childReply(choice, ourSpi)] } },
    { type: PayloadType.NONCE, value: { nonce: nr } },
    ...(keReply ? [keReply] : []),
    { type: PayloadType.TSi, value: { selectors: ts.tsi } },
    { type: PayloadType.TSr, value: { selectors: ts.tsr } },
  ];
  const child = childSaUp(sa, choice, ourSpi, km, cfg.childLifetimeSeconds, sa.user);
  return { payloads, child, rekeyed: old };
}

/**
 * An IKEv2 initiator for tests: builds IKE_SA_INIT requests the way the built-in
 * clients do (their proposals, KE guess, NAT detection, fragmentation and signature
 * hash notifies), follows COOKIE and INVALID_KE_PAYLOAD answers and derives the
 * keys from the response on its own side.
 */
import { randomBytes } from 'node:crypto';
import type { Endpoint } from '../../src/core/sa.js';
import { encrAlg, INTEG_ALGS, PRF_ALGS, type EncrAlg, type IntegAlg, type PrfAlg } from '../../src/ikev2/crypto/algorithms.js';
import { generateKeyPair, IKEV2_DH_GROUPS, type DhKeyPair } from '../../src/ikev2/crypto/dh.js';
import { ikeKeys, type IkeKeys } from '../../src/ikev2/crypto/keys.js';
import { natDetectionHash } from '../../src/ikev2/natd.js';
import { ExchangeType, HeaderFlag, NotifyType, PayloadType, TransformType } from '../../src/ikev2/wire/constants.js';
import { allPayloads, decodeMessage, encodeMessage, findPayload, type Payload } from '../../src/ikev2/wire/message.js';
import { notify } from '../../src/ikev2/wire/notify.js';
import { keyLength, type Proposal, type Transform } from '../../src/ikev2/wire/sa.js';

export interface ProposalSpec {
  encr: [id: number, keyBits?: number][];
  prf: number[];
  integ?: number[];
  dh: number[];
}

export function ikeProposal(number: number, s: ProposalSpec): Proposal {
  const t = (type: number, id: number, kl?: number): Transform => ({ type, id, attributes: kl === undefined ? [] : [{ type: 14, tv: true, value: kl }] });
  return {
    number,
    protocolId: 1,
    spi: Buffer.alloc(0),
    transforms: [
      ...s.encr.map(([id, kl]) => t(TransformType.ENCR, id, kl)),
      ...s.prf.map((id) => t(TransformType.PRF, id)),
      ...(s.integ ?? []).map((id) => t(TransformType.INTEG, id)),
      ...s.dh.map((id) => t(TransformType.DH, id)),
    ],
  };
}

export interface InitiatorOptions {
  proposals: Proposal[];
  keGroup: number;
  /** Our address as we see it (NAT detection source); the test may deliver from another one. */
  local: Endpoint;
  /** The responder's address as we address it. */
  remote: Endpoint;
  natDetection?: boolean;
  fragmentation?: boolean;
  signatureHashes?: number[];
  /** Extra payloads (hostile tests). */
  extra?: Payload[];
}

export type InitResult =
  | { kind: 'cookie'; cookie: Buffer }
  | { kind: 'invalid-ke'; group: number }
  | { kind: 'error'; notify: number }
  | { kind: 'done' };

export class TestInitiator {
  readonly spiI = randomBytes(8);
  spiR: Buffer = Buffer.alloc(8);
  readonly ni = randomBytes(32);
  nr: Buffer = Buffer.alloc(0);
  keGroup: number;
  private dh: DhKeyPair;
  cookie: Buffer | undefined;
  lastRequest: Buffer = Buffer.alloc(0);
  keys: IkeKeys | undefined;
  suite: { encr: EncrAlg; prf: PrfAlg; integ: IntegAlg | undefined } | undefined;
  chosen: Proposal | undefined;
  response: ReturnType<typeof decodeMessage> | undefined;
  rawResponse: Buffer | undefined;

  constructor(readonly opts: InitiatorOptions) {
    this.keGroup = opts.keGroup;
    this.dh = generateKeyPair(IKEV2_DH_GROUPS[this.keGroup]!, randomBytes);
  }

  request(): Buffer {
    const o = this.opts;
    const payloads: Payload[] = [];
    if (this.cookie) payloads.push({ type: PayloadType.N, value: notify(NotifyType.COOKIE, this.cookie) });
    payloads.push({ type: PayloadType.SA, value: { proposals: o.proposals } });
    payloads.push({ type: PayloadType.KE, value: { group: this.keGroup, data: this.dh.publicValue } });
    payloads.push({ type: PayloadType.NONCE, value: { nonce: this.ni } });
    if (o.natDetection ?? true) {
      payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_SOURCE_IP, natDetectionHash(this.spiI, Buffer.alloc(8), o.local)) });
      payloads.push({ type: PayloadType.N, value: notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natDetectionHash(this.spiI, Buffer.alloc(8), o.remote)) });
    }
    if (o.fragmentation) payloads.push({ type: PayloadType.N, value: notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) });
    if (o.signatureHashes) {
      const d = Buffer.alloc(o.signatureHashes.length * 2);
      o.signatureHashes.forEach((h, i) => d.writeUInt16BE(h, i * 2));
      payloads.push({ type: PayloadType.N, value: notify(NotifyType.SIGNATURE_HASH_ALGORITHMS, d) });
    }
    payloads.push(...(o.extra ?? []));
    this.lastRequest = encodeMessage({ spiI: this.spiI, spiR: Buffer.alloc(8), exchangeType: ExchangeType.IKE_SA_INIT, flags: HeaderFlag.INITIATOR, messageId: 0 }, payloads);
    return this.lastRequest;
  }

  /** Handles the IKE_SA_INIT response; on COOKIE and INVALID_KE_PAYLOAD prepares the retry (§2.6, §1.2). */
  handle(resp: Uint8Array): InitResult {
    const m = decodeMessage(resp);
    if (m.header.exchangeType !== ExchangeType.IKE_SA_INIT || !(m.header.flags & HeaderFlag.RESPONSE) || !m.header.spiI.equals(this.spiI)) throw new Error('not our response');
    const ns = allPayloads(m.chain, PayloadType.N);
    const cookie = ns.find((n) => n.type === NotifyType.COOKIE);
    if (cookie) {
      this.cookie = cookie.data;
      return { kind: 'cookie', cookie: cookie.data };
    }
    const ike = ns.find((n) => n.type === NotifyType.INVALID_KE_PAYLOAD);
    if (ike) {
      const group = ike.data.readUInt16BE(0);
      this.keGroup = group;
      this.dh = generateKeyPair(IKEV2_DH_GROUPS[group]!, randomBytes);
      return { kind: 'invalid-ke', group };
    }
    const err = ns.find((n) => n.type < 16384);
    if (err) return { kind: 'error', notify: err.type };
    const sa = findPayload(m.chain, PayloadType.SA)!.value;
    const ke = findPayload(m.chain, PayloadType.KE)!.value;
    this.nr = findPayload(m.chain, PayloadType.NONCE)!.value.nonce;
    if (sa.proposals.length !== 1) throw new Error('responder must choose one proposal');
    const p = sa.proposals[0]!;
    this.chosen = p;
    const one = (type: number) => {
      const ts = p.transforms.filter((t) => t.type === type);
      if (ts.length > 1) throw new Error(`two transforms of type ${type}`);
      return ts[0];
    };
    const e = one(TransformType.ENCR)!;
    const suite = { encr: encrAlg(e.id, keyLength(e))!, prf: PRF_ALGS[one(TransformType.PRF)!.id]!, integ: one(TransformType.INTEG) ? INTEG_ALGS[one(TransformType.INTEG)!.id] : undefined };
    if (ke.group !== this.keGroup || one(TransformType.DH)?.id !== this.keGroup) throw new Error('responder changed the group');
    const shared = this.dh.computeShared(ke.data);
    if (!shared) throw new Error('bad responder KE');
    this.spiR = Buffer.from(m.header.spiR);
    this.keys = ikeKeys(suite, this.ni, this.nr, shared, this.spiI, this.spiR);
    this.suite = suite;
    this.response = m;
    this.rawResponse = Buffer.from(resp);
    return { kind: 'done' };
  }

  notifies(): ReturnType<typeof allPayloads<typeof PayloadType.N>> {
    return this.response ? allPayloads(this.response.chain, PayloadType.N) : [];
  }
}

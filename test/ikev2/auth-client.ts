/**
 * The IKE_AUTH side of the test initiator: an EAP-MSCHAPv2 client as Android, iOS and
 * Windows run it (RFC 7296 §2.16), with its own computations of what the server must
 * send: the server's signature AUTH, the MS-CHAPv2 authenticator response, the MSK
 * and the child keys.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { getAsymmetricStartKey, getMasterKey } from '../../src/core/mschap/mppe.js';
import { generateAuthenticatorResponse, generateNTResponse, hashNtPasswordHash, ntPasswordHash } from '../../src/core/mschap/mschapv2.js';
import { sharedKeyAuth, signedOctets, verifySharedKeyAuth } from '../../src/ikev2/crypto/auth.js';
import { childKeys, type ChildKeys } from '../../src/ikev2/crypto/keys.js';
import { verifyAuth } from '../../src/ikev2/crypto/signature.js';
import { encodeEncryptedMessage, encodeFragments, openEncrypted, openSk, skKeys, type SkKeys } from '../../src/ikev2/crypto/sk.js';
import { decodeEap, EapCode, EapType, encodeEap } from '../../src/ikev2/eap/packet.js';
import { decodeMsChap, encodeMsChap, MsChapOp } from '../../src/ikev2/eap/mschapv2-wire.js';
import { FragmentReassembler } from '../../src/ikev2/fragments.js';
import { AuthMethod, CfgType, ConfigAttr, ExchangeType, HeaderFlag, PayloadType } from '../../src/ikev2/wire/constants.js';
import { encodeId, type IdPayload } from '../../src/ikev2/wire/id.js';
import { decodeMessage, decodePayloadChain, findPayload, type Payload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import { ipv4Range } from '../../src/ikev2/wire/ts.js';
import type { Proposal } from '../../src/ikev2/wire/sa.js';
import type { TestInitiator } from './initiator.js';

export const ANY = ipv4Range(Buffer.from([0, 0, 0, 0]), Buffer.from([255, 255, 255, 255]));

export function espProposal(encr: number, keyBits: number, integ?: number, spi = 0xca11ab1e): Proposal {
  const s = Buffer.alloc(4);
  s.writeUInt32BE(spi);
  return {
    number: 1,
    protocolId: 3,
    spi: s,
    transforms: [
      { type: 1, id: encr, attributes: [{ type: 14, tv: true, value: keyBits }] },
      ...(integ ? [{ type: 3, id: integ, attributes: [] }] : []),
      { type: 5, id: 0, attributes: [] },
    ],
  };
}

export class AuthClient {
  readonly skOut: SkKeys;
  readonly skIn: SkKeys;
  messageId = 1;
  readonly idi: IdPayload;
  private readonly reassembler = new FragmentReassembler();
  msk: Buffer | undefined;
  expectS: string | undefined;
  /** Responses' datagram counts, for fragmentation tests. */
  lastDatagrams: Buffer[] = [];

  constructor(
    readonly init: TestInitiator,
    readonly user: string,
    readonly password: string,
    idi?: IdPayload,
  ) {
    const s = { encr: init.suite!.encr, integ: init.suite!.integ };
    this.skOut = skKeys(s, init.keys!.skEi, s.integ ? init.keys!.skAi : undefined);
    this.skIn = skKeys(s, init.keys!.skEr, s.integ ? init.keys!.skAr : undefined);
    this.idi = idi ?? { idType: 3, data: Buffer.from(user) };
  }

  private get sk() {
    return { encr: this.init.suite!.encr, integ: this.init.suite!.integ };
  }

  /** An IKE_AUTH request (SKF fragments of at most `fragment` bytes when given). */
  request(payloads: Payload[], fragment?: number, messageId = this.messageId, exchangeType: number = ExchangeType.IKE_AUTH): Buffer[] {
    const hdr = { spiI: this.init.spiI, spiR: this.init.spiR, exchangeType, flags: HeaderFlag.INITIATOR, messageId };
    return fragment ? encodeFragments(hdr, payloads, this.sk, this.skOut, fragment, randomBytes) : [encodeEncryptedMessage(hdr, payloads, this.sk, this.skOut, randomBytes)];
  }

  /** Opens the response datagrams (one SK, or SKF fragments) into the inner payloads. */
  open(datagrams: Buffer[]): PayloadChain {
    this.lastDatagrams = datagrams;
    for (const d of datagrams) {
      const m = decodeMessage(d);
      if (!(m.header.flags & HeaderFlag.RESPONSE) || m.header.messageId !== this.messageId) throw new Error(`unexpected response ${m.header.messageId}`);
      if (m.chain.sk) {
        const plain = openSk(this.sk, this.skIn, d, m.chain.sk);
        if (!plain) throw new Error('response fails the integrity check');
        this.messageId++;
        return decodePayloadChain(m.chain.sk.firstInner, plain, 0, plain.length, false);
      }
      const f = m.chain.skf!;
      const plain = openEncrypted(this.sk, this.skIn, d.subarray(0, f.ivOffset), f.data);
      if (!plain) throw new Error('fragment fails the integrity check');
      const r = this.reassembler.add(m.header.messageId, f.fragmentNumber, f.totalFragments, f.firstInner, plain, 0);
      if (r.kind === 'complete') {
        this.messageId++;
        return decodePayloadChain(r.firstInner, r.plain, 0, r.plain.length, false);
      }
    }
    throw new Error('incomplete response');
  }

  firstPayloads(child: Proposal = espProposal(12, 256, 12)): Payload[] {
    return [
      { type: PayloadType.IDi, value: this.idi },
      { type: PayloadType.CP, value: { cfgType: CfgType.CFG_REQUEST, attributes: [{ type: ConfigAttr.INTERNAL_IP4_ADDRESS, value: Buffer.alloc(0) }, { type: ConfigAttr.INTERNAL_IP4_DNS, value: Buffer.alloc(0) }] } },
      { type: PayloadType.SA, value: { proposals: [child] } },
      { type: PayloadType.TSi, value: { selectors: [ANY] } },
      { type: PayloadType.TSr, value: { selectors: [ANY] } },
    ];
  }

  /** Checks the server's first answer: its signature over ResponderSignedOctets with the server's public key. */
  checkServerAuth(chain: PayloadChain, serverKey: KeyObject): boolean {
    const idr = findPayload(chain, PayloadType.IDr)!;
    const auth = findPayload(chain, PayloadType.AUTH)!.value;
    const octets = signedOctets(this.init.suite!.prf, this.init.response ? rawResponse(this.init) : Buffer.alloc(0), this.init.ni, this.init.keys!.skPr, encodeId(idr.value));
    return verifyAuth(serverKey, auth.method, auth.data, octets);
  }

  /** The EAP response to an EAP request, as a client with this password answers it. */
  eapAnswer(chain: PayloadChain): Payload[] {
    const req = decodeEap(findPayload(chain, PayloadType.EAP)!.value.message);
    if (!('data' in req)) throw new Error(`EAP ${req.code}, not a request`);
    const resp = (type: number, data: Buffer): Payload[] => [{ type: PayloadType.EAP, value: { message: encodeEap({ code: EapCode.RESPONSE, identifier: req.identifier, type, data }) } }];
    if (req.type === EapType.IDENTITY) return resp(EapType.IDENTITY, Buffer.from(this.user));
    const m = decodeMsChap(req.data, true);
    if (m.op === MsChapOp.CHALLENGE && 'challenge' in m) {
      const peerChallenge = randomBytes(16);
      const nt = generateNTResponse(m.challenge, peerChallenge, this.user, this.password);
      this.expectS = generateAuthenticatorResponse(this.password, nt, peerChallenge, m.challenge, this.user);
      const master = getMasterKey(hashNtPasswordHash(ntPasswordHash(this.password)), nt);
      this.msk = Buffer.concat([getAsymmetricStartKey(master, 16, true, false), getAsymmetricStartKey(master, 16, false, false), Buffer.alloc(32)]);
      return resp(EapType.MSCHAPV2, encodeMsChap({ op: MsChapOp.RESPONSE, msId: m.msId, peerChallenge, ntResponse: nt, flags: 0, name: Buffer.from(this.user) }));
    }
    if (m.op === MsChapOp.SUCCESS && 'message' in m) {
      // "S=<auth> M=<message>", or only "S=<auth>" as FreeRADIUS's MS-CHAP2-Success has it (strongSwan takes both)
      if (m.message !== this.expectS && !m.message.startsWith(`${this.expectS} `)) throw new Error('server does not know the password');
      return resp(EapType.MSCHAPV2, Buffer.from([MsChapOp.SUCCESS]));
    }
    if (m.op === MsChapOp.FAILURE) return resp(EapType.MSCHAPV2, Buffer.from([MsChapOp.FAILURE]));
    throw new Error('unexpected MS-CHAPv2 message');
  }

  /** The final AUTH: prf(prf(MSK, "Key Pad for IKEv2"), RealMessage1 | Nr | prf(SK_pi, IDi)). */
  finalAuth(msk = this.msk!): Payload[] {
    const octets = signedOctets(this.init.suite!.prf, this.init.lastRequest, this.init.nr, this.init.keys!.skPi, encodeId(this.idi));
    return [{ type: PayloadType.AUTH, value: { method: AuthMethod.SHARED_KEY_MIC, data: sharedKeyAuth(this.init.suite!.prf, msk, octets) } }];
  }

  checkFinalAuth(chain: PayloadChain, idrBody: Buffer): boolean {
    const auth = findPayload(chain, PayloadType.AUTH)!.value;
    const octets = signedOctets(this.init.suite!.prf, rawResponse(this.init), this.init.ni, this.init.keys!.skPr, idrBody);
    return auth.method === AuthMethod.SHARED_KEY_MIC && verifySharedKeyAuth(this.init.suite!.prf, this.msk!, octets, auth.data);
  }

  childKeys(encBytes: number, integBytes: number): ChildKeys {
    return childKeys(this.init.suite!.prf, this.init.keys!.skD, this.init.ni, this.init.nr, encBytes, integBytes);
  }
}

/** The IKE_SA_INIT response bytes the initiator received (RealMessage2). */
function rawResponse(i: TestInitiator): Buffer {
  return i.rawResponse!;
}

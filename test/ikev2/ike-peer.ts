/**
 * The client's side of one IKE SA, for the exchanges after IKE_AUTH and for IKE SA
 * rekeys either way (RFC 7296 §1.3.2, §2.18): it plays the responder of the server's
 * rekey too. Its key derivation does not use src/ikev2's: HMAC, prf+ and ECDH (P-256)
 * straight from node:crypto and the RFC's formulas.
 */
import { createECDH, createHmac, randomBytes } from 'node:crypto';
import { encodeEncryptedMessage, openSk, skKeys, type SkKeys } from '../../src/ikev2/crypto/sk.js';
import type { SkSuite } from '../../src/ikev2/crypto/algorithms.js';
import { DhGroup, ExchangeType, HeaderFlag, PayloadType, ProtocolId } from '../../src/ikev2/wire/constants.js';
import type { IkeHeader } from '../../src/ikev2/wire/header.js';
import { decodeMessage, decodePayloadChain, findPayload, type Payload, type PayloadChain } from '../../src/ikev2/wire/message.js';
import type { Proposal } from '../../src/ikev2/wire/sa.js';
import type { AuthClient } from './auth-client.js';

/** The keys of one IKE SA, as the RFC names them. */
export interface Keys {
  skD: Buffer;
  skAi: Buffer;
  skAr: Buffer;
  skEi: Buffer;
  skEr: Buffer;
  skPi: Buffer;
  skPr: Buffer;
}

const hmac = (key: Buffer, ...data: Buffer[]): Buffer => createHmac('sha256', key).update(Buffer.concat(data)).digest();

/** prf+ (§2.13): T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n). */
function prfPlus(key: Buffer, seed: Buffer, length: number): Buffer {
  const out: Buffer[] = [];
  let t: Buffer = Buffer.alloc(0);
  for (let n = 1; out.length * 32 < length; n++) {
    t = hmac(key, t, seed, Buffer.of(n));
    out.push(t);
  }
  return Buffer.concat(out).subarray(0, length);
}

/**
 * §2.18 for the suite of these tests (AES-CBC-256, HMAC-SHA2-256-128, PRF-HMAC-SHA2-256):
 * SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr); the seven keys = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr), 32 bytes each.
 */
export function rekeyedKeys(oldSkD: Buffer, gir: Buffer, ni: Buffer, nr: Buffer, spiI: Buffer, spiR: Buffer): Keys {
  const skeyseed = hmac(oldSkD, gir, ni, nr);
  const km = prfPlus(skeyseed, Buffer.concat([ni, nr, spiI, spiR]), 7 * 32);
  const k = (i: number): Buffer => Buffer.from(km.subarray(i * 32, (i + 1) * 32));
  return { skD: k(0), skAi: k(1), skAr: k(2), skEi: k(3), skEr: k(4), skPi: k(5), skPr: k(6) };
}

/** An ECP256 key pair (§3.4 / RFC 5903: KE data and g^ir are the bare coordinates). */
export function ecp256(): { publicValue: Buffer; shared: (peer: Buffer) => Buffer } {
  const e = createECDH('prime256v1');
  e.generateKeys();
  return { publicValue: e.getPublicKey().subarray(1), shared: (peer) => e.computeSecret(Buffer.concat([Buffer.of(4), peer])) };
}

export interface OpenedRequest {
  header: IkeHeader;
  chain: PayloadChain;
  /** The encrypted response to it, on this SA. */
  answer: (payloads: Payload[]) => Buffer;
}

export class ClientIkeSa {
  /** Message ID of the client's next request. */
  nextId: number;

  constructor(
    readonly spiI: Buffer,
    readonly spiR: Buffer,
    /** The client is this SA's initiator (its messages carry the I flag). */
    readonly clientIsInitiator: boolean,
    readonly suite: SkSuite,
    readonly keys: Keys,
    nextId = 0,
  ) {
    this.nextId = nextId;
  }

  static of(c: AuthClient): ClientIkeSa {
    const k = c.init.keys!;
    return new ClientIkeSa(c.init.spiI, c.init.spiR, true, { encr: c.init.suite!.encr, integ: c.init.suite!.integ }, { skD: k.skD, skAi: k.skAi, skAr: k.skAr, skEi: k.skEi, skEr: k.skEr, skPi: k.skPi, skPr: k.skPr }, c.messageId);
  }

  get skOut(): SkKeys {
    return this.clientIsInitiator ? skKeys(this.suite, this.keys.skEi, this.keys.skAi) : skKeys(this.suite, this.keys.skEr, this.keys.skAr);
  }

  get skIn(): SkKeys {
    return this.clientIsInitiator ? skKeys(this.suite, this.keys.skEr, this.keys.skAr) : skKeys(this.suite, this.keys.skEi, this.keys.skAi);
  }

  private get iFlag(): number {
    return this.clientIsInitiator ? HeaderFlag.INITIATOR : 0;
  }

  /** A request of the client on this SA (the next Message ID). */
  request(payloads: Payload[], exchangeType: number = ExchangeType.INFORMATIONAL): Buffer {
    return encodeEncryptedMessage({ spiI: this.spiI, spiR: this.spiR, exchangeType, flags: this.iFlag, messageId: this.nextId }, payloads, this.suite, this.skOut, randomBytes);
  }

  private openAs(d: Buffer, response: boolean): { header: IkeHeader; chain: PayloadChain } {
    const m = decodeMessage(d);
    const h = m.header;
    if (!h.spiI.equals(this.spiI) || !h.spiR.equals(this.spiR)) throw new Error('not this SA');
    // the server's messages carry the I flag exactly when the server is the SA's initiator
    const want = (response ? HeaderFlag.RESPONSE : 0) | (this.clientIsInitiator ? 0 : HeaderFlag.INITIATOR);
    if ((h.flags & (HeaderFlag.RESPONSE | HeaderFlag.INITIATOR)) !== want) throw new Error(`flags ${h.flags.toString(16)}, expected ${want.toString(16)}`);
    const plain = openSk(this.suite, this.skIn, d, m.chain.sk!);
    if (!plain) throw new Error('integrity check failed');
    return { header: h, chain: decodePayloadChain(m.chain.sk!.firstInner, plain, 0, plain.length, false) };
  }

  /** The server's response to the client's last request. */
  openResponse(d: Buffer): PayloadChain {
    const r = this.openAs(d, true);
    if (r.header.messageId !== this.nextId) throw new Error(`response ${r.header.messageId}, expected ${this.nextId}`);
    this.nextId++;
    return r.chain;
  }

  /** A request of the server on this SA, with a way to answer it. */
  openRequest(d: Buffer): OpenedRequest {
    const { header, chain } = this.openAs(d, false);
    return {
      header,
      chain,
      answer: (payloads) =>
        encodeEncryptedMessage({ spiI: this.spiI, spiR: this.spiR, exchangeType: header.exchangeType, flags: HeaderFlag.RESPONSE | this.iFlag, messageId: header.messageId }, payloads, this.suite, this.skOut, randomBytes),
    };
  }

  /**
   * The client as the responder of the server's IKE SA rekey: its answer (the offered
   * proposal with the client's new SPI, Nr, KEr) and the new SA, where the server is
   * the initiator (SPIi and Ni are the server's).
   */
  answerIkeRekey(req: OpenedRequest, nr: Buffer = randomBytes(32), spi: Buffer = randomBytes(8)): { payloads: Payload[]; next: ClientIkeSa; gir: Buffer } {
    const offered = findPayload(req.chain, PayloadType.SA)!.value.proposals[0]!;
    const ni = findPayload(req.chain, PayloadType.NONCE)!.value.nonce;
    const ke = findPayload(req.chain, PayloadType.KE)!.value;
    if (ke.group !== DhGroup.ECP256) throw new Error(`KE group ${ke.group}`);
    const dh = ecp256();
    const gir = dh.shared(ke.data);
    const keys = rekeyedKeys(this.keys.skD, gir, ni, nr, offered.spi, spi);
    return {
      payloads: [
        { type: PayloadType.SA, value: { proposals: [{ ...offered, spi }] } },
        { type: PayloadType.NONCE, value: { nonce: nr } },
        { type: PayloadType.KE, value: { group: DhGroup.ECP256, data: dh.publicValue } },
      ],
      next: new ClientIkeSa(offered.spi, spi, false, this.suite, keys),
      gir,
    };
  }

  /** The client's own IKE SA rekey: its request and, from the server's answer, the new SA (the client its initiator). */
  startIkeRekey(proposal: Proposal, ni: Buffer = randomBytes(32), spi: Buffer = randomBytes(8)): { payloads: Payload[]; complete: (answer: PayloadChain) => ClientIkeSa } {
    const dh = ecp256();
    return {
      payloads: [
        { type: PayloadType.SA, value: { proposals: [{ ...proposal, protocolId: ProtocolId.IKE, spi }] } },
        { type: PayloadType.NONCE, value: { nonce: ni } },
        { type: PayloadType.KE, value: { group: DhGroup.ECP256, data: dh.publicValue } },
      ],
      complete: (answer) => {
        const spiR = findPayload(answer, PayloadType.SA)!.value.proposals[0]!.spi;
        const nr = findPayload(answer, PayloadType.NONCE)!.value.nonce;
        const gir = dh.shared(findPayload(answer, PayloadType.KE)!.value.data);
        return new ClientIkeSa(spi, spiR, true, this.suite, rekeyedKeys(this.keys.skD, gir, ni, nr, spi, spiR));
      },
    };
  }
}

import { logEvent } from '../core/log.js';
import { decodeOptions, encodeControlFrame, encodeOption, u16Bytes, u32Bytes } from './frame.js';
import type { FsmEvent, FsmHandler, FsmSink, RequestVerdict } from './fsm.js';
import { CHAP_ALG, CODE, LCP_OPT, LCP_OPT_NAMES, PROTO, protocolName } from './names.js';

/** RFC 1661 §6 LCP options, our side of the negotiation. */

export type AuthMethod = 'mschapv2' | 'pap';

export interface LcpHooks {
  random(n: number): Buffer;
  up(): void;
  down(): void;
  finished(reason: string): void;
  /** The peer Protocol-Rejected `protocol` (RFC 1661 §5.7). */
  protocolRejected(protocol: number): void;
  echoReplyReceived(): void;
}

const MIN_MRU = 64;
const MAX_MRU = 1500;

/** Authentication-Protocol option data for each method (RFC 1661 §6.2, RFC 2759 §2, RFC 1334 §2.1). */
export function authOptionData(m: AuthMethod): Buffer {
  return m === 'mschapv2' ? Buffer.from([0xc2, 0x23, CHAP_ALG.MSCHAPv2]) : Buffer.from([0xc0, 0x23]);
}

/** Names an Authentication-Protocol option's data for logs. */
export function authName(d: Uint8Array): string {
  const proto = d.length >= 2 ? (d[0]! << 8) | d[1]! : -1;
  if (proto === PROTO.CHAP) {
    const alg = d[2];
    return alg === CHAP_ALG.MSCHAPv2 ? 'MS-CHAPv2' : alg === CHAP_ALG.MSCHAP ? 'MS-CHAP' : alg === CHAP_ALG.MD5 ? 'CHAP-MD5' : `CHAP-${alg}`;
  }
  return proto === PROTO.PAP ? 'PAP' : proto === PROTO.EAP ? 'EAP' : protocolName(proto);
}

export class LcpHandler implements FsmHandler {
  readonly name = 'LCP';
  readonly protocol = PROTO.LCP;
  /** Our MRU (what we receive), proposed in our Configure-Request. */
  ourMru: number;
  ourMagic = 0;
  /** The peer's MRU: the largest packet we may send (RFC 1661 §6.1 default 1500). */
  peerMru = 1500;
  peerMagic = 0;
  /** The authentication method we ask the peer to use. */
  auth: AuthMethod;
  private sendMru = true;
  private sendMagic = true;
  /** Set by the session: send frames for ser / Echo. */
  sink: FsmSink | undefined;

  constructor(
    private readonly hooks: LcpHooks,
    mru: number,
    private readonly allowed: readonly AuthMethod[],
  ) {
    this.ourMru = mru;
    this.auth = allowed.includes('mschapv2') ? 'mschapv2' : (allowed[0] ?? 'mschapv2');
    this.ourMagic = this.newMagic();
  }

  private newMagic(): number {
    for (;;) {
      const v = this.hooks.random(4).readUInt32BE(0);
      if (v !== 0 && v !== this.peerMagic) return v;
    }
  }

  buildRequest(): Uint8Array {
    const parts: Buffer[] = [];
    if (this.sendMru) parts.push(encodeOption(LCP_OPT.MRU, u16Bytes(this.ourMru)));
    parts.push(encodeOption(LCP_OPT.AuthenticationProtocol, authOptionData(this.auth)));
    if (this.sendMagic) parts.push(encodeOption(LCP_OPT.MagicNumber, u32Bytes(this.ourMagic)));
    return Buffer.concat(parts);
  }

  checkRequest(data: Uint8Array, rejectInsteadOfNak: boolean): RequestVerdict {
    const opts = decodeOptions(data);
    const rej: Uint8Array[] = [];
    const nak: Uint8Array[] = [];
    let mru = 1500;
    let magic = 0;
    for (const o of opts) {
      switch (o.type) {
        case LCP_OPT.MRU: {
          if (o.data.length !== 2) {
            rej.push(o.raw);
            break;
          }
          const v = (o.data[0]! << 8) | o.data[1]!;
          // RFC 1661 §6.1; accel-ppp / pppd floor: below 64 cannot carry LCP itself.
          if (v < MIN_MRU) nak.push(encodeOption(LCP_OPT.MRU, u16Bytes(this.ourMru)));
          else mru = Math.min(v, MAX_MRU);
          break;
        }
        case LCP_OPT.ACCM:
          if (o.data.length !== 4) rej.push(o.raw);
          break; // meaningless over L2TP (RFC 2661 §3.1), acknowledged
        case LCP_OPT.PFC:
        case LCP_OPT.ACFC:
          if (o.data.length !== 0) rej.push(o.raw);
          break; // we accept compressed frames anyway
        case LCP_OPT.MagicNumber: {
          if (o.data.length !== 4) {
            rej.push(o.raw);
            break;
          }
          const v = ((o.data[0]! << 24) | (o.data[1]! << 16) | (o.data[2]! << 8) | o.data[3]!) >>> 0;
          if (v === 0 || v === this.ourMagic) {
            // RFC 1661 §6.4: equal magic numbers may mean a looped-back link; both pick new ones.
            if (v !== 0) {
              this.sink?.log(logEvent('warn', 'ppp.lcp.loopback-suspected', { magic: v }));
              this.ourMagic = this.newMagic();
            }
            nak.push(encodeOption(LCP_OPT.MagicNumber, u32Bytes(this.newMagic())));
          } else {
            magic = v;
          }
          break;
        }
        case LCP_OPT.AuthenticationProtocol:
          // The peer wants US to authenticate to it: we do not (RFC 1661 §6.2: Reject).
          this.sink?.log(logEvent('info', 'ppp.lcp.peer-auth-rejected', { protocol: authName(o.data) }));
          rej.push(o.raw);
          break;
        default:
          this.sink?.log(logEvent('debug', 'ppp.lcp.option-rejected', { option: LCP_OPT_NAMES[o.type] ?? o.type }));
          rej.push(o.raw);
      }
    }
    if (rej.length > 0) return { code: CODE.ConfigureReject, data: Buffer.concat(rej) };
    if (nak.length > 0) {
      if (!rejectInsteadOfNak) return { code: CODE.ConfigureNak, data: Buffer.concat(nak) };
      // RFC 1661 §4.6 Max-Failure: the options we would Nak are now Rejected.
      const types = new Set(nak.map((n) => n[0]));
      return { code: CODE.ConfigureReject, data: Buffer.concat(opts.filter((o) => types.has(o.type)).map((o) => o.raw)) };
    }
    this.peerMru = mru;
    this.peerMagic = magic;
    return { code: CODE.ConfigureAck, data };
  }

  nakOrRejectReceived(code: 3 | 4, data: Uint8Array): string | undefined {
    const opts = decodeOptions(data);
    for (const o of opts) {
      if (code === CODE.ConfigureReject) {
        if (o.type === LCP_OPT.MRU) this.sendMru = false;
        else if (o.type === LCP_OPT.MagicNumber) this.sendMagic = false;
        else if (o.type === LCP_OPT.AuthenticationProtocol) return 'peer refuses to authenticate (Authentication-Protocol rejected)';
        continue;
      }
      if (o.type === LCP_OPT.MRU && o.data.length === 2) {
        const v = (o.data[0]! << 8) | o.data[1]!;
        if (v >= MIN_MRU && v <= MAX_MRU) this.ourMru = v;
      } else if (o.type === LCP_OPT.MagicNumber) {
        this.ourMagic = this.newMagic();
      } else if (o.type === LCP_OPT.AuthenticationProtocol) {
        const wanted = authName(o.data);
        const isPap = o.data.length === 2 && o.data[0] === 0xc0 && o.data[1] === 0x23;
        if (isPap && this.allowed.includes('pap')) {
          this.auth = 'pap';
          this.sink?.log(logEvent('info', 'ppp.lcp.auth-switched', { to: 'PAP' }));
        } else if (wanted !== 'MS-CHAPv2') {
          // Downgrade refused: keep proposing ours until Max-Failure closes the link.
          this.sink?.log(logEvent('warn', 'ppp.lcp.auth-downgrade-refused', { wanted }));
        }
      }
    }
    return undefined;
  }

  thisLayerUp(): void {
    this.hooks.up();
  }
  thisLayerDown(): void {
    this.hooks.down();
  }
  thisLayerStarted(): void {}
  thisLayerFinished(reason: string): void {
    this.hooks.finished(reason);
  }

  classifyExtraCode(code: number, _id: number, data: Uint8Array): FsmEvent {
    switch (code) {
      case CODE.ProtocolReject: {
        // RFC 1661 §5.7: Rejected-Protocol (2 bytes) + Rejected-Information.
        if (data.length < 2) return 'RXR';
        const p = (data[0]! << 8) | data[1]!;
        if (p === PROTO.LCP) return 'RXJ-';
        this.hooks.protocolRejected(p);
        return 'RXJ+';
      }
      case CODE.EchoReply:
        this.hooks.echoReplyReceived();
        return 'RXR';
      case CODE.EchoRequest:
      case CODE.DiscardRequest:
      case CODE.Identification:
      case CODE.TimeRemaining:
        return 'RXR';
      default:
        return 'RUC';
    }
  }

  /**
   * RFC 1661 §5.8 Echo-Reply: our Magic-Number, then the request's data.
   * Not reflected when the request exceeds our MRU (accel-ppp's safeguard
   * against using us as an amplifier) or is too short to hold a magic number.
   */
  sendEchoReply(id: number, data: Uint8Array): void {
    if (data.length < 4) return this.sink?.log(logEvent('debug', 'ppp.lcp.echo-dropped', { reason: 'short' }));
    if (data.length + 4 > this.ourMru) return this.sink?.log(logEvent('debug', 'ppp.lcp.echo-dropped', { reason: 'larger than MRU', length: data.length + 4 }));
    const reply = Buffer.alloc(data.length);
    reply.writeUInt32BE(this.sendMagic ? this.ourMagic : 0, 0);
    reply.set(data.subarray(4), 4);
    this.sink?.send(encodeControlFrame(PROTO.LCP, CODE.EchoReply, id, reply));
  }
}

import { bytesToIPv4, ipv4ToBytes } from '../core/ipv4.js';
import { logEvent } from '../core/log.js';
import { decodeOptions, encodeOption } from './frame.js';
import type { FsmHandler, FsmSink, RequestVerdict } from './fsm.js';
import { CODE, IPCP_OPT, IPCP_OPT_NAMES, PROTO } from './names.js';

/** RFC 1332 IPCP with the RFC 1877 DNS options, server side. */

export interface IpcpHooks {
  /**
   * The address leased to this session (allocated on first need);
   * `requested` is what the peer asked for, granted when it is a free pool
   * address and nothing was acknowledged yet. undefined = none available
   * (the hook closes the session).
   */
  peerAddress(requested?: string): string | undefined;
  up(address: string): void;
  down(): void;
  finished(reason: string): void;
}

export class IpcpHandler implements FsmHandler {
  readonly name = 'IPCP';
  readonly protocol = PROTO.IPCP;
  private sendAddress = true;
  /** We asked once for a missing IP-Address option (Nak with an unrequested option, RFC 1661 §5.3). */
  private askedForAddress = false;
  /** The address acknowledged for the peer. */
  ackedAddress: string | undefined;
  sink: FsmSink | undefined;

  constructor(
    private readonly hooks: IpcpHooks,
    private readonly serverAddress: string,
    private readonly dns: readonly string[],
  ) {}

  buildRequest(): Uint8Array {
    return this.sendAddress ? encodeOption(IPCP_OPT.IPAddress, ipv4ToBytes(this.serverAddress)) : Buffer.alloc(0);
  }

  checkRequest(data: Uint8Array, rejectInsteadOfNak: boolean): RequestVerdict {
    const opts = decodeOptions(data);
    const rej: Uint8Array[] = [];
    const nak: Uint8Array[] = [];
    const nakTypes = new Set<number>();
    let sawAddress = false;
    for (const o of opts) {
      switch (o.type) {
        case IPCP_OPT.IPAddress: {
          if (o.data.length !== 4) {
            rej.push(o.raw);
            break;
          }
          sawAddress = true;
          const asked = bytesToIPv4(o.data);
          const assigned = this.hooks.peerAddress(asked);
          if (assigned === undefined) {
            rej.push(o.raw);
            break;
          }
          if (asked !== assigned) {
            // 0.0.0.0 ("give me one"), .0/.1/.255, outside the pool or another client's: our choice.
            if (asked !== '0.0.0.0') this.sink?.log(logEvent('info', 'ppp.ipcp.address-refused', { asked, assigned }));
            nak.push(encodeOption(IPCP_OPT.IPAddress, ipv4ToBytes(assigned)));
            nakTypes.add(o.type);
          }
          break;
        }
        case IPCP_OPT.PrimaryDNS:
        case IPCP_OPT.SecondaryDNS: {
          const server = this.dns[o.type === IPCP_OPT.PrimaryDNS ? 0 : 1];
          if (o.data.length !== 4 || server === undefined) {
            rej.push(o.raw);
            break;
          }
          if (bytesToIPv4(o.data) !== server) {
            nak.push(encodeOption(o.type, ipv4ToBytes(server)));
            nakTypes.add(o.type);
          }
          break;
        }
        default:
          // IP-Addresses (1, deprecated), IP-Compression-Protocol (2, VJ), NBNS (130/132), unknown.
          this.sink?.log(logEvent('debug', 'ppp.ipcp.option-rejected', { option: IPCP_OPT_NAMES[o.type] ?? o.type }));
          rej.push(o.raw);
      }
    }
    if (rej.length > 0) return { code: CODE.ConfigureReject, data: Buffer.concat(rej) };
    if (!sawAddress && !this.askedForAddress && !rejectInsteadOfNak) {
      // macOS may omit IP-Address: prompt for it once with our choice, then Ack without it.
      const assigned = this.hooks.peerAddress();
      if (assigned !== undefined) {
        this.askedForAddress = true;
        nak.push(encodeOption(IPCP_OPT.IPAddress, ipv4ToBytes(assigned)));
      }
    }
    if (nak.length > 0) {
      if (!rejectInsteadOfNak) return { code: CODE.ConfigureNak, data: Buffer.concat(nak) };
      return { code: CODE.ConfigureReject, data: Buffer.concat(opts.filter((o) => nakTypes.has(o.type)).map((o) => o.raw)) };
    }
    const assigned = this.hooks.peerAddress();
    if (assigned === undefined) return { code: CODE.ConfigureReject, data };
    this.ackedAddress = assigned;
    return { code: CODE.ConfigureAck, data };
  }

  nakOrRejectReceived(code: 3 | 4, data: Uint8Array): string | undefined {
    for (const o of decodeOptions(data)) {
      // RFC 1332 §3.3: a peer may Reject our IP-Address; a Nak suggesting another one is ignored (the server's address is fixed).
      if (code === CODE.ConfigureReject && o.type === IPCP_OPT.IPAddress) this.sendAddress = false;
    }
    return undefined;
  }

  thisLayerUp(): void {
    const a = this.ackedAddress ?? this.hooks.peerAddress();
    if (a !== undefined) this.hooks.up(a);
  }
  thisLayerDown(): void {
    this.hooks.down();
  }
  thisLayerStarted(): void {}
  thisLayerFinished(reason: string): void {
    this.hooks.finished(reason);
  }
}

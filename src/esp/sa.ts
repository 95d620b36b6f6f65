/**
 * One ESP SA pair as ESP runs it (keys resolved, HMAC prepared, replay window,
 * outbound sequence, stats) and the table that finds it: by inbound SPI, by
 * SA id, and by peer endpoint for outbound (newest SA of a peer wins after a
 * rekey; the older one keeps receiving until it is removed).
 */
import { own } from '../core/bytes.js';
import { endpointText, type ChildSaUp, type Endpoint } from '../core/sa.js';
import { PreparedHmac, type CbcBatchProvider, type GcmBatchProvider, type HmacBatchProvider } from './hmac.js';
import { ReplayWindow } from './replay.js';
import { resolveTransform, type TransformSpec } from './transforms.js';

/** SAs are indexed by their peer's "address:port". */
export const endpointKey = endpointText;

export class EspSa {
  readonly id: string;
  readonly peer: Endpoint;
  readonly peerKey: string;
  readonly spec: TransformSpec;
  readonly inSpi: number;
  readonly outSpi: number;
  readonly inKey: Buffer;
  readonly outKey: Buffer;
  /** GCM: salt(4) | explicit IV(8) nonce scratch (RFC 4106 §4). */
  readonly inNonce: Buffer;
  readonly outNonce: Buffer;
  /** AES-GCM through a batch provider: the keyed contexts of each direction (else undefined). */
  readonly inGcm: object | undefined;
  readonly outGcm: object | undefined;
  readonly inHmac: PreparedHmac | null;
  readonly outHmac: PreparedHmac | null;
  readonly replay: ReplayWindow;
  /** Last sequence number sent (RFC 4303 §3.3.3: the first packet carries 1). */
  seqOut = 0;
  rekeyNotified = false;
  packetsIn = 0;
  bytesIn = 0;
  packetsOut = 0;
  bytesOut = 0;
  /** Per-batch scratch: indices of this batch's packets, bytes this batch. */
  readonly pending: number[] = [];
  /** IKE said 'none' (raw ESP): we only speak ESP in UDP, so this SA is run UDP-encapsulated anyway. */
  readonly rawEspRequested: boolean;
  /** RFC 4303 §3.1.2 tunnel mode: the inner packet is a whole IPv4 packet (Next Header 4), not UDP to L2TP. */
  readonly tunnel: boolean;
  /**
   * Where this SA's packets go: the peer's endpoint at first, then wherever the peer's
   * newest authenticated packet came from (a NAT rebinding, RFC 3948 §2.2 / RFC 3947 §4).
   * `peer` stays the identity the daemon keys its state by.
   */
  dest: Endpoint;
  /** The outbound AES-CBC key expanded by the batch provider, when there is one and it takes this cipher. */
  readonly outCbc: object | undefined;
  /** The inbound one, when the provider also decrypts (in place: EspEngine.decryptBatch's reuse mode). */
  readonly inCbc: object | undefined;

  constructor(
    up: ChildSaUp,
    replayWindow: number,
    hmacBatch?: HmacBatchProvider,
    readonly gcmBatch?: GcmBatchProvider,
    readonly cbcBatch?: CbcBatchProvider,
  ) {
    this.spec = resolveTransform(up.transform);
    const s = this.spec;
    const keyLen = s.keyLen + s.saltLen;
    for (const [dir, k] of [
      ['inbound', up.inbound],
      ['outbound', up.outbound],
    ] as const) {
      if (k.encKey.length !== keyLen) throw new TypeError(`SA ${up.id}: ${dir} encKey is ${k.encKey.length} bytes, ${s.name} needs ${keyLen}`);
      if (s.hashName && k.authKey.length === 0) throw new TypeError(`SA ${up.id}: ${dir} authKey empty`);
      if (!Number.isInteger(k.spi) || k.spi < 256 || k.spi > 0xffffffff) throw new TypeError(`SA ${up.id}: ${dir} SPI ${k.spi} reserved (RFC 4303 §2.1)`);
    }
    if (up.mode !== undefined && up.mode !== 'transport' && up.mode !== 'tunnel') throw new TypeError(`SA ${up.id}: mode ${String(up.mode)}`);
    this.id = up.id;
    this.tunnel = up.mode === 'tunnel';
    this.rawEspRequested = up.encapsulation !== 'udp';
    this.peer = Object.freeze({ address: up.peer.address, port: up.peer.port }); // shared by every delivered/sent packet
    this.peerKey = endpointKey(up.peer);
    const d = up.remote ?? up.peer;
    this.dest = Object.freeze({ address: d.address, port: d.port });
    this.inSpi = up.inbound.spi >>> 0;
    this.outSpi = up.outbound.spi >>> 0;
    // own memory: kept for the SA's life (a pooled copy would keep its whole 8 KiB slab)
    this.inKey = own(up.inbound.encKey.subarray(0, s.keyLen));
    this.outKey = own(up.outbound.encKey.subarray(0, s.keyLen));
    this.inNonce = Buffer.alloc(12);
    this.outNonce = Buffer.alloc(12);
    if (s.saltLen) {
      up.inbound.encKey.copy(this.inNonce, 0, s.keyLen);
      up.outbound.encKey.copy(this.outNonce, 0, s.keyLen);
    }
    const gcm = s.mode === 'gcm' ? gcmBatch : undefined;
    this.inGcm = gcm?.gcmKey(this.inKey, this.inNonce.subarray(0, 4), false);
    this.outGcm = gcm?.gcmKey(this.outKey, this.outNonce.subarray(0, 4), true);
    this.outCbc = s.mode === 'cbc' && s.cipherName.startsWith('aes-') ? cbcBatch?.cbcKey(this.outKey) : undefined;
    this.inCbc = s.mode === 'cbc' && s.cipherName.startsWith('aes-') && cbcBatch?.cbcDecryptBatch ? cbcBatch.cbcDecryptKey?.(this.inKey) : undefined;
    this.inHmac = s.hashName ? new PreparedHmac(s.hashName, up.inbound.authKey, s.hashBlockLen, s.hashLen, hmacBatch) : null;
    this.outHmac = s.hashName ? new PreparedHmac(s.hashName, up.outbound.authKey, s.hashBlockLen, s.hashLen, hmacBatch) : null;
    this.replay = new ReplayWindow(replayWindow);
  }
}

export class SaTable {
  private readonly bySpi = new Map<number, EspSa>();
  private readonly byId = new Map<string, EspSa>();
  /** Peer endpoint key → its SAs, oldest first. */
  private readonly byPeer = new Map<string, EspSa[]>();

  get size(): number {
    return this.byId.size;
  }

  /** Adds an SA; an SA with the same id is replaced. Throws if the inbound SPI belongs to another SA. */
  add(sa: EspSa): void {
    const clash = this.bySpi.get(sa.inSpi);
    if (clash && clash.id !== sa.id) throw new Error(`inbound SPI 0x${sa.inSpi.toString(16)} already used by SA ${clash.id}`);
    if (this.byId.has(sa.id)) this.remove(sa.id);
    this.bySpi.set(sa.inSpi, sa);
    this.byId.set(sa.id, sa);
    const list = this.byPeer.get(sa.peerKey);
    if (list) list.push(sa);
    else this.byPeer.set(sa.peerKey, [sa]);
  }

  /** Every SA of a peer endpoint key, oldest first. */
  ofPeer(peerKey: string): readonly EspSa[] {
    return this.byPeer.get(peerKey) ?? [];
  }

  remove(id: string): EspSa | undefined {
    const sa = this.byId.get(id);
    if (!sa) return undefined;
    this.byId.delete(id);
    if (this.bySpi.get(sa.inSpi) === sa) this.bySpi.delete(sa.inSpi);
    const list = this.byPeer.get(sa.peerKey);
    if (list) {
      const i = list.indexOf(sa);
      if (i >= 0) list.splice(i, 1);
      if (list.length === 0) this.byPeer.delete(sa.peerKey);
    }
    return sa;
  }

  bySpiGet(spi: number): EspSa | undefined {
    return this.bySpi.get(spi);
  }

  byIdGet(id: string): EspSa | undefined {
    return this.byId.get(id);
  }

  /** The newest SA of a peer endpoint. */
  forPeer(key: string): EspSa | undefined {
    const list = this.byPeer.get(key);
    return list ? list[list.length - 1] : undefined;
  }
}

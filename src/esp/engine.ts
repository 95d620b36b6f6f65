/**
 * ESP (RFC 4303), UDP-encapsulated (RFC 3948): transport mode for L2TP
 * (IKEv1) and tunnel mode for whole IPv4 packets (IKEv2, RFC 4303 §3.1.2),
 * per SA (ChildSaUp.mode): the batch fast path in both directions.
 * Sans-I/O: the caller passes `now` and gets outputs back; nothing here
 * throws on packet input.
 *
 * Inbound, per batch:
 *   1. per datagram: SPI lookup (unknown: drop, never reply), length check;
 *      packets are bucketed per SA (order kept within an SA).
 *   2. per SA: anti-replay check per packet BEFORE any crypto, the ICVs of
 *      the SA's packets in one call (HMAC over SPI|seq|IV|ciphertext,
 *      constant-time compare), and only then, per packet, the window moves
 *      (RFC 4303 §3.4.3; checked again first, so a duplicate within the batch is refused).
 *   3. per SA: ONE CBC decryption over all verified packets (cbc-batch.ts);
 *      AES-GCM is one decipher per packet (the tag is per packet).
 *   4. per packet: padding, then transport: Next Header 17, inner UDP to port
 *      1701, delivered as `l2tp`; tunnel: Next Header 4, a plausible IPv4
 *      packet, delivered as `ipv4` (payload.ts). Both with the SA's id and
 *      peer, never the packet's; a tunnel SA never yields `l2tp` nor a
 *      transport SA `ipv4`.
 * Outbound: sequence numbers (no wrap; 'rekey-needed' once past 2^32 - 2^16),
 * one chained CBC encryption per SA with an unpredictable IV per packet
 * (with the AES-NI provider: the SA's records encrypted in place in one call,
 * eight at a time, IVs made there), HMAC of the SA's packets in one call, one
 * allocation per SA per batch for all sends (or, with encryptBatch's reuse,
 * a region of one buffer kept across batches).
 */
import { createCipheriv, createDecipheriv, randomFillSync, type CipherGCMTypes } from 'node:crypto';
import { Counters } from '../core/counters.js';
import { logEvent } from '../core/log.js';
import type { ChildSaUp, Endpoint } from '../core/sa.js';
import { decryptCbcSpan, encryptCbcChained } from './cbc-batch.js';
import { DropReporter, type EspInDropReason, type EspOutDropReason } from './drops.js';
import { ipv4Length, parseTransportPayload, parseTunnelPayload, paddedLength, UDP_HEADER_LEN, writeTransportPayload, writeTunnelPayload } from './payload.js';
import { REPLAY_WINDOW_DEFAULT } from './replay.js';
import { NO_OK, type CbcBatchProvider, type GcmBatchProvider, type HmacBatchProvider } from './hmac.js';
import { EspSa, SaTable, endpointKey } from './sa.js';
import type { EspDelivered, EspEvent, EspInbound, EspIpv4Delivered, EspOutbound, EspSaStats, EspSend } from './types.js';

export type { EspDelivered, EspEvent, EspInbound, EspIpv4Delivered, EspOutbound, EspSaStats, EspSend } from './types.js';

/** RFC 4303 §3.3.3: the sender must not let the 32-bit counter cycle; ask for a rekey well before. */
export const REKEY_SEQ_THRESHOLD = 2 ** 32 - 2 ** 16;
const SEQ_MAX = 0xffffffff;
const ESP_HDR = 8;

function u32(d: Uint8Array, o: number): number {
  return ((d[o]! << 24) >>> 0) + ((d[o + 1]! << 16) | (d[o + 2]! << 8) | d[o + 3]!);
}

function innerLength(o: EspOutbound): number {
  return (o.head ? o.head.length : 0) + o.payload.length;
}

function ensureU32(a: Uint32Array, need: number): Uint32Array {
  return a.length >= need ? a : new Uint32Array(Math.max(need, 2 * a.length));
}

function ensureU8(a: Uint8Array, need: number): Uint8Array {
  return a.length >= need ? a : new Uint8Array(Math.max(need, 2 * a.length));
}

function ensure(buf: Buffer, need: number): Buffer {
  if (buf.length >= need) return buf;
  let n = buf.length;
  while (n < need) n *= 2;
  return Buffer.alloc(n);
}

export class EspEngine {
  private readonly table = new SaTable();
  private readonly counters: Counters;
  private readonly drops: DropReporter;
  private readonly replayWindow: number;
  private readonly random: (n: number) => Buffer;
  /** The caller gave the random source (tests): IVs come from it even where a provider could make them. */
  private readonly ownRandom: boolean;
  /** Inbound records for the batch CBC span (ciphertext only; reused). */
  private inBuf: Buffer = Buffer.alloc(1 << 16);
  /**
   * decryptBatch's reuse mode: AES-CBC (addon) and AES-GCM records are laid out and opened
   * in place here, each SA of a batch in its own region (from inPlacePos on), and delivered
   * as views of it: no output buffer per batch. The next reuse-mode batch writes over it.
   */
  private inPlace: Buffer = Buffer.alloc(0);
  private inPlacePos = 0;
  private reuseIn = false;
  private decRecs: Uint32Array = new Uint32Array(512);
  /** Outbound plaintext stream (reused; every byte used is written first). */
  private outStream: Buffer = Buffer.alloc(1 << 16);
  /** Flat per-SA record scratch: inbound [index, ivStart, ctLen, seq], outbound [index, seq, paddedLen]. */
  private readonly recs: number[] = [];
  /** HMAC spans [start, end) per record, and the verdicts of a verified batch. */
  private spans: Uint32Array = new Uint32Array(512);
  private icvOk: Uint8Array = new Uint8Array(256);
  private readonly hmacBatch: HmacBatchProvider | undefined;
  private readonly gcmBatch: GcmBatchProvider | undefined;
  private readonly cbcBatch: CbcBatchProvider | undefined;
  /** AES-GCM batch records [aad, iv, in, len, out, tag] per packet. */
  private gcmRecs: Uint32Array = new Uint32Array(6 * 256);
  /** Packets and bytes in, packets and bytes out, of the batch being processed (flushTally). */
  private tallyInPackets = 0;
  private tallyInBytes = 0;
  private tallyOutPackets = 0;
  private tallyOutBytes = 0;
  private readonly touched: EspSa[] = [];
  /** Per-batch scratch for outCbcInPlace: [offset, length] of each record's IV + blocks. */
  private cbcRecs: Uint32Array = new Uint32Array(0);
  private queued: EspEvent[] = [];

  /** IV bytes of one batch (consumed before the batch call returns), refilled from the CSPRNG. */
  private rnd = Buffer.alloc(512);
  /** encryptBatch with reuse: the buffer the CBC records of the last batch were written into. */
  private outWire = Buffer.alloc(0);
  private outWirePos = 0;
  private reuseOut = false;

  /**
   * hmacBatch / gcmBatch / cbcBatch: HMAC, AES-GCM, or outbound AES-CBC, of a whole batch in
   * one native call (the host's addon); node:crypto per packet without them.
   */
  constructor(
    opts: {
      counters?: Counters;
      replayWindow?: number;
      random?: (n: number) => Buffer;
      hmacBatch?: HmacBatchProvider | undefined;
      gcmBatch?: GcmBatchProvider | undefined;
      cbcBatch?: CbcBatchProvider | undefined;
    } = {},
  ) {
    this.hmacBatch = opts.hmacBatch;
    this.gcmBatch = opts.gcmBatch;
    this.cbcBatch = opts.cbcBatch;
    this.counters = opts.counters ?? new Counters('esp');
    this.drops = new DropReporter(this.counters);
    this.replayWindow = opts.replayWindow ?? REPLAY_WINDOW_DEFAULT;
    this.ownRandom = opts.random !== undefined;
    this.random =
      opts.random ??
      ((n: number): Buffer => {
        if (this.rnd.length < n) this.rnd = Buffer.alloc(Math.max(n, 2 * this.rnd.length));
        return randomFillSync(this.rnd, 0, n).subarray(0, n);
      });
  }

  /**
   * Install an SA pair. Never throws: an SA ESP cannot run (transform or key
   * length it does not support, reserved SPI, inbound SPI of another SA) is
   * refused, counted (esp.sa.rejected) and logged through the events of the
   * next batch (or takeEvents()). Use tryAddSa() to get the reason directly.
   */
  addSa(sa: ChildSaUp): void {
    this.tryAddSa(sa);
  }

  /** Install an SA pair; returns undefined when installed, else why it was refused. */
  tryAddSa(sa: ChildSaUp): string | undefined {
    let esp: EspSa;
    try {
      esp = new EspSa(sa, this.replayWindow, this.hmacBatch, this.gcmBatch, this.cbcBatch);
      this.table.add(esp);
    } catch (e) {
      const reason = e instanceof Error ? e.message : String(e);
      this.counters.inc('esp.sa.rejected');
      this.queued.push(logEvent('error', 'esp.sa.rejected', { saId: sa.id, reason }));
      return reason;
    }
    if (esp.rawEspRequested) {
      // Raw IP protocol 50 is out of scope: every SA runs on our NAT-T port, UDP-encapsulated (RFC 3948).
      this.counters.inc('esp.sa.raw-esp-requested');
      this.queued.push(logEvent('warn', 'esp.sa.raw-esp-requested', { saId: sa.id, peer: esp.peerKey, note: 'run UDP-encapsulated' }));
    }
    return undefined;
  }

  /** Events queued outside a batch (SA refusals); they also ride along with the next batch's events. */
  takeEvents(): EspEvent[] {
    const q = this.queued;
    this.queued = [];
    return q;
  }

  removeSa(id: string): void {
    this.table.remove(id);
  }

  /** The current outbound SA id for a peer endpoint (newest), if any. */
  saForPeer(peer: Endpoint): string | undefined {
    return this.table.forPeer(endpointKey(peer))?.id;
  }

  stats(saId: string): EspSaStats | undefined {
    const sa = this.table.byIdGet(saId);
    return sa ? { packetsIn: sa.packetsIn, bytesIn: sa.bytesIn, packetsOut: sa.packetsOut, bytesOut: sa.bytesOut } : undefined;
  }

  /** The highest authenticated inbound sequence number of an SA (0 = none yet). */
  highestInboundSeq(saId: string): number | undefined {
    return this.table.byIdGet(saId)?.replay.highest;
  }

  /** Set the last-sent sequence number (tests; resuming). The next packet carries seq + 1. */
  setOutboundSequence(saId: string, seq: number): void {
    const sa = this.table.byIdGet(saId);
    if (sa) sa.seqOut = Math.max(0, Math.min(SEQ_MAX, Math.floor(seq)));
  }

  /**
   * Verify, decrypt and unwrap one batch of ESP-in-UDP datagrams: L2TP
   * payloads of transport SAs in `delivered`, IPv4 packets of tunnel SAs in
   * `ipv4` (two lists, so neither can be taken for the other). Delivered
   * bytes are views into one plaintext buffer per SA per batch (keep or
   * copy as needed). Order: grouped by SA in order of first appearance, batch
   * order within an SA. Never throws; every datagram is either delivered or
   * counted under esp.in.drop.<reason>.
   * reuse: AES-CBC and AES-GCM packets may be opened in place in a buffer the
   * engine reuses, so their views are valid only until the next decryptBatch: for a
   * caller that consumes them at once and copies whatever it keeps (the
   * session pipeline). Each SA of a batch still has its own region.
   */
  decryptBatch(batch: EspInbound[], now: number, reuse = false): { delivered: EspDelivered[]; ipv4: EspIpv4Delivered[]; events: EspEvent[] } {
    this.reuseIn = reuse;
    this.inPlacePos = 0;
    const delivered: EspDelivered[] = [];
    const ipv4: EspIpv4Delivered[] = [];
    const events: EspEvent[] = this.queued.length ? this.takeEvents() : [];
    const touched = this.touched;
    try {
      for (let i = 0; i < batch.length; i++) {
        const pkt = batch[i]!;
        const d = pkt.data;
        if (d.length < ESP_HDR) {
          this.dropIn('truncated', pkt, undefined, -1, now, events);
          continue;
        }
        const spi = u32(d, 0);
        const sa = this.table.bySpiGet(spi);
        if (!sa) {
          this.dropIn('unknown-spi', pkt, undefined, u32(d, 4), now, events);
          continue;
        }
        const s = sa.spec;
        const ctLen = d.length - ESP_HDR - s.ivLen - s.icvLen;
        if (s.mode === 'cbc' ? ctLen < s.blockSize : ctLen < 2) {
          this.dropIn('truncated', pkt, sa, u32(d, 4), now, events);
          continue;
        }
        if (ctLen % s.blockSize !== 0) {
          this.dropIn('bad-length', pkt, sa, u32(d, 4), now, events);
          continue;
        }
        if (sa.pending.length === 0) touched.push(sa);
        sa.pending.push(i);
      }
      for (const sa of touched) {
        try {
          if (sa.spec.mode !== 'gcm') this.inCbc(sa, batch, now, delivered, ipv4, events);
          else if (sa.inGcm !== undefined) this.inGcmBatch(sa, batch, now, delivered, ipv4, events);
          else this.inGcm(sa, batch, now, delivered, ipv4, events);
        } catch (e) {
          // Not reachable by packet input; a defect must not kill the daemon.
          this.counters.inc('esp.in.internal-error');
          events.push(logEvent('error', 'esp.in.internal-error', { saId: sa.id, error: String(e) }));
        }
      }
    } finally {
      for (const sa of touched) sa.pending.length = 0;
      touched.length = 0;
      this.flushTally();
    }
    return { delivered, ipv4, events };
  }

  /**
   * CBC + HMAC: the replay check per packet before any crypto, every ICV of the
   * SA's packets in one call, then per packet the window update (checked again:
   * a duplicate within the batch fails there); one decryption for the verified packets.
   */
  private inCbc(sa: EspSa, batch: EspInbound[], now: number, delivered: EspDelivered[], ipv4: EspIpv4Delivered[], events: EspEvent[]): void {
    const s = sa.spec;
    const bs = s.blockSize;
    const icv = s.icvLen;
    const hmac = sa.inHmac!;
    const head = hmac.headroom + ESP_HDR;
    let need = 0;
    for (const idx of sa.pending) need += batch[idx]!.data.length + head + 2 * bs;
    const inPlace = this.reuseIn && sa.inCbc !== undefined;
    let buf: Buffer;
    let pos = 0;
    if (inPlace) {
      pos = this.inPlaceRegion(need);
      buf = this.inPlace;
    } else {
      buf = this.inBuf = ensure(this.inBuf, need);
    }
    const spans = (this.spans = ensureU32(this.spans, 2 * sa.pending.length));
    const recs = this.recs;
    recs.length = 0;
    let n = 0;
    for (const idx of sa.pending) {
      const pkt = batch[idx]!;
      const d = pkt.data;
      const seq = u32(d, 4);
      if (!this.replayOk(sa, pkt, seq, now, events)) continue;
      // IV start block-aligned (relative to 0); SPI|seq right before it, HMAC headroom before that.
      let ivStart = pos + head;
      ivStart += (bs - (ivStart % bs)) % bs;
      const recStart = ivStart - ESP_HDR;
      buf.set(d, recStart);
      const ctLen = d.length - ESP_HDR - s.ivLen - icv;
      const ctEnd = ivStart + s.ivLen + ctLen;
      spans[2 * n] = recStart;
      spans[2 * n + 1] = ctEnd;
      n++;
      recs.push(idx, ivStart, ctLen, seq);
      pos = ctEnd + icv;
    }
    if (inPlace) this.inPlacePos = pos;
    if (n === 0) return;
    const ok = (this.icvOk = ensureU8(this.icvOk, n));
    hmac.verifyMany(buf, spans, n, icv, ok);
    let w = 0;
    for (let r = 0, k = 0; r < recs.length; r += 4, k++) {
      const pkt = batch[recs[r]!]!;
      const seq = recs[r + 3]!;
      // a failed ICV: its bytes stay in the span, decrypted to garbage and wiped, never delivered
      if (!this.authenticOnce(ok[k] === 1, sa, pkt, seq, now, events)) continue;
      recs[w] = recs[r]!;
      recs[w + 1] = recs[r + 1]!;
      recs[w + 2] = recs[r + 2]!;
      recs[w + 3] = seq;
      w += 4;
    }
    recs.length = w;
    if (recs.length === 0) return;
    if (inPlace) {
      // each verified record (IV and ciphertext) decrypted where it lies; delivered as views of it
      const m = recs.length / 4;
      const dr = (this.decRecs = ensureU32(this.decRecs, 2 * m));
      for (let r = 0, k = 0; r < recs.length; r += 4, k += 2) {
        dr[k] = recs[r + 1]!;
        dr[k + 1] = s.ivLen + recs[r + 2]!;
      }
      sa.cbcBatch!.cbcDecryptBatch!(sa.inCbc!, buf, dr, m);
      for (let r = 0; r < recs.length; r += 4) {
        const ctStart = recs[r + 1]! + s.ivLen;
        this.deliver(sa, batch[recs[r]!]!, buf, ctStart, ctStart + recs[r + 2]!, recs[r + 3]!, now, delivered, ipv4, events);
      }
      return;
    }
    const from = recs[1]!;
    const last = recs.length - 4;
    const to = recs[last + 1]! + s.ivLen + recs[last + 2]!;
    const out = decryptCbcSpan(s.cipherName, sa.inKey, bs, buf, from, to);
    let prevEnd = 0;
    for (let r = 0; r < recs.length; r += 4) {
      const pkt = batch[recs[r]!]!;
      const ctStart = recs[r + 1]! + s.ivLen - from;
      // The blocks decrypted from IVs and gaps are D_K(bytes) garbage: wipe them, the delivered views share this buffer.
      out.fill(0, prevEnd, ctStart);
      prevEnd = ctStart + recs[r + 2]!;
      this.deliver(sa, pkt, out, ctStart, ctStart + recs[r + 2]!, recs[r + 3]!, now, delivered, ipv4, events);
    }
  }

  /**
   * Room for `need` bytes in the reuse mode's buffer, after the regions of the batch's
   * earlier SAs: the start. A buffer too small is replaced (earlier SAs' views keep the old one).
   */
  private inPlaceRegion(need: number): number {
    if (this.inPlacePos + need > this.inPlace.length) {
      this.inPlace = Buffer.alloc(Math.max(need, 2 * this.inPlace.length, 1 << 16));
      this.inPlacePos = 0;
    }
    return this.inPlacePos;
  }

  /**
   * AES-GCM through the batch provider: the replay check per packet before any crypto,
   * the SA's packets copied into one buffer and opened in one call (in place in the
   * reuse mode, else into one fresh plaintext buffer), then per authentic packet the
   * window moves (checked again first).
   */
  private inGcmBatch(sa: EspSa, batch: EspInbound[], now: number, delivered: EspDelivered[], ipv4: EspIpv4Delivered[], events: EspEvent[]): void {
    const s = sa.spec;
    const icv = s.icvLen;
    let need = 0;
    for (const idx of sa.pending) need += batch[idx]!.data.length;
    // reuse mode: opened in place (plaintext over its ciphertext) in this SA's region; else into one fresh buffer
    const inPlace = this.reuseIn;
    const base = inPlace ? this.inPlaceRegion(need) : 0;
    const buf = inPlace ? this.inPlace : (this.inBuf = ensure(this.inBuf, need));
    const g = (this.gcmRecs = ensureU32(this.gcmRecs, 6 * sa.pending.length));
    const recs = this.recs;
    recs.length = 0;
    let pos = base;
    let total = 0;
    let n = 0;
    for (const idx of sa.pending) {
      const pkt = batch[idx]!;
      const d = pkt.data;
      const seq = u32(d, 4);
      if (!this.replayOk(sa, pkt, seq, now, events)) continue;
      buf.set(d, pos);
      const ctLen = d.length - ESP_HDR - s.ivLen - icv;
      const m = 6 * n;
      const at = inPlace ? pos + ESP_HDR + s.ivLen : total;
      g[m] = pos;
      g[m + 1] = pos + ESP_HDR;
      g[m + 2] = pos + ESP_HDR + s.ivLen;
      g[m + 3] = ctLen;
      g[m + 4] = at;
      g[m + 5] = pos + ESP_HDR + s.ivLen + ctLen;
      recs.push(idx, at, ctLen, seq);
      total += ctLen;
      pos += d.length;
      n++;
    }
    if (inPlace) this.inPlacePos = pos;
    if (n === 0) return;
    const out = inPlace ? buf : Buffer.alloc(total);
    const ok = (this.icvOk = ensureU8(this.icvOk, n));
    sa.gcmBatch!.gcmBatch(sa.inGcm!, buf, out, g, n, ok);
    for (let r = 0, k = 0; r < recs.length; r += 4, k++) {
      const pkt = batch[recs[r]!]!;
      const seq = recs[r + 3]!;
      if (!this.authenticOnce(ok[k] === 1, sa, pkt, seq, now, events)) continue;
      this.deliver(sa, pkt, out, recs[r + 1]!, recs[r + 1]! + recs[r + 2]!, seq, now, delivered, ipv4, events);
    }
  }

  /** AES-GCM (RFC 4106): nonce = salt | explicit IV, AAD = SPI | seq, 16-byte tag; one decipher per packet. */
  private inGcm(sa: EspSa, batch: EspInbound[], now: number, delivered: EspDelivered[], ipv4: EspIpv4Delivered[], events: EspEvent[]): void {
    const s = sa.spec;
    for (const idx of sa.pending) {
      const pkt = batch[idx]!;
      const d = pkt.data;
      const seq = u32(d, 4);
      if (!this.replayOk(sa, pkt, seq, now, events)) continue;
      const ctStart = ESP_HDR + s.ivLen;
      const ctEnd = d.length - s.icvLen;
      sa.inNonce.set(d.subarray(ESP_HDR, ctStart), 4);
      const dc = createDecipheriv(s.cipherName as CipherGCMTypes, sa.inKey, sa.inNonce, { authTagLength: 16 });
      dc.setAAD(d.subarray(0, ESP_HDR));
      const pt = dc.update(d.subarray(ctStart, ctEnd));
      dc.setAuthTag(d.subarray(ctEnd));
      try {
        dc.final();
      } catch {
        this.dropIn('bad-icv', pkt, sa, seq, now, events);
        continue;
      }
      this.accept(sa, pkt, seq, events);
      this.deliver(sa, pkt, pt, 0, pt.length, seq, now, delivered, ipv4, events);
    }
  }

  /** The replay window before any crypto (cheap rejection); false when the packet was dropped. */
  private replayOk(sa: EspSa, pkt: EspInbound, seq: number, now: number, events: EspEvent[]): boolean {
    const verdict = sa.replay.check(seq);
    if (verdict !== 'ok') {
      this.dropIn(verdict, pkt, sa, seq, now, events);
      return false;
    }
    return true;
  }

  /**
   * After a batch's ICVs: a packet whose ICV failed is dropped, the window is checked
   * again (a duplicate within the batch fails here) and then moved; false when dropped.
   */
  private authenticOnce(icvOk: boolean, sa: EspSa, pkt: EspInbound, seq: number, now: number, events: EspEvent[]): boolean {
    if (!icvOk) {
      this.dropIn('bad-icv', pkt, sa, seq, now, events);
      return false;
    }
    if (!this.replayOk(sa, pkt, seq, now, events)) return false;
    this.accept(sa, pkt, seq, events);
    return true;
  }

  /** An authentic packet: the window moves and its source is noted (NAT-T mapping changes). */
  private accept(sa: EspSa, pkt: EspInbound, seq: number, events: EspEvent[]): void {
    const newest = seq > sa.replay.highest;
    sa.replay.update(seq);
    this.noteSource(sa, pkt.from, newest, events);
  }

  private deliver(
    sa: EspSa,
    pkt: EspInbound,
    pt: Uint8Array,
    start: number,
    end: number,
    seq: number,
    now: number,
    delivered: EspDelivered[],
    ipv4: EspIpv4Delivered[],
    events: EspEvent[],
  ): void {
    if (sa.tunnel) {
      const packet = parseTunnelPayload(pt, start, end);
      if (typeof packet === 'string') {
        this.dropIn(packet, pkt, sa, seq, now, events);
        return;
      }
      this.countIn(sa, pkt.data.length);
      ipv4.push({ kind: 'ipv4', saId: sa.id, peer: sa.peer, packet });
      return;
    }
    const r = parseTransportPayload(pt, start, end);
    if (typeof r === 'string') {
      this.dropIn(r, pkt, sa, seq, now, events);
      return;
    }
    this.countIn(sa, pkt.data.length);
    delivered.push({ kind: 'l2tp', saId: sa.id, peer: sa.peer, innerSrcPort: r.srcPort, payload: r.payload });
  }

  private countIn(sa: EspSa, n: number): void {
    sa.packetsIn++;
    sa.bytesIn += n;
    this.tallyInPackets++;
    this.tallyInBytes += n;
  }

  /** The batch's packet and byte counts into the counters: one update per batch, not per packet. */
  private flushTally(): void {
    if (this.tallyInPackets > 0) {
      this.counters.inc('esp.in.packets', this.tallyInPackets);
      this.counters.inc('esp.in.bytes', this.tallyInBytes);
      this.tallyInPackets = this.tallyInBytes = 0;
    }
    if (this.tallyOutPackets > 0) {
      this.counters.inc('esp.out.packets', this.tallyOutPackets);
      this.counters.inc('esp.out.bytes', this.tallyOutBytes);
      this.tallyOutPackets = this.tallyOutBytes = 0;
    }
  }

  /**
   * Authenticated traffic from an endpoint other than where the SA sends: the peer's NAT
   * mapping changed. Followed only for the newest packet (a delayed one from the old
   * mapping must not pull the SA back), for every SA of that peer, and reported once.
   */
  private noteSource(sa: EspSa, from: Endpoint, newest: boolean, events: EspEvent[]): void {
    if (from.port === sa.dest.port && from.address === sa.dest.address) return;
    if (!newest) {
      this.counters.inc('esp.in.peer-moved.stale');
      return;
    }
    this.counters.inc('esp.in.peer-moved');
    this.redirect(sa.peerKey, from);
    events.push({ type: 'peer-moved', saId: sa.id, peer: sa.peer, observed: { address: from.address, port: from.port } });
  }

  /**
   * Send every SA of `peer` to `to` from now on (IKE saw the peer's NAT mapping change
   * on an authenticated message). Returns how many SAs changed.
   */
  movePeer(peer: Endpoint, to: Endpoint): number {
    return this.redirect(endpointKey(peer), to);
  }

  /**
   * One SA sends to `to` from now on (IKEv2 MOBIKE moved its IKE SA, RFC 4555 §3.5);
   * false when there is no such SA.
   */
  moveSa(id: string, to: Endpoint): boolean {
    const sa = this.table.byIdGet(id);
    if (!sa) return false;
    sa.dest = Object.freeze({ address: to.address, port: to.port });
    return true;
  }

  /** Every SA of a peer sends to `to`; returns how many changed. */
  private redirect(peerKey: string, to: Endpoint): number {
    const dest = Object.freeze({ address: to.address, port: to.port });
    let n = 0;
    for (const o of this.table.ofPeer(peerKey)) {
      if (o.dest.address === dest.address && o.dest.port === dest.port) continue;
      o.dest = dest;
      n++;
    }
    return n;
  }

  /** Where the newest SA of `peer` sends (its current outer endpoint), if it has one. */
  destinationOf(peer: Endpoint): Endpoint | undefined {
    return this.table.forPeer(endpointKey(peer))?.dest;
  }

  private dropIn(reason: EspInDropReason, pkt: EspInbound, sa: EspSa | undefined, seq: number, now: number, events: EspEvent[]): void {
    this.drops.inbound(reason, pkt, sa?.id, sa?.peerKey, seq, now, events);
  }


  /**
   * Encrypt one batch for their SAs: inner UDP payloads (L2TP) on transport
   * SAs, whole IPv4 packets on tunnel SAs (see EspOutbound). The send
   * buffers of one SA share one allocation. Order: grouped by SA in
   * order of first appearance, batch order within an SA. Never throws.
   * reuse: the datagrams may be written into a buffer the engine reuses, so
   * the views in `sends` are valid only until the next encryptBatch: for a
   * caller that copies them out at once (the daemon's native UDP port).
   */
  encryptBatch(batch: EspOutbound[], now: number, reuse = false): { sends: EspSend[]; events: EspEvent[] } {
    const sends: EspSend[] = [];
    this.outWirePos = 0;
    this.reuseOut = reuse;
    const events: EspEvent[] = this.queued.length ? this.takeEvents() : [];
    const touched = this.touched;
    try {
      for (let i = 0; i < batch.length; i++) {
        const o = batch[i]!;
        const sa = this.table.byIdGet(o.saId);
        if (!sa) {
          this.dropOut('unknown-sa', o, now, events);
          continue;
        }
        if (sa.tunnel) {
          // one whole IPv4 packet and nothing else (its Total Length bounds it to 65535)
          const p = o.payload;
          if (o.head !== undefined || ipv4Length(p, 0, p.length) !== p.length) {
            this.dropOut('wrong-mode', o, now, events);
            continue;
          }
        } else {
          const port = o.innerDstPort;
          if (!Number.isInteger(port) || port < 1 || port > 0xffff) {
            this.dropOut('bad-port', o, now, events);
            continue;
          }
          if (innerLength(o) + UDP_HEADER_LEN > 0xffff) {
            this.dropOut('too-big', o, now, events);
            continue;
          }
        }
        if (sa.pending.length === 0) touched.push(sa);
        sa.pending.push(i);
      }
      for (const sa of touched) {
        try {
          if (sa.spec.mode !== 'gcm') this.outCbc(sa, batch, now, sends, events);
          else if (sa.outGcm !== undefined) this.outGcmBatch(sa, batch, now, sends, events);
          else this.outGcm(sa, batch, now, sends, events);
        } catch (e) {
          this.counters.inc('esp.out.internal-error');
          events.push(logEvent('error', 'esp.out.internal-error', { saId: sa.id, error: String(e) }));
        }
      }
    } finally {
      for (const sa of touched) sa.pending.length = 0;
      touched.length = 0;
      this.flushTally();
    }
    return { sends, events };
  }

  /** Next outbound sequence number, or -1 (dropped: the counter must not wrap). Emits 'rekey-needed' once. */
  private nextSeq(sa: EspSa, o: EspOutbound, now: number, events: EspEvent[]): number {
    if (sa.seqOut >= SEQ_MAX) {
      this.rekeyOnce(sa, events);
      this.dropOut('seq-exhausted', o, now, events);
      return -1;
    }
    const seq = ++sa.seqOut;
    if (seq > REKEY_SEQ_THRESHOLD) this.rekeyOnce(sa, events);
    return seq;
  }

  private rekeyOnce(sa: EspSa, events: EspEvent[]): void {
    if (sa.rekeyNotified) return;
    sa.rekeyNotified = true;
    events.push({ type: 'rekey-needed', saId: sa.id });
    events.push(logEvent('info', 'esp.out.rekey-needed', { saId: sa.id, seq: sa.seqOut }));
  }

  private outCbc(sa: EspSa, batch: EspOutbound[], now: number, sends: EspSend[], events: EspEvent[]): void {
    const s = sa.spec;
    const bs = s.blockSize;
    const icv = s.icvLen;
    const hmac = sa.outHmac!;
    // room for K^ipad in front of each record only when HMAC runs per packet in JavaScript
    const headroom = hmac.batched ? 0 : hmac.headroom;
    const tunnel = sa.tunnel;
    const udp = tunnel ? 0 : UDP_HEADER_LEN;
    const recs = this.recs;
    recs.length = 0;
    let streamLen = 0;
    let wireLen = 0;
    for (const idx of sa.pending) {
      const o = batch[idx]!;
      const seq = this.nextSeq(sa, o, now, events);
      if (seq < 0) continue;
      const padded = paddedLength(udp + innerLength(o), bs);
      recs.push(idx, seq, padded);
      streamLen += padded + bs;
      wireLen += headroom + ESP_HDR + s.ivLen + padded + icv;
    }
    const n = recs.length / 3;
    if (n === 0) return;
    if (sa.outCbc !== undefined && headroom === 0) return this.outCbcInPlace(sa, batch, n, wireLen, sends);
    // IV_1 and the secret chaining blocks R_1..R_{n-1} (cbc-batch.ts) from one call.
    const rnd = this.random(n * bs);
    if (rnd.length < n * bs) throw new Error('random source returned too few bytes');
    const stream = (this.outStream = ensure(this.outStream, streamLen));
    let p = 0;
    for (let r = 0, k = 0; r < recs.length; r += 3, k++) {
      const o = batch[recs[r]!]!;
      p = tunnel ? writeTunnelPayload(stream, p, o.payload, recs[r + 2]!) : writeTransportPayload(stream, p, o.innerDstPort, o.payload, recs[r + 2]!, o.head);
      if (k < n - 1) {
        rnd.copy(stream, p, (k + 1) * bs, (k + 2) * bs);
        p += bs;
      }
    }
    const out = encryptCbcChained(s.cipherName, sa.outKey, rnd.subarray(0, bs), stream, p);
    const wire = Buffer.alloc(wireLen);
    const spans = (this.spans = ensureU32(this.spans, 2 * n));
    let q = 0;
    let c = 0;
    for (let r = 0, k = 0; r < recs.length; r += 3, k++) {
      const seq = recs[r + 1]!;
      const padded = recs[r + 2]!;
      const rec = q + headroom;
      wire.writeUInt32BE(sa.outSpi, rec);
      wire.writeUInt32BE(seq, rec + 4);
      if (k === 0) rnd.copy(wire, rec + ESP_HDR, 0, bs);
      else out.copy(wire, rec + ESP_HDR, c - bs, c);
      out.copy(wire, rec + ESP_HDR + bs, c, c + padded);
      const ctEnd = rec + ESP_HDR + bs + padded;
      spans[2 * k] = rec;
      spans[2 * k + 1] = ctEnd;
      c += padded + bs;
      q = ctEnd + icv;
    }
    hmac.signMany(wire, spans, n, icv);
    for (let k = 0; k < n; k++) {
      const rec = spans[2 * k]!;
      if (headroom > 0) wire.fill(0, rec - headroom, rec); // no key-derived bytes left next to wire data
      this.sent(sa, wire.subarray(rec, spans[2 * k + 1]! + icv), sends);
    }
  }

  /**
   * AES-CBC through the batch provider (native/cbc.c): each record's
   * plaintext is written at its place in the datagram buffer, the provider
   * writes an unpredictable IV in front of each (RFC 4303 §2.3, RFC 3602
   * §2.4; from the random source instead when the caller gave one) and
   * encrypts every record in place in one call, and the batch HMAC signs
   * them. No cipher object, no intermediate stream: one buffer per batch,
   * every byte of it written (hence allocUnsafe).
   */
  private outCbcInPlace(sa: EspSa, batch: EspOutbound[], n: number, wireLen: number, sends: EspSend[]): void {
    const s = sa.spec;
    const bs = s.blockSize;
    const icv = s.icvLen;
    const recs = this.recs;
    const rnd = this.ownRandom ? this.random(n * bs) : undefined;
    if (rnd && rnd.length < n * bs) throw new Error('random source returned too few bytes');
    let wire: Buffer;
    if (this.reuseOut && this.outWirePos === 0 && this.outWire.length < wireLen) this.outWire = Buffer.allocUnsafe(Math.max(wireLen, 2 * this.outWire.length, 65536));
    if (this.reuseOut && this.outWirePos + wireLen <= this.outWire.length) {
      // this SA's records after those of the SAs before it in this batch
      wire = this.outWire.subarray(this.outWirePos, this.outWirePos + wireLen);
      this.outWirePos += wireLen;
    } else {
      wire = Buffer.allocUnsafe(wireLen);
    }
    const spans = (this.spans = ensureU32(this.spans, 2 * n));
    const blocks = (this.cbcRecs = ensureU32(this.cbcRecs, 2 * n));
    let q = 0;
    for (let r = 0, k = 0; r < recs.length; r += 3, k++) {
      const o = batch[recs[r]!]!;
      const padded = recs[r + 2]!;
      wire.writeUInt32BE(sa.outSpi, q);
      wire.writeUInt32BE(recs[r + 1]!, q + 4);
      rnd?.copy(wire, q + ESP_HDR, k * bs, (k + 1) * bs);
      const at = q + ESP_HDR + bs;
      if (sa.tunnel) writeTunnelPayload(wire, at, o.payload, padded);
      else writeTransportPayload(wire, at, o.innerDstPort, o.payload, padded, o.head);
      blocks[2 * k] = q + ESP_HDR;
      blocks[2 * k + 1] = bs + padded;
      spans[2 * k] = q;
      spans[2 * k + 1] = at + padded;
      q = at + padded + icv;
    }
    sa.cbcBatch!.cbcEncryptBatch(sa.outCbc!, wire, blocks, n, rnd === undefined);
    sa.outHmac!.signMany(wire, spans, n, icv);
    for (let k = 0; k < n; k++) this.sent(sa, wire.subarray(spans[2 * k]!, spans[2 * k + 1]! + icv), sends);
  }

  /** AES-GCM through the batch provider: the SA's packets written into one buffer and sealed in place in one call. */
  private outGcmBatch(sa: EspSa, batch: EspOutbound[], now: number, sends: EspSend[], events: EspEvent[]): void {
    const s = sa.spec;
    const tunnel = sa.tunnel;
    const udp = tunnel ? 0 : UDP_HEADER_LEN;
    const recs = this.recs;
    recs.length = 0;
    let wireLen = 0;
    for (const idx of sa.pending) {
      const o = batch[idx]!;
      const seq = this.nextSeq(sa, o, now, events);
      if (seq < 0) continue;
      const padded = paddedLength(udp + innerLength(o), s.blockSize);
      recs.push(idx, seq, padded);
      wireLen += ESP_HDR + s.ivLen + padded + s.icvLen;
    }
    const n = recs.length / 3;
    if (n === 0) return;
    const wire = Buffer.alloc(wireLen);
    const g = (this.gcmRecs = ensureU32(this.gcmRecs, 6 * n));
    let q = 0;
    for (let r = 0, k = 0; r < recs.length; r += 3, k++) {
      const o = batch[recs[r]!]!;
      const seq = recs[r + 1]!;
      const padded = recs[r + 2]!;
      wire.writeUInt32BE(sa.outSpi, q);
      wire.writeUInt32BE(seq, q + 4);
      wire.writeUInt32BE(seq, q + 12); // explicit IV bytes 8..15 = 0,0,0,0,seq
      const ct = q + ESP_HDR + s.ivLen;
      if (tunnel) writeTunnelPayload(wire, ct, o.payload, padded);
      else writeTransportPayload(wire, ct, o.innerDstPort, o.payload, padded, o.head);
      const m = 6 * k;
      g[m] = q;
      g[m + 1] = q + ESP_HDR;
      g[m + 2] = ct;
      g[m + 3] = padded;
      g[m + 4] = ct;
      g[m + 5] = ct + padded;
      q = ct + padded + s.icvLen;
    }
    sa.gcmBatch!.gcmBatch(sa.outGcm!, wire, wire, g, n, NO_OK);
    for (let k = 0; k < n; k++) this.sent(sa, wire.subarray(g[6 * k]!, g[6 * k + 5]! + s.icvLen), sends);
  }

  /** AES-GCM (RFC 4106): explicit IV = 0^32 | seq, unique per packet under the key since seq never wraps. */
  private outGcm(sa: EspSa, batch: EspOutbound[], now: number, sends: EspSend[], events: EspEvent[]): void {
    const s = sa.spec;
    const tunnel = sa.tunnel;
    const udp = tunnel ? 0 : UDP_HEADER_LEN;
    for (const idx of sa.pending) {
      const o = batch[idx]!;
      const seq = this.nextSeq(sa, o, now, events);
      if (seq < 0) continue;
      const padded = paddedLength(udp + innerLength(o), s.blockSize);
      const stream = (this.outStream = ensure(this.outStream, padded));
      if (tunnel) writeTunnelPayload(stream, 0, o.payload, padded);
      else writeTransportPayload(stream, 0, o.innerDstPort, o.payload, padded, o.head);
      const data = Buffer.alloc(ESP_HDR + s.ivLen + padded + s.icvLen);
      data.writeUInt32BE(sa.outSpi, 0);
      data.writeUInt32BE(seq, 4);
      data.writeUInt32BE(seq, 12); // explicit IV bytes 8..15 = 0,0,0,0,seq
      data.copy(sa.outNonce, 4, 8, 16);
      const c = createCipheriv(s.cipherName as CipherGCMTypes, sa.outKey, sa.outNonce, { authTagLength: 16 });
      c.setAAD(data.subarray(0, ESP_HDR));
      c.update(stream.subarray(0, padded)).copy(data, ESP_HDR + s.ivLen);
      c.final();
      c.getAuthTag().copy(data, ESP_HDR + s.ivLen + padded);
      this.sent(sa, data, sends);
    }
  }

  private sent(sa: EspSa, data: Buffer, sends: EspSend[]): void {
    sa.packetsOut++;
    sa.bytesOut += data.length;
    this.tallyOutPackets++;
    this.tallyOutBytes += data.length;
    sends.push({ to: sa.dest, data });
  }

  private dropOut(reason: EspOutDropReason, o: EspOutbound, now: number, events: EspEvent[]): void {
    this.drops.outbound(reason, o, now, events);
  }

}

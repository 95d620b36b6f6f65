/**
 * The only socket code for IKE and ESP: UDP 500 (IKE) and UDP 4500 (NAT-T:
 * IKE behind the non-ESP marker, ESP, keepalives; RFC 3948 §2).
 *
 * Datagrams received in one event-loop turn are queued and flushed together
 * from setImmediate: IKE messages one by one to onIke(msg, from, to), all ESP
 * datagrams of the turn as ONE batch to onEspBatch (the ESP fast path
 * decrypts a batch per SA in one cipher call). No per-packet closures.
 *
 * The NAT-T port has two implementations (option `io`):
 * - 'native' (the default when the addon in native/ is built): recvmmsg into
 *   one preallocated buffer of slots and sendmmsg out of another
 *   (native/udp.c). A receive batch is classified here from views into the
 *   slots and handed over before the callback returns (the next recvmmsg
 *   reuses the slots): what was queued earlier in the turn (IKE from port
 *   500) first, then the batch in arrival order, IKE copied. ESP sends go out
 *   as one sendmmsg per batch.
 * - 'dgram': node:dgram, one callback per datagram, one send per datagram.
 * Port 500 always uses node:dgram.
 *
 * `to` (our address the peer reached) must be a real address even when bound
 * to 0.0.0.0 (IKE's NAT-D hashes and the SA's local endpoint need it): it is
 * resolved once per peer address with a throwaway UDP socket connected to the
 * peer (the kernel picks the source address by route), then cached. Messages
 * from a peer whose address is being resolved wait (bounded) for it.
 */
import dgram from 'node:dgram';
import { isIPv4 } from 'node:net';
import { Counters } from '../core/counters.js';
import type { Endpoint } from '../core/sa.js';
import { nativeUdpAvailable, NativeUdpSocket } from './udp-native.js';

/** One ESP-in-UDP datagram as received (no marker; first 4 bytes = SPI). */
export interface EspDatagram {
  data: Uint8Array;
  from: Endpoint;
}

/**
 * What a datagram on the NAT-T port is (RFC 3948 §2). The ESP layer owns that rule
 * (src/esp/natt.ts `classifyNatt`); the daemon hands it in, so I/O depends on core only.
 */
export type NattKind = { kind: 'keepalive' } | { kind: 'ike'; message: Uint8Array } | { kind: 'esp' } | { kind: 'drop'; reason: string };

export interface UdpHandlers {
  /** An IKE message (port 500, or port 4500 with the non-ESP marker stripped). `to` is our address and port. */
  onIke(msg: Uint8Array, from: Endpoint, to: Endpoint): void;
  /** All ESP-in-UDP datagrams received on port 4500 in one event-loop turn. */
  onEspBatch(batch: EspDatagram[]): void;
  /** A handler threw or a socket failed (counted too). */
  onError?(err: unknown): void;
}

export interface UdpEndpointsOptions {
  /** Address to bind both sockets to ('0.0.0.0' for all). */
  address: string;
  /** Classifier of NAT-T port datagrams (src/esp/natt.ts classifyNatt). */
  classify: (d: Uint8Array) => NattKind;
  ikePort?: number;
  nattPort?: number;
  counters?: Counters;
  /** Concurrent local-address resolutions (one throwaway socket each); more peers wait or are dropped. */
  maxResolving?: number;
  /** Cached peer address → local address entries before the cache is cleared. */
  maxCache?: number;
  /** Datagrams held per peer address while its local address is resolved. */
  maxPendingPerPeer?: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
  /**
   * The NAT-T port's I/O: 'native' (recvmmsg/sendmmsg through the addon),
   * 'dgram' (node:dgram), or 'auto' (default): native when the addon is built
   * and the address is an IPv4 literal.
   */
  io?: UdpIo;
  /** Native I/O: UDP GSO for bursts to one peer (default true). */
  gso?: boolean;
}

export type UdpIo = 'auto' | 'native' | 'dgram';

interface PendingIke {
  msg: Uint8Array;
  from: Endpoint;
  localPort: number;
  /** ESP datagrams queued before this message: they are handed over first (arrival order). */
  espBefore?: number;
}

const NON_ESP_MARKER = Buffer.alloc(4);
const ANY = '0.0.0.0';

export class UdpEndpoints {
  readonly ikePort: number;
  readonly nattPort: number;
  private readonly address: string;
  private readonly classify: (d: Uint8Array) => NattKind;
  private readonly counters: Counters;
  private readonly maxResolving: number;
  private readonly maxCache: number;
  private readonly maxPendingPerPeer: number;
  private ike: dgram.Socket | null = null;
  private natt: dgram.Socket | null = null;
  private nattNative: NativeUdpSocket | null = null;
  private readonly io: UdpIo;
  private readonly gso: boolean;
  private ikeQueue: PendingIke[] = [];
  private espQueue: EspDatagram[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private closed = false;
  private readonly localByPeer = new Map<string, string>();
  private readonly resolving = new Map<string, { sock: dgram.Socket; pending: PendingIke[] }>();
  private readonly flushBound = (): void => this.flush();
  private readonly sendDone = (err: Error | null): void => {
    if (err) this.fail('udp.send-error', err);
  };

  constructor(
    opts: UdpEndpointsOptions,
    private readonly handlers: UdpHandlers,
  ) {
    this.address = opts.address;
    this.classify = opts.classify;
    this.ikePort = opts.ikePort ?? 500;
    this.nattPort = opts.nattPort ?? 4500;
    this.counters = opts.counters ?? new Counters('udp');
    this.maxResolving = opts.maxResolving ?? 64;
    this.maxCache = opts.maxCache ?? 4096;
    this.maxPendingPerPeer = opts.maxPendingPerPeer ?? 8;
    this.recvBufferSize = opts.recvBufferSize;
    this.sendBufferSize = opts.sendBufferSize;
    this.io = opts.io ?? 'auto';
    this.gso = opts.gso ?? true;
  }

  /** Which implementation the NAT-T port uses (after start()). */
  get nattIo(): 'native' | 'dgram' | 'closed' {
    return this.nattNative ? 'native' : this.natt ? 'dgram' : 'closed';
  }

  private readonly recvBufferSize: number | undefined;
  private readonly sendBufferSize: number | undefined;

  /** Bind UDP ikePort and nattPort (reuseAddr false: a second daemon fails loudly). */
  async start(): Promise<void> {
    this.ike = await this.bind(this.ikePort, (msg, rinfo) => this.onIkeDatagram(msg, rinfo));
    try {
      const native = this.io === 'native' || (this.io === 'auto' && isIPv4(this.address) && nativeUdpAvailable());
      if (native) {
        this.nattNative = NativeUdpSocket.open(this.address, this.nattPort, {
          recvBufferSize: this.recvBufferSize,
          sendBufferSize: this.sendBufferSize,
          gso: this.gso,
          onBatch: (n) => this.onNativeBatch(n),
          onError: (errno) => this.counters.inc(errno === -111 ? 'udp.rx.icmp-refused' : 'udp.rx.error'),
        });
      } else {
        this.natt = await this.bind(this.nattPort, (msg, rinfo) => this.onNattDatagram(msg, rinfo));
      }
    } catch (e) {
      await closeSocket(this.ike);
      this.ike = null;
      throw e;
    }
  }

  static async open(opts: UdpEndpointsOptions, handlers: UdpHandlers): Promise<UdpEndpoints> {
    const u = new UdpEndpoints(opts, handlers);
    await u.start();
    return u;
  }

  private bind(port: number, onMessage: (msg: Buffer, rinfo: dgram.RemoteInfo) => void): Promise<dgram.Socket> {
    return new Promise((resolve, reject) => {
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: false });
      const onError = (err: Error): void => {
        s.close();
        reject(err);
      };
      s.once('error', onError);
      s.bind({ port, address: this.address, exclusive: true }, () => {
        s.off('error', onError);
        s.on('error', (err) => this.fail('udp.socket-error', err));
        s.on('message', onMessage);
        try {
          if (this.recvBufferSize) s.setRecvBufferSize(this.recvBufferSize);
          if (this.sendBufferSize) s.setSendBufferSize(this.sendBufferSize);
        } catch (err) {
          this.fail('udp.buffer-size-error', err);
        }
        resolve(s);
      });
    });
  }

  private onIkeDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port === 0) {
      this.counters.inc('udp.drop.src-port-0');
      return;
    }
    this.counters.inc('udp.rx.ike');
    this.queueIke({ msg, from: { address: rinfo.address, port: rinfo.port }, localPort: this.ikePort });
  }

  private onNattDatagram(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    if (rinfo.port === 0) {
      this.counters.inc('udp.drop.src-port-0');
      return;
    }
    if (this.onNatt(msg, { address: rinfo.address, port: rinfo.port }, false)) this.schedule();
  }

  /**
   * One receive batch of the native socket: datagram i is in the addon's slot i.
   * Everything queued before it and the whole batch are handed over now, in
   * arrival order: the views into the slots must not outlive this call.
   */
  private onNativeBatch(n: number): void {
    const s = this.nattNative;
    if (!s || this.closed) return;
    if (this.ikeQueue.length > 0 || this.espQueue.length > 0) this.flushNow();
    const meta = s.rxMeta;
    let esp = 0;
    for (let i = 0, m = 0; i < n; i++, m += 4) {
      const port = meta[m + 2]!;
      if (port === 0) {
        this.counters.inc('udp.drop.src-port-0');
        continue;
      }
      if (meta[m + 3] !== 0) {
        this.counters.inc('udp.drop.truncated');
        continue;
      }
      if (this.onNatt(s.datagram(i, meta[m]!), s.endpoint(meta[m + 1]!, port), true)) esp++;
    }
    if (esp > 0) this.counters.inc('udp.rx.esp', esp);
    this.flushNow();
  }

  /** Classify and queue one NAT-T datagram; true when it was ESP. `fromSlots`: a view into the native receive slots (IKE is copied, ESP counted per batch). */
  private onNatt(msg: Uint8Array, from: Endpoint, fromSlots: boolean): boolean {
    const c = this.classify(msg);
    switch (c.kind) {
      case 'esp':
        if (!fromSlots) this.counters.inc('udp.rx.esp');
        this.espQueue.push({ data: msg, from });
        return true;
      case 'ike':
        this.counters.inc('udp.rx.ike-natt');
        this.queueIke({ msg: fromSlots ? Buffer.from(c.message) : c.message, from, localPort: this.nattPort });
        return false;
      case 'keepalive':
        this.counters.inc('udp.rx.keepalive'); // RFC 3948 §4: not liveness, ignored
        return false;
      case 'drop':
        this.counters.inc(`udp.drop.${c.reason}`);
        return false;
    }
  }

  private queueIke(p: PendingIke): void {
    if (this.address !== ANY || this.localByPeer.has(p.from.address)) {
      p.espBefore = this.espQueue.length;
      this.ikeQueue.push(p);
      this.schedule();
      return;
    }
    const r = this.resolving.get(p.from.address);
    if (r) {
      if (r.pending.length < this.maxPendingPerPeer) r.pending.push(p);
      else this.counters.inc('udp.drop.resolve-backlog');
      return;
    }
    if (this.resolving.size >= this.maxResolving) {
      this.counters.inc('udp.drop.resolve-busy');
      return;
    }
    this.resolveLocal(p);
  }

  /** Our source address towards a peer: connect a throwaway UDP socket and read its local address. */
  private resolveLocal(first: PendingIke): void {
    const peer = first.from.address;
    const sock = dgram.createSocket('udp4');
    const entry = { sock, pending: [first] };
    this.resolving.set(peer, entry);
    const done = (local: string | null, err?: unknown): void => {
      if (this.resolving.get(peer) !== entry) return;
      this.resolving.delete(peer);
      try {
        sock.close();
      } catch {
        // already closed
      }
      if (this.closed) return;
      if (local === null) {
        this.counters.inc('udp.drop.resolve-failed', entry.pending.length);
        this.handlers.onError?.(err);
        return;
      }
      if (this.localByPeer.size >= this.maxCache) this.localByPeer.clear();
      this.localByPeer.set(peer, local);
      for (const p of entry.pending) {
        p.espBefore = this.espQueue.length;
        this.ikeQueue.push(p);
      }
      this.schedule();
    };
    sock.once('error', (err) => done(null, err));
    try {
      sock.connect(first.from.port, peer, () => {
        try {
          done(sock.address().address);
        } catch (err) {
          done(null, err);
        }
      });
    } catch (err) {
      done(null, err);
    }
  }

  private schedule(): void {
    if (this.scheduled === null && !this.closed) this.scheduled = setImmediate(this.flushBound);
  }

  private flushNow(): void {
    if (this.scheduled !== null) clearImmediate(this.scheduled);
    this.flush();
  }

  /**
   * Hand over what arrived since the last flush in arrival order: the ESP that came
   * before an IKE message goes first (a client's CDN and StopCCN, then its Delete:
   * the Delete must not remove the SA before they are read).
   */
  private flush(): void {
    this.scheduled = null;
    const ike = this.ikeQueue;
    const esp = this.espQueue;
    if (ike.length) this.ikeQueue = [];
    if (esp.length) this.espQueue = [];
    let espDone = 0;
    for (const p of ike) {
      const before = Math.min(p.espBefore ?? 0, esp.length);
      if (before > espDone) {
        this.espBatch(espDone === 0 && before === esp.length ? esp : esp.slice(espDone, before));
        espDone = before;
      }
      const local = this.address === ANY ? this.localByPeer.get(p.from.address) : this.address;
      if (local === undefined) continue; // cache cleared in between: dropped, the peer retransmits
      try {
        this.handlers.onIke(p.msg, p.from, { address: local, port: p.localPort });
      } catch (err) {
        this.fail('udp.handler-error', err);
      }
    }
    if (esp.length > espDone) this.espBatch(espDone === 0 ? esp : esp.slice(espDone));
  }

  private espBatch(batch: EspDatagram[]): void {
    try {
      this.handlers.onEspBatch(batch);
    } catch (err) {
      this.fail('udp.handler-error', err);
    }
  }

  private fail(counter: string, err: unknown): void {
    this.counters.inc(counter);
    if (this.handlers.onError) {
      try {
        this.handlers.onError(err);
      } catch {
        // the error reporter itself failed: counted above
      }
    }
  }

  /** Send an IKE message from our port `from.port` (ikePort or nattPort; on nattPort the non-ESP marker is prepended). */
  sendIke(from: Endpoint, to: Endpoint, data: Uint8Array): void {
    if (from.port === this.nattPort) {
      if (this.nattNative) return this.nativeSent(this.nattNative.sendOne(to, data, true));
      if (!this.natt) return this.notOpen();
      this.natt.send([NON_ESP_MARKER, data], to.port, to.address, this.sendDone);
    } else {
      if (!this.ike) return this.notOpen();
      this.ike.send(data, to.port, to.address, this.sendDone);
    }
  }

  /** Send one ESP-in-UDP datagram (SPI first) from nattPort. */
  sendEsp(to: Endpoint, data: Uint8Array): void {
    if (this.nattNative) return this.nativeSent(this.nattNative.sendOne(to, data, false));
    if (!this.natt) return this.notOpen();
    this.natt.send(data, to.port, to.address, this.sendDone);
  }

  /** sendEsp/sendEspBatch have copied the datagrams when they return (the native port's send buffer; node:dgram keeps references). */
  get sendEspCopies(): boolean {
    return this.nattNative !== undefined;
  }

  /** Send ESP-in-UDP datagrams from nattPort, in order (native: one sendmmsg per up to a batch). */
  sendEspBatch(sends: ReadonlyArray<{ to: Endpoint; data: Uint8Array }>): void {
    if (this.nattNative) return this.nativeSent(this.nattNative.sendBatch(sends));
    for (let i = 0; i < sends.length; i++) this.sendEsp(sends[i]!.to, sends[i]!.data);
  }

  /** Datagrams the kernel did not take (queue full or an error such as EPERM): counted, the first error reported. */
  private nativeSent(dropped: number): void {
    if (dropped === 0) return;
    this.counters.inc('udp.send-dropped', dropped);
    const e = this.nattNative?.takeSendError();
    if (e) this.fail('udp.send-error', e);
  }

  private notOpen(): void {
    this.counters.inc('udp.send-not-open');
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = null;
    for (const r of this.resolving.values()) {
      try {
        r.sock.close();
      } catch {
        // already closed
      }
    }
    this.resolving.clear();
    this.ikeQueue = [];
    this.espQueue = [];
    const socks = [this.ike, this.natt];
    this.nattNative?.close();
    this.nattNative = null;
    this.ike = null;
    this.natt = null;
    await Promise.all(socks.map((s) => (s ? closeSocket(s) : undefined)));
  }
}

function closeSocket(s: dgram.Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      s.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/**
 * The NAT-T data socket through the addon (native/udp.c): recvmmsg into one
 * buffer of fixed slots and sendmmsg out of another, both allocated here and
 * read and written as views. One native call and one callback per batch.
 * Runs of equal-size datagrams to one peer (a bulk flow's burst) leave as one
 * UDP GSO send each: one trip through the kernel's stack for the run.
 */
import type { OneShotProvider } from '../core/oneshot.js';
import type { Endpoint } from '../core/sa.js';
import { loadNativeAddon, type NativeError } from './tun.js';

interface NativeUdp {
  udpOpen(
    address: string,
    port: number,
    rcvbuf: number,
    sndbuf: number,
    rx: ArrayBuffer,
    rxMeta: ArrayBuffer,
    tx: ArrayBuffer,
    txMeta: ArrayBuffer,
    slot: number,
    batch: number,
    cb: (n: number) => void,
  ): { fd: number; port: number; rcvbuf: number; handle: object };
  udpSend(handle: object, n: number): number;
  udpLastError(handle: object): number;
  udpSetGso(handle: object, on: boolean): boolean;
  udpClose(handle: object): void;
}

/** Datagrams per recvmmsg / sendmmsg. */
export const UDP_BATCH = 64;
/** A receive slot holds the largest UDP/IPv4 payload (IKE messages may be IP-fragmented). */
const SLOT = 65536;
const TX_SIZE = 1 << 20;
const NON_ESP_MARKER_LEN = 4;
const MAX_ENDPOINTS = 65536;

let native: NativeUdp | null | undefined;

function addon(): NativeUdp | null {
  if (native !== undefined) return native;
  try {
    const a = loadNativeAddon();
    native = typeof a.udpOpen === 'function' ? (a as unknown as NativeUdp) : null;
  } catch {
    native = null;
  }
  return native;
}

/** True when the addon with the UDP batch functions is built. */
export function nativeUdpAvailable(): boolean {
  return addon() !== null;
}

function ipv4ToU32(a: string): number {
  let v = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < a.length; i++) {
    const c = a.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part > 255) return -1;
      v = v * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57 && digits < 3) {
      part = part * 10 + (c - 48);
      digits++;
    } else return -1;
  }
  if (dots !== 3 || digits === 0 || part > 255) return -1;
  return v * 256 + part;
}

export interface NativeUdpOptions {
  recvBufferSize?: number | undefined;
  sendBufferSize?: number | undefined;
  /** UDP GSO for runs of equal-size datagrams to one peer (default on; off by itself where the kernel refuses it). */
  gso?: boolean | undefined;
  /** A receive batch of n datagrams (see datagram(i)); done with the slots when it returns. */
  onBatch(n: number): void;
  /** A receive error (negative errno, e.g. -111 for an ICMP port unreachable queued on the socket). */
  onError(errno: number): void;
}

export class NativeUdpSocket {
  /** [length, source address (u32), source port, truncated] per slot. */
  readonly rxMeta: Uint32Array;
  readonly port: number;
  /** The receive buffer the kernel granted (SO_RCVBUF; with CAP_NET_ADMIN beyond net.core.rmem_max). */
  readonly recvBufferSize: number;
  private readonly rx: Uint8Array;
  private readonly tx: Buffer;
  private readonly txMeta: Uint32Array;
  private txPos = 0;
  private txCount = 0;
  private sendErrno = 0;
  private closed = false;
  /** Source endpoints by address * 65536 + port: one frozen object per client, not one per datagram. */
  private readonly endpoints = new Map<number, Endpoint>();
  /** Destination address text → u32. */
  private readonly addrs = new Map<string, number>();

  private constructor(
    private readonly n: NativeUdp,
    private readonly handle: object,
    port: number,
    rcvbuf: number,
    rx: ArrayBuffer,
    rxMeta: ArrayBuffer,
    tx: ArrayBuffer,
    txMeta: ArrayBuffer,
  ) {
    this.port = port;
    this.recvBufferSize = rcvbuf;
    this.rx = new Uint8Array(rx);
    this.rxMeta = new Uint32Array(rxMeta);
    this.tx = Buffer.from(tx);
    this.txMeta = new Uint32Array(txMeta);
  }

  /** Binds address:port (IPv4, no SO_REUSEADDR: a second daemon fails with EADDRINUSE) and starts reading. */
  static open(address: string, port: number, opts: NativeUdpOptions): NativeUdpSocket {
    const n = addon();
    if (!n) throw new Error('the native UDP addon is not built (node-gyp rebuild -C native)');
    const rx = new ArrayBuffer(SLOT * UDP_BATCH);
    const rxMeta = new ArrayBuffer(16 * UDP_BATCH);
    const tx = new ArrayBuffer(TX_SIZE);
    const txMeta = new ArrayBuffer(16 * UDP_BATCH);
    const r = n.udpOpen(address, port, opts.recvBufferSize ?? 0, opts.sendBufferSize ?? 0, rx, rxMeta, tx, txMeta, SLOT, UDP_BATCH, (count) => {
      if (count >= 0) opts.onBatch(count);
      else opts.onError(count);
    });
    if (opts.gso === false) n.udpSetGso(r.handle, false);
    return new NativeUdpSocket(n, r.handle, r.port, r.rcvbuf, rx, rxMeta, tx, txMeta);
  }

  /** Datagram i of the current receive batch (a view: valid until the batch callback returns). */
  datagram(i: number, len: number): Uint8Array {
    return this.rx.subarray(i * SLOT, i * SLOT + len);
  }

  endpoint(addr: number, port: number): Endpoint {
    const key = addr * 65536 + port;
    let e = this.endpoints.get(key);
    if (e === undefined) {
      if (this.endpoints.size >= MAX_ENDPOINTS) this.endpoints.clear();
      e = Object.freeze({ address: `${addr >>> 24}.${(addr >>> 16) & 255}.${(addr >>> 8) & 255}.${addr & 255}`, port });
      this.endpoints.set(key, e);
    }
    return e;
  }

  /** Queue one datagram into the send buffer (sending first when full); false if it cannot be sent at all. */
  private queue(to: Endpoint, data: Uint8Array, marker: boolean): boolean {
    let a = this.addrs.get(to.address);
    if (a === undefined) {
      a = ipv4ToU32(to.address);
      if (a < 0) {
        this.sendErrno = 22; // EINVAL: not an IPv4 address
        return false;
      }
      if (this.addrs.size >= MAX_ENDPOINTS) this.addrs.clear();
      this.addrs.set(to.address, a);
    }
    const len = data.length + (marker ? NON_ESP_MARKER_LEN : 0);
    if (len > TX_SIZE || !(to.port > 0 && to.port <= 0xffff)) {
      this.sendErrno = 22;
      return false;
    }
    if (this.txCount === UDP_BATCH || this.txPos + len > TX_SIZE) this.pending += this.flush();
    let at = this.txPos;
    if (marker) {
      this.tx.writeUInt32BE(0, at);
      at += NON_ESP_MARKER_LEN;
    }
    this.tx.set(data, at);
    const m = this.txCount * 4;
    this.txMeta[m] = this.txPos;
    this.txMeta[m + 1] = len;
    this.txMeta[m + 2] = a;
    this.txMeta[m + 3] = to.port;
    this.txPos += len;
    this.txCount++;
    return true;
  }

  /** Dropped datagrams of flushes made while queueing. */
  private pending = 0;

  /** Send what is queued (one sendmmsg); returns how many datagrams were dropped. */
  private flush(): number {
    const count = this.txCount;
    this.txCount = 0;
    this.txPos = 0;
    if (count === 0 || this.closed) return count;
    const sent = this.n.udpSend(this.handle, count);
    if (sent < count) {
      const e = this.n.udpLastError(this.handle);
      if (e !== 0) this.sendErrno = e;
    }
    return count - sent;
  }

  /** Sends datagrams in order, one sendmmsg per UDP_BATCH; returns how many were dropped. */
  sendBatch(sends: ReadonlyArray<{ to: Endpoint; data: Uint8Array }>): number {
    if (this.closed) return sends.length;
    let dropped = 0;
    this.pending = 0;
    for (let i = 0; i < sends.length; i++) if (!this.queue(sends[i]!.to, sends[i]!.data, false)) dropped++;
    return dropped + this.pending + this.flush();
  }

  /** One datagram now (IKE with the non-ESP marker, or one ESP); returns 1 if dropped, else 0. */
  sendOne(to: Endpoint, data: Uint8Array, marker: boolean): number {
    if (this.closed) return 1;
    this.pending = 0;
    if (!this.queue(to, data, marker)) return 1;
    return this.pending + this.flush();
  }

  /** The error of the last refused send (then cleared), for the log. */
  takeSendError(): NativeError | undefined {
    const e = this.sendErrno;
    this.sendErrno = 0;
    if (e === 0) return undefined;
    const err: NativeError = new Error(`sendmmsg on UDP ${this.port}: errno ${e}`);
    err.errno = e;
    return err;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.n.udpClose(this.handle);
  }
}

/** The addon's functions `names` (bound to nothing: plain functions), or undefined when the addon is not built or lacks one. */
function addonFunctions<T>(names: ReadonlyArray<keyof T & string>): T | undefined {
  try {
    const a = loadNativeAddon();
    const out: Record<string, unknown> = {};
    for (const n of names) {
      if (typeof a[n] !== 'function') return undefined;
      out[n] = a[n];
    }
    return out as T;
  } catch {
    return undefined;
  }
}

/** What src/esp's HmacBatchProvider needs (the addon's OpenSSL HMAC, native/hmac.c). */
export interface NativeHmac {
  hmacKey(hash: string, key: Uint8Array): object;
  hmacBatch(key: object, buf: Uint8Array, spans: Uint32Array, n: number, icvLen: number, verify: boolean, ok: Uint8Array): number;
}

/** The addon's batch HMAC, or undefined when the addon is not built or found no OpenSSL in the process. */
export function nativeHmac(): NativeHmac | undefined {
  return addonFunctions<NativeHmac>(['hmacKey', 'hmacBatch']);
}

/**
 * The addon's one-shot SHA digests, HMACs (native/hmac.c) and CBC (native/once.c) for
 * src/core/oneshot.ts, or undefined when the addon is not built or found no OpenSSL.
 */
export function nativeOneShot(): OneShotProvider | undefined {
  const d = addonFunctions<OneShotProvider>(['digestOnce', 'hmacOnce']);
  if (!d) return undefined;
  const c = addonFunctions<Required<Pick<OneShotProvider, 'cbcOnce'>>>(['cbcOnce']);
  return c ? { ...d, ...c } : d;
}

/** What src/esp's CbcBatchProvider needs (the addon's AES-NI CBC, native/cbc.c). */
export interface NativeCbc {
  cbcKey(key: Uint8Array): object | undefined;
  cbcEncryptBatch(key: object, buf: Uint8Array, recs: Uint32Array, n: number, makeIv?: boolean): number;
  cbcDecryptBatch(key: object, buf: Uint8Array, recs: Uint32Array, n: number): number;
  cbcDecryptKey(key: Uint8Array): object | undefined;
}

/** The addon's interleaved AES-CBC, or undefined when the addon is not built or this is not x86-64. */
export function nativeCbc(): NativeCbc | undefined {
  return addonFunctions<NativeCbc>(['cbcKey', 'cbcEncryptBatch', 'cbcDecryptKey', 'cbcDecryptBatch']);
}

/** What src/esp's GcmBatchProvider needs (the addon's OpenSSL AES-GCM, native/gcm.c). */
export interface NativeGcm {
  gcmKey(key: Uint8Array, salt: Uint8Array, encrypt: boolean): object;
  gcmBatch(key: object, src: Uint8Array, dst: Uint8Array, recs: Uint32Array, n: number, ok: Uint8Array): number;
}

/** The addon's batch AES-GCM, or undefined when the addon is not built or found no OpenSSL in the process. */
export function nativeGcm(): NativeGcm | undefined {
  return addonFunctions<NativeGcm>(['gcmKey', 'gcmBatch']);
}

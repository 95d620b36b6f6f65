import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Linux TUN device (IFF_TUN | IFF_NO_PI: each read or write is one bare
 * IPv4 packet), through the small N-API addon in native/tun.c. With offload
 * (the default) the device also has IFF_VNET_HDR and a write coalesces runs of
 * one flow's TCP or UDP packets into one super-packet the kernel segments
 * (native/tunoff.c): forwarding, conntrack and NAT then run once per run, not
 * once per packet.
 *
 * Reads arrive in batches (up to BATCH_MAX packets per event-loop turn) in one
 * callback; writes take a batch and return how many packets the kernel took.
 * The interface is not persistent: it disappears when the device is closed or
 * the process dies, so a crash leaves no stale interface behind.
 */

interface NativeTun {
  /** cb(batch, lengths): the packets back to back in one Buffer; cb(null, err) once on a read error. */
  open(
    name: string,
    cb: (batch: Buffer | null, lengths: number[] | NativeError) => void,
    vnetHdr?: boolean,
  ): { fd: number; name: string; vnetHdr: boolean; handle: object };
  write(fd: number, packets: readonly Uint8Array[], vnetHdr?: boolean): number;
  close(handle: object): void;
  coalesce(packets: readonly Uint8Array[]): Buffer[];
  tunStats(): TunStats;
  BATCH_MAX: number;
}

/** What TUN writes did in this process. */
export interface TunStats {
  /** Writes that carried several packets as one super-packet (segmentation offload). */
  superPackets: number;
  /** Packets that went in those super-packets. */
  coalesced: number;
  /** Reads dropped because the kernel asked for segmentation or gave a bad checksum offset. */
  readDropped: number;
  /** The kernel refused an offload write once; packets go one by one since. */
  gsoRefused: boolean;
}

/** Errors from the addon carry the errno name (code) and number. */
export interface NativeError extends Error {
  code?: string;
  errno?: number;
}

export const ADDON_RELATIVE_PATH = 'native/build/Release/tun.node';

let addon: NativeTun | undefined;

/** Finds the package root (the first ancestor of this file holding the built addon) and loads it. */
function loadAddon(): NativeTun {
  if (addon) return addon;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON_RELATIVE_PATH);
    if (existsSync(candidate)) {
      const require = createRequire(import.meta.url);
      addon = require(candidate) as NativeTun;
      return addon;
    }
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  throw new Error(
    `TUN addon ${ADDON_RELATIVE_PATH} not found above ${dirname(fileURLToPath(import.meta.url))}: ` +
      'build it with "node-gyp rebuild -C native" (npm install runs it)',
  );
}

/** The addon's module object (src/io/udp-native.ts uses its UDP functions); throws when it is not built. */
export function loadNativeAddon(): Record<string, unknown> {
  return loadAddon() as unknown as Record<string, unknown>;
}

/** True when the compiled addon can be found (tests use it to skip with a reason). */
export function tunAddonAvailable(): boolean {
  try {
    loadAddon();
    return true;
  } catch {
    return false;
  }
}

export interface TunOptions {
  /**
   * Called once if reading fails (e.g. the interface was deleted under us);
   * polling has stopped by then. Without it the error is kept in `lastError`.
   */
  onError?: (err: NativeError) => void;
  /**
   * Coalesce runs of one flow's TCP/UDP packets into one write with
   * segmentation offload (IFF_VNET_HDR). Default: on, unless the environment
   * says L2TPSEC_TUN_OFFLOAD=0. A kernel without it gets a plain device.
   */
  offload?: boolean;
}

/** The super-packets a write of `packets` with offload hands the kernel (virtio_net_hdr first), for tests. */
export function coalesceForTest(packets: readonly Uint8Array[]): Buffer[] {
  return loadAddon().coalesce(packets);
}

/** Coalescing counters of this process's TUN writes. */
export function tunStats(): TunStats {
  return loadAddon().tunStats();
}

export class TunDevice {
  /** Most packets one read callback delivers. */
  static get BATCH_MAX(): number {
    return loadAddon().BATCH_MAX;
  }

  private closed = false;
  /** Last read or write error, for diagnostics. */
  lastError: NativeError | undefined;
  /** Write batches in which the kernel refused a packet with an error other than EAGAIN. */
  writeErrors = 0;

  private constructor(
    readonly name: string,
    private readonly fd: number,
    private readonly handle: object,
    private readonly native: NativeTun,
    /** Writes and reads carry a virtio_net_hdr, and writes coalesce (TunOptions.offload). */
    readonly offload: boolean,
  ) {}

  /**
   * Creates (or attaches to) the TUN interface `name` and starts reading.
   * `onPackets` gets each batch (at most BATCH_MAX packets) as views into one
   * Buffer per batch: copy a packet (Buffer.from) to keep it beyond the call
   * without pinning the whole batch; modifying it in place is fine.
   * Throws with a clear message when /dev/net/tun is missing, when we lack
   * root or CAP_NET_ADMIN (code EPERM), or when the name is taken (EBUSY).
   * `name` is the name the kernel actually gave (same as asked, unless it held "%d").
   */
  static open(name: string, onPackets: (packets: Buffer[]) => void, options: TunOptions = {}): TunDevice {
    const native = loadAddon();
    let dev: TunDevice | undefined;
    const onError = options.onError;
    const offload = options.offload ?? process.env.L2TPSEC_TUN_OFFLOAD !== '0';
    const r = native.open(name, (batch, lengths) => {
      if (batch !== null && Array.isArray(lengths)) {
        const packets: Buffer[] = new Array<Buffer>(lengths.length);
        let off = 0;
        for (let i = 0; i < lengths.length; i++) {
          const len = lengths[i]!;
          packets[i] = batch.subarray(off, off + len);
          off += len;
        }
        onPackets(packets);
        return;
      }
      if (!Array.isArray(lengths) && dev) {
        dev.lastError = lengths;
        if (onError) onError(lengths);
      }
    }, offload);
    dev = new TunDevice(r.name, r.fd, r.handle, native, r.vnetHdr);
    return dev;
  }

  /**
   * Writes a batch of IPv4 packets (one write(2) each, or with offload one per
   * run of a flow's packets, see native/tunoff.c). Returns how many the
   * kernel accepted from the front of the array; the rest were not written
   * (queue full, EAGAIN, or an error, counted in writeErrors): drop them.
   * Never throws for I/O errors; throws only on wrong argument types.
   */
  write(packets: readonly Uint8Array[]): number {
    if (this.closed || packets.length === 0) return 0;
    try {
      return this.native.write(this.fd, packets, this.offload);
    } catch (e) {
      if (e instanceof TypeError) throw e;
      this.writeErrors++;
      this.lastError = e as NativeError;
      return 0;
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Stops reading and closes the fd (the kernel then removes the interface). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.native.close(this.handle);
  }
}

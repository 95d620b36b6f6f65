import { formatIPv4, parseCidr, parseIPv4 } from '../core/ipv4.js';

/**
 * The IPv4 address pool clients get their IPCP address from.
 * In a /24 such as 10.40.0.0/24: .0 is the network, .1 the server (our IPCP
 * address), .255 the broadcast, so .2–.254 are the 253 client addresses.
 * Allocation gives a user back its previous address when it is still free
 * (stable addresses across reconnects), else the lowest free one.
 */
export class AddressPool {
  readonly serverAddress: string;
  /** Number of client addresses. */
  readonly size: number;
  private readonly firstClient: number;
  private readonly lastClient: number;
  /** address → owner (user name) */
  private readonly leases = new Map<number, string>();
  /** user → last address it held, for stable re-allocation (bounded by the pool size). */
  private readonly previous = new Map<string, number>();
  /** Static addresses configured for users: never handed out dynamically. */
  private readonly staticSet = new Set<number>();

  constructor(cidr: string) {
    const c = parseCidr(cidr);
    if (c.prefix > 30) throw new RangeError(`address pool ${cidr} is too small (at most a /30)`);
    this.serverAddress = formatIPv4(c.first + 1);
    this.firstClient = c.first + 2;
    this.lastClient = c.last - 1;
    this.size = this.lastClient - this.firstClient + 1;
  }

  get free(): number {
    let n = this.size - this.leases.size;
    for (const s of this.staticSet) if (!this.leases.has(s)) n--;
    return n;
  }

  /** True for an address a client may hold: inside the pool, not network/server/broadcast. */
  isClientAddress(addr: string): boolean {
    const v = toInt(addr);
    return v !== undefined && v >= this.firstClient && v <= this.lastClient;
  }

  isAllocated(addr: string): boolean {
    const v = toInt(addr);
    return v !== undefined && this.leases.has(v);
  }

  /** The user holding addr, if any. */
  owner(addr: string): string | undefined {
    const v = toInt(addr);
    return v === undefined ? undefined : this.leases.get(v);
  }

  /**
   * Mark addresses as statically assigned: dynamic allocation skips them,
   * only allocate(user, thatAddress) can take them.
   */
  setStatic(addrs: Iterable<string>): void {
    this.staticSet.clear();
    for (const a of addrs) {
      const v = toInt(a);
      if (v !== undefined && v >= this.firstClient && v <= this.lastClient) this.staticSet.add(v);
    }
  }

  /** True for a client address that is neither leased nor reserved as someone's static address. */
  isFreeDynamic(addr: string): boolean {
    const v = toInt(addr);
    return v !== undefined && v >= this.firstClient && v <= this.lastClient && !this.leases.has(v) && !this.staticSet.has(v);
  }

  /**
   * Lease an address for user: `preferred` when it is a free, non-static
   * client address (what the client asked for), else the
   * user's previous address if free, else the lowest free non-static one.
   * undefined = pool exhausted.
   */
  allocate(user: string, preferred?: string): string | undefined {
    if (preferred !== undefined) {
      const p = toInt(preferred);
      if (p !== undefined && p >= this.firstClient && p <= this.lastClient && !this.leases.has(p) && !this.staticSet.has(p)) return this.take(p, user);
    }
    const prev = this.previous.get(user);
    if (prev !== undefined && !this.leases.has(prev) && !this.staticSet.has(prev)) return this.take(prev, user);
    for (let v = this.firstClient; v <= this.lastClient; v++) {
      if (!this.leases.has(v) && !this.staticSet.has(v)) return this.take(v, user);
    }
    return undefined;
  }

  /** Lease exactly addr (a user's static address); false if it is taken or not a client address. */
  reserve(addr: string, user: string): boolean {
    const v = toInt(addr);
    if (v === undefined || v < this.firstClient || v > this.lastClient || this.leases.has(v)) return false;
    this.take(v, user);
    return true;
  }

  release(addr: string): void {
    const v = toInt(addr);
    if (v !== undefined) this.leases.delete(v);
  }

  private take(v: number, user: string): string {
    this.leases.set(v, user);
    this.previous.delete(user);
    this.previous.set(user, v);
    // Bound the memory of previous addresses: forget the oldest entries.
    while (this.previous.size > this.size * 4) {
      const oldest = this.previous.keys().next();
      if (oldest.done) break;
      this.previous.delete(oldest.value);
    }
    return formatIPv4(v);
  }
}

function toInt(addr: string): number | undefined {
  try {
    return parseIPv4(addr);
  } catch {
    return undefined;
  }
}

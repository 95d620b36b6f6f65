/**
 * Failed password checks per user and per peer address, with backoff, shared by every
 * PPP session of the daemon (the caller owns one and hands it to the sessions through
 * PppAuthBackend.failures). Sans-I/O: the time is passed in.
 *
 * After `freeFailures` failures of a key within `forgetAfterMs` of each other, each further
 * failure blocks that key for a delay that doubles from `baseDelayMs` up to `maxDelayMs`.
 * While a user or an address is blocked, the authenticator answers Failure without
 * checking the password, so guessing gets no faster by trying more (and learns nothing);
 * those refused attempts do not extend the block, so the real user waits at most
 * `maxDelayMs` once the guessing stops. A success forgets the user's failures (not the
 * address's: one valid account must not reset the count of its neighbours' guesses).
 */
export interface AuthFailureOptions {
  /** Failures per key before backoff starts, default 5. */
  freeFailures?: number;
  /** First block in ms, doubled per further failure, default 2000. */
  baseDelayMs?: number;
  /** Longest block in ms, default 300 000 (5 min). */
  maxDelayMs?: number;
  /** A key with no failure for this long starts over, default 3 600 000 (1 h). */
  forgetAfterMs?: number;
  /** Keys held at most (users and addresses together), default 10 000; the oldest goes. */
  maxKeys?: number;
}

interface Entry {
  failures: number;
  last: number;
  blockedUntil: number;
}

export const AUTH_FAILURE_DEFAULTS = {
  freeFailures: 5,
  baseDelayMs: 2000,
  maxDelayMs: 300_000,
  forgetAfterMs: 3_600_000,
  maxKeys: 10_000,
} as const;

/** RFC 2759 §8.2: a Windows peer may prepend DOMAIN\ to its name; it is the same user. */
export const canonicalUser = (name: string): string => name.slice(name.lastIndexOf('\\') + 1);

export class AuthFailureTracker {
  private readonly entries = new Map<string, Entry>();
  private readonly o: Required<AuthFailureOptions>;

  constructor(opts: AuthFailureOptions = {}) {
    this.o = { ...AUTH_FAILURE_DEFAULTS, ...opts };
  }

  private keys(user: string | undefined, address: string | undefined): string[] {
    const k: string[] = [];
    if (user) k.push(`user ${canonicalUser(user)}`);
    if (address) k.push(`address ${address}`);
    return k;
  }

  private live(key: string, now: number): Entry | undefined {
    const e = this.entries.get(key);
    if (e && now - e.last >= this.o.forgetAfterMs && now >= e.blockedUntil) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Milliseconds until `user` from `address` may have a password checked again (0 = now). */
  blockedFor(user: string | undefined, address: string | undefined, now: number): number {
    let wait = 0;
    for (const k of this.keys(user, address)) {
      const e = this.live(k, now);
      if (e) wait = Math.max(wait, e.blockedUntil - now);
    }
    return wait;
  }

  /** Records a failed password check; returns the block (ms) it imposes on the user or address (0 = none yet). */
  failure(user: string | undefined, address: string | undefined, now: number): number {
    let wait = 0;
    for (const k of this.keys(user, address)) {
      let e = this.live(k, now);
      if (!e) {
        if (this.entries.size >= this.o.maxKeys) this.entries.delete(this.entries.keys().next().value as string);
        e = { failures: 0, last: now, blockedUntil: 0 };
        this.entries.set(k, e);
      }
      e.failures++;
      e.last = now;
      const over = e.failures - this.o.freeFailures;
      if (over > 0) {
        const delay = Math.min(this.o.maxDelayMs, this.o.baseDelayMs * 2 ** Math.min(over - 1, 30));
        e.blockedUntil = Math.max(e.blockedUntil, now + delay);
        wait = Math.max(wait, e.blockedUntil - now);
      }
    }
    return wait;
  }

  /** A correct password (and admission): the user's count starts over. */
  success(user: string): void {
    this.entries.delete(`user ${canonicalUser(user)}`);
  }

  /** Failures recorded for a user or an address (for status and tests). */
  failures(key: { user?: string; address?: string }, now: number): number {
    const k = key.user !== undefined ? `user ${canonicalUser(key.user)}` : `address ${key.address ?? ''}`;
    return this.live(k, now)?.failures ?? 0;
  }

  get size(): number {
    return this.entries.size;
  }
}

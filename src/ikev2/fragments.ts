/**
 * Reassembly of IKE fragments (RFC 7383 §2.6), bounded like every other buffer:
 * one message in progress per IKE SA, at most `maxFragments` fragments and
 * `maxBytes` of plaintext, dropped `timeoutMs` after its first fragment. Each
 * fragment was checked and decrypted on its own before it gets here.
 *
 * §2.6: a fragment whose Total Fragments is larger than the set's starts the set
 * over (the sender re-fragmented for a smaller MTU); a smaller one is dropped.
 */
export interface ReassemblyLimits {
  maxFragments: number;
  maxBytes: number;
  timeoutMs: number;
}

export const DEFAULT_REASSEMBLY: ReassemblyLimits = { maxFragments: 32, maxBytes: 64 * 1024, timeoutMs: 30_000 };

export type ReassemblyResult =
  | { kind: 'complete'; firstInner: number; plain: Buffer }
  | { kind: 'pending' }
  | { kind: 'dropped'; reason: 'too-many-fragments' | 'too-large' | 'stale-total' | 'duplicate' | 'old-message' };

interface InProgress {
  messageId: number;
  total: number;
  started: number;
  bytes: number;
  firstInner: number;
  parts: (Buffer | undefined)[];
  have: number;
}

export class FragmentReassembler {
  private cur: InProgress | undefined;

  constructor(private readonly limits: ReassemblyLimits = DEFAULT_REASSEMBLY) {}

  /** Whether a message is being collected (for tests and status). */
  get pending(): boolean {
    return this.cur !== undefined;
  }

  /** Drops a set that has waited longer than the timeout. */
  expire(now: number): boolean {
    if (this.cur && now - this.cur.started >= this.limits.timeoutMs) {
      this.cur = undefined;
      return true;
    }
    return false;
  }

  /** Deadline of the set in progress, for the owner's timer. */
  nextDeadline(): number | undefined {
    return this.cur ? this.cur.started + this.limits.timeoutMs : undefined;
  }

  add(messageId: number, fragmentNumber: number, totalFragments: number, firstInner: number, plain: Buffer, now: number): ReassemblyResult {
    this.expire(now);
    if (totalFragments > this.limits.maxFragments) return { kind: 'dropped', reason: 'too-many-fragments' };
    let c = this.cur;
    if (c && c.messageId !== messageId) {
      if (((messageId - c.messageId) >>> 0) > 0x7fffffff) return { kind: 'dropped', reason: 'old-message' };
      c = undefined;
    }
    if (c && totalFragments < c.total) return { kind: 'dropped', reason: 'stale-total' };
    if (!c || totalFragments > c.total) {
      c = { messageId, total: totalFragments, started: now, bytes: 0, firstInner: 0, parts: new Array<Buffer | undefined>(totalFragments).fill(undefined), have: 0 };
      this.cur = c;
    }
    if (c.parts[fragmentNumber - 1]) return { kind: 'dropped', reason: 'duplicate' };
    if (c.bytes + plain.length > this.limits.maxBytes) {
      this.cur = undefined;
      return { kind: 'dropped', reason: 'too-large' };
    }
    c.parts[fragmentNumber - 1] = plain;
    c.bytes += plain.length;
    c.have++;
    if (fragmentNumber === 1) c.firstInner = firstInner;
    if (c.have < c.total) return { kind: 'pending' };
    this.cur = undefined;
    return { kind: 'complete', firstInner: c.firstInner, plain: Buffer.concat(c.parts as Buffer[]) };
  }
}

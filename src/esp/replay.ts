/**
 * Anti-replay window (RFC 4303 §3.4.3), bitmap kept as a ring of 32-bit words
 * (the RFC 6479 layout: advancing the window clears whole words, so a jump
 * costs at most one pass over the bitmap).
 *
 * Use: check(seq) BEFORE the ICV is verified (cheap rejection of replays and
 * old packets without spending crypto), then update(seq) ONLY after the ICV
 * verified ("the receive window is updated only if the integrity verification
 * succeeds", RFC 4303 §3.4.3). 32-bit sequence numbers only (no ESN: IKEv1
 * does not negotiate it).
 */

export const REPLAY_WINDOW_MIN = 64;
export const REPLAY_WINDOW_DEFAULT = 1024;
export const REPLAY_WINDOW_MAX = 1 << 16;

export type ReplayVerdict = 'ok' | 'seq-zero' | 'replay-old' | 'replay-dup';

/** Name table for the verdicts (log text). */
export const REPLAY_VERDICT_NAMES: Record<ReplayVerdict, string> = {
  ok: 'accepted',
  'seq-zero': 'sequence number 0 (never sent, RFC 4303 §3.3.3)',
  'replay-old': 'sequence number left of the window',
  'replay-dup': 'sequence number already received',
};

export class ReplayWindow {
  /** Effective window: packets with top - seq < size are judged by the bitmap. */
  readonly size: number;
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** Highest authenticated sequence number so far (0 = none). */
  private top = 0;

  constructor(size = REPLAY_WINDOW_DEFAULT) {
    let s = Number.isFinite(size) ? Math.floor(size) : REPLAY_WINDOW_DEFAULT;
    if (s < REPLAY_WINDOW_MIN) s = REPLAY_WINDOW_MIN; // isakmpd CVE-2006-4436: never a tiny/zero window
    if (s > REPLAY_WINDOW_MAX) s = REPLAY_WINDOW_MAX;
    this.size = s;
    // One spare word so the window's oldest and newest bits never share a word that gets cleared.
    let n = 1;
    while (n < Math.ceil(s / 32) + 1) n <<= 1;
    this.words = new Uint32Array(n);
    this.mask = n - 1;
  }

  get highest(): number {
    return this.top;
  }

  check(seq: number): ReplayVerdict {
    if (seq === 0) return 'seq-zero';
    if (seq > this.top) return 'ok';
    if (this.top - seq >= this.size) return 'replay-old';
    const w = this.words[(seq >>> 5) & this.mask]!;
    return (w >>> (seq & 31)) & 1 ? 'replay-dup' : 'ok';
  }

  /** Record an authenticated sequence number (call only after check() said ok and the ICV verified). */
  update(seq: number): void {
    if (seq === 0) return;
    if (seq > this.top) {
      const from = this.top >>> 5;
      const to = seq >>> 5;
      let diff = to - from;
      if (diff > this.words.length) diff = this.words.length;
      for (let i = 1; i <= diff; i++) this.words[(from + i) & this.mask] = 0;
      this.top = seq;
    }
    const idx = (seq >>> 5) & this.mask;
    this.words[idx] = (this.words[idx]! | (1 << (seq & 31))) >>> 0;
  }
}

/**
 * Monotonic time in milliseconds. Protocol cores never read the clock: the
 * caller passes `now` (from a Clock) into receive()/tick().
 */
export interface Clock {
  now(): number;
}

/** The real monotonic clock (unaffected by wall-clock jumps). Used only by src/io and src/daemon. */
export const monotonicClock: Clock = {
  now: () => performance.now(),
};

/** A clock tests move by hand. */
export class FakeClock implements Clock {
  constructor(private t = 0) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): number {
    if (ms < 0) throw new RangeError('a monotonic clock cannot go back');
    this.t += ms;
    return this.t;
  }
  set(ms: number): void {
    if (ms < this.t) throw new RangeError('a monotonic clock cannot go back');
    this.t = ms;
  }
}

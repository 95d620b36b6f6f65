/** A binary min-heap of (time, value) entries: the pipeline's timer queue, and under DeadlineQueue. */
export class MinHeap<T> {
  private readonly at: number[] = [];
  private readonly values: T[] = [];

  get size(): number {
    return this.at.length;
  }

  push(at: number, value: T): void {
    let i = this.at.length;
    this.at.push(at);
    this.values.push(value);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (this.at[p]! <= at) break;
      this.at[i] = this.at[p]!;
      this.values[i] = this.values[p]!;
      i = p;
    }
    this.at[i] = at;
    this.values[i] = value;
  }

  peek(): { at: number; value: T } | undefined {
    return this.at.length === 0 ? undefined : { at: this.at[0]!, value: this.values[0]! };
  }

  pop(): { at: number; value: T } | undefined {
    const n = this.at.length;
    if (n === 0) return undefined;
    const top = { at: this.at[0]!, value: this.values[0]! };
    const lastAt = this.at.pop()!;
    const lastValue = this.values.pop()!;
    if (n > 1) {
      let i = 0;
      const len = n - 1;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= len) break;
        const r = l + 1;
        const c = r < len && this.at[r]! < this.at[l]! ? r : l;
        if (this.at[c]! >= lastAt) break;
        this.at[i] = this.at[c]!;
        this.values[i] = this.values[c]!;
        i = c;
      }
      this.at[i] = lastAt;
      this.values[i] = lastValue;
    }
    return top;
  }
}

/**
 * The earliest deadline among many objects (IKE SAs, L2TP tunnels) without a scan per
 * input: a min-heap of (time, object) entries checked lazily against the object's
 * current deadline.
 *
 * The owner calls `touch(v)` after anything that may have moved v's deadline EARLIER
 * (a new object, an input or timer that ran for it); later deadlines need nothing,
 * since an early entry is found stale and re-filed when it comes up. `forget(v)` when v
 * goes (its entries are dropped as they surface, or all at once when they are many).
 * The invariant: for every live v with a deadline, the heap holds an entry at or before it.
 */
export class DeadlineQueue<T extends object> {
  private heap = new MinHeap<T>();
  /** The time of the newest entry filed per object; absent: none that counts. */
  private readonly filed = new Map<T, number>();
  private stale = 0;

  constructor(
    private readonly deadlineOf: (v: T) => number | undefined,
    private readonly live: (v: T) => boolean,
  ) {}

  get size(): number {
    return this.heap.size;
  }

  touch(v: T): void {
    const d = this.deadlineOf(v);
    if (d === undefined) return;
    const cur = this.filed.get(v);
    if (cur !== undefined && cur <= d) return;
    this.filed.set(v, d);
    this.heap.push(d, v);
  }

  forget(v: T): void {
    if (!this.filed.delete(v)) return;
    this.stale += 1;
    if (this.stale > 64 && this.stale * 2 > this.heap.size) {
      const next = new MinHeap<T>();
      for (;;) {
        const e = this.heap.pop();
        if (!e) break;
        if (this.filed.get(e.value) === e.at) next.push(e.at, e.value);
      }
      this.heap = next;
      this.stale = 0;
    }
  }

  /** The earliest deadline of all live objects (the same answer as a scan of them all). */
  next(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (!top) return undefined;
      const v = top.value;
      if (this.filed.get(v) !== top.at || !this.live(v)) {
        this.heap.pop(); // superseded by an earlier entry, or v is gone
        continue;
      }
      const d = this.deadlineOf(v);
      if (d === top.at) return d;
      this.heap.pop();
      this.filed.delete(v);
      this.touch(v);
    }
  }

  /** Takes every live object whose entry is due by `now` (each once); touch them again after running their timers. */
  due(now: number): T[] {
    const res: T[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (!top || top.at > now) return res;
      this.heap.pop();
      const v = top.value;
      if (this.filed.get(v) !== top.at) continue;
      this.filed.delete(v);
      if (this.live(v)) res.push(v);
    }
  }
}

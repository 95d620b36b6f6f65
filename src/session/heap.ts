/** A binary min-heap of (time, value) entries: the pipeline's timer queue. */
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

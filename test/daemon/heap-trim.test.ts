import { describe, expect, it } from 'vitest';
import { fullGc, HeapTrim } from '../../src/daemon/heap-trim.js';

/** A fake clock and timer list: fire() runs what is due. */
function harness(o: { threshold?: number; quietMs?: number; minIntervalMs?: number; busy?: () => boolean; maxWaitMs?: number } = {}) {
  let now = 0;
  const timers = new Map<number, { at: number; fn: () => void }>();
  let seq = 0;
  const collected: number[] = [];
  const trim = new HeapTrim({
    threshold: o.threshold ?? 3,
    quietMs: o.quietMs ?? 250,
    minIntervalMs: o.minIntervalMs ?? 2000,
    now: () => now,
    set: (fn, ms) => {
      timers.set(++seq, { at: now + ms, fn });
      return seq;
    },
    clear: (h) => void timers.delete(h as number),
    collect: () => collected.push(now),
    ...(o.busy ? { busy: o.busy } : {}),
    ...(o.maxWaitMs !== undefined ? { maxWaitMs: o.maxWaitMs } : {}),
  });
  const advance = (to: number): void => {
    for (;;) {
      const due = [...timers.entries()].filter(([, t]) => t.at <= to).sort((a, b) => a[1].at - b[1].at)[0];
      if (!due) break;
      timers.delete(due[0]);
      now = due[1].at;
      due[1].fn();
    }
    now = to;
  };
  return { trim, collected, advance, timers, at: (t: number) => advance(t) };
}

describe('HeapTrim: one full collection after a burst of sessions', () => {
  it('below the threshold nothing is armed or collected', () => {
    const h = harness();
    h.trim.note();
    h.trim.note();
    h.advance(10_000);
    expect(h.collected).toEqual([]);
    expect(h.timers.size).toBe(0);
  });

  it('runs once the burst has been quiet for quietMs, not while sessions keep coming', () => {
    const h = harness();
    for (let t = 0; t <= 1000; t += 100) {
      h.at(t);
      h.trim.note();
    }
    expect(h.collected).toEqual([]);
    h.advance(1249);
    expect(h.collected).toEqual([]);
    h.advance(1250);
    expect(h.collected).toEqual([1250]);
    expect(h.trim.collections).toBe(1);
    // nothing more without new churn
    h.advance(60_000);
    expect(h.collected).toEqual([1250]);
  });

  it('at most one collection per minIntervalMs: a second burst right after waits', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.trim.note();
    h.advance(250);
    expect(h.collected).toEqual([250]);
    h.at(300);
    for (let i = 0; i < 3; i++) h.trim.note();
    h.advance(2249);
    expect(h.collected).toEqual([250]);
    h.advance(2250);
    expect(h.collected).toEqual([250, 2250]);
  });

  it('waits while handshakes are under way, then runs once they are done', () => {
    let busy = true;
    const h = harness({ busy: () => busy, maxWaitMs: 30_000 });
    for (let i = 0; i < 3; i++) h.trim.note();
    h.advance(5000);
    expect(h.collected).toEqual([]);
    expect(h.timers.size).toBe(1); // still pending, re-checking
    busy = false;
    h.advance(5250);
    expect(h.collected).toEqual([5250]);
    h.advance(60_000);
    expect(h.collected).toEqual([5250]);
  });

  it('a daemon that never stops being busy (a flood of half-open SAs) is collected after maxWaitMs', () => {
    const h = harness({ busy: () => true, maxWaitMs: 10_000 });
    for (let i = 0; i < 3; i++) h.trim.note();
    h.advance(10_000);
    expect(h.collected).toEqual([]);
    h.advance(10_250);
    expect(h.collected).toEqual([10_250]);
    // the next burst: minIntervalMs after the last collection (12 250), then its own maxWaitMs again
    for (let i = 0; i < 3; i++) h.trim.note();
    h.advance(22_000);
    expect(h.collected).toEqual([10_250]);
    h.advance(22_250);
    expect(h.collected).toEqual([10_250, 22_250]);
  });

  it('stop() disarms', () => {
    const h = harness();
    for (let i = 0; i < 3; i++) h.trim.note();
    h.trim.stop();
    h.advance(10_000);
    expect(h.collected).toEqual([]);
  });

  it('fullGc() is a working full collection in this runtime: a dropped object goes', async () => {
    const gc = fullGc();
    expect(gc).toBeTypeOf('function');
    let obj: object | undefined = { big: new Array(1000).fill(1) };
    const ref = new WeakRef(obj);
    obj = undefined;
    // a WeakRef target is kept until the current job ends
    await new Promise((r) => setImmediate(r));
    gc!();
    expect(ref.deref()).toBeUndefined();
  });
});

describe('Daemon: the heap trim follows session starts and stops', () => {
  it('64 session events, then quiet: one collection through the daemon\'s scheduler; off with fullGc undefined', async () => {
    const { Daemon } = await import('../../src/daemon/daemon.js');
    const { defaultConfig } = await import('../../src/daemon/config.js');
    const { createLogger } = await import('../../src/daemon/log.js');
    const { UserStore } = await import('../../src/daemon/users.js');
    const { PassThrough } = await import('node:stream');
    let now = 0;
    const timers: Array<{ at: number; fn: () => void } | undefined> = [];
    const scheduler = { set: (fn: () => void, ms: number) => timers.push({ at: now + ms, fn }) - 1, clear: (h: unknown) => void (timers[h as number] = undefined) };
    const clock = { now: () => now };
    let collected = 0;
    const make = (fullGc: (() => void) | undefined) =>
      new Daemon(defaultConfig(), new UserStore(), createLogger({ level: 'error', format: 'json', stream: new PassThrough() }), { noTun: true, clock, scheduler, fullGc });
    const d = make(() => collected++);
    const event = (type: string) => (d as unknown as { onEvent(e: { type: string; fields: object }): void }).onEvent({ type, fields: {} });
    for (let i = 0; i < 40; i++) event('session.start');
    for (let i = 0; i < 23; i++) event('session.stop');
    event('ike.sa.up'); // not a session
    expect(timers.filter(Boolean)).toHaveLength(0);
    event('session.stop');
    now = 1000;
    for (const t of timers.splice(0)) if (t && t.at <= now) t.fn();
    expect(collected).toBe(1);
    expect(d.heapTrim?.collections).toBe(1);
    expect(make(undefined).heapTrim).toBeUndefined();
  });
});

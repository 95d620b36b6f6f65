/** DeadlineQueue: the earliest deadline of many objects from a heap, the same answer as a scan of them all. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DeadlineQueue } from '../../src/core/heap.js';

interface Obj {
  id: number;
  deadline: number | undefined;
  live: boolean;
}

type Op =
  | { op: 'add'; deadline: number | null }
  | { op: 'set'; pick: number; deadline: number | null }
  | { op: 'remove'; pick: number }
  | { op: 'run'; now: number };

const time = fc.integer({ min: 0, max: 1000 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('add' as const), deadline: fc.option(time) }),
  fc.record({ op: fc.constant('set' as const), pick: fc.nat(), deadline: fc.option(time) }),
  fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('run' as const), now: time }),
);

function scan(objs: Obj[]): number | undefined {
  let next: number | undefined;
  for (const o of objs) if (o.live && o.deadline !== undefined && (next === undefined || o.deadline < next)) next = o.deadline;
  return next;
}

describe('DeadlineQueue', () => {
  it('next() equals a full scan and due() returns every object due, under random adds, moves, removals and timer runs', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 300 }), (ops) => {
        const objs: Obj[] = [];
        const q = new DeadlineQueue<Obj>(
          (o) => o.deadline,
          (o) => o.live,
        );
        for (const op of ops) {
          const alive = objs.filter((o) => o.live);
          if (op.op === 'add') {
            const o = { id: objs.length, deadline: op.deadline ?? undefined, live: true };
            objs.push(o);
            q.touch(o);
          } else if (op.op === 'set' && alive.length > 0) {
            // the owner touches after any change; a later deadline needs no touch, and the test skips it half the time
            const o = alive[op.pick % alive.length]!;
            const later = o.deadline !== undefined && op.deadline !== null && op.deadline >= o.deadline;
            o.deadline = op.deadline ?? undefined;
            if (!later || op.pick % 2 === 0) q.touch(o);
          } else if (op.op === 'remove' && alive.length > 0) {
            const o = alive[op.pick % alive.length]!;
            o.live = false;
            q.forget(o);
          } else if (op.op === 'run') {
            const due = q.due(op.now);
            const expected = alive.filter((o) => o.deadline !== undefined && o.deadline <= op.now);
            // every object due is returned exactly once (others may come too: their timers find nothing to do)
            for (const o of expected) expect(due.filter((d) => d === o)).toHaveLength(1);
            expect(new Set(due).size).toBe(due.length);
            // the timers run: each due object's deadline moves past now (or goes), then it is touched again
            for (const o of due) {
              if (o.deadline !== undefined && o.deadline <= op.now) o.deadline = o.id % 3 === 0 ? undefined : op.now + 1 + (o.id % 50);
              q.touch(o);
            }
          }
          expect(q.next()).toBe(scan(objs));
        }
        // stale entries do not pile up: the heap holds at most a few entries per live object
        expect(q.size).toBeLessThanOrEqual(3 * objs.filter((o) => o.live).length + 70);
      }),
      { numRuns: 300 },
    );
  });

  it('forgetting most objects compacts the heap', () => {
    const objs = Array.from({ length: 1000 }, (_, i) => ({ id: i, deadline: 1000 + i, live: true }));
    const q = new DeadlineQueue<Obj>(
      (o) => o.deadline,
      (o) => o.live,
    );
    for (const o of objs) q.touch(o);
    for (const o of objs.slice(0, 990)) {
      o.live = false;
      q.forget(o);
    }
    expect(q.size).toBeLessThan(600);
    expect(q.next()).toBe(1990);
  });
});

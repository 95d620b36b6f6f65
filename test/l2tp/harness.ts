import { L2tpServer, type L2tpOutput, type L2tpServerConfig } from '../../src/l2tp/server.js';
import { TestLac } from './lac.js';

export const PEER = '198.51.100.7:4500/1701';

export type Sent = Extract<L2tpOutput, { type: 'send' }>;

export function sends(out: L2tpOutput[]): Buffer[] {
  return out.filter((o): o is Sent => o.type === 'send').map((o) => o.data);
}

export function logs(out: L2tpOutput[]): string[] {
  return out.flatMap((o) => (o.type === 'log' ? [o.event] : []));
}

/** Deterministic ids so tests can name them. */
export function counterRandom(start = 0x4000): (n: number) => Buffer {
  let v = start;
  return (n: number) => {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i += 2) {
      v = (v * 7 + 0x1235) & 0xffff;
      b.writeUInt16BE(v, i);
    }
    return b.subarray(0, n);
  };
}

/** A server and a LAC joined by a perfect network; every server output is kept in `all`. */
export class Pair {
  readonly server: L2tpServer;
  readonly lac: TestLac;
  readonly all: L2tpOutput[] = [];
  now = 0;

  constructor(cfg: Partial<L2tpServerConfig> = {}, lac: TestLac = new TestLac()) {
    this.server = new L2tpServer({ hostName: 'lns.test', random: counterRandom(), ...cfg });
    this.lac = lac;
  }

  /** Deliver LAC datagrams to the server and back until nothing moves; returns the server's outputs. */
  pump(fromLac: Buffer[]): L2tpOutput[] {
    const outs: L2tpOutput[] = [];
    let queue = fromLac;
    for (let rounds = 0; queue.length > 0 && rounds < 100; rounds++) {
      const next: Buffer[] = [];
      for (const d of queue) {
        const o = this.server.receive(d, PEER, this.now);
        outs.push(...o);
        for (const s of sends(o)) next.push(...this.lac.receive(s, this.now));
      }
      queue = next;
    }
    this.all.push(...outs);
    return outs;
  }

  /** Move time forward, running both sides' timers. */
  advance(ms: number, step = 250): L2tpOutput[] {
    const outs: L2tpOutput[] = [];
    const end = this.now + ms;
    while (this.now < end) {
      this.now = Math.min(end, this.now + step);
      const o = this.server.tick(this.now);
      outs.push(...o);
      this.all.push(...o);
      const back: Buffer[] = [];
      for (const s of sends(o)) back.push(...this.lac.receive(s, this.now));
      const t = this.lac.tick(this.now);
      if (t !== 'failed') back.push(...t);
      outs.push(...this.pump(back));
    }
    return outs;
  }

  establish(): void {
    this.pump(this.lac.start(this.now));
  }

  call(): { sessionId: number; sessionKey: string } {
    const { sessionId, out } = this.lac.call(this.now);
    const o = this.pump(out);
    const up = o.find((x) => x.type === 'session-up');
    if (!up || up.type !== 'session-up') throw new Error('no session-up');
    return { sessionId, sessionKey: up.sessionKey };
  }
}

import { describe, expect, it } from 'vitest';
import { Counters, DropLimiter, RateLimiter } from '../../src/core/counters.js';
import { Drops, perKey } from '../../src/core/drops.js';
import { EspEngine } from '../../src/esp/engine.js';
import { IkeResponder } from '../../src/ike/responder.js';
import { L2tpServer } from '../../src/l2tp/server.js';
import { Forwarder } from '../../src/nat/forwarder.js';
import { AddressPool } from '../../src/ppp/pool.js';
import { PppSession } from '../../src/ppp/session.js';

describe('core drop facility', () => {
  it('counts under the prefix, names the reason and its meaning, and limits lines per reason', () => {
    const counters = new Counters();
    const d = new Drops({ counters, counterPrefix: 'x.drop.', event: 'x.drop', reasons: { short: 'too short', odd: 'odd length' } });
    const lines = Array.from({ length: 8 }, () => d.drop('short', 1000, { fields: { peer: 'p' } }));
    expect(counters.get('x.drop.short')).toBe(8);
    expect(d.get('short')).toBe(8);
    expect(lines.filter(Boolean)).toHaveLength(5);
    expect(lines[0]).toEqual({ type: 'log', level: 'warn', event: 'x.drop', fields: { reason: 'short', detail: 'too short', peer: 'p' } });
    // Another reason has its own budget; after the window the next line tells how many were held back.
    expect(d.drop('odd', 1000)).toBeDefined();
    expect(d.drop('short', 20_000)?.fields).toEqual({ reason: 'short', detail: 'too short', suppressed: 3 });
  });

  it('an event of its own per line keeps the counter, and has a budget of its own', () => {
    const counters = new Counters();
    const d = new Drops({ counters, counterPrefix: 'ike.drop.', event: 'ike.drop', limiter: new DropLimiter(1, 1, 10_000) });
    expect(d.drop('a', 0)?.event).toBe('ike.drop');
    expect(d.drop('a', 0)).toBeUndefined();
    expect(d.drop('a', 0, { event: 'ike.auth.failed', level: 'error' })).toMatchObject({ event: 'ike.auth.failed', level: 'error' });
    expect(counters.get('ike.drop.a')).toBe(3);
  });

  it('per-source budgets with a DropLimiter; the fields of a held-back line are never built', () => {
    const d = new Drops({ counters: new Counters(), counterPrefix: 'd.', event: 'd', limiter: new DropLimiter(100, 2, 10_000) });
    let built = 0;
    const fields = () => {
      built++;
      return { n: built };
    };
    const one = [0, 1, 2, 3].map(() => d.drop('r', 0, { source: '192.0.2.1', fields }));
    expect(one.filter(Boolean)).toHaveLength(2);
    expect(built).toBe(2);
    expect(d.drop('r', 0, { source: '192.0.2.2', fields })).toBeDefined();
    expect(built).toBe(3);
  });

  it('level per reason, suppressed on every line, a shared RateLimiter through perKey and limitKey', () => {
    const rl = new RateLimiter(1, 10_000);
    const d = new Drops<'loud' | 'quiet'>({
      counters: new Counters(),
      counterPrefix: 'drop.',
      event: 'y.drop',
      level: (r) => (r === 'quiet' ? 'debug' : 'error'),
      limiter: perKey(rl),
      limitKey: 'y.drop.',
      alwaysSuppressed: true,
    });
    expect(d.drop('quiet', 0)).toMatchObject({ level: 'debug', fields: { reason: 'quiet', suppressed: 0 } });
    expect(d.drop('loud', 0)).toMatchObject({ level: 'error' });
    // The limiter is the caller's: its key for this reason is taken.
    expect(rl.allow('y.drop.loud', 0)).toBe(-1);
    expect(rl.allow('other', 0)).toBe(0);
  });
});

describe('every core reports drops through it, under its own names', () => {
  it('ike, l2tp, esp, ppp, nat: counter names and log events as before', () => {
    const ikeCounters = new Counters();
    const ike = new IkeResponder({ psk: Buffer.from('k'), cookieSecret: Buffer.alloc(32), counters: ikeCounters });
    const ikeOut = ike.receive(Buffer.alloc(10), { address: '192.0.2.1', port: 500 }, { address: '192.0.2.9', port: 500 }, 0);
    expect(ikeCounters.get('ike.drop.decode.short-header')).toBe(1);
    expect(ikeOut).toContainEqual(expect.objectContaining({ event: 'ike.parse.dropped', fields: expect.objectContaining({ reason: 'decode.short-header', peer: '192.0.2.1:500' }) }));

    const l2tp = new L2tpServer({ hostName: 'lns' });
    const l2tpOut = l2tp.receive(Buffer.from([0xc8]), 'peer-1', 0);
    const l2tpDrop = Object.keys(l2tp.counters.snapshot()).filter((k) => k.startsWith('l2tp.drop.'));
    expect(l2tpDrop).toHaveLength(1);
    expect(l2tpOut).toContainEqual(expect.objectContaining({ event: 'l2tp.drop', level: 'warn', fields: expect.objectContaining({ peer: 'peer-1' }) }));

    const espCounters = new Counters();
    const esp = new EspEngine({ counters: espCounters });
    const espOut = esp.decryptBatch([{ data: Buffer.from([0, 0, 1, 0, 0, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]), from: { address: '192.0.2.1', port: 4500 } }], 0);
    expect(espCounters.get('esp.in.drop.unknown-spi')).toBe(1);
    expect(espOut.events).toContainEqual(expect.objectContaining({ event: 'esp.in.drop', fields: expect.objectContaining({ reason: 'unknown-spi', spi: '0x00000100', suppressed: 0 }) }));

    const pppCounters = new Counters();
    const ppp = new PppSession({ serverAddress: '10.40.0.1', dns: [], counters: pppCounters.view('ppp.') }, { lookup: () => undefined, admit: () => ({ ok: true }) }, new AddressPool('10.40.0.0/24'), 0);
    const pppOut = ppp.receive(Buffer.from([0xc0]), 1);
    const pppDrop = Object.keys(pppCounters.snapshot()).filter((k) => k.startsWith('ppp.drop.'));
    expect(pppDrop).toHaveLength(1);
    expect(pppOut).toContainEqual(expect.objectContaining({ event: 'ppp.drop', level: 'debug' }));

    const natCounters = new Counters();
    const nat = new Forwarder({ pool: '10.40.0.0/24', counters: natCounters.view('nat.') });
    const r = nat.fromClient('s', Buffer.alloc(4));
    expect(r.ok).toBe(false);
    expect(natCounters.get('nat.drop.truncated')).toBe(1);
    expect(nat.dropEvent('truncated', 's', 0)).toEqual({ type: 'log', level: 'debug', event: 'nat.drop', fields: { reason: 'truncated', detail: 'shorter than a minimal IPv4 header (20 bytes)', session: 's' } });
  });
});

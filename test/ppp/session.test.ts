import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { AddressPool, PppSession } from '../../src/ppp/index.js';
import { Backend, config, connect, ofType, pump, runTimers } from './harness.js';

describe('PppSession: full LCP → MS-CHAPv2 → IPCP exchange', () => {
  it('pppd-like client gets an address, DNS and mutual authentication', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend().add('alice', 'secret');
    const r = connect({ user: 'alice', password: 'secret' }, backend, pool);
    expect(r.client.lcpOpened).toBe(true);
    expect(r.client.serverMru).toBe(1360);
    expect(r.client.authOk).toBe(true);
    expect(r.client.mutualAuthOk).toBe(true);
    expect(r.client.ipcpOpened).toBe(true);
    expect(r.client.address).toBe('10.40.0.2');
    expect(r.client.dns).toEqual(['10.40.0.1', '9.9.9.9']);
    expect(r.client.serverIpcpAddress).toBe('10.40.0.1');
    expect(r.client.wantVj).toBe(false); // VJ compression Rejected
    expect(ofType(r.outputs, 'auth-success')).toEqual([{ type: 'auth-success', user: 'alice' }]);
    expect(ofType(r.outputs, 'ip-up')).toEqual([{ type: 'ip-up', user: 'alice', address: '10.40.0.2' }]);
    expect(r.server.user).toBe('alice');
    expect(r.server.address).toBe('10.40.0.2');
    expect(pool.isAllocated('10.40.0.2')).toBe(true);
    expect(r.server.states).toEqual({ lcp: 'Opened', ipcp: 'Opened' });
    expect(r.server.status(r.now + 5000)).toEqual({
      phase: 'network',
      lcp: 'Opened',
      ipcp: 'Opened',
      auth: 'mschapv2',
      mru: 1360,
      peerMru: 1400,
      user: 'alice',
      address: '10.40.0.2',
      idleSeconds: 5,
    });
  });

  it('the Challenge is sent only after LCP is Opened', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    const firstChallenge = r.sent.findIndex((f) => f.readUInt16BE(2) === 0xc223);
    const lcpAcks = r.sent.map((f, i) => [f.readUInt16BE(2), f[4], i] as const).filter(([p, c]) => p === 0xc021 && c === 2);
    expect(firstChallenge).toBeGreaterThan(lcpAcks[0]![2]);
  });

  it('IPv4 flows both ways after IPCP is Opened', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    const pkt = Buffer.from('4500001c000000004001000010280002080808080800f7ff00000000', 'hex');
    const outs = r.server.receive(Buffer.concat([Buffer.from([0xff, 0x03, 0x00, 0x21]), pkt]), r.now);
    expect(ofType(outs, 'ipv4').map((o) => Buffer.from(o.packet).toString('hex'))).toEqual([pkt.toString('hex')]);
    // Protocol field compressed to one byte and no address/control (PFC + ACFC).
    const outs2 = r.server.receive(Buffer.concat([Buffer.from([0x21]), pkt]), r.now);
    expect(ofType(outs2, 'ipv4')).toHaveLength(1);
    const down = r.server.encapsulateIpv4(pkt);
    expect(down.subarray(0, 4).toString('hex')).toBe('ff030021');
    expect(down.subarray(4).equals(pkt)).toBe(true);
  });

  it('Windows-like client: IPv6CP and CCP are Protocol-Rejected, NBNS rejected, still connects', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ kind: 'windows', user: 'bob', password: 'pw' }, new Backend().add('bob', 'pw'), pool);
    expect(r.client.ipcpOpened).toBe(true);
    expect(r.client.protocolRejects.sort()).toEqual([0x8057, 0x80fd]);
    expect(r.client.wantNbns).toBe(false);
    expect(r.client.address).toBe('10.40.0.2');
  });

  it('Windows sends DOMAIN\\user: the domain is stripped for lookup and hashing', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ kind: 'windows', user: 'CORP\\bob', password: 'pw' }, new Backend().add('bob', 'pw'), pool);
    expect(r.client.authOk).toBe(true);
    expect(ofType(r.outputs, 'auth-success')).toEqual([{ type: 'auth-success', user: 'bob' }]);
  });

  it('macOS-like client: IPCP without IP-Address is prompted once and learns the address', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ kind: 'macos', user: 'carol', password: 'pw' }, new Backend().add('carol', 'pw'), pool);
    expect(r.client.ipcpOpened).toBe(true);
    expect(r.client.address).toBe('10.40.0.2');
  });

  it('macOS-like client that never sends IP-Address is acked after one prompt', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ kind: 'macos-never-address', user: 'carol', password: 'pw' }, new Backend().add('carol', 'pw'), pool);
    expect(r.client.ipcpOpened).toBe(true);
    expect(ofType(r.outputs, 'ip-up')).toEqual([{ type: 'ip-up', user: 'carol', address: '10.40.0.2' }]);
  });

  it('a client asking for a free pool address gets it; .1, a taken or a static address is Nak\'d', () => {
    const pool = new AddressPool('10.40.0.0/24');
    pool.setStatic(['10.40.0.77']);
    const backend = new Backend().add('a', 'pw').add('b', 'pw').add('c', 'pw').add('d', 'pw');
    expect(connect({ user: 'a', password: 'pw', requestAddress: '10.40.0.50' }, backend, pool).client.address).toBe('10.40.0.50');
    expect(connect({ user: 'b', password: 'pw', requestAddress: '10.40.0.50' }, backend, pool).client.address).toBe('10.40.0.2');
    expect(connect({ user: 'c', password: 'pw', requestAddress: '10.40.0.1' }, backend, pool).client.address).toBe('10.40.0.3');
    expect(connect({ user: 'd', password: 'pw', requestAddress: '10.40.0.77' }, backend, pool).client.address).toBe('10.40.0.4');
    expect(pool.free).toBe(252 - 4);
  });

  it('static address per user', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'dave', password: 'pw' }, new Backend().add('dave', 'pw', { staticAddress: '10.40.0.77' }), pool);
    expect(r.client.address).toBe('10.40.0.77');
  });
});

describe('PppSession: debug lines only when the host wants them', () => {
  it('with debug: false the same exchange completes and no debug line is built; by default every packet gets its lines', () => {
    const run = (debug: boolean | undefined) => {
      const pool = new AddressPool('10.40.0.0/24');
      const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool, config(debug === undefined ? {} : { debug }));
      return { r, debugLines: ofType(r.outputs, 'log').filter((l) => l.level === 'debug').map((l) => l.event) };
    };
    const on = run(undefined);
    const off = run(false);
    expect(on.debugLines).toEqual(expect.arrayContaining(['ppp.recv', 'ppp.send', 'ppp.fsm.state']));
    expect(off.debugLines).toEqual([]);
    // nothing else changes: the same frames, the same address, the same non-debug outputs
    expect(off.r.sent.map((f) => f.toString('hex'))).toEqual(on.r.sent.map((f) => f.toString('hex')));
    expect(off.r.client.address).toBe('10.40.0.2');
    const rest = (o: typeof on) => o.r.outputs.filter((x) => !(x.type === 'log' && x.level === 'debug')).map((x) => JSON.stringify(x));
    expect(rest(off)).toEqual(rest(on));
  });
});

describe('PppSession: authentication failures', () => {
  it('wrong password: Failure with R=1 and a new challenge, then close after the retry cap', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'bad', retryPasswords: ['bad2', 'bad3', 'bad4'] }, new Backend().add('alice', 'secret'), pool);
    expect(r.client.authFailures).toHaveLength(3);
    expect(r.client.authFailures[0]).toMatch(/^E=691 R=1 C=[0-9A-F]{32} V=3 M=/);
    expect(r.client.authFailures[1]).toMatch(/^E=691 R=1 C=[0-9A-F]{32} V=3 M=/);
    expect(r.client.authFailures[2]).toMatch(/^E=691 R=0 C=[0-9A-F]{32} V=3 M=/);
    expect(r.client.authOk).toBe(false);
    expect(r.client.terminated).toBe(true);
    expect(ofType(r.outputs, 'auth-failure')).toHaveLength(3);
    expect(ofType(r.outputs, 'ip-up')).toHaveLength(0);
    runTimers(r, r.now + 10_000);
    expect(ofType(r.outputs, 'closed')).toHaveLength(1);
  });

  it('wrong password then the right one on retry succeeds', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'bad', retryPasswords: ['secret'] }, new Backend().add('alice', 'secret'), pool);
    expect(r.client.authFailures).toHaveLength(1);
    expect(r.client.authOk).toBe(true);
    expect(r.client.mutualAuthOk).toBe(true);
    expect(r.client.ipcpOpened).toBe(true);
  });

  it('unknown user fails like a wrong password', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'mallory', password: 'x' }, new Backend().add('alice', 'secret'), pool, config({ maxAuthTries: 1 }));
    expect(r.client.authFailures[0]).toMatch(/^E=691 R=0/);
    // Same wire text as a wrong password: no user enumeration.
    const w = connect({ user: 'alice', password: 'x' }, new Backend().add('alice', 'secret'), pool, config({ maxAuthTries: 1 }));
    expect(r.client.authFailures[0]!.replace(/C=\w+/, '')).toBe(w.client.authFailures[0]!.replace(/C=\w+/, ''));
    expect(ofType(r.outputs, 'auth-failure')[0]?.reason).toMatch(/unknown user/);
    expect(r.client.terminated).toBe(true);
  });

  it('session limit from admit(): refused with the message, lease never taken', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend().add('alice', 'secret');
    backend.limit = 1;
    connect({ user: 'alice', password: 'secret' }, backend, pool);
    const r2 = connect({ user: 'alice', password: 'secret' }, backend, pool);
    expect(r2.client.authOk).toBe(false);
    expect(r2.client.authFailures[0]).toMatch(/session limit 1 reached/);
    expect(r2.client.terminated).toBe(true);
    expect(pool.free).toBe(252);
  });
});

describe('PppSession: teardown frees the lease', () => {
  const setup = () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool, config({ idleTimeout: 60 }));
    expect(pool.isAllocated('10.40.0.2')).toBe(true);
    return { pool, r };
  };

  it('close(): Terminate-Request, Terminate-Ack → closed', () => {
    const { pool, r } = setup();
    const outs = r.server.close('admin', r.now);
    const term = ofType(outs, 'send').find((o) => o.frame.readUInt16BE(2) === 0xc021 && o.frame[4] === 5);
    expect(term?.frame.subarray(8).toString()).toBe('admin');
    const ack = r.client.receive(term!.frame);
    const done = r.server.receive(ack[0]!, r.now);
    expect(ofType(done, 'closed')).toEqual([{ type: 'closed', reason: 'admin', user: 'alice', address: '10.40.0.2' }]);
    expect(pool.isAllocated('10.40.0.2')).toBe(false);
  });

  it('close() with no answer: closed after Max-Terminate timeouts', () => {
    const { pool, r } = setup();
    r.server.close('admin', r.now);
    const outs = [];
    for (let i = 0; i < 5; i++) {
      r.now = r.server.nextDeadline() ?? r.now;
      outs.push(...r.server.tick(r.now));
    }
    expect(ofType(outs, 'closed')).toHaveLength(1);
    expect(pool.free).toBe(253);
  });

  it('peer Terminate-Request', () => {
    const { pool, r } = setup();
    const outs = r.server.receive(Buffer.from('ff03c02105090004', 'hex'), r.now);
    expect(ofType(outs, 'send').some((o) => o.frame.readUInt16BE(2) === 0xc021 && o.frame[4] === 6)).toBe(true);
    runTimers(r, r.now + 10_000);
    expect(ofType(r.outputs, 'closed')).toHaveLength(1);
    expect(pool.free).toBe(253);
  });

  it('lower layer down (L2TP session gone)', () => {
    const { pool, r } = setup();
    const outs = r.server.lowerDown('l2tp session closed', r.now);
    expect(ofType(outs, 'send')).toHaveLength(0);
    expect(ofType(outs, 'closed')).toHaveLength(1);
    expect(pool.free).toBe(253);
    expect(r.server.nextDeadline()).toBeUndefined();
  });

  it('outbound IPv4 alone keeps an idle-timed session open; writeIpv4Header writes FF 03 00 21 in headroom', () => {
    const { pool, r } = setup();
    const buf = Buffer.alloc(24, 0x45);
    for (let t = 0; t < 5; t++) {
      r.server.writeIpv4Header(buf, 0);
      r.now += 20_000;
      r.outputs.push(...r.server.tick(r.now));
    }
    expect(buf.subarray(0, 4).toString('hex')).toBe('ff030021');
    expect(ofType(r.outputs, 'closed')).toHaveLength(0);
    runTimers(r, r.now + 61_000);
    expect(ofType(r.outputs, 'closed')[0]?.reason).toBe('idle timeout');
    expect(pool.free).toBe(253);
  });

  it('idle timeout', () => {
    const { pool, r } = setup();
    runTimers(r, r.now + 61_000);
    expect(ofType(r.outputs, 'closed')[0]?.reason).toBe('idle timeout');
    expect(pool.free).toBe(253);
  });

  it('IPCP Terminate-Request from the peer closes the session', () => {
    const { pool, r } = setup();
    const outs = r.server.receive(Buffer.from('ff03802105070004', 'hex'), r.now);
    expect(ofType(outs, 'send').some((o) => o.frame.readUInt16BE(2) === 0x8021 && o.frame[4] === 6)).toBe(true);
    runTimers(r, r.now + 20_000);
    expect(ofType(r.outputs, 'closed')).toHaveLength(1);
    expect(pool.free).toBe(253);
  });

  it('nothing is sent after closed, and receive never throws', () => {
    const { r } = setup();
    r.server.lowerDown('gone', r.now);
    expect(r.server.receive(Buffer.from('ff03c02101010004', 'hex'), r.now)).toEqual([]);
    expect(r.server.tick(r.now + 1e6)).toEqual([]);
  });
});

describe('PppSession: pool exhaustion', () => {
  it('refuses cleanly: IPCP and LCP Terminate with a message, closed without address', () => {
    const pool = new AddressPool('10.40.0.0/30'); // one client address
    const backend = new Backend().add('a', 'pw').add('b', 'pw');
    const r1 = connect({ user: 'a', password: 'pw' }, backend, pool);
    expect(r1.client.ipcpOpened).toBe(true);
    const r2 = connect({ user: 'b', password: 'pw' }, backend, pool);
    expect(r2.client.ipcpOpened).toBe(false);
    expect(r2.client.terminated).toBe(true);
    expect(r2.client.terminateMessage).toBe('address pool exhausted');
    runTimers(r2, r2.now + 10_000);
    const closed = ofType(r2.outputs, 'closed');
    expect(closed).toHaveLength(1);
    expect(closed[0]?.address).toBeUndefined();
    expect(pool.owner('10.40.0.2')).toBe('a');
  });
});

describe('PppSession: timers and loops', () => {
  it('LCP keepalive (when enabled): Echo-Requests answered keep the link; unanswered ones close it', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool, config({ lcpEchoInterval: 10, lcpEchoFailure: 3 }));
    runTimers(r, r.now + 100_000);
    expect(r.client.echoReplies).toBe(0);
    const echoes = r.sent.filter((f) => f.readUInt16BE(2) === 0xc021 && f[4] === 9);
    expect(echoes.length).toBeGreaterThanOrEqual(9);
    expect(ofType(r.outputs, 'closed')).toHaveLength(0);
    // Now a peer that stops answering: feed ticks without delivering to the client.
    const outs = [];
    for (let i = 0; i < 10; i++) {
      r.now = r.server.nextDeadline() ?? r.now;
      outs.push(...r.server.tick(r.now));
    }
    expect(ofType(outs, 'closed')[0]?.reason).toMatch(/no LCP Echo-Reply to 3 Echo-Requests/);
    expect(pool.free).toBe(253);
  });

  it('keepalive is off by default', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    expect(r.server.nextDeadline()).toBeUndefined();
  });

  it('a silent peer: 10 Configure-Requests 3 s apart, then closed', () => {
    const s = new PppSession(config(), new Backend(), new AddressPool('10.40.0.0/24'), 0);
    const all = [...s.start(0)];
    let now = 0;
    for (let i = 0; i < 20; i++) {
      const d = s.nextDeadline();
      if (d === undefined) break;
      expect(d - now).toBe(3000);
      now = d;
      all.push(...s.tick(now));
    }
    expect(all.filter((o) => o.type === 'send' && o.frame[4] === 1)).toHaveLength(10);
    expect(ofType(all, 'closed')[0]?.reason).toMatch(/LCP timeout/);
  });

  it('a peer Nak-ing our IPCP IP-Address forever is closed after Max-Failure, lease freed', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret', ipcpNakServer: true }, new Backend().add('alice', 'secret'), pool);
    runTimers(r, r.now + 30_000);
    const closed = ofType(r.outputs, 'closed');
    expect(closed).toHaveLength(1);
    expect(closed[0]!.reason).toMatch(/IPCP negotiation did not converge/);
    const ipcpReqs = r.sent.filter((f) => f.readUInt16BE(2) === 0x8021 && f[4] === 1);
    expect(ipcpReqs.length).toBe(6);
    expect(pool.free).toBe(253);
  });

  it('Protocol-Rejects are rate-limited per session', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    let n = 0;
    for (let i = 0; i < 100; i++) n += ofType(r.server.receive(Buffer.from([0xff, 0x03, 0x80, 0xfd, 1, 1, 0, 4]), r.now), 'send').length;
    expect(n).toBe(10);
  });

  it('a second session of a user with a static address is refused cleanly', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend().add('dave', 'pw', { staticAddress: '10.40.0.77' });
    const r1 = connect({ user: 'dave', password: 'pw' }, backend, pool);
    expect(r1.client.address).toBe('10.40.0.77');
    const r2 = connect({ user: 'dave', password: 'pw' }, backend, pool);
    expect(r2.client.ipcpOpened).toBe(false);
    expect(r2.client.terminateMessage).toMatch(/static address 10\.40\.0\.77 is not available/);
    expect(pool.owner('10.40.0.77')).toBe('dave');
  });

  it('LCP renegotiation after IPCP: re-authentication of the same user, same address, one auth-success', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const r = connect({ user: 'alice', password: 'secret' }, new Backend().add('alice', 'secret'), pool);
    r.client.lcpAckRcvd = false;
    r.client.ipcpAckRcvd = false;
    r.client.resetNcps();
    pump(r, r.client.start());
    expect(r.server.states).toEqual({ lcp: 'Opened', ipcp: 'Opened' });
    expect(ofType(r.outputs, 'auth-success')).toHaveLength(1);
    expect(ofType(r.outputs, 'ip-up').map((o) => o.address)).toEqual(['10.40.0.2', '10.40.0.2']);
    expect(pool.free).toBe(252);
  });
});

describe('PppSession: the 254th client and every teardown path (property)', () => {
  it('253 sessions get .2–.254; the 254th is refused cleanly with a message', () => {
    const pool = new AddressPool('10.40.0.0/24');
    const backend = new Backend();
    backend.limit = 1000;
    backend.add('u', 'pw');
    const seen = new Set<string>();
    for (let i = 0; i < 253; i++) {
      const r = connect({ user: 'u', password: 'pw' }, backend, pool);
      expect(r.client.ipcpOpened).toBe(true);
      seen.add(r.client.address);
    }
    expect(seen.size).toBe(253);
    expect(seen.has('10.40.0.1') || seen.has('10.40.0.0') || seen.has('10.40.0.255')).toBe(false);
    const last = connect({ user: 'u', password: 'pw' }, backend, pool);
    expect(last.client.ipcpOpened).toBe(false);
    expect(last.client.terminateMessage).toBe('address pool exhausted');
    runTimers(last, last.now + 10_000);
    expect(ofType(last.outputs, 'closed')).toHaveLength(1);
    expect(pool.free).toBe(0);
  });

  it('whatever ends a session, it is closed exactly once and its lease returns', () => {
    const actions = ['close', 'lowerDown', 'peerTerminate', 'idle', 'ipcpTerminate', 'silence', 'garbage'] as const;
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...actions), { minLength: 1, maxLength: 5 }), (plan) => {
        const pool = new AddressPool('10.40.0.0/24');
        const backend = new Backend();
        backend.limit = 100;
        backend.add('u', 'pw');
        const runs = plan.map(() => connect({ user: 'u', password: 'pw' }, backend, pool, config({ idleTimeout: 30 })));
        if (pool.free !== 253 - plan.length) return false;
        plan.forEach((a, i) => {
          const r = runs[i]!;
          const outs =
            a === 'close'
              ? r.server.close('admin', r.now)
              : a === 'lowerDown'
                ? r.server.lowerDown('gone', r.now)
                : a === 'peerTerminate'
                  ? r.server.receive(Buffer.from('ff03c02105090004', 'hex'), r.now)
                  : a === 'ipcpTerminate'
                    ? r.server.receive(Buffer.from('ff03802105090004', 'hex'), r.now)
                    : a === 'garbage'
                      ? r.server.receive(Buffer.from('ff03c02101090003', 'hex'), r.now)
                      : [];
          r.outputs.push(...outs); // the peer goes silent after the event
        });
        for (const r of runs) {
          for (let k = 0; k < 100; k++) {
            const d = r.server.nextDeadline();
            if (d === undefined) break;
            r.now = d;
            r.outputs.push(...r.server.tick(r.now));
          }
          if (ofType(r.outputs, 'closed').length !== 1) return false;
        }
        return pool.free === 253;
      }),
      { numRuns: 40 },
    );
  });
});

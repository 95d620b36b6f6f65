/**
 * The daemon's RADIUS host against a real FreeRADIUS (test/radius/freeradius.ts) over
 * real UDP sockets on loopback with the real clock: logins (accept with the
 * Framed-IP-Address, wrong password), failover from a silent server, a reply without
 * Message-Authenticator ignored, accounting Start/Interim/Stop in the detail file,
 * the spool across a restart, and radclient's Disconnect-Request. The pipeline is a
 * stand-in holding a real SessionTable: the composition with PPP is
 * test/session/remote-auth.test.ts.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/core/clock.js';
import type { LogEvent } from '../../src/core/log.js';
import type { RadiusConfig } from '../../src/daemon/config.js';
import { RadiusHost, type RadiusPipeline } from '../../src/daemon/radius-host.js';
import { generateAuthenticatorResponse, generateNTResponse, hashNtPasswordHash, ntPasswordHash } from '../../src/ppp/mschapv2.js';
import { eapMschapv2Msk } from '../../src/core/mschap/mppe.js';
import { SessionTable, type EapVerdict, type EndedSession, type RemoteAttempt, type RemoteVerdict, type SessionHandle } from '../../src/session/index.js';
import { freeradiusUnavailable, startFreeRadius, type FreeRadius } from '../radius/freeradius.js';

const SECRET = 'testing123-l2tpsec-host';
const USERS = [
  { name: 'alice', password: 'correct horse battery', reply: ['Framed-IP-Address = 10.40.0.77', 'Session-Timeout = 3600', 'Class = 0x6c327470736563'] },
  { name: 'bob', password: 'bob password 123' },
];
const timer = {
  set: (fn: () => void, ms: number): unknown => setTimeout(fn, ms),
  clear: (h: unknown): void => clearTimeout(h as NodeJS.Timeout),
};

class FakePipeline implements RadiusPipeline {
  readonly table = new SessionTable('10.40.0.0/24', { perUser: 0 });
  readonly verdicts: Array<{ handle: SessionHandle; verdict: RemoteVerdict }> = [];
  readonly eap: Array<{ saId: string; verdict: EapVerdict }> = [];
  eapResult(saId: string, verdict: EapVerdict): void {
    this.eap.push({ saId, verdict });
  }
  readonly disconnected: string[] = [];
  private waiters: Array<() => void> = [];
  authResult(handle: SessionHandle, verdict: RemoteVerdict): void {
    this.verdicts.push({ handle, verdict });
    for (const w of this.waiters.splice(0)) w();
  }
  disconnect(target: { user?: string; session?: string }): string[] {
    const ids = this.table.match(target).map((r) => r.id);
    this.disconnected.push(...ids);
    return ids;
  }
  async verdictFor(handle: SessionHandle, ms = 20_000): Promise<RemoteVerdict> {
    const until = Date.now() + ms;
    for (;;) {
      const v = this.verdicts.find((x) => x.handle === handle);
      if (v) return v.verdict;
      if (Date.now() > until) throw new Error('no verdict');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }
}

function config(servers: Array<{ authPort: number; acctPort: number }>, extra: Partial<RadiusConfig> = {}): RadiusConfig {
  return {
    enabled: true,
    servers: servers.map((s) => ({ address: '127.0.0.1', ...s, secret: SECRET })),
    nasIdentifier: 'vpn-test',
    nasIpAddress: '127.0.0.1',
    timeout: 1,
    retries: 2,
    interimInterval: 0,
    fallbackToUsersFile: false,
    requireMessageAuthenticator: true,
    dynauthListen: '',
    dynauthClients: [],
    spoolFile: join(mkdtempSync(join(tmpdir(), 'l2tpsec-spool-')), 'radius-spool.jsonl'),
    ...extra,
  };
}

function attempt(user: string, password: string): { attempt: RemoteAttempt; expectS: string } {
  const authenticatorChallenge = randomBytes(16);
  const peerChallenge = randomBytes(16);
  const ntResponse = generateNTResponse(authenticatorChallenge, peerChallenge, user, password);
  return {
    attempt: { method: 'mschapv2', userName: user, ident: 7, authenticatorChallenge, peerChallenge, ntResponse },
    expectS: generateAuthenticatorResponse(password, ntResponse, peerChallenge, authenticatorChallenge, user),
  };
}

/** A UDP port on loopback where nothing answers. */
async function silentPort(): Promise<{ sock: Socket; port: number }> {
  const sock = createSocket('udp4');
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, port: sock.address().port };
}

function open(p: FakePipeline, user: string, address: string): { handle: SessionHandle; id: string } {
  const id = `test/${randomBytes(4).toString('hex')}`;
  const rec = p.table.open('l2tp-ppp', id, 1, { address: '192.0.2.5', port: 4500 }, monotonicClock.now());
  p.table.admit(rec.handle, user);
  rec.address = address;
  return { handle: rec.handle, id };
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return cond();
}

function ended(id: string, user: string, address: string, extra: Partial<EndedSession>): EndedSession {
  return { user, peer: '192.0.2.5:4500', address, session: id, start: '', end: '', duration: 5, bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, reason: 'peer LCP Terminate-Request', ...extra };
}

const unavailable = freeradiusUnavailable();
describe.skipIf(unavailable !== undefined)(unavailable ? `RADIUS host (SKIPPED: ${unavailable})` : 'RADIUS host against FreeRADIUS', () => {
  let fr: FreeRadius;
  let plain: FreeRadius;
  const hosts: RadiusHost[] = [];
  const logs: LogEvent[] = [];
  const host = async (cfg: RadiusConfig, p: FakePipeline, extra: Partial<ConstructorParameters<typeof RadiusHost>[0]> = {}): Promise<RadiusHost> => {
    const h = new RadiusHost({ cfg, clock: monotonicClock, timer, log: (e) => logs.push(e), spoolRetryMs: 500, ...extra });
    h.attach(p);
    await h.start();
    hosts.push(h);
    return h;
  };

  beforeAll(async () => {
    fr = await startFreeRadius({ secret: SECRET, users: USERS, messageAuthenticator: true });
    plain = await startFreeRadius({ secret: SECRET, users: USERS, messageAuthenticator: false });
  }, 60_000);
  afterAll(async () => {
    for (const h of hosts) await h.stop(0);
    await fr?.stop();
    await plain?.stop();
  });

  it('MS-CHAPv2 login: Accept with the MS-CHAP2-Success the client can verify and the Framed-IP-Address; a wrong password is a Reject; PAP too', async () => {
    const p = new FakePipeline();
    const h = await host(config([{ authPort: fr.authPort, acctPort: fr.acctPort }]), p);
    const good = attempt('alice', 'correct horse battery');
    const s1 = open(p, 'alice', '');
    h.request(s1.handle, good.attempt, { peer: { address: '192.0.2.5', port: 4500 }, session: s1.id });
    const v = await p.verdictFor(s1.handle);
    expect(v.kind).toBe('accept');
    if (v.kind !== 'accept') return;
    expect(v.success?.startsWith(`${good.expectS}`)).toBe(true);
    expect(v.grant).toEqual({ address: '10.40.0.77', sessionTimeout: 3600 });
    const bad = attempt('alice', 'wrong');
    const s2 = open(p, 'alice', '');
    h.request(s2.handle, bad.attempt, { peer: { address: '192.0.2.5', port: 4500 }, session: s2.id });
    expect((await p.verdictFor(s2.handle)).kind).toBe('reject');
    // PAP (when ppp.auth allows it): User-Password hidden with the secret
    const s3 = open(p, 'bob', '');
    h.request(s3.handle, { method: 'pap', userName: 'bob', password: Buffer.from('bob password 123') }, { peer: { address: '192.0.2.5', port: 4500 }, session: s3.id });
    expect(await p.verdictFor(s3.handle)).toEqual({ kind: 'accept', grant: {} });
    const s4 = open(p, 'bob', '');
    h.request(s4.handle, { method: 'pap', userName: 'bob', password: Buffer.from('not it') }, { peer: { address: '192.0.2.5', port: 4500 }, session: s4.id });
    expect((await p.verdictFor(s4.handle)).kind).toBe('reject');
    const st = h.status();
    expect(st[0]!.counters['responses.accept']).toBe(2);
    expect(st[0]!.counters['responses.reject']).toBe(2);
    expect(fr.log()).toMatch(/NAS-Identifier = "vpn-test"/);
    expect(fr.log()).toMatch(/Calling-Station-Id = "192\.0\.2\.5:4500"/);
  }, 30_000);

  it('IKEv2 EAP-MSCHAPv2: the Accept gives the Success String, the address and the MSK from the MPPE keys (the one the client derives)', async () => {
    const p = new FakePipeline();
    const h = await host(config([{ authPort: fr.authPort, acctPort: fr.acctPort }]), p);
    const good = attempt('alice', 'correct horse battery');
    if (good.attempt.method !== 'mschapv2') throw new Error('unreachable');
    const { method: _m, ...eap } = good.attempt;
    h.requestEap('sa-1', eap, { peer: { address: '192.0.2.9', port: 4500 } });
    expect(await until(() => p.eap.length === 1, 10_000)).toBe(true);
    const v = p.eap[0]!.verdict;
    expect(v.kind).toBe('accept');
    if (v.kind !== 'accept') return;
    expect(v.success.startsWith(good.expectS)).toBe(true);
    expect(v.address).toBe('10.40.0.77');
    expect(v.msk.equals(eapMschapv2Msk(hashNtPasswordHash(ntPasswordHash('correct horse battery')), eap.ntResponse))).toBe(true);
    const bad = attempt('alice', 'nope');
    if (bad.attempt.method !== 'mschapv2') throw new Error('unreachable');
    const { method: _b, ...eapBad } = bad.attempt;
    h.requestEap('sa-2', eapBad, { peer: { address: '192.0.2.9', port: 4500 } });
    expect(await until(() => p.eap.length === 2, 10_000)).toBe(true);
    expect(p.eap[1]!.verdict.kind).toBe('reject');
  }, 30_000);

  it('failover: the first server silent, the second answers; status shows the first dead with its timeouts', async () => {
    const silent = await silentPort();
    try {
      const p = new FakePipeline();
      const h = await host(config([{ authPort: silent.port, acctPort: silent.port + 1 }, { authPort: fr.authPort, acctPort: fr.acctPort }]), p);
      const a = attempt('bob', 'bob password 123');
      const s = open(p, 'bob', '');
      h.request(s.handle, a.attempt, { peer: { address: '192.0.2.5', port: 4500 }, session: s.id });
      expect((await p.verdictFor(s.handle)).kind).toBe('accept');
      const [first, second] = h.status();
      expect(first!.state).toBe('dead');
      expect(first!.counters['timeouts']).toBe(1);
      expect(second!.state).toBe('alive');
      expect(second!.counters['responses.accept']).toBe(1);
      const info = h.info().servers;
      expect(info[0]).toMatchObject({ state: 'dead', timeouts: 1, requests: 2, retransmissions: 1, accepts: 0, lastAnswer: null });
      expect(info[0]!.retryIn).toBeGreaterThan(20); // passed over for 30 s after its timeout
      expect(info[0]!.retryIn).toBeLessThanOrEqual(30);
      expect(info[1]).toMatchObject({ state: 'alive', requests: 1, accepts: 1, timeouts: 0, lastAnswer: 0 });
      expect(info[1]!.retryIn).toBeUndefined();
    } finally {
      silent.sock.close();
    }
  }, 30_000);

  it('a reply without Message-Authenticator (FreeRADIUS 3.2.1 as installed) is ignored: no server answered', async () => {
    const p = new FakePipeline();
    const h = await host(config([{ authPort: plain.authPort, acctPort: plain.acctPort }], { retries: 1 }), p);
    const s = open(p, 'alice', '');
    h.request(s.handle, attempt('alice', 'correct horse battery').attempt, { peer: { address: '192.0.2.5', port: 4500 }, session: s.id });
    const v = await p.verdictFor(s.handle);
    expect(v.kind).toBe('unavailable');
    expect(h.status()[0]!.counters['drop.no-message-authenticator']).toBeGreaterThanOrEqual(1);
    expect(plain.log()).toMatch(/Sent Access-Accept/);
  }, 30_000);

  it('accounting: Start at session.start, Interim-Update on the interval, Stop with the counters and the cause; Acct-Session-Id unique', async () => {
    const p = new FakePipeline();
    const h = await host(config([{ authPort: fr.authPort, acctPort: fr.acctPort }], { interimInterval: 1 }), p);
    const s = open(p, 'alice', '10.40.0.77');
    const s2 = open(p, 'alice', '10.40.0.78');
    h.onEvent({ type: 'session.start', fields: { session: s.id, user: 'alice', address: '10.40.0.77' } });
    h.onEvent({ type: 'session.start', fields: { session: s2.id, user: 'alice', address: '10.40.0.78' } });
    const acctId = h.acctSessionId(s.id)!;
    expect(acctId).toMatch(/^vpn-test-[0-9A-F]{16}$/);
    expect(h.acctSessionId(s2.id)).not.toBe(acctId);
    const rec = p.table.findById(s.id)!;
    rec.bytesIn = 12345;
    rec.packetsIn = 17;
    expect(await until(() => fr.detail().includes(`Acct-Session-Id = "${acctId}"`) && /Acct-Status-Type = Interim-Update[\s\S]*Acct-Input-Octets = 12345/.test(fr.detail()), 10_000)).toBe(true);
    h.onEnded(ended(s.id, 'alice', '10.40.0.77', { bytesIn: 5 * 2 ** 32 + 99, bytesOut: 777, packetsIn: 40, packetsOut: 30, duration: 12, reason: 'idle timeout' }));
    expect(await until(() => /Acct-Status-Type = Stop/.test(fr.detail()), 10_000)).toBe(true);
    const stop = fr.detail().split(/\n\n/).find((r) => r.includes('Acct-Status-Type = Stop') && r.includes(acctId))!;
    expect(stop).toMatch(/Acct-Input-Octets = 99\b/);
    expect(stop).toMatch(/Acct-Input-Gigawords = 5\b/);
    expect(stop).toMatch(/Acct-Output-Octets = 777\b/);
    expect(stop).toMatch(/Acct-Input-Packets = 40\b/);
    expect(stop).toMatch(/Acct-Session-Time = 12\b/);
    expect(stop).toMatch(/Acct-Terminate-Cause = Idle-Timeout/);
    expect(stop).toMatch(/Class = 0x6c327470736563|Framed-IP-Address = 10\.40\.0\.77/);
    h.onEnded(ended(s2.id, 'alice', '10.40.0.78', {}));
  }, 30_000);

  it('a Stop no server takes is spooled (0600) and delivered by the next run', async () => {
    const silent = await silentPort();
    const cfg = config([{ authPort: silent.port, acctPort: silent.port + 1 }], { retries: 1 });
    try {
      const p = new FakePipeline();
      const h = await host(cfg, p);
      const s = open(p, 'bob', '10.40.0.50');
      h.onEvent({ type: 'session.start', fields: { session: s.id } });
      const acctId = h.acctSessionId(s.id)!;
      h.onEnded(ended(s.id, 'bob', '10.40.0.50', { bytesOut: 4242, reason: 'admin disconnect' }));
      expect(await until(() => h.spooled === 2, 15_000)).toBe(true); // Start and Stop
      await h.stop(0);
      expect(statSync(cfg.spoolFile).mode & 0o777).toBe(0o600);
      expect(readFileSync(cfg.spoolFile, 'utf8')).toContain(acctId);
      // the next run, with the server up: both go out, the spool empties
      const next = await host({ ...cfg, servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET }] }, new FakePipeline());
      expect(await until(() => next.spooled === 0 && fr.detail().includes(acctId), 15_000)).toBe(true);
      const stop = fr.detail().split(/\n\n/).find((r) => r.includes('Acct-Status-Type = Stop') && r.includes(acctId))!;
      expect(stop).toMatch(/Acct-Output-Octets = 4242\b/);
      expect(stop).toMatch(/Acct-Terminate-Cause = Admin-Reset/);
      expect(readFileSync(cfg.spoolFile, 'utf8')).toBe('');
    } finally {
      silent.sock.close();
    }
  }, 60_000);

  const RADCLIENT = '/usr/bin/radclient';
  it.skipIf(!existsSync(RADCLIENT))("radclient's Disconnect-Request ends the session named by Acct-Session-Id (ACK); an unknown one is a NAK", async () => {
    const probe = await silentPort();
    const dynPort = probe.port;
    probe.sock.close();
    const p = new FakePipeline();
    const h = await host(
      config([{ authPort: fr.authPort, acctPort: fr.acctPort }], { dynauthListen: `127.0.0.1:${dynPort}`, dynauthClients: [{ address: '127.0.0.1', secret: 'dynauth-secret-0123' }] }),
      p,
    );
    const s = open(p, 'alice', '10.40.0.77');
    h.onEvent({ type: 'session.start', fields: { session: s.id } });
    const acctId = h.acctSessionId(s.id)!;
    const raddb = mkdtempSync(join(tmpdir(), 'l2tpsec-radclient-'));
    writeFileSync(join(raddb, 'dictionary'), '');
    const radclient = (input: string): Promise<string> =>
      new Promise((resolve) => {
        const c = spawn(RADCLIENT, ['-x', '-d', raddb, '-r', '1', '-t', '2', `127.0.0.1:${dynPort}`, 'disconnect', 'dynauth-secret-0123'], { stdio: ['pipe', 'pipe', 'pipe'] });
        let out = '';
        c.stdout.on('data', (b: Buffer) => (out += b.toString()));
        c.stderr.on('data', (b: Buffer) => (out += b.toString()));
        c.on('exit', () => resolve(out));
        c.stdin.end(input);
      });
    try {
      expect(await radclient(`Acct-Session-Id = "${acctId}"\n`)).toMatch(/Received Disconnect-ACK/);
      expect(p.disconnected).toEqual([s.id]);
      expect(await radclient('Acct-Session-Id = "nope"\n')).toMatch(/Received Disconnect-NAK[\s\S]*Session-Context-Not-Found/);
      expect(await radclient('User-Name = "alice"\n')).toMatch(/Received Disconnect-ACK/);
    } finally {
      rmSync(raddb, { recursive: true, force: true });
    }
  }, 30_000);
});

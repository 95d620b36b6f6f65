/**
 * Two l2tpsec servers (two RADIUS hosts, NAS vpn-1 on 127.0.0.1 and vpn-2 on 127.0.0.2)
 * sharing one real FreeRADIUS: accounting shows both, and a user's concurrent-session
 * limit across both is FreeRADIUS's Simultaneous-Use over its session database
 * (radutmp, fed by our Start and Stop; NAS type "other", so no checkrad).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { monotonicClock } from '../../src/core/clock.js';
import type { RadiusConfig } from '../../src/daemon/config.js';
import { RadiusHost, type RadiusPipeline } from '../../src/daemon/radius-host.js';
import { generateNTResponse } from '../../src/ppp/mschapv2.js';
import { SessionTable, type EapVerdict, type RemoteVerdict, type SessionHandle } from '../../src/session/index.js';
import { freeradiusUnavailable, startSimultaneousUseRadius, type FreeRadius } from '../radius/freeradius.js';

const SECRET = 'testing123-two-servers';
const timer = { set: (fn: () => void, ms: number): unknown => setTimeout(fn, ms), clear: (h: unknown): void => clearTimeout(h as NodeJS.Timeout) };

class Pipe implements RadiusPipeline {
  readonly table = new SessionTable('10.40.0.0/24', { perUser: 0 });
  readonly verdicts = new Map<SessionHandle, RemoteVerdict>();
  authResult(h: SessionHandle, v: RemoteVerdict): void {
    this.verdicts.set(h, v);
  }
  eapResult(_s: string, _v: EapVerdict): void {}
  disconnect(): string[] {
    return [];
  }
}

async function until(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end && !cond()) await new Promise((r) => setTimeout(r, 50));
  return cond();
}

const unavailable = freeradiusUnavailable();
describe.skipIf(unavailable !== undefined)(unavailable ? `two servers, one FreeRADIUS (SKIPPED: ${unavailable})` : 'two servers, one FreeRADIUS', () => {
  let fr: FreeRadius;
  const hosts: RadiusHost[] = [];
  beforeAll(async () => {
    fr = await startSimultaneousUseRadius(SECRET);
  }, 60_000);
  afterAll(async () => {
    for (const h of hosts) await h.stop(0);
    await fr?.stop();
  });

  async function server(nasId: string, nasIp: string): Promise<{ h: RadiusHost; p: Pipe }> {
    const cfg: RadiusConfig = {
      enabled: true,
      servers: [{ address: '127.0.0.1', authPort: fr.authPort, acctPort: fr.acctPort, secret: SECRET }],
      nasIdentifier: nasId,
      nasIpAddress: nasIp,
      timeout: 1,
      retries: 2,
      interimInterval: 0,
      fallbackToUsersFile: false,
      requireMessageAuthenticator: true,
      dynauthListen: '',
      dynauthClients: [],
      spoolFile: join(mkdtempSync(join(tmpdir(), 'l2tpsec-spool-')), 'spool.jsonl'),
    };
    const p = new Pipe();
    const h = new RadiusHost({ cfg, clock: monotonicClock, timer, log: () => undefined });
    h.attach(p);
    await h.start();
    hosts.push(h);
    return { h, p };
  }

  async function login(s: { h: RadiusHost; p: Pipe }, user: string, password: string): Promise<{ handle: SessionHandle; id: string; verdict: RemoteVerdict }> {
    const id = `${user}/${randomBytes(3).toString('hex')}`;
    const rec = s.p.table.open('l2tp-ppp', id, 1, { address: '192.0.2.5', port: 4500 }, monotonicClock.now());
    const authenticatorChallenge = randomBytes(16);
    const peerChallenge = randomBytes(16);
    const ntResponse = generateNTResponse(authenticatorChallenge, peerChallenge, user, password);
    s.h.request(rec.handle, { method: 'mschapv2', userName: user, ident: 1, authenticatorChallenge, peerChallenge, ntResponse }, { peer: rec.peer, session: id });
    expect(await until(() => s.p.verdicts.has(rec.handle), 15_000)).toBe(true);
    const verdict = s.p.verdicts.get(rec.handle)!;
    if (verdict.kind === 'accept') {
      s.p.table.admit(rec.handle, user);
      rec.address = `10.40.0.${10 + rec.handle}`;
      s.h.onEvent({ type: 'session.start', fields: { session: id } });
    }
    return { handle: rec.handle, id, verdict };
  }

  it('accounting shows both servers; Simultaneous-Use 1 refuses the second session on the other server until the first one stops', async () => {
    const one = await server('vpn-1', '127.0.0.1');
    const two = await server('vpn-2', '127.0.0.2');
    const a1 = await login(one, 'alice', 'alice password 1');
    expect(a1.verdict.kind).toBe('accept');
    const b2 = await login(two, 'bob', 'bob password 12');
    expect(b2.verdict.kind).toBe('accept');
    const starts = (): string[] => fr.detail().split(/\n\s*\n/).filter((r) => r.includes('Acct-Status-Type = Start'));
    expect(await until(() => starts().length === 2, 10_000)).toBe(true);
    expect(starts().some((r) => r.includes('NAS-Identifier = "vpn-1"') && r.includes('User-Name = "alice"'))).toBe(true);
    expect(starts().some((r) => r.includes('NAS-Identifier = "vpn-2"') && r.includes('User-Name = "bob"'))).toBe(true);
    // alice on the second server: her one session is on the first
    const a2 = await login(two, 'alice', 'alice password 1');
    expect(a2.verdict.kind).toBe('reject');
    expect(fr.log()).toMatch(/Multiple logins/i);
    // the first session ends (its Stop), then the second server may take her
    one.h.onEnded({ user: 'alice', peer: '192.0.2.5:4500', address: '10.40.0.11', session: a1.id, start: '', end: '', duration: 3, bytesIn: 10, bytesOut: 20, packetsIn: 1, packetsOut: 2, reason: 'peer LCP Terminate-Request' });
    expect(await until(() => fr.detail().includes('Acct-Status-Type = Stop'), 10_000)).toBe(true);
    const a3 = await login(two, 'alice', 'alice password 1');
    expect(a3.verdict.kind).toBe('accept');
  }, 60_000);
});

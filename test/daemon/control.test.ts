import { tempDir } from '../tmpdir.js';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Daemon } from '../../src/daemon/daemon.js';
import { parseConfig } from '../../src/daemon/config.js';
import { createLogger } from '../../src/daemon/log.js';
import { formatUsers, loadUsers, UserStore } from '../../src/daemon/users.js';
import { ControlServer, MAX_BODY } from '../../src/daemon/control.js';
import { matchesPskFingerprint, pskFingerprint } from '../../src/daemon/control-util.js';
import type { ControlTarget, DaemonEvent, StatusInfo } from '../../src/daemon/control-types.js';
import type { HistoryEntry } from '../../src/daemon/history.js';
import { controlRequest, ControlClientError } from '../../src/cli/client.js';
import { createHash, createHmac } from 'node:crypto';

function raw(socketPath: string, method: string, path: string, body?: string | Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolveReq, reject) => {
    const req = request({ socketPath, method, path }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolveReq({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

describe('control API over a Unix socket against a real Daemon (noTun)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-ctl-'));
  const sock = join(dir, 'run', 'control.sock');
  const usersFile = join(dir, 'users.toml');
  let daemon: Daemon;
  let control: ControlServer;

  beforeAll(async () => {
    const port = 40000 + Math.floor(Math.random() * 10000);
    const cfg = parseConfig(
      `[server]\nlisten = "127.0.0.1"\nike_port = ${port}\nnatt_port = ${port + 1}\n[ipsec]\npsk = "secret psk"\n[ppp]\npool = "10.77.0.0/29"\nusers_file = "users.toml"\n[control]\nsocket = "${sock}"\n`,
      join(dir, 'l2tpsec.toml'),
    );
    const store = new UserStore();
    store.add('alice', 'pw-alice');
    store.add('bob', 'pw-bob', { address: '10.77.0.5' });
    writeFileSync(usersFile, formatUsers(store));
    const log = createLogger({ level: 'error', format: 'json', stream: new PassThrough() });
    daemon = new Daemon(cfg, await loadUsers(usersFile), log, { noTun: true });
    await daemon.start();
    control = new ControlServer(daemon, log);
    await control.listen(sock);
  }, 20000);

  afterAll(async () => {
    await control.close();
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  }, 20000);

  it('creates the socket with mode 0660', () => {
    const st = statSync(sock);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o660);
  });

  it('GET /v1/status: listen addresses, PSK fingerprint (not the PSK), pool usage', async () => {
    const s = (await controlRequest(sock, 'GET', '/v1/status')) as StatusInfo;
    // salted: "SALT:DIGEST", DIGEST = HMAC-SHA256 keyed with the salt, not a bare SHA-256 prefix
    const [salt, digest] = s.pskFingerprint.split(':');
    expect(salt).toMatch(/^[0-9a-f]{16}$/);
    expect(digest).toBe(createHmac('sha256', Buffer.from(salt!, 'hex')).update('secret psk').digest('hex').slice(0, 16));
    expect(digest).not.toBe(createHash('sha256').update('secret psk').digest('hex').slice(0, 16));
    expect(s.pskFingerprint).toBe(pskFingerprint('secret psk'));
    expect(matchesPskFingerprint(s.pskFingerprint, 'secret psk')).toBe(true);
    expect(matchesPskFingerprint(s.pskFingerprint, 'secret psk!')).toBe(false);
    // another salt (another daemon) gives another fingerprint for the same PSK
    expect(pskFingerprint('secret psk', Buffer.alloc(8, 1))).not.toBe(s.pskFingerprint);
    expect(JSON.stringify(s)).not.toContain('secret psk');
    expect(s.listen).toHaveLength(2);
    expect(s.listen[0]).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(s.pool.cidr).toBe('10.77.0.0/29');
    expect(s.pool.size).toBeGreaterThan(0);
    expect(s.pool.used + s.pool.free).toBe(s.pool.size);
    expect(s.sessions).toEqual([]);
    expect(s.users).toBe(2);
  });

  it('GET /v1/users and /v1/sessions', async () => {
    expect(await controlRequest(sock, 'GET', '/v1/users')).toEqual({
      users: [
        { name: 'alice', address: null, maxSessions: null },
        { name: 'bob', address: '10.77.0.5', maxSessions: null },
      ],
    });
    expect(await controlRequest(sock, 'GET', '/v1/sessions')).toEqual({ sessions: [] });
  });

  it('POST /v1/reload re-reads the users file and reports the count; a deleted user no longer resolves', async () => {
    const store = await loadUsers(usersFile);
    store.del('alice');
    writeFileSync(usersFile, formatUsers(store));
    const seen: DaemonEvent[] = [];
    const un = daemon.subscribe((e) => seen.push(e));
    expect(await controlRequest(sock, 'POST', '/v1/reload')).toEqual({ users: 1 });
    un();
    expect(seen.map((e) => e.type)).toEqual(['users.reload']);
    expect(daemon.usersInfo().map((u) => u.name)).toEqual(['bob']);
  });

  it('POST /v1/disconnect of an unknown user: 404 with a JSON error', async () => {
    const r = await raw(sock, 'POST', '/v1/disconnect', JSON.stringify({ user: 'nobody' }));
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body)).toEqual({ error: 'no session of user "nobody"' });
  });

  it('errors: unknown route 404, wrong method 405, bad JSON 400, missing target 400, oversized body 413', async () => {
    const notFound = await raw(sock, 'GET', '/v2/nothing');
    expect(notFound.status).toBe(404);
    expect(JSON.parse(notFound.body)).toHaveProperty('error');
    expect((await raw(sock, 'GET', '/v1/disconnect')).status).toBe(405);
    expect((await raw(sock, 'POST', '/v1/status')).status).toBe(405);
    const bad = await raw(sock, 'POST', '/v1/disconnect', '{"user": ');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body)).toEqual({ error: 'body is not valid JSON' });
    expect((await raw(sock, 'POST', '/v1/disconnect', '[1]')).status).toBe(400);
    expect((await raw(sock, 'POST', '/v1/disconnect', '{"user": 5}')).status).toBe(400);
    const big = await raw(sock, 'POST', '/v1/disconnect', Buffer.alloc(MAX_BODY + 1, 0x20));
    expect(JSON.parse(big.body)).toEqual({ error: `request body over ${MAX_BODY} bytes` });
    expect(big.status).toBe(413);
    expect((await raw(sock, 'GET', '/v1/history?limit=0')).status).toBe(400);
    await expect(controlRequest(sock, 'GET', '/v1/nope')).rejects.toBeInstanceOf(ControlClientError);
  });

  it('GET /v1/history answers an empty list before any session ended', async () => {
    expect(await controlRequest(sock, 'GET', '/v1/history?user=bob')).toEqual({ history: [] });
  });
});

/** A fake daemon with one session, to exercise disconnect and the event stream. */
class FakeTarget implements ControlTarget {
  private readonly listeners = new Set<(e: DaemonEvent) => void>();
  disconnected: Array<{ user?: string; session?: string }> = [];
  statusInfo(): StatusInfo {
    return {
      listen: ['127.0.0.1:500', '127.0.0.1:4500'],
      pskFingerprint: '0123456789abcdef',
      pool: { cidr: '10.40.0.0/24', size: 253, used: 1, free: 252 },
      ikeSas: 1,
      users: 1,
      uptime: 5,
      sessions: [
        { id: 't1/s1', user: 'alice', address: '10.40.0.2', kind: 'l2tp', peer: '192.0.2.1:4500', natT: true, ike: 'aes256-sha256-modp2048', esp: 'aes-cbc256-hmac-sha1', started: '2026-11-27T00:00:00.000Z', uptime: 5, bytesIn: 1, bytesOut: 2, packetsIn: 1, packetsOut: 1, idle: 0, phase: 'network' },
      ],
    };
  }
  usersInfo(): Array<{ name: string; address: string | null; maxSessions: number | null }> {
    return [{ name: 'alice', address: null, maxSessions: null }];
  }
  disconnect(t: { user?: string; session?: string }): string[] {
    this.disconnected.push(t);
    const hit = t.user === 'alice' || t.session === 't1/s1';
    if (hit) this.emit({ type: 'session.stop', time: new Date(0).toISOString(), user: 'alice', reason: 'admin disconnect' });
    return hit ? ['t1/s1'] : [];
  }
  async reload(): Promise<{ users: number }> {
    return { users: 1 };
  }
  history(opts: { user?: string }): HistoryEntry[] {
    return opts.user === 'zed' ? [] : [];
  }
  subscribe(fn: (e: DaemonEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
  emit(e: DaemonEvent): void {
    for (const l of this.listeners) l(e);
  }
  get subscribers(): number {
    return this.listeners.size;
  }
}

describe('control API with a fake daemon: disconnect and events', () => {
  it('POST /v1/disconnect by user and by session; GET /v1/events streams the events as SSE', async () => {
    const dir = tempDir('l2tpsec-ctl-');
    const sock = join(dir, 'c.sock');
    const fake = new FakeTarget();
    const control = new ControlServer(fake);
    await control.listen(sock);
    try {
      // open the stream, wait for the subscription, then cause an event
      const received = new Promise<string>((resolveEv, reject) => {
        const req = request({ socketPath: sock, method: 'GET', path: '/v1/events' }, (res) => {
          expect(res.headers['content-type']).toBe('text/event-stream');
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            buf += c;
            if (buf.includes('event: session.stop\n')) {
              resolveEv(buf);
              req.destroy();
            }
          });
        });
        req.on('error', reject);
        req.end();
      });
      while (fake.subscribers === 0) await new Promise((r) => setTimeout(r, 10));
      expect(await controlRequest(sock, 'POST', '/v1/disconnect', { user: 'alice' })).toEqual({ disconnected: ['t1/s1'] });
      const text = await received;
      const dataLine = text.split('\n').find((l) => l.startsWith('data: '));
      expect(JSON.parse(dataLine!.slice(6))).toEqual({ type: 'session.stop', time: '1970-01-01T00:00:00.000Z', user: 'alice', reason: 'admin disconnect' });
      expect(await controlRequest(sock, 'POST', '/v1/disconnect', { session: 't1/s1' })).toEqual({ disconnected: ['t1/s1'] });
      expect(fake.disconnected).toEqual([{ user: 'alice' }, { session: 't1/s1' }]);
      // the stream's close unsubscribes
      while (fake.subscribers > 0) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await control.close();
    }
  }, 20000);
});

describe('control API: a slow /v1/events subscriber', () => {
  it('that stops reading is dropped once its backlog passes the bound; a reading one keeps its stream', async () => {
    const dir = tempDir('l2tpsec-ctl-');
    const sock = join(dir, 'c.sock');
    const fake = new FakeTarget();
    const control = new ControlServer(fake, undefined, 64 * 1024);
    await control.listen(sock);
    try {
      const open = (read: boolean): Promise<{ bytes: () => number }> =>
        new Promise((resolveOpen, reject) => {
          let bytes = 0;
          const req = request({ socketPath: sock, method: 'GET', path: '/v1/events' }, (res) => {
            if (read) res.on('data', (c: Buffer) => (bytes += c.length));
            else res.pause();
            res.on('error', () => undefined);
            resolveOpen({ bytes: () => bytes });
          });
          req.on('error', reject);
          req.end();
        });
      await open(false);
      const reader = await open(true);
      while (fake.subscribers < 2) await new Promise((r) => setTimeout(r, 10));
      // 8 MiB of events in bounded bursts (the reader drains between them)
      const big = 'x'.repeat(1024);
      for (let burst = 0; burst < 256 && fake.subscribers === 2; burst++) {
        for (let i = 0; i < 32; i++) fake.emit({ type: 'session.start', time: new Date(0).toISOString(), pad: big });
        await new Promise((r) => setTimeout(r, 5));
      }
      // the server dropped the paused client's subscription (it never reads its end)
      expect(fake.subscribers).toBe(1);
      // the reader still gets events
      const before = reader.bytes();
      fake.emit({ type: 'users.reload', time: new Date(0).toISOString(), users: 1 });
      while (reader.bytes() === before) await new Promise((r) => setTimeout(r, 10));
    } finally {
      await control.close();
    }
  }, 20000);
});

describe('control socket file', () => {
  it('replaces a stale socket but refuses one that a live server answers on', async () => {
    const dir = tempDir('l2tpsec-ctl-');
    const sock = join(dir, 'c.sock');
    const a = new ControlServer(new FakeTarget());
    await a.listen(sock);
    const b = new ControlServer(new FakeTarget());
    await expect(b.listen(sock)).rejects.toThrow(/in use/);
    expect(await controlRequest(sock, 'GET', '/v1/users')).toEqual({ users: [{ name: 'alice', address: null, maxSessions: null }] });
    await a.close();
    // a leftover socket file (daemon killed hard) is replaced
    const { createServer } = await import('node:net');
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(sock, r));
    await new Promise<void>((r) => stale.close(() => r()));
    await b.listen(sock);
    expect(await controlRequest(sock, 'GET', '/v1/users')).toHaveProperty('users');
    await b.close();
  });

  it('an unknown control.group fails before any socket exists, naming the key', async () => {
    const dir = tempDir('l2tpsec-ctl-');
    const sock = join(dir, 'c.sock');
    await expect(new ControlServer(new FakeTarget()).listen(sock, 'no-such-group-l2tpsec')).rejects.toThrow('control.group: no group "no-such-group-l2tpsec" on this host');
    expect(existsSync(sock)).toBe(false);
  });
});

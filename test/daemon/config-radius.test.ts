import { describe, expect, it } from 'vitest';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultConfig, parseConfig, validateConfig } from '../../src/daemon/config.js';
import { checkConfig } from '../../src/daemon/check.js';
import { tempDir } from '../tmpdir.js';

const PSK = '[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n';
// the minimal form, as written
const MINIMAL = `${PSK}[radius]
servers = [{ address = "127.0.0.1", secret = "testing123" }]   # auth 1812, accounting 1813
nas_identifier = "vpn-1"
`;
const FILE = '/etc/l2tpsec/l2tpsec.toml';

describe('[radius]', () => {
  it('off by default', () => {
    const r = defaultConfig().radius;
    expect(r.enabled).toBe(false);
    expect(r.servers).toEqual([]);
    expect([r.requireMessageAuthenticator, r.fallbackToUsersFile, r.interimInterval, r.timeout, r.retries]).toEqual([true, false, 0, 3, 3]);
  });

  it('the minimal form of the issue works as written: ports 1812/1813, the NAS identifier', () => {
    const r = parseConfig(MINIMAL, FILE).radius;
    expect(r.enabled).toBe(true);
    expect(r.servers).toEqual([{ address: '127.0.0.1', authPort: 1812, acctPort: 1813, secret: 'testing123' }]);
    expect(r.nasIdentifier).toBe('vpn-1');
    expect(r.nasIpAddress).toBe(''); // listen 0.0.0.0: none
    expect(r.spoolFile).toBe('/etc/l2tpsec/radius-spool.jsonl');
    expect(r.dynauthListen).toBe('');
  });

  it('every key read; secret_file relative to the config; NAS identifier defaults to the host name', () => {
    const dir = tempDir('radius-config-');
    writeFileSync(join(dir, 'radius.secret'), 'from-a-file-0123456789\n');
    chmodSync(join(dir, 'radius.secret'), 0o600);
    const text = `${PSK}[server]\nlisten = "192.0.2.7"\nhostname = "vpn-b"\n[radius]
servers = [{ address = "10.0.0.5", auth_port = 11812, acct_port = 11813, secret_file = "radius.secret" }, { address = "10.0.0.6", secret = "second-secret-0123" }]
timeout = 2
retries = 5
interim_interval = 300
fallback_to_users_file = true
require_message_authenticator = false
dynauth_listen = "0.0.0.0:3799"
dynauth_clients = [{ address = "10.0.0.5", secret = "dynauth-secret-0123" }]
spool_file = "/var/lib/l2tpsec/spool.jsonl"
`;
    const r = parseConfig(text, join(dir, 'l2tpsec.toml')).radius;
    expect(r.servers).toEqual([
      { address: '10.0.0.5', authPort: 11812, acctPort: 11813, secret: 'from-a-file-0123456789' },
      { address: '10.0.0.6', authPort: 1812, acctPort: 1813, secret: 'second-secret-0123' },
    ]);
    expect(r.nasIdentifier).toBe('vpn-b');
    expect(r.nasIpAddress).toBe('192.0.2.7');
    expect([r.timeout, r.retries, r.interimInterval, r.fallbackToUsersFile, r.requireMessageAuthenticator]).toEqual([2, 5, 300, true, false]);
    expect(r.dynauthListen).toBe('0.0.0.0:3799');
    expect(r.dynauthClients).toEqual([{ address: '10.0.0.5', secret: 'dynauth-secret-0123' }]);
    expect(r.spoolFile).toBe('/var/lib/l2tpsec/spool.jsonl');
  });

  it('bad values are reported naming the key and the line', () => {
    const text = `${PSK}[radius]
servers = [{ address = "radius.example", secret = "x" }, { address = "10.0.0.1" }]
timeout = 0
interim_interval = 30
dynauth_listen = "3799"
bogus = 1
`;
    const { problems } = validateConfig(text, FILE);
    const got = problems.map((p) => [p.key, p.line, p.problem]);
    expect(got).toContainEqual(['radius.servers', 4, 'server 1: address: not an IPv4 address: "radius.example"']);
    expect(got).toContainEqual(['radius.timeout', 5, 'must be between 1 and 60, got 0']);
    expect(got).toContainEqual(['radius.interim_interval', 6, '0 (only when RADIUS asks) or at least 60 seconds']);
    expect(got).toContainEqual(['radius.dynauth_listen', 7, '"address:port" (RFC 5176 uses 3799), got "3799"']);
    expect(got.find((p) => p[0] === 'radius.bogus')?.[2]).toMatch(/^unknown key \(known: servers, /);
    const second = validateConfig(`${PSK}[radius]\nservers = [{ address = "10.0.0.1" }, { address = "10.0.0.2", secret = "a", secret_file = "b" }]\n`, FILE).problems;
    expect(second.map((p) => [p.key, p.problem])).toEqual([
      ['radius.servers', 'server 1 (10.0.0.1): a shared secret is required (secret = "..." or secret_file = "path")'],
      ['radius.servers', 'server 2 (10.0.0.2): set either secret or secret_file, not both'],
    ]);
    const unreadable = validateConfig(`${PSK}[radius]\nservers = [{ address = "10.0.0.1", secret_file = "/nonexistent/secret" }]\n`, FILE).problems;
    expect(unreadable[0]?.key).toBe('radius.servers');
    expect(unreadable[0]?.problem).toMatch(/^server 1 \(10\.0\.0\.1\): secret_file: cannot read \/nonexistent\/secret/);
    const dyn = validateConfig(`${PSK}[radius]\nservers = [{ address = "10.0.0.1", secret = "s" }]\ndynauth_listen = "0.0.0.0:3799"\n`, FILE).problems;
    expect(dyn.map((p) => [p.key, p.problem])).toEqual([['radius.dynauth_clients', 'dynauth_listen is set: list the clients allowed to send Disconnect-Request']]);
  });

  it('a problem inside one server of the list names the server, the key inside it and the line the server is on', () => {
    const text = `${PSK}[radius]
servers = [
  { address = "10.0.0.5", secret = "first-secret-0123456789" },   # "{ not an item"
  { address = "10.0.0.6", secret = "second-secret-0123456789", auth_port = 70000 },
  { address = "10.0.0.7", secret = 12345, port = 1812 },
]
dynauth_clients = [{ address = "127.0.0.1", secret = "dyn-secret-0123456789" }, { address = "127.0.0.2" }]
`;
    const got = validateConfig(text, FILE).problems.map((p) => [p.key, p.line, p.problem]);
    expect(got).toContainEqual(['radius.servers', 6, 'server 2 (10.0.0.6): auth_port: must be between 1 and 65535, got 70000']);
    expect(got).toContainEqual(['radius.servers', 7, 'server 3 (10.0.0.7): secret: must be a string, got number 12345']);
    expect(got).toContainEqual(['radius.servers', 7, 'server 3 (10.0.0.7): unknown key port (known: address, auth_port, acct_port, secret, secret_file)']);
    // the list's own rules (a secret each, distinct ports) name the server and its line too
    const rules = validateConfig(`${PSK}[radius]\nservers = [\n  { address = "10.0.0.5", secret = "first-secret-0123456789" },\n  { address = "10.0.0.5" },\n]\n`, FILE).problems;
    expect(rules.map((p) => [p.line, p.problem])).toEqual([
      [6, 'server 2 (10.0.0.5): a shared secret is required (secret = "..." or secret_file = "path")'],
      [6, 'server 2 (10.0.0.5): uses a port of server 1'],
    ]);
    const dyn = validateConfig(`${PSK}[radius]\nservers = [{ address = "10.0.0.5", secret = "first-secret-0123456789" }]\n` + text.split('\n').slice(-2).join('\n'), FILE).problems;
    expect(dyn.map((p) => [p.key, p.line, p.problem])).toEqual([['radius.dynauth_clients', 5, 'client 2 (127.0.0.2): a shared secret is required (secret = "..." or secret_file = "path")']]);
  });

  it('check: a [radius] section without servers is a warning (RADIUS is off), naming the line', () => {
    const env = { readFile: (): string => '', interfaceExists: () => true };
    const res = checkConfig(`${PSK}[radius]\nnas_identifier = "vpn-1"\n`, FILE, env);
    expect(res.problems.filter((p) => p.key === 'radius.servers').map((p) => [p.severity, p.line, p.message])).toEqual([
      ['warning', 3, 'no servers listed: RADIUS is off and the users file decides logins (servers = [{ address = "...", secret = "..." }])'],
    ]);
    expect(checkConfig(PSK, FILE, env).problems.some((p) => p.key?.startsWith('radius'))).toBe(false);
  });

  it('check warns about require_message_authenticator = false and a short secret, and needs no users file with RADIUS', () => {
    const env = { readFile: (f: string): string => { throw Object.assign(new Error(`ENOENT: ${f}`), { code: 'ENOENT' }); }, interfaceExists: () => true };
    const text = MINIMAL + 'require_message_authenticator = false\n';
    const res = checkConfig(text, FILE, env);
    expect(res.errors).toBe(0);
    const msgs = res.problems.map((p) => [p.severity, p.key, p.line]);
    expect(msgs).toContainEqual(['warning', 'radius.require_message_authenticator', 6]);
    expect(msgs).toContainEqual(['warning', 'radius.servers', 4]);
    expect(res.problems.some((p) => /no users file/.test(p.message))).toBe(false);
    // without RADIUS the missing users file is reported as before
    expect(checkConfig(PSK, FILE, env).problems.some((p) => /no users file/.test(p.message))).toBe(true);
  });
});

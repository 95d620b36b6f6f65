import { tempDir } from '../tmpdir.js';
import { describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configKeys, ConfigError, defaultConfig, keyLines, parseConfig, serverTunnelAddress, validateConfig } from '../../src/daemon/config.js';
import { stringify as stringifyToml } from 'smol-toml';
import fc from 'fast-check';

// The minimal form from the project's contract: it must work exactly as written.
const MINIMAL = `[server]
listen = "0.0.0.0"            # UDP 500 and 4500
hostname = "vpn.example.net"  # L2TP host name
[ipsec]
psk = "a long random secret"  # or psk_file = "path"
[ppp]
pool = "10.40.0.0/24"         # first address is the server's tunnel address
dns = ["10.40.0.1"]
users_file = "users.toml"     # relative to the config file
max_sessions_per_user = 2
idle_timeout = 3600
[tun]
name = "tun1"
[nat]
masquerade = true
out_interface = "auto"        # the interface of the default route
`;

function errorOf(text: string): ConfigError {
  try {
    parseConfig(text, '/etc/l2tpsec/l2tpsec.toml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('config', () => {
  it('reads the minimal contract form', () => {
    const c = parseConfig(MINIMAL, '/etc/l2tpsec/l2tpsec.toml');
    expect(c.server).toEqual({ listen: '0.0.0.0', hostname: 'vpn.example.net', ikePort: 500, nattPort: 4500, socketBuffer: 4 << 20 });
    expect(c.ipsec.psk).toBe('a long random secret');
    expect(c.ppp.pool).toBe('10.40.0.0/24');
    expect(c.ppp.dns).toEqual(['10.40.0.1']);
    expect(c.ppp.usersFile).toBe('/etc/l2tpsec/users.toml');
    expect(c.ppp.maxSessionsPerUser).toBe(2);
    expect(c.ppp.idleTimeout).toBe(3600);
    expect(c.tun.name).toBe('tun1');
    expect(c.nat).toEqual({ masquerade: true, outInterface: 'auto', clientToClient: false });
    expect(serverTunnelAddress(c)).toBe('10.40.0.1');
  });

  it('server.socket_buffer: read, bounded, the line named', () => {
    const text = (v: string): string => MINIMAL.replace('[server]\n', `[server]\nsocket_buffer = ${v}\n`);
    expect(parseConfig(text('16777216'), '/etc/l2tpsec/l2tpsec.toml').server.socketBuffer).toBe(16 << 20);
    const e = errorOf(text('1000'));
    expect(e.key).toBe('server.socket_buffer');
    expect(e.message).toMatch(/between 65536 and 1073741824, got 1000/);
  });

  it('[limits]: defaults, each key read, unknown keys refused', () => {
    const d = parseConfig(MINIMAL, '/etc/l2tpsec/l2tpsec.toml').limits;
    expect(d).toEqual({
      halfOpenPerAddress: 10, halfOpenTotal: 1000, ikeSasPerAddress: 100, ikeSasPerIdentity: 1000, ikeSasTotal: 10000,
      childSasPerIkeSa: 8, tunnelsPerAddress: 128, tunnelsTotal: 10000, sessionsPerTunnel: 8, sessionsTotal: 16384, authFailuresBeforeBackoff: 5, authBackoffMax: 300,
    });
    const keys = ['half_open_per_address', 'half_open_total', 'ike_sas_per_address', 'ike_sas_per_identity', 'ike_sas_total', 'child_sas_per_ike_sa', 'tunnels_per_address', 'tunnels_total', 'sessions_per_tunnel', 'sessions_total', 'auth_failures_before_backoff', 'auth_backoff_max'];
    const c = parseConfig(`${MINIMAL}[limits]\n${keys.map((k, i) => `${k} = ${i + 2}`).join('\n')}\n`, '/etc/l2tpsec/l2tpsec.toml');
    expect(Object.values(c.limits)).toEqual(keys.map((_, i) => i + 2));
    expect(errorOf(`${MINIMAL}[limits]\nhalf_open = 3\n`).key).toBe('limits.half_open');
  });

  it('reads the PSK from psk_file relative to the config', () => {
    const dir = tempDir('l2tpsec-cfg-');
    writeFileSync(join(dir, 'psk.txt'), 'from-a-file\n');
    const c = parseConfig('[ipsec]\npsk_file = "psk.txt"\n', join(dir, 'c.toml'));
    expect(c.ipsec.psk).toBe('from-a-file');
  });

  it('names file, line and key for a wrong type', () => {
    const e = errorOf(MINIMAL.replace('max_sessions_per_user = 2', 'max_sessions_per_user = "two"'));
    expect(e.file).toBe('/etc/l2tpsec/l2tpsec.toml');
    expect(e.line).toBe(10);
    expect(e.key).toBe('ppp.max_sessions_per_user');
    expect(e.message).toBe('/etc/l2tpsec/l2tpsec.toml:10: ppp.max_sessions_per_user: must be an integer, got string "two"');
  });

  it('rejects unknown keys and sections with their line', () => {
    let e = errorOf(MINIMAL.replace('name = "tun1"', 'nmae = "tun1"'));
    expect(e.key).toBe('tun.nmae');
    expect(e.line).toBe(13);
    e = errorOf('[ipsec]\npsk = "x"\n[bogus]\na = 1\n');
    expect(e.key).toBe('bogus');
    expect(e.line).toBe(3);
  });

  it('reports TOML syntax errors with the line', () => {
    const e = errorOf('[ipsec]\npsk = "x"\n[ppp]\npool = \n');
    expect(e.line).toBe(4);
    expect(e.message).toMatch(/invalid TOML/);
  });

  it('validates addresses, pool, DNS and interface names', () => {
    expect(errorOf(MINIMAL.replace('listen = "0.0.0.0"', 'listen = "0.0.0.300"')).key).toBe('server.listen');
    expect(errorOf(MINIMAL.replace('pool = "10.40.0.0/24"', 'pool = "10.40.0.1/24"')).message).toMatch(/host bits/);
    // inside the pool but not the server's address: parsed (check warns about it)
    expect(parseConfig(MINIMAL.replace('dns = ["10.40.0.1"]', 'dns = ["10.40.0.9"]'), '/etc/l2tpsec/l2tpsec.toml').ppp.dns).toEqual(['10.40.0.9']);
    expect(errorOf(MINIMAL.replace('dns = ["10.40.0.1"]', 'dns = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]')).key).toBe('ppp.dns');
    expect(errorOf(MINIMAL.replace('name = "tun1"', 'name = "a very long interface name"')).key).toBe('tun.name');
    expect(errorOf(MINIMAL.replace('psk = "a long random secret"', '')).key).toBe('ipsec.psk');
  });

  it('maps keys to lines', () => {
    const m = keyLines('a = 1\n[x]\n  b = 2\n[y.z]\nc=3\n');
    expect(m.get('a')).toBe(1);
    expect(m.get('x.b')).toBe(3);
    expect(m.get('y.z.c')).toBe(5);
  });

  it('default DNS: the public resolvers the first run writes, not the tunnel address where nothing answers', () => {
    expect(defaultConfig().ppp.dns).toEqual(['1.1.1.1', '9.9.9.9']);
    expect(parseConfig('[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n', '/etc/l2tpsec/l2tpsec.toml').ppp.dns).toEqual(['1.1.1.1', '9.9.9.9']);
  });
});

describe('config schema', () => {
  it('reports every problem at once, each with file, line and key', () => {
    const text = `[server]
ike_port = 4500
listen = "10.0.0.300"
[ipsec]
psk = "q8Vf3kT9zLm2Rw7xNc4P"
dpd_idle = "often"
[ppp]
dns = ["1.1.1.1", "8.8.8.8", "9.9.9.9"]
colour = "blue"
[tun]
mtu = 9000
[log]
level = "loud"
[extra]
x = 1
`;
    const { problems, config } = validateConfig(text, '/etc/l2tpsec/l2tpsec.toml');
    expect(config).toBeDefined();
    expect(problems.map((p) => [p.key, p.line, p.problem])).toEqual([
      ['server.listen', 3, 'not an IPv4 address: "10.0.0.300"'],
      // only seen once the listen problem is out of the way: the same call reports it
      ['server.natt_port', 1, 'must differ from server.ike_port'],
      ['ipsec.dpd_idle', 6, 'must be an integer, got string "often"'],
      ['ppp.dns', 8, 'at most two DNS servers (IPCP options 129 and 131)'],
      ['ppp.colour', 9, expect.stringMatching(/^unknown key \(known: pool, dns, users_file, /)],
      ['tun.mtu', 11, 'must be between 576 and 1500, got 9000'],
      ['log.level', 13, 'one of debug, info, warn, error, got string "loud"'],
      ['extra', 14, expect.stringMatching(/^unknown section or key \(known sections: server, ipsec, /)],
    ]);
    // what could be read is there, with defaults for what was left out
    expect(config!.ipsec.psk).toBe('q8Vf3kT9zLm2Rw7xNc4P');
    expect([config!.server.ikePort, config!.server.nattPort]).toEqual([500, 4500]);
    expect(config!.tun.mtu).toBe(1400);
    expect(() => parseConfig(text, '/etc/l2tpsec/l2tpsec.toml')).toThrow(ConfigError);
  });

  it('a section that is not a table, and a psk with a psk_file', () => {
    const { problems } = validateConfig('tun = 3\n[ipsec]\npsk = "a"\npsk_file = "b"\n', '/etc/l2tpsec/l2tpsec.toml');
    expect(problems.map((p) => [p.key, p.line, p.problem])).toEqual([
      ['ipsec.psk_file', 4, 'set either psk or psk_file, not both'],
      ['tun', 1, 'must be a table ([tun])'],
    ]);
  });

  it('the README key table lists exactly the schema keys', () => {
    const readme = readFileSync(join(import.meta.dirname, '../../README.md'), 'utf8');
    const table = readme.split('\n').filter((l) => /^\| `[a-z0-9_]+\.[a-z0-9_]+`/.test(l));
    const listed = table.flatMap((l) => [...l.split('|')[1]!.matchAll(/`([a-z0-9_]+\.[a-z0-9_]+)`/g)].map((m) => m[1]!));
    expect([...listed].sort()).toEqual(configKeys().sort());
  });

  it('property: any TOML document is either a config or a list of problems with keys and lines; never a throw', () => {
    const sections = ['server', 'ipsec', 'ppp', 'tun', 'nat', 'log', 'control', 'metrics', 'l2tp', 'zzz'];
    const keys = ['listen', 'psk', 'pool', 'dns', 'name', 'mtu', 'level', 'socket', 'group', 'ike_port', 'natt_port', 'auth', 'masquerade', 'qq'];
    const value = fc.oneof(fc.string({ maxLength: 12 }), fc.integer({ min: -5, max: 70000 }), fc.boolean(), fc.array(fc.string({ maxLength: 8 }), { maxLength: 3 }), fc.constantFrom('10.40.0.0/24', '1.1.1.1', 'auto', 'json'));
    const doc = fc.dictionary(fc.constantFrom(...sections), fc.dictionary(fc.constantFrom(...keys), value, { maxKeys: 5 }), { maxKeys: 6 });
    fc.assert(
      fc.property(doc, (d) => {
        const text = stringifyToml(d);
        const { config, problems } = validateConfig(text, '/etc/l2tpsec/l2tpsec.toml');
        if (problems.length === 0) expect(config).toBeDefined();
        const lines = keyLines(text);
        for (const p of problems) {
          expect(p.file).toBe('/etc/l2tpsec/l2tpsec.toml');
          if (p.key && lines.has(p.key)) expect(p.line).toBe(lines.get(p.key));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('[ikev2]', () => {
  it('off by default; the minimal form of the issue enables it with paths next to the config', () => {
    expect(defaultConfig().ikev2).toEqual({ enabled: false, certificate: 'server.crt', privateKey: 'server.key', localId: '', allowModp1024: true });
    const text = '[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[ikev2]\nenabled = true\ncertificate = "server.crt"   # PEM chain\nprivate_key = "server.key"\n';
    expect(parseConfig(text, '/etc/l2tpsec/l2tpsec.toml').ikev2).toEqual({
      enabled: true,
      certificate: '/etc/l2tpsec/server.crt',
      privateKey: '/etc/l2tpsec/server.key',
      localId: '',
      allowModp1024: true,
    });
    const abs = parseConfig(`${text}local_id = "198.51.100.1"\nallow_modp1024 = false\n`.replace('"server.key"', '"/srv/pki/key.pem"'), '/etc/l2tpsec/l2tpsec.toml').ikev2;
    expect([abs.privateKey, abs.localId, abs.allowModp1024]).toEqual(['/srv/pki/key.pem', '198.51.100.1', false]);
  });

  it('bad values are reported with line and key', () => {
    const { problems } = validateConfig('[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n[ikev2]\nenabled = 1\ncertificate = ""\nunknown = 2\n', '/etc/l2tpsec/l2tpsec.toml');
    expect(problems.map((p) => [p.key, p.line, p.problem])).toEqual([
      ['ikev2.enabled', 4, 'must be true or false, got number 1'],
      ['ikev2.certificate', 5, 'a file name'],
      ['ikev2.unknown', 6, 'unknown key (known: enabled, certificate, private_key, local_id, allow_modp1024)'],
    ]);
  });
});

import { tempDir } from '../tmpdir.js';
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, defaultConfig, keyLines, parseConfig, serverTunnelAddress } from '../../src/daemon/config.js';

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
    expect(c.server).toEqual({ listen: '0.0.0.0', hostname: 'vpn.example.net', ikePort: 500, nattPort: 4500 });
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

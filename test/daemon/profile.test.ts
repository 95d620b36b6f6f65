import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  androidProfile,
  appleProfile,
  isPrivateIPv4,
  linuxProfile,
  nmEscape,
  psQuote,
  resolveServer,
  serverBehindNat,
  shQuote,
  windowsProfile,
} from '../../src/daemon/profiles/index.js';
import { main } from '../../src/cli/main.js';
import { saveUsers, UserStore } from '../../src/daemon/users.js';

// ---- a minimal XML plist parser, independent of the generator ----
type PV = string | number | boolean | Buffer | PV[] | { [k: string]: PV };

function unescapeXml(s: string): string {
  return s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&apos;/g, "'").replace(/&amp;/g, '&');
}

function parsePlist(xml: string): PV {
  let body = xml.replace(/^\s*<\?xml[^>]*\?>\s*/, '');
  body = body.replace(/^<!DOCTYPE[^>]*>\s*/, '');
  const m = /^<plist version="1\.0">([\s\S]*)<\/plist>\s*$/.exec(body);
  if (!m) throw new Error('not a plist document');
  const tokens = [...m[1]!.matchAll(/<(\/?)([a-z]+)(\/?)>|([^<]+)/g)];
  let i = 0;
  const skipWs = (): void => {
    while (i < tokens.length && tokens[i]![4] !== undefined && tokens[i]![4]!.trim() === '') i++;
  };
  const text = (tag: string): string => {
    let t = '';
    if (tokens[i]?.[4] !== undefined) t = tokens[i++]![4]!;
    const close = tokens[i++];
    if (!close || close[1] !== '/' || close[2] !== tag) throw new Error(`expected </${tag}>`);
    if (/[<>]/.test(t)) throw new Error('raw markup in text');
    return unescapeXml(t);
  };
  const value = (): PV => {
    skipWs();
    const t = tokens[i++];
    if (!t || t[4] !== undefined || t[1] === '/') throw new Error(`expected a value at token ${i}`);
    const tag = t[2]!;
    if (t[3] === '/') {
      if (tag === 'true') return true;
      if (tag === 'false') return false;
      throw new Error(`bad empty tag ${tag}`);
    }
    switch (tag) {
      case 'string':
        return text('string');
      case 'integer': {
        const s = text('integer');
        if (!/^-?[0-9]+$/.test(s)) throw new Error('bad integer');
        return Number(s);
      }
      case 'data': {
        const s = text('data').replace(/\s+/g, '');
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) throw new Error('bad base64');
        return Buffer.from(s, 'base64');
      }
      case 'array': {
        const out: PV[] = [];
        for (;;) {
          skipWs();
          if (tokens[i]?.[1] === '/' && tokens[i]?.[2] === 'array') break;
          out.push(value());
        }
        i++;
        return out;
      }
      case 'dict': {
        const out: { [k: string]: PV } = {};
        for (;;) {
          skipWs();
          const k = tokens[i];
          if (k?.[1] === '/' && k[2] === 'dict') break;
          if (!k || k[2] !== 'key' || k[1] === '/') throw new Error('expected <key>');
          i++;
          const key = text('key');
          if (key in out) throw new Error(`duplicate key ${key}`);
          out[key] = value();
        }
        i++;
        return out;
      }
      default:
        throw new Error(`unknown tag ${tag}`);
    }
  };
  const root = value();
  skipWs();
  if (i !== tokens.length) throw new Error('trailing content');
  return root;
}

function dict(v: PV | undefined): { [k: string]: PV } {
  if (v === undefined || typeof v !== 'object' || Array.isArray(v) || Buffer.isBuffer(v)) throw new Error('not a dict');
  return v;
}

const ODD_PSK = `it's "a" $HOME \`id\` \\ , & <x> ü ;`;

describe('apple .mobileconfig', () => {
  it('is a plist with the documented L2TP VPN payload', () => {
    const xml = appleProfile({ server: 'vpn.example.net', psk: ODD_PSK, user: 'alice & bob' });
    const root = dict(parsePlist(xml));
    expect(root['PayloadType']).toBe('Configuration');
    expect(root['PayloadVersion']).toBe(1);
    expect(root['PayloadUUID']).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
    const content = root['PayloadContent'];
    expect(Array.isArray(content)).toBe(true);
    const vpn = dict((content as PV[])[0]);
    expect(vpn['PayloadType']).toBe('com.apple.vpn.managed');
    expect(vpn['PayloadVersion']).toBe(1);
    expect(vpn['VPNType']).toBe('L2TP');
    expect(typeof vpn['PayloadDisplayName']).toBe('string');
    expect(vpn['PayloadUUID']).not.toBe(root['PayloadUUID']);
    expect(vpn['PayloadIdentifier']).not.toBe(root['PayloadIdentifier']);
    const ppp = dict(vpn['PPP']);
    expect(ppp['CommRemoteAddress']).toBe('vpn.example.net');
    expect(ppp['AuthName']).toBe('alice & bob');
    expect(ppp).not.toHaveProperty('AuthPassword');
    const ipsec = dict(vpn['IPSec']);
    expect(ipsec['AuthenticationMethod']).toBe('SharedSecret');
    expect(Buffer.isBuffer(ipsec['SharedSecret'])).toBe(true);
    expect((ipsec['SharedSecret'] as Buffer).toString('utf8')).toBe(ODD_PSK);
    expect(dict(vpn['IPv4'])['OverridePrimary']).toBe(1);
  });

  it('Python plistlib (an independent parser) reads the same payload', () => {
    const py = spawnSync('python3', ['-c', 'import plistlib,sys,json,base64; d=plistlib.loads(sys.stdin.buffer.read()); v=d["PayloadContent"][0]; print(json.dumps([d["PayloadType"], v["PayloadType"], v["VPNType"], v["PPP"], v["IPSec"]["AuthenticationMethod"], v["IPSec"]["SharedSecret"].decode("utf-8"), v["IPv4"]["OverridePrimary"]]))'], {
      input: appleProfile({ server: 'vpn.example.net', psk: ODD_PSK, user: 'alice' }),
      encoding: 'utf8',
    });
    if (py.error) return; // no python3 here
    expect(py.stderr).toBe('');
    expect(JSON.parse(py.stdout)).toEqual(['Configuration', 'com.apple.vpn.managed', 'L2TP', { CommRemoteAddress: 'vpn.example.net', AuthName: 'alice' }, 'SharedSecret', ODD_PSK, 1]);
  });

  it('each profile gets fresh UUIDs', () => {
    const a = dict(parsePlist(appleProfile({ server: '192.0.2.1', psk: 'k', user: 'u' })));
    const b = dict(parsePlist(appleProfile({ server: '192.0.2.1', psk: 'k', user: 'u' })));
    expect(a['PayloadUUID']).not.toBe(b['PayloadUUID']);
  });

  it('any user, PSK and server round-trip through the plist', () => {
    const printable = fc.string({ unit: fc.constantFrom(...'ab<>&"\'$\\ ,;üé\u20ac%`'.split('')), minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(printable, printable, (psk, user) => {
        const vpn = dict((dict(parsePlist(appleProfile({ server: 's', psk, user })))['PayloadContent'] as PV[])[0]);
        expect((dict(vpn['IPSec'])['SharedSecret'] as Buffer).toString('utf8')).toBe(psk);
        expect(dict(vpn['PPP'])['AuthName']).toBe(user);
      }),
      { numRuns: 150 },
    );
  });
});

describe('windows PowerShell', () => {
  it('uses the documented Add-VpnConnection parameters', () => {
    const s = windowsProfile({ server: '203.0.113.5', psk: "a'b", user: 'alice' });
    const cmd = s.slice(s.indexOf('Add-VpnConnection'));
    for (const p of ['-Name ', "-ServerAddress '203.0.113.5'", '-TunnelType L2tp', "-L2tpPsk 'a''b'", '-AuthenticationMethod MSChapv2', '-EncryptionLevel Required', '-Force', '-RememberCredential']) {
      expect(cmd).toContain(p);
    }
    expect(s).toContain('AssumeUDPEncapsulationContextOnSendRule');
    expect(s).not.toContain('IMPORTANT: this server is behind NAT');
  });

  it('puts the NAT-T registry note up front when the server is behind NAT', () => {
    const s = windowsProfile({ server: '192.168.1.10', psk: 'k', user: 'u', serverBehindNat: true });
    const important = s.indexOf('IMPORTANT: this server is behind NAT');
    expect(important).toBeGreaterThan(-1);
    expect(important).toBeLessThan(s.indexOf('Add-VpnConnection'));
    expect(s).toContain('HKLM\\SYSTEM\\CurrentControlSet\\Services\\PolicyAgent');
    expect(s).toMatch(/AssumeUDPEncapsulationContextOnSendRule[^\n]*= 2/);
  });

  it('psQuote: single-quoted literal, quotes doubled', () => {
    expect(psQuote('$x `y` "z"')).toBe(`'$x \`y\` "z"'`);
    expect(psQuote("it's")).toBe("'it''s'");
  });
});

describe('linux nmcli', () => {
  it('has the NetworkManager-l2tp keys and our proposals', () => {
    const s = linuxProfile({ server: 'vpn.example.net', psk: 'secret', user: 'alice' });
    expect(s).toContain('nmcli connection add type vpn vpn-type l2tp');
    for (const kv of ['gateway = vpn.example.net', 'user = alice', 'ipsec-enabled = yes', 'ipsec-psk = secret', 'ipsec-ike = aes128-sha1-modp2048', 'ipsec-esp = aes128-sha1', 'password-flags = 2']) {
      expect(s).toContain(kv);
    }
  });

  it('quoting is safe for odd PSKs: the shell passes vpn.data through unchanged', () => {
    const psk = ODD_PSK + "'; rm -rf / #";
    const script = linuxProfile({ server: 'h', psk, user: 'o\'brien $USER' });
    // Replace nmcli with a function that prints its arguments, one per line (NUL-free).
    const out = execFileSync('sh', ['-c', `nmcli() { for a in "$@"; do printf '%s\\n---\\n' "$a"; done; }\n${script.replace(/^#!.*\n/, '')}`], { encoding: 'utf8' });
    const args = out.split('\n---\n');
    const data = args[args.indexOf('vpn.data') + 1]!;
    // Split the nmcli vpn.data syntax: ", " separates items, "\," and "\\" are escapes.
    const items = new Map<string, string>();
    for (const item of data.match(/(?:\\.|[^,\\])+/g) ?? []) {
      const eq = item.indexOf(' = ');
      items.set(item.slice(0, eq).trim(), item.slice(eq + 3).replace(/\\(.)/g, '$1'));
    }
    expect(items.get('ipsec-psk')).toBe(psk);
    expect(items.get('user')).toBe("o'brien $USER");
  });

  it('nmEscape and shQuote', () => {
    expect(nmEscape('a,b\\c')).toBe('a\\,b\\\\c');
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe('android', () => {
  it('steps with type, server, PSK, empty identifier, and the Android 12 note', () => {
    const s = androidProfile({ server: '198.51.100.7', psk: 'k3y', user: 'alice' });
    expect(s).toContain('L2TP/IPSec PSK');
    expect(s).toContain('Server address: 198.51.100.7');
    expect(s).toContain('IPSec pre-shared key: k3y');
    expect(s).toMatch(/IPSec identifier: LEAVE EMPTY[\s\S]*Aggressive Mode/);
    expect(s).toContain('Username: alice');
    expect(s).toMatch(/Android 12 and newer cannot create L2TP/);
  });
});

describe('server address', () => {
  it('--server wins; 0.0.0.0 without --server is a clear error', () => {
    expect(resolveServer('vpn.example.net', '0.0.0.0')).toBe('vpn.example.net');
    expect(resolveServer(undefined, '203.0.113.1')).toBe('203.0.113.1');
    expect(() => resolveServer(undefined, '0.0.0.0')).toThrow(/--server/);
  });
  it('NAT detection', () => {
    expect(isPrivateIPv4('10.1.2.3')).toBe(true);
    expect(isPrivateIPv4('172.16.0.1')).toBe(true);
    expect(isPrivateIPv4('172.32.0.1')).toBe(false);
    expect(isPrivateIPv4('192.168.0.1')).toBe(true);
    expect(isPrivateIPv4('8.8.8.8')).toBe(false);
    expect(serverBehindNat('203.0.113.1', '0.0.0.0')).toBe(false);
    expect(serverBehindNat('203.0.113.1', '192.168.1.2')).toBe(true);
    expect(serverBehindNat('203.0.113.1', '198.51.100.1')).toBe(true);
    expect(serverBehindNat('203.0.113.1', '203.0.113.1')).toBe(false);
  });
});

describe('l2tpsec profile (CLI)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'l2tpsec-profile-'));
    await writeFile(join(dir, 'l2tpsec.toml'), '[server]\nlisten = "0.0.0.0"\n[ipsec]\npsk = "Zx9-long-enough-psk-value"\n');
    const store = new UserStore();
    store.add('alice', 'pw');
    await saveUsers(join(dir, 'users.toml'), store);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes the profile with --out, mode 0600', async () => {
    const out = join(dir, 'alice.mobileconfig');
    const code = await main(['profile', 'apple', 'alice', '--config', join(dir, 'l2tpsec.toml'), '--server', 'vpn.example.net', '--out', out]);
    expect(code).toBe(0);
    const vpn = dict((dict(parsePlist(await readFile(out, 'utf8')))['PayloadContent'] as PV[])[0]);
    expect(dict(vpn['PPP'])['CommRemoteAddress']).toBe('vpn.example.net');
    expect((await stat(out)).mode & 0o777).toBe(0o600);
  });

  it('refuses an unknown user and a wildcard listen address without --server', async () => {
    const cfg = join(dir, 'l2tpsec.toml');
    expect(await main(['profile', 'linux', 'mallory', '--config', cfg, '--server', 'h', '--out', join(dir, 'x')])).toBe(1);
    expect(await main(['profile', 'linux', 'alice', '--config', cfg, '--out', join(dir, 'y')])).toBe(1);
    // an unknown client kind is bad usage
    expect(await main(['profile', 'beos', 'alice', '--config', cfg, '--server', 'h', '--out', join(dir, 'z')])).toBe(2);
  });
});

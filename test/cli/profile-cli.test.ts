/**
 * `l2tpsec profile KIND USER [--type ikev2|l2tp]` run as a user runs it (the CLI in a
 * child process): IKEv2 by default when [ikev2] enabled, L2TP on request or when IKEv2 is
 * off, the CA taken from ca.crt next to the config, and the errors.
 */
import { spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from 'uqr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificates } from '../../src/daemon/certs.js';
import { makeBin } from './serve-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-profile-cli-'));
const bin = makeBin(dir);
const on = join(dir, 'on', 'l2tpsec.toml');
const off = join(dir, 'off', 'l2tpsec.toml');
const BASE = '[server]\nlisten = "0.0.0.0"\n[ipsec]\npsk = "Zx9-long-enough-psk-value"\n[control]\nsocket = ""\n';

function cli(args: string[], input = ''): { code: number | null; out: string; err: string } {
  const r = spawnSync(join(bin, 'l2tpsec'), args, { input, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** The VPN payload of a .mobileconfig, read by Python's plistlib. */
function vpnPayload(xml: string): { types: string[]; vpn: Record<string, unknown> } {
  const py = spawnSync('python3', ['-c', 'import plistlib,sys,json\nd=plistlib.loads(sys.stdin.buffer.read())\nc=d["PayloadContent"]\nprint(json.dumps({"types":[p["PayloadType"] for p in c],"vpn":{k:v for k,v in c[-1].items() if k!="IPSec"}}))'], { input: xml, encoding: 'utf8' });
  expect(py.stderr).toBe('');
  return JSON.parse(py.stdout) as { types: string[]; vpn: Record<string, unknown> };
}

beforeAll(() => {
  for (const [cfg, extra] of [
    [on, '[ikev2]\nenabled = true\n'],
    [off, ''],
  ] as const) {
    spawnSync('mkdir', ['-p', join(cfg, '..')]);
    writeFileSync(cfg, BASE + extra);
    expect(cli(['users', 'add', 'alice', '--config', cfg], 'a-long-password-1\n').code).toBe(0);
  }
  const r = cli(['cert', 'init', '--name', 'vpn.example.net', '--ip', '203.0.113.5', '--config', on]);
  expect(r.code, r.err).toBe(0);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('l2tpsec profile --type', () => {
  it('IKEv2 by default when [ikev2] enabled: apple gets the IKEv2 payload and ca.crt', () => {
    const r = cli(['profile', 'apple', 'alice', '--config', on]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { types, vpn } = vpnPayload(r.out);
    expect(types).toEqual(['com.apple.security.root', 'com.apple.vpn.managed']);
    expect(vpn['VPNType']).toBe('IKEv2');
    expect(vpn['IKEv2']).toMatchObject({ RemoteAddress: 'vpn.example.net', RemoteIdentifier: 'vpn.example.net', AuthName: 'alice', ServerCertificateIssuerCommonName: 'l2tpsec CA vpn.example.net' });
    expect(r.out).not.toContain('Zx9-long-enough-psk-value');
  }, 60_000);

  it('--type l2tp writes the L2TP/IPsec profile as before', () => {
    const r = cli(['profile', 'apple', 'alice', '--type', 'l2tp', '--server', 'vpn.example.net', '--config', on]);
    expect(r.code).toBe(0);
    const { types, vpn } = vpnPayload(r.out);
    expect(types).toEqual(['com.apple.vpn.managed']);
    expect(vpn['VPNType']).toBe('L2TP');
    expect(vpn['PPP']).toEqual({ CommRemoteAddress: 'vpn.example.net', AuthName: 'alice' });
  }, 60_000);

  it('L2TP by default when IKEv2 is off; --type ikev2 then names the config file and the key to set', () => {
    const l2tp = cli(['profile', 'android', 'alice', '--server', 'h.example', '--config', off]);
    expect(l2tp.code).toBe(0);
    expect(l2tp.out).toContain('Type: L2TP/IPSec PSK');
    const r = cli(['profile', 'android', 'alice', '--type', 'ikev2', '--config', off]);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    const [line, hint] = r.err.trimEnd().split('\n');
    expect(line).toBe(`l2tpsec: IKEv2 is off in ${off}`);
    expect(hint).toMatch(new RegExp(`^hint: set enabled = true under \\[ikev2\\] in ${off.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  }, 60_000);

  it('an unknown --type is bad usage (exit 2)', () => {
    const r = cli(['profile', 'apple', 'alice', '--type', 'pptp', '--config', on]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/^l2tpsec: option '--type <type>' argument 'pptp' is invalid\. Allowed choices are ikev2, l2tp\./);
  }, 60_000);

  it('no such user: exit 1 and how to add one', () => {
    const r = cli(['profile', 'windows', 'mallory', '--config', on]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('no user "mallory"');
    expect(r.err).toContain('hint: add it with: l2tpsec users add mallory');
  }, 60_000);

  it('options that do not fit the type or the kind are bad usage', () => {
    expect(cli(['profile', 'apple', 'alice', '--sswan', '--config', on]).code).toBe(2);
    expect(cli(['profile', 'android', 'alice', '--type', 'l2tp', '--psk', '--server', 'h', '--config', on]).code).toBe(2);
    expect(cli(['profile', 'android', 'alice', '--type', 'l2tp', '--no-ca', '--server', 'h', '--config', on]).code).toBe(2);
  }, 60_000);
});

describe('l2tpsec profile: IKEv2 per device', () => {
  it('android --sswan --out: the .sswan file (0600) with ca.crt in it', () => {
    const out = join(dir, 'alice.sswan');
    const r = cli(['profile', 'android', 'alice', '--sswan', '--out', out, '--config', on]);
    expect(r.code).toBe(0);
    expect(r.err).toBe(`wrote ${out}\n`);
    expect(statSync(out).mode & 0o777).toBe(0o600);
    const j = JSON.parse(readFileSync(out, 'utf8')) as { type: string; remote: { cert: string; id: string }; local: { eap_id: string } };
    expect(j.type).toBe('ikev2-eap');
    const ca = new X509Certificate(readFileSync(join(on, '..', 'ca.crt')));
    expect(Buffer.from(j.remote.cert, 'base64').equals(Buffer.from(ca.raw))).toBe(true);
    expect(j.local.eap_id).toBe('alice');
  }, 60_000);

  it('android --psk: the PSK steps, identifier = user, the key by reference only', () => {
    const r = cli(['profile', 'android', 'alice', '--psk', '--config', on]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Type: IKEv2/IPSec PSK');
    expect(r.out).toContain('IPSec identifier: alice');
    expect(r.out).toContain('l2tpsec users add alice --ikev2-psk');
  }, 60_000);

  it('--no-ca leaves the CA out; --ca with a CA that did not sign the chain is refused', async () => {
    const noCa = cli(['profile', 'windows', 'alice', '--no-ca', '--config', on]);
    expect(noCa.code).toBe(0);
    expect(noCa.out).not.toContain('Import-Certificate');
    const other = await makeCertificates({ name: 'other.example' });
    const otherCa = join(dir, 'other-ca.crt');
    writeFileSync(otherCa, other.caCert);
    const r = cli(['profile', 'windows', 'alice', '--ca', otherCa, '--config', on]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${otherCa} (CN=l2tpsec CA other.example) did not sign the server's certificate chain`);
    expect(r.err).toContain('hint: --ca FILE names the CA that did, --no-ca');
  }, 60_000);

  it('--server that the certificate does not name: a warning (Windows and Android check it)', () => {
    const r = cli(['profile', 'linux', 'alice', '--server', 'other.example.net', '--config', on]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/^warning: other\.example\.net is not among the server certificate's names \(DNS:vpn\.example\.net, IP Address:203\.0\.113\.5\)/);
    expect(cli(['profile', 'linux', 'alice', '--server', '203.0.113.5', '--config', on]).err).toBe('');
  }, 60_000);

  it('without ca.crt the chain is taken to be publicly trusted, and it says so', () => {
    const caFile = join(on, '..', 'ca.crt');
    const saved = readFileSync(caFile);
    unlinkSync(caFile);
    try {
      const r = cli(['profile', 'apple', 'alice', '--config', on]);
      expect(r.code).toBe(0);
      expect(r.err).toContain('warning: no CA in the profile: there is no');
      expect(vpnPayload(r.out).types).toEqual(['com.apple.vpn.managed']);
    } finally {
      writeFileSync(caFile, saved);
    }
  }, 60_000);
});

/** The half-block rendering back to modules (true = dark): █ both light, ▀ top light, ▄ bottom light, space both dark. */
function modules(text: string): boolean[][] {
  const rows: boolean[][] = [];
  for (const line of text.split('\n').filter((l) => l.length > 0)) {
    const chars = [...line];
    for (const c of chars) expect(' ▀▄█').toContain(c);
    rows.push(chars.map((c) => c === ' ' || c === '▄'));
    rows.push(chars.map((c) => c === ' ' || c === '▀'));
  }
  return rows;
}

describe('l2tpsec profile --qr URL', () => {
  it('prints a QR code of exactly the URL (dark modules dark, finder patterns in three corners) after writing the file', () => {
    const url = 'https://vpn.example.net/p/alice.sswan';
    const out = join(dir, 'qr.sswan');
    const r = cli(['profile', 'android', 'alice', '--sswan', '--out', out, '--qr', url, '--config', on]);
    expect(r.code).toBe(0);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toHaveProperty('type', 'ikev2-eap');
    const [art, note] = r.out.split('\nScan it');
    expect(note).toBe(` on the device once ${out} is served at ${url}\n`);
    const grid = modules(art!);
    const { data, size } = encode(url, { ecc: 'M', border: 0 });
    expect(size).toBe(data.length);
    // the quiet zone: two light modules all round
    const inner = grid.slice(2, 2 + size).map((row) => row.slice(2, 2 + size));
    expect(grid[0]!.every((m) => !m) && grid[1]!.every((m) => !m)).toBe(true);
    expect(inner).toEqual(data);
    // a finder pattern: dark 7x7 ring, light ring, dark 3x3 centre
    const finder = (r0: number, c0: number): void => {
      for (let y = 0; y < 7; y++) {
        for (let x = 0; x < 7; x++) {
          const ring = y === 0 || y === 6 || x === 0 || x === 6;
          const centre = y >= 2 && y <= 4 && x >= 2 && x <= 4;
          expect(inner[r0 + y]![c0 + x], `finder at ${r0},${c0}: ${y},${x}`).toBe(ring || centre);
        }
      }
    };
    finder(0, 0);
    finder(0, size - 7);
    finder(size - 7, 0);
  }, 60_000);

  it('needs --out and an http(s) URL, and is refused for L2TP profiles (they hold the PSK)', () => {
    expect(cli(['profile', 'apple', 'alice', '--qr', 'https://h/p', '--config', on]).err).toContain('--qr needs --out FILE');
    expect(cli(['profile', 'apple', 'alice', '--qr', 'file:///etc/passwd', '--out', join(dir, 'q1'), '--config', on]).code).toBe(2);
    const l2tp = cli(['profile', 'apple', 'alice', '--type', 'l2tp', '--server', 'h', '--qr', 'https://h/p', '--out', join(dir, 'q2'), '--config', on]);
    expect(l2tp.code).toBe(2);
    expect(l2tp.err).toContain("an L2TP profile holds the group's pre-shared key");
  }, 60_000);
});

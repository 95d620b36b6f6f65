import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/daemon/config.js';
import { loadUsers } from '../src/daemon/users.js';

const ROOT = join(import.meta.dirname, '..');
const read = (p: string): string => readFileSync(join(ROOT, p), 'utf8');

/** Dockerfile instructions: comments dropped, "\" continuations joined. */
function dockerInstructions(text: string): Array<{ op: string; args: string }> {
  // comment lines go first (a "\" ending a comment continues nothing), then continuations join
  const joined = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ');
  return joined
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([A-Za-z]+)\s+(.*)$/.exec(l);
      if (!m) throw new Error(`not an instruction: ${l}`);
      return { op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, ' ') };
    });
}

type Y = string | Y[] | { [k: string]: Y };
/** A YAML subset parser (block maps, block lists of scalars or maps, plain/quoted scalars) — enough for compose.yml. */
function parseYaml(text: string): Y {
  const lines = text
    .split('\n')
    .map((raw) => raw.replace(/\s+#.*$/, '').replace(/^\s*#.*$/, ''))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  const scalar = (s: string): string => {
    const q = /^"(.*)"$/.exec(s) ?? /^'(.*)'$/.exec(s);
    return q ? q[1]! : s;
  };
  const block = (indent: number): Y => {
    const first = lines[i]!;
    if (first.text.startsWith('- ')) {
      const out: Y[] = [];
      while (i < lines.length && lines[i]!.indent === indent && lines[i]!.text.startsWith('- ')) {
        const item = lines[i]!.text.slice(2);
        if (/^[A-Za-z0-9_.-]+:( |$)/.test(item)) {
          // a map inside a list item: re-read it at the item's inner indent
          lines[i] = { indent: indent + 2, text: item };
          out.push(block(indent + 2));
        } else {
          out.push(scalar(item));
          i++;
        }
      }
      return out;
    }
    const out: { [k: string]: Y } = {};
    while (i < lines.length && lines[i]!.indent === indent) {
      const m = /^([A-Za-z0-9_.-]+):(?: (.*))?$/.exec(lines[i]!.text);
      if (!m) throw new Error(`bad YAML line: ${lines[i]!.text}`);
      if (m[1]! in out) throw new Error(`duplicate key ${m[1]}`);
      i++;
      if (m[2] !== undefined && m[2] !== '') out[m[1]!] = scalar(m[2]);
      else if (i < lines.length && lines[i]!.indent > indent) out[m[1]!] = block(lines[i]!.indent);
      else out[m[1]!] = '';
    }
    return out;
  };
  const root = block(0);
  if (i !== lines.length) throw new Error(`unparsed YAML from line: ${lines[i]!.text}`);
  return root;
}
const map = (v: Y | undefined): { [k: string]: Y } => {
  if (v === undefined || typeof v === 'string' || Array.isArray(v)) throw new Error('not a map');
  return v;
};
const list = (v: Y | undefined): Y[] => {
  if (!Array.isArray(v)) throw new Error('not a list');
  return v;
};

describe('docker/Dockerfile', () => {
  const ins = dockerInstructions(read('docker/Dockerfile'));
  const runs = ins.filter((x) => x.op === 'RUN').map((x) => x.args);
  it('builds on node:20-slim with nftables and iproute2, npm ci and the build', () => {
    // FROM ${BASE}, BASE an ARG before the first FROM whose default is node:20-slim
    const args = new Map(ins.slice(0, ins.findIndex((x) => x.op === 'FROM')).filter((x) => x.op === 'ARG').map((x) => x.args.split('=') as [string, string]));
    const froms = ins.filter((x) => x.op === 'FROM').map((x) => x.args.split(' ')[0]!.replace(/^\$\{(\w+)\}$/, (_, k: string) => args.get(k) ?? `unset ${k}`));
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toBe('node:20-slim');
    expect(runs.some((r) => /apt-get install[^&]*\bnftables\b/.test(r) && /apt-get install[^&]*\biproute2\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm ci\b/.test(r))).toBe(true);
    expect(runs.some((r) => /\bnpm run build\b/.test(r))).toBe(true);
  });
  it('exposes UDP 500 and 4500 and runs l2tpsec serve', () => {
    const expose = ins.filter((x) => x.op === 'EXPOSE').flatMap((x) => x.args.split(' '));
    expect(expose).toEqual(expect.arrayContaining(['500/udp', '4500/udp']));
    const cmd = ins.filter((x) => x.op === 'CMD').at(-1)!;
    expect(JSON.parse(cmd.args)).toEqual(['l2tpsec', 'serve', '--config', '/etc/l2tpsec/l2tpsec.toml']);
  });
  it('copies only paths that exist in the repository', () => {
    for (const c of ins.filter((x) => x.op === 'COPY' && !x.args.startsWith('--from'))) {
      const parts = c.args.split(' ');
      for (const src of parts.slice(0, -1)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
  });
});

describe('docker/compose.yml', () => {
  const doc = map(parseYaml(read('docker/compose.yml')));
  const services = map(doc['services']);
  it('runs the server with NET_ADMIN, /dev/net/tun, forwarding and UDP 500/4500', () => {
    const s = map(services['server']);
    expect(list(s['cap_add'])).toContain('NET_ADMIN');
    expect(list(s['devices']).some((d) => typeof d === 'string' && d.startsWith('/dev/net/tun'))).toBe(true);
    expect(list(s['sysctls'])).toContain('net.ipv4.ip_forward=1');
    expect(list(s['ports'])).toEqual(expect.arrayContaining(['500:500/udp', '4500:4500/udp']));
    expect(map(s['build'])['dockerfile']).toBe('docker/Dockerfile');
  });
  it('runs a privileged strongSwan/xl2tpd/pppd client on the same private network, aimed at the server', () => {
    const s = map(services['server']);
    const c = map(services['client']);
    expect(c['privileged']).toBe('true');
    expect(map(c['build'])['context']).toBe('client');
    const serverAddr = map(map(s['networks'])['vpnnet'])['ipv4_address'];
    expect(map(map(c['networks'])['vpnnet'])).toBeDefined();
    expect(map(c['environment'])['VPN_SERVER']).toBe(serverAddr);
    expect(map(c['environment'])['VPN_PSK']).toBe(map(s['environment'])['L2TPSEC_PSK']);
    const client = read('docker/client/Dockerfile');
    for (const pkg of ['strongswan-charon', 'strongswan-swanctl', 'xl2tpd', 'ppp']) expect(client).toContain(pkg);
  });
  it('`docker compose config` accepts it when a compose plugin exists', () => {
    const v = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
    if (v.status !== 0) return; // no compose plugin here (checked at write time: none on this machine)
    const r = spawnSync('docker', ['compose', '-f', join(ROOT, 'docker/compose.yml'), 'config', '-q'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });
});

describe('entrypoints', () => {
  it('both shell scripts parse (sh -n)', () => {
    for (const f of ['docker/entrypoint.sh', 'docker/client/entrypoint.sh', 'docker/build-image.sh']) {
      const r = spawnSync('sh', ['-n', join(ROOT, f)], { encoding: 'utf8' });
      expect(r.stderr, f).toBe('');
      expect(r.status, f).toBe(0);
    }
  });

  it('the server entrypoint writes a config the daemon accepts, with an odd PSK, and adds the user', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'l2tpsec-docker-'));
    try {
      const bin = join(dir, 'bin');
      spawnSync('mkdir', [bin]);
      writeFileSync(join(bin, 'l2tpsec'), `#!/bin/sh\nexec ${join(ROOT, 'node_modules/.bin/tsx')} ${join(ROOT, 'src/cli/main.ts')} "$@"\n`);
      chmodSync(join(bin, 'l2tpsec'), 0o755);
      const cfg = join(dir, 'etc/l2tpsec.toml');
      const psk = `a"b\\c $d 'e' long-enough`;
      const r = spawnSync('sh', [join(ROOT, 'docker/entrypoint.sh'), 'echo', 'started'], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { PATH: `${bin}:${process.env['PATH'] ?? ''}`, L2TPSEC_CONFIG: cfg, L2TPSEC_PSK: psk, L2TPSEC_USER: 'demo', L2TPSEC_PASSWORD: 'a-long-enough-password' },
      });
      expect(r.stderr).toBe('');
      expect(r.stdout.trim().split('\n').at(-1)).toBe('started');
      const c = loadConfig(cfg);
      expect(c.ipsec.psk).toBe(psk);
      expect((await loadUsers(c.ppp.usersFile)).has('demo')).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

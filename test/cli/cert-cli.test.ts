import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { checkConfig, hostCheckEnv } from '../../src/daemon/check.js';
import { tempDir } from '../tmpdir.js';

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (d: Buffer) => (o += d.toString()));
  err.on('data', (d: Buffer) => (e += d.toString()));
  const code = await main(argv, { out, err });
  return { code, out: o, err: e };
}

describe('l2tpsec cert init', () => {
  it('writes the four files next to the config, names the CA for the devices, and the [ikev2] lines the config lacks', async () => {
    const dir = tempDir('l2tpsec-cert-cli-');
    const file = join(dir, 'l2tpsec.toml');
    writeFileSync(file, '[ipsec]\npsk = "q8Vf3kT9zLm2Rw7xNc4P"\n');
    const r = await cli(['cert', 'init', '--name', 'vpn.example.net', '--ip', '198.51.100.1', '--ip', '192.0.2.1', '--days', '400', '--config', file]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`Give the devices ${join(dir, 'ca.crt')}`);
    expect(r.out).toContain('for vpn.example.net, 198.51.100.1, 192.0.2.1, valid 400 days');
    expect(r.out).toContain(`To serve IKEv2, put this in ${file}:\n[ikev2]\nenabled = true\ncertificate = "server.crt"\nprivate_key = "server.key"\n`);
    const server = new X509Certificate(readFileSync(join(dir, 'server.crt')));
    expect(server.subjectAltName).toBe('DNS:vpn.example.net, IP Address:198.51.100.1, IP Address:192.0.2.1');
    expect(new Date(server.validTo).getTime() - new Date(server.validFrom).getTime()).toBe(400 * 86400_000);
    expect(statSync(join(dir, 'ca.key')).mode & 0o777).toBe(0o600);
    // the printed lines, appended, make a config check takes
    writeFileSync(file, readFileSync(file, 'utf8') + r.out.slice(r.out.indexOf('[ikev2]')));
    const c = checkConfig(readFileSync(file, 'utf8'), file, hostCheckEnv);
    expect(c.config!.ikev2.enabled).toBe(true);
    expect(c.problems.filter((p) => p.key?.startsWith('ikev2'))).toEqual([]);

    const before = readFileSync(join(dir, 'ca.key'), 'utf8');
    const again = await cli(['cert', 'init', '--name', 'vpn.example.net', '--config', file]);
    expect(again.code).toBe(1);
    expect(again.err).toMatch(/already exist: not overwritten\nhint: .*--force\n$/);
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).toBe(before);
    const forced = await cli(['cert', 'init', '--name', 'vpn.example.net', '--force', '--config', file]);
    expect(forced.code).toBe(0);
    // enabled already: no lines to add
    expect(forced.out).not.toContain('To serve IKEv2');
    expect(readFileSync(join(dir, 'ca.key'), 'utf8')).not.toBe(before);
  }, 30_000);

  it('bad usage: no --name, a bad name, a bad address, too many days (exit 2)', async () => {
    const file = join(tempDir('l2tpsec-cert-cli-'), 'l2tpsec.toml');
    const cases: Array<[string[], RegExp]> = [
      [[], /required option '--name <host>'/],
      [['--name', 'not a name'], /--name must be a host name/],
      [['--name', 'a.example', '--ip', '1.2.3'], /--ip must be an IPv4 address/],
      [['--name', 'a.example', '--days', '826'], /--days must be 1 to 825: Apple/],
      [['--name', 'a.example', '--days', '0'], /--days must be a whole number of at least 1/],
      [['--name', 'a.example', '--key-bits', '1024'], /--key-bits must be a whole number of at least 2048/],
      [['--name', 'a.example', '--key-bits', '2500'], /--key-bits must be 2048, 3072, 4096/],
    ];
    for (const [args, msg] of cases) {
      const r = await cli(['cert', 'init', ...args, '--config', file]);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
    }
    expect(() => statSync(join(file, '..', 'ca.crt'))).toThrow();
  });
});

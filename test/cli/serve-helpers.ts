/** Helpers for tests that run `l2tpsec serve` as a real process (as the unit and the image do). */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

/** A directory with an executable `l2tpsec` that runs src/cli/main.ts (put it first on PATH). */
export function makeBin(dir: string): string {
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const loader = join(ROOT, 'node_modules/tsx/dist/loader.mjs');
  writeFileSync(join(bin, 'l2tpsec'), `#!/bin/sh\nexec "${process.execPath}" --import "${loader}" "${join(ROOT, 'src/cli/main.ts')}" "$@"\n`);
  chmodSync(join(bin, 'l2tpsec'), 0o755);
  return bin;
}

/**
 * argv that runs `cmd` inside network namespace `ns` with a private /run, empty or
 * `runDir` (the control socket and the forwarding state file stay out of the host's /run).
 */
export function inNetns(ns: string, cmd: string[], runDir?: string): string[] {
  // runDir: a directory bound on /run instead of an empty tmpfs (kept from one run to the next)
  const mount = runDir ? `mount --bind '${runDir}' /run` : 'mount -t tmpfs tmpfs /run';
  return ['ip', 'netns', 'exec', ns, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', `${mount} && exec "$@"`, 'sh', ...cmd];
}

export interface Running {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Resolves with the exit code (null: killed by a signal). */
  exited: Promise<number | null>;
  /** Resolves once stdout matches `re` (rejects after `ms`, or when the process ends first). */
  waitFor(re: RegExp, ms?: number): Promise<void>;
}

export function run(argv: string[], env: Record<string, string | undefined>): Running {
  const child = spawn(argv[0]!, argv.slice(1), { env: env as NodeJS.ProcessEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  let code: number | null | undefined;
  const exited = new Promise<number | null>((r) =>
    child.on('close', (c) => {
      code = c;
      r(c);
    }),
  );
  const waitFor = async (re: RegExp, ms = 30_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!re.test(out)) {
      if (code !== undefined) throw new Error(`exited (${code}) before ${re}: stdout=${out} stderr=${err}`);
      if (Date.now() > end) throw new Error(`timeout waiting for ${re}: stdout=${out} stderr=${err}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return { child, out: () => out, err: () => err, exited, waitFor };
}

/** A default route in `ns` (a veth pair inside it as the uplink), so out_interface = "auto" resolves. */
export function addUplink(ns: string, exec: (argv: string[]) => void): void {
  exec(['ip', '-n', ns, 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'up1']);
  exec(['ip', '-n', ns, 'address', 'add', '192.0.2.2/24', 'dev', 'up0']);
  exec(['ip', '-n', ns, 'link', 'set', 'up1', 'up']);
  exec(['ip', '-n', ns, 'link', 'set', 'up0', 'up']);
  exec(['ip', '-n', ns, 'route', 'add', 'default', 'via', '192.0.2.1']);
}

/**
 * The server under test: l2tpsec's own CLI, run in the server namespace. The harness
 * writes the config (the project's contract format) and adds users through the CLI;
 * when the CLI is missing or fails, that is recorded and the scenario simply reaches
 * no server stage (nothing is stubbed).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync, appendFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SERVER_ADDR, type Net } from './netns.js';
import { run, startBackground, stopBackground, waitFor, sleep, type Background } from './util.js';

/** A user of the run: a password (EAP-MSCHAPv2, PPP) and an IKEv2 pre-shared key of their own. */
export interface InteropUser {
  name: string;
  password: string;
  ikev2Psk: string;
}

export interface ServerSetup {
  repo: string;
  dir: string;
  config: string;
  psk: string;
  users: InteropUser[];
  /** The daemon's control socket ([control] socket) for this run. */
  controlSocket: string;
  /** Where the daemon serves /metrics ([metrics] listen), inside the server namespace. */
  metricsListen: string;
  /** The CA that `l2tpsec cert init` made (PEM, '' when it failed): the IKEv2 clients trust it and nothing else. */
  caPem: string;
  /** Another CA (another `cert init`, in server/other-ca/): for clients that must NOT trust the server. */
  otherCaPem: string;
  /** The root CA of the big chain (`cert init --key-bits 4096 --intermediate` in server/big-chain/, made when a scenario first needs it). */
  bigChainCaPem: string;
  /** What the server certificate carries and the IKEv2 clients ask for (remote.id): the name given to `cert init`. */
  ikev2Id: string;
  /** What went wrong while preparing (missing CLI, failed `users add`). */
  notes: string[];
  cliPresent: boolean;
}

export const METRICS_LISTEN = '127.0.0.1:9810';
/** The server certificate's name (SAN dNSName; `cert init --name`), also the config's hostname. */
export const IKEV2_NAME = 'vpn.example.net';

/** Where the big chain's files are, relative to the server's folder. */
export const BIG_CHAIN_DIR = 'big-chain';

/** `ikev2`: serve IKEv2 too (scenarios with an IKEv2 client), with the chain `cert init` wrote (in `certDir` when given, relative to the config). */
export function serverConfigText(s: Pick<ServerSetup, 'psk' | 'controlSocket' | 'metricsListen'>, pool = '10.40.0.0/24', timers?: { dpdIdle: number; helloInterval: number }, ikev2 = false, certDir = '', childLifetime?: number, ikeLifetime?: number): string {
  const psk = s.psk;
  const ipsecTimers =
    (timers ? `dpd_idle = ${timers.dpdIdle}\n` : '') + (childLifetime !== undefined ? `child_lifetime_max = ${childLifetime}\n` : '') + (ikeLifetime !== undefined ? `ike_lifetime_max = ${ikeLifetime}\n` : '');
  const l2tp = timers ? `[l2tp]\nhello_interval = ${timers.helloInterval}\n` : '';
  const at = certDir ? `${certDir}/` : '';
  const v2 = ikev2 ? `[ikev2]\nenabled = true\ncertificate = "${at}server.crt"\nprivate_key = "${at}server.key"\n` : '';
  return `[server]
listen = "${SERVER_ADDR}"
hostname = "${IKEV2_NAME}"
[ipsec]
psk = "${psk}"
${ipsecTimers}${l2tp}[ppp]
pool = "${pool}"
dns = ["10.40.0.1"]
users_file = "users.toml"
max_sessions_per_user = 2
idle_timeout = 3600
[tun]
name = "l2stun0"
[nat]
masquerade = true
out_interface = "auto"
[control]
socket = "${s.controlSocket}"
[metrics]
listen = "${s.metricsListen}"
${v2}`;
}

function cliArgs(repo: string, args: string[]): string[] {
  return ['--import', 'tsx', join(repo, 'src/cli/main.ts'), ...args];
}

/**
 * The server's folder in the run's artifacts (config, users file, history); the control
 * socket is a short path of its own (a Unix socket path has at most 107 bytes).
 */
export async function prepareServer(repo: string, runDir: string, psk: string, users: InteropUser[], controlSocket: string): Promise<ServerSetup> {
  const dir = join(runDir, 'server');
  mkdirSync(dir, { recursive: true });
  const config = join(dir, 'l2tpsec.toml');
  const setup: ServerSetup = { repo, dir, config, psk, users, controlSocket, metricsListen: METRICS_LISTEN, caPem: '', otherCaPem: '', bigChainCaPem: '', ikev2Id: IKEV2_NAME, notes: [], cliPresent: existsSync(join(repo, 'src/cli/main.ts')) };
  writeFileSync(config, serverConfigText(setup));
  if (!setup.cliPresent) {
    setup.notes.push('src/cli/main.ts does not exist: no server to start, no users added');
    return setup;
  }
  // the IKEv2 side's CA and server certificate (name and the server's address as SANs)
  const ci = await cli(setup, ['cert', 'init', '--name', IKEV2_NAME, '--ip', SERVER_ADDR]);
  const ca = join(dir, 'ca.crt');
  if (ci.code === 0 && existsSync(ca)) setup.caPem = readFileSync(ca, 'utf8');
  else setup.notes.push(`cert init failed (${ci.timedOut ? 'timeout' : `exit ${ci.code}`}): ${ci.out.slice(0, 2000)}`);
  const otherDir = join(dir, 'other-ca');
  mkdirSync(otherDir, { recursive: true });
  const oc = await run(process.execPath, cliArgs(repo, ['cert', 'init', '--name', IKEV2_NAME, '--ip', SERVER_ADDR, '--config', join(otherDir, 'l2tpsec.toml')]), { cwd: repo, timeoutMs: 90_000, allowFail: true });
  if (oc.code === 0 && existsSync(join(otherDir, 'ca.crt'))) setup.otherCaPem = readFileSync(join(otherDir, 'ca.crt'), 'utf8');
  else setup.notes.push(`cert init of the other CA failed (exit ${String(oc.code)}): ${(oc.stdout + oc.stderr).slice(0, 2000)}`);
  for (const u of users) {
    const r = await addUser(setup, u);
    if (r.code !== 0) setup.notes.push(`users add ${u.name} failed (${r.timedOut ? 'timeout' : `exit ${r.code}`}): ${r.out.slice(0, 2000)}`);
  }
  return setup;
}

/**
 * The big chain (once per run, when a scenario first needs it): `cert init --key-bits 4096
 * --intermediate` in server/big-chain/ (the project's own CLI; three RSA 4096 keys take a
 * few seconds). Returns a note when it failed (the client then trusts nothing).
 */
export async function prepareBigChain(setup: ServerSetup): Promise<string | undefined> {
  if (setup.bigChainCaPem !== '') return undefined;
  const d = join(setup.dir, BIG_CHAIN_DIR);
  mkdirSync(d, { recursive: true });
  const r = await run(process.execPath, cliArgs(setup.repo, ['cert', 'init', '--name', IKEV2_NAME, '--ip', SERVER_ADDR, '--key-bits', '4096', '--intermediate', '--force', '--config', join(d, 'l2tpsec.toml')]), { cwd: setup.repo, timeoutMs: 180_000, allowFail: true });
  if (r.code === 0 && existsSync(join(d, 'ca.crt'))) {
    setup.bigChainCaPem = readFileSync(join(d, 'ca.crt'), 'utf8');
    return undefined;
  }
  return `cert init --key-bits 4096 --intermediate failed (exit ${String(r.code)}): ${(r.stdout + r.stderr).slice(0, 2000)}`;
}

export interface CliResult {
  code: number | null;
  timedOut: boolean;
  stdout: string;
  /** stdout and stderr together, trimmed. */
  out: string;
}

/** `l2tpsec ARGS --config CONFIG` on the host (the control socket is a file, reachable from any namespace). */
export async function cli(s: ServerSetup, args: string[], input?: string): Promise<CliResult> {
  const r = await run(process.execPath, cliArgs(s.repo, [...args, '--config', s.config]), {
    cwd: s.repo,
    ...(input !== undefined ? { input } : {}),
    timeoutMs: 90_000,
    allowFail: true,
  });
  return { code: r.code, timedOut: r.timedOut, stdout: r.stdout, out: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * `users add NAME --ikev2-psk-file FILE` with the password on stdin, as an administrator
 * would: the key file is a private temporary one (not in the artifacts), removed after.
 */
export async function addUser(s: ServerSetup, u: InteropUser): Promise<CliResult> {
  const keyDir = join(tmpdir(), `l2s-key-${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(keyDir, { mode: 0o700 });
  const keyFile = join(keyDir, 'ikev2.psk');
  writeFileSync(keyFile, `${u.ikev2Psk}\n`, { mode: 0o600 });
  try {
    return await cli(s, ['users', 'add', u.name, '--ikev2-psk-file', keyFile], `${u.password}\n`);
  } finally {
    rmSync(keyDir, { recursive: true, force: true });
  }
}

export interface RunningServer {
  proc: Background | null;
  notes: string[];
}

async function udp500Bound(net: Net): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', net.server, 'ss', '-H', '-uln', 'sport = :500'], { allowFail: true });
  return r.stdout.trim() !== '';
}

/** Start `l2tpsec serve` in the server namespace; ready when UDP 500 is bound (or it exited). */
export async function startServer(net: Net, s: ServerSetup, logFile: string, readyTimeoutMs: number): Promise<RunningServer> {
  const notes: string[] = [...s.notes];
  appendFileSync(logFile, s.notes.map((n) => `[harness] ${n}\n`).join(''));
  if (!s.cliPresent) return { proc: null, notes };
  for (const extra of [['--log-format', 'json'], []]) {
    const args = ['netns', 'exec', net.server, process.execPath, ...cliArgs(s.repo, ['serve', '--config', s.config, ...extra])];
    appendFileSync(logFile, `[harness] starting: ip ${args.join(' ')}\n`);
    const proc = startBackground('l2tpsec serve', 'ip', args, logFile, s.repo);
    const ready = await waitFor(async () => proc.hasExited() || (await udp500Bound(net)), readyTimeoutMs, 500);
    if (ready && !proc.hasExited()) return { proc, notes };
    if (!proc.hasExited()) {
      notes.push(`server did not bind UDP 500 within ${readyTimeoutMs / 1000}s (kept running)`);
      return { proc, notes };
    }
    const code = await proc.exited;
    await sleep(100);
    const text = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
    if (extra.length > 0 && /log-format/i.test(text.slice(-4000))) {
      appendFileSync(logFile, '[harness] --log-format rejected: retrying without it\n');
      continue;
    }
    notes.push(`server exited (${String(code)}) before binding UDP 500; see server.log`);
    return { proc: null, notes };
  }
  return { proc: null, notes };
}

export async function stopServer(rs: RunningServer): Promise<void> {
  if (rs.proc) await stopBackground(rs.proc, 8000);
}

/**
 * Whole-path benchmark (`npm run bench -- path`, as root): the real daemon
 * (`l2tpsec serve`, with its TUN device and nftables masquerade) in a network
 * namespace of its own, clients made of the in-repo peers in another, and an
 * "internet" namespace behind the daemon's masquerade:
 *
 *   client ns  <bench>c0 10.201.0.2 ── 10.201.0.1 <bench>s0   server ns (daemon, TUN)
 *   (clients bind any of 10.201.128.0/17)       <bench>s1 10.202.0.1 ── 10.202.0.2 <bench>i0   internet ns
 *
 * Path part: one client completes IKE (Main + Quick Mode, NAT-T on 4500), L2TP
 * and PPP over real UDP; then
 * - upstream: a C blaster sends that client's ESP-in-UDP (a pre-encrypted pool of
 *   1400-byte inner IPv4 packets, sequence number and ICV rewritten per packet)
 *   and a sink in the internet namespace counts what arrives through TUN,
 *   forwarding and masquerade;
 * - downstream: a C blaster in the internet namespace answers on that masqueraded
 *   flow and a receiver on the client's port counts the ESP datagrams the daemon
 *   encrypted;
 * - the limit: a C recvmmsg/sendmmsg forwarder (bench/fwd.c) in the server
 *   namespace, on the daemon's core, between the same veths, each way.
 * The daemon and the forwarder are pinned to CPU 0, generators and sinks to CPU 1.
 * Daemon CPU per packet comes from /proc/<pid>/stat (utime + stime).
 *
 * Scale part: K clients (each its own address) do the whole handshake, for
 * modp1024 and modp2048; handshakes/s, daemon CPU per handshake, RSS per
 * connected session, then every client hangs up at once (LCP Terminate, CDN,
 * StopCCN, Delete) and the daemon's counters say how many arrived.
 *
 * Writes bench/results/path-<timestamp>.json and bench/results/latest-path.json.
 * Environment: PATH_BENCH_WINDOW_MS (4000), PATH_BENCH_WARMUP_MS (1000),
 * PATH_BENCH_SCALE ("100,1000"; "100,1000,10000" when memory allows; "0" skips),
 * PATH_BENCH_WARM ("0": no second wave of the same clients on the warm daemon in the scale part),
 * PATH_BENCH_RPS (1: the server's receive processing on its own CPU, see Lab.setUp),
 * PATH_BENCH_PROF (1: a V8 CPU profile of each daemon run in bench/results/prof/),
 * PATH_BENCH_HEAPSNAP (1: a V8 heap snapshot of the daemon with every scale client connected, in bench/results/prof/;
 * PATH_BENCH_HEAPSNAP_WAIT_MS, 20000, for it to be written),
 * PATH_BENCH_IO ("native": the daemon's data path for the path part; a list such as
 * "dgram-jshmac,native,dgram-jshmac,native" runs the path part once per entry, interleaved, rows tagged
 * with `io`. An entry is "native" or "dgram" (the NAT-T port's I/O, L2TPSEC_UDP_IO), then optionally
 * "-nogso" (no UDP GSO, L2TPSEC_UDP_GSO=0), "-jshmac" (HMAC and AES-GCM per packet in node:crypto, L2TPSEC_ESP_CRYPTO=js)
 * and "-notunoff" (one TUN write per packet, no coalescing: L2TPSEC_TUN_OFFLOAD=0);
 * "dgram-jshmac" is the path before batch I/O),
 * PATH_BENCH_DAEMON_ROOTS ("."; e.g. "/tmp/old,.": the path and scale parts once per source tree, interleaved, rows tagged with `tree`),
 * PATH_BENCH_TSX (1: run the daemon's sources through tsx; default: build dist/ with tsc and run that, as installed,
 * with the node flags of its shebang line),
 * PATH_BENCH_PARTS ("path,scale"), PATH_BENCH_GROUPS ("2,14": modp1024, modp2048; also 5, 19, 20: modp1536, ecp256, ecp384), PATH_BENCH_DEBUG (print the daemon's counters that moved while the clients left),
 * PATH_BENCH_KEEP_LOGS (1: keep the daemon's and the clients' logs, as after a failure),
 * PATH_BENCH_LOG_LEVEL (the daemon's log.level, default warn).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { cpus, freemem, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { controlRequest } from '../src/cli/client.js';
import { ntPasswordHash } from '../src/ppp/mschapv2.js';
import type { ClientAddr, ClientCmd, ClientReply } from './path-client.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = dirname(HERE);
const WINDOW_MS = Number(process.env.PATH_BENCH_WINDOW_MS ?? 4000);
const WARMUP_MS = Number(process.env.PATH_BENCH_WARMUP_MS ?? 1000);
// the scale part's second wave on the warm daemon ("0" skips it)
const WARM = process.env.PATH_BENCH_WARM !== '0';
const SCALE = (process.env.PATH_BENCH_SCALE ?? '100,1000')
  .split(',')
  .map(Number)
  .filter((n) => Number.isInteger(n) && n > 0 && n <= 10000);
/** The IKEv1 groups the scale part can run (the responder's table), by the names rows carry. */
const GROUP_NAMES: Record<number, string> = { 2: 'modp1024', 5: 'modp1536', 14: 'modp2048', 19: 'ecp256', 20: 'ecp384' };
// PATH_BENCH_LOG_LEVEL: the daemon's log.level (default warn: the bench measures the protocol work, not writing
// a line per event; "info", the daemon's default, writes 18 lines per handshake: IKE, L2TP, PPP, the session)
const LOG_LEVEL = /^(debug|info|warn|error)$/.test(process.env.PATH_BENCH_LOG_LEVEL ?? '') ? process.env.PATH_BENCH_LOG_LEVEL! : 'warn';
const GROUPS = (process.env.PATH_BENCH_GROUPS ?? '2,14')
  .split(',')
  .map(Number)
  .filter((g) => g in GROUP_NAMES);
const PARTS = (process.env.PATH_BENCH_PARTS ?? 'path,scale').split(',');
const IOS = (process.env.PATH_BENCH_IO ?? 'native').split(',').filter((v) => /^(native|dgram)(-nogso)?(-jshmac)?(-notunoff)?$/.test(v));
// PATH_BENCH_DAEMON_ROOTS: the path and scale parts once per tree listed ("." is this one), interleaved, to compare two versions in one run;
// a tree written "<dir>+tsx" runs its sources through tsx, "<dir>+flags" with PATH_BENCH_NODE_FLAGS
const ROOTS = (process.env.PATH_BENCH_DAEMON_ROOTS ?? '.').split(',').map((r) => r.replace(/^\.(?=$|\+tsx$|\+flags$)/, ROOT));
const TSX = process.env.PATH_BENCH_TSX === '1';
const SIZE = 1400;
const POOL_COUNT = 512;
const DAEMON_CPU = '0';
const GEN_CPU = '1';

const SERVER_C = '10.201.0.1';
const CLIENT_C = '10.201.0.2';
const CLIENTS_NET = '10.201.128.0/17';
const SERVER_I = '10.202.0.1';
const INET = '10.202.0.2';
const SINK_PORT = 9000;
const INNER_SRC_PORT = 7000;
const FWD_UP_PORT = 9500;
const FWD_DOWN_PORT = 9501;
const METRICS_PORT = 9100;
const RPS = process.env.PATH_BENCH_RPS === '1';
const PROF_DIR = join(HERE, 'results', 'prof');
const PSK = 'whole path benchmark pre-shared key';
const USER = 'bench';
const PASSWORD = 'bench password';

export interface PathRow {
  direction: 'upstream' | 'downstream';
  size: number;
  /** Packets per second delivered (by the sink behind the daemon). */
  pps: number;
  /** Daemon CPU per delivered packet, microseconds. */
  cpu: number;
  /** Packets per second the C forwarder delivered on the same core and veths. */
  limit_pps: number;
  /** The C forwarder's CPU (utime + stime) per packet it delivered, µs: this machine's kernel path for one UDP datagram in and out. */
  limit_cpu: number;
  ratio: number;
  gbps: number;
  /** Datagrams per second the generator offered to the daemon. */
  offered_pps: number;
  /** Share of one core the daemon used in the window. */
  daemon_core: number;
  /** What one whole daemon core would deliver at this CPU per packet: 1e6 / cpu. */
  core_pps: number;
  /** The part of `cpu` spent in the kernel (stime: system calls, and the forwarding and NAT they run), µs per packet. */
  cpu_system: number;
  limit_offered_pps: number;
  /** The forwarder passed on (nearly) all the generator offered: the limit is at least this, the generator set it. */
  limit_generator_bound: boolean;
  /** Datagrams the kernel dropped at the daemon's UDP sockets (receive buffer full) in the window. */
  udp_rcvbuf_errors: number;
  /** The daemon's NAT-T port I/O (L2TPSEC_UDP_IO): native recvmmsg/sendmmsg or node:dgram. */
  io?: string;
  /** The daemon's source tree when PATH_BENCH_DAEMON_ROOTS compares trees (absent: this one). */
  tree?: string;
}

export interface ScaleRow {
  /** The daemon's source tree when PATH_BENCH_DAEMON_ROOTS compares trees (absent: this one). */
  tree?: string;
  group: string;
  clients: number;
  connected: number;
  failed: number;
  handshakes_per_s: number;
  cpu_ms_per_handshake: number;
  /** The kernel's share of it (system time: sendmmsg/recvmmsg and, on veths, the receiving side's softirq work). */
  cpu_system_ms_per_handshake: number;
  /** The JavaScript thread's share (the rest: V8's optimizing compiler and GC helper threads, libuv's pool). */
  cpu_main_thread_ms_per_handshake: number;
  /** Share of one core the daemon used while the clients connected. */
  daemon_core: number;
  /** CPU the client process spent per handshake (when it is near 1 core, the clients set the pace, not the daemon). */
  client_cpu_ms_per_handshake: number;
  rss_before_mib: number;
  rss_connected_mib: number;
  kib_per_session: number;
  rss_after_leave_mib: number;
  hangups: number;
  hangup_send_ms: number;
  cdn_rx: number;
  stopccn_rx: number;
  delete_rx: number;
  hangups_lost: number;
  udp_rcvbuf_errors: number;
  sessions_left: number;
  ike_sas_left: number;
  /**
   * A second wave: the same K clients connect again to the same daemon once the first wave
   * has left (PATH_BENCH_WARM=0 skips it). The first wave's CPU includes the one-time work of a
   * fresh process (V8 compiling the hot functions with its optimizing compiler, the heap
   * growing to its working size); the second shows the cost of a handshake in a warm daemon.
   */
  warm_connected?: number;
  warm_handshakes_per_s?: number;
  warm_cpu_ms_per_handshake?: number;
  warm_cpu_system_ms_per_handshake?: number;
  warm_cpu_main_thread_ms_per_handshake?: number;
}

const log = (msg: string): void => console.log(`[path] ${msg}`);

// ---- the namespaces and everything running in them -------------------------

class Lab {
  readonly tag = `b${process.pid}`;
  readonly nsC = `${this.tag}c`;
  readonly nsS = `${this.tag}s`;
  readonly nsI = `${this.tag}i`;
  readonly tun = `${this.tag}t`;
  readonly vethS1 = `${this.tag}s1`;
  readonly dir = mkdtempSync(join(tmpdir(), `${this.tag}-`));
  readonly procs = new Set<ChildProcess>();
  fwdBin = '';
  private cleaned = false;

  ip(...args: string[]): void {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.error?.message || '').trim()}`);
  }

  inNs(ns: string, args: string[]): string {
    const r = spawnSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${args.join(' ')} in ${ns}: ${(r.stderr || '').trim()}`);
    return r.stdout;
  }

  setUp(): void {
    for (const ns of [this.nsC, this.nsS, this.nsI]) this.ip('netns', 'add', ns);
    const [c0, s0, s1, i0] = [`${this.tag}c0`, `${this.tag}s0`, this.vethS1, `${this.tag}i0`];
    this.ip('link', 'add', c0, 'netns', this.nsC, 'type', 'veth', 'peer', 'name', s0, 'netns', this.nsS);
    this.ip('link', 'add', s1, 'netns', this.nsS, 'type', 'veth', 'peer', 'name', i0, 'netns', this.nsI);
    const n = (ns: string, ...a: string[]): void => this.ip('-n', ns, ...a);
    for (const ns of [this.nsC, this.nsS, this.nsI]) n(ns, 'link', 'set', 'lo', 'up');
    n(this.nsC, 'addr', 'add', `${CLIENT_C}/24`, 'dev', c0);
    n(this.nsC, 'link', 'set', c0, 'up');
    // every address of the /17 is local in the client namespace: one per simulated client
    n(this.nsC, 'addr', 'add', CLIENTS_NET, 'dev', 'lo');
    n(this.nsS, 'addr', 'add', `${SERVER_C}/24`, 'dev', s0);
    n(this.nsS, 'link', 'set', s0, 'up');
    n(this.nsS, 'route', 'add', CLIENTS_NET, 'via', CLIENT_C);
    n(this.nsS, 'addr', 'add', `${SERVER_I}/24`, 'dev', s1);
    n(this.nsS, 'link', 'set', s1, 'up');
    n(this.nsS, 'route', 'add', 'default', 'via', INET);
    n(this.nsI, 'addr', 'add', `${INET}/24`, 'dev', i0);
    n(this.nsI, 'link', 'set', i0, 'up');
    if (!RPS) return;
    // PATH_BENCH_RPS=1: receive processing where one NIC queue's interrupt would put it,
    // the server's side of both veths on the server's CPU and the peers' sides on theirs.
    // By default a veth receives on the sender's CPU: the generator pays for the server's
    // receive path (so a limit can be set by the generator), and datagrams the server
    // drops cost it nothing. With RPS the server's CPU pays for every datagram offered.
    const rps = (ns: string, dev: string, cpu: string): string => this.inNs(ns, ['sh', '-c', `echo ${(1 << Number(cpu)).toString(16)} > /sys/class/net/${dev}/queues/rx-0/rps_cpus`]);
    rps(this.nsS, s0, DAEMON_CPU);
    rps(this.nsS, s1, DAEMON_CPU);
    rps(this.nsC, c0, GEN_CPU);
    rps(this.nsI, i0, GEN_CPU);
  }

  buildFwd(): void {
    this.fwdBin = join(this.dir, 'fwd');
    const r = spawnSync('cc', ['-O2', '-Wall', '-Wno-deprecated-declarations', '-o', this.fwdBin, join(HERE, 'fwd.c'), '-lcrypto'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc bench/fwd.c failed (needs a C compiler and OpenSSL's libcrypto headers): ${r.stderr || r.error?.message}`);
  }

  spawnIn(ns: string, cpu: string, argv: string[], opts: { ipc?: boolean; logFile?: string; cwd?: string } = {}): ChildProcess {
    const stdio: Array<'ignore' | 'pipe' | 'inherit' | 'ipc'> = ['ignore', 'pipe', 'pipe'];
    if (opts.ipc) stdio.push('ipc');
    const p = spawn('ip', ['netns', 'exec', ns, 'taskset', '-c', cpu, ...argv], { cwd: opts.cwd ?? ROOT, stdio });
    this.procs.add(p);
    p.on('exit', () => this.procs.delete(p));
    if (opts.logFile) {
      const out: Buffer[] = [];
      const keep = (b: Buffer): void => {
        out.push(b);
        if (out.length > 2000) out.shift();
      };
      p.stdout?.on('data', keep);
      p.stderr?.on('data', keep);
      p.on('exit', () => {
        try {
          writeFileSync(opts.logFile!, Buffer.concat(out));
        } catch {
          // the directory is gone (cleaned up)
        }
      });
    }
    return p;
  }

  /** A C mode (sink, blast, fwd) to its end; resolves with its JSON line. */
  runC(ns: string, cpu: string, args: string[]): { proc: ChildProcess; done: Promise<Record<string, number>> } {
    const p = this.spawnIn(ns, cpu, [this.fwdBin, ...args]);
    let out = '';
    let err = '';
    p.stdout?.on('data', (b: Buffer) => (out += b.toString()));
    p.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    const done = new Promise<Record<string, number>>((resolve, reject) => {
      p.on('exit', (code) => {
        if (code !== 0) reject(new Error(`fwd ${args[0]} exited ${code}: ${err.trim()}`));
        else resolve(JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, number>);
      });
    });
    return { proc: p, done };
  }

  udpRcvbufErrors(): number {
    const snmp = this.inNs(this.nsS, ['cat', '/proc/net/snmp']).split('\n').filter((l) => l.startsWith('Udp:'));
    const names = snmp[0]?.split(/\s+/) ?? [];
    const vals = snmp[1]?.split(/\s+/) ?? [];
    return Number(vals[names.indexOf('RcvbufErrors')] ?? 0);
  }

  /** Kill what we started (by pid), delete the namespaces (their veths go with them), remove the temp dir. */
  cleanUpSync(keepLogs = false): void {
    if (this.cleaned) return;
    this.cleaned = true;
    for (const p of this.procs) {
      try {
        p.kill('SIGKILL');
      } catch {
        // gone already
      }
    }
    // a process still inside a namespace would keep its interfaces alive
    spawnSync('sleep', ['0.2']);
    for (const ns of [this.nsC, this.nsS, this.nsI]) spawnSync('ip', ['netns', 'del', ns]);
    if (keepLogs) console.error(`[path] logs kept in ${this.dir}`);
    else rmSync(this.dir, { recursive: true, force: true });
  }
}

// ---- the daemon --------------------------------------------------------------

class DaemonProc {
  proc: ChildProcess | undefined;
  pid = 0;
  readonly control: string;

  /** The tree whose src/cli/main.ts runs (PATH_BENCH_DAEMON_ROOTS compares trees). */
  constructor(
    private readonly lab: Lab,
    private readonly root = ROOT,
  ) {
    this.control = join(lab.dir, 'control.sock');
  }

  writeConfig(pool: string): string {
    const dir = this.lab.dir;
    writeFileSync(join(dir, 'users.toml'), `[users.${USER}]\nnt_hash = "${ntPasswordHash(PASSWORD).toString('hex')}"\n`);
    const first = pool.replace(/\.0\/\d+$/, '.1');
    const cfg = `# generated by bench/path.ts
[server]
listen = "${SERVER_C}"
hostname = "bench"
[ipsec]
psk = "${PSK}"
dpd_idle = 0
[l2tp]
hello_interval = 0
[ppp]
pool = "${pool}"
dns = ["${first}"]
users_file = "users.toml"
max_sessions_per_user = 0
idle_timeout = 0
[tun]
name = "${this.lab.tun}"
mtu = 1500
[nat]
masquerade = true
out_interface = "${this.lab.vethS1}"
[log]
level = "${LOG_LEVEL}"
[control]
socket = "${this.control}"
history_file = "${join(dir, 'history.jsonl')}"
[metrics]
listen = "${SERVER_C}:${METRICS_PORT}"
[limits]
half_open_total = 100000
ike_sas_total = 100000
ike_sas_per_identity = 100000
${readFileSync(join(this.root.replace(/\+(tsx|flags)$/, ''), 'src/daemon/config.ts'), 'utf8').includes('tunnels_total') ? 'tunnels_total = 65535\nsessions_total = 100000\n' : ''}`;
    const file = join(dir, 'l2tpsec.toml');
    writeFileSync(file, cfg);
    return file;
  }

  async start(pool: string, run: string): Promise<void> {
    const file = this.writeConfig(pool);
    rmSync(this.control, { force: true });
    // PATH_BENCH_PROF=1: a V8 CPU profile of each daemon run, written when it stops
    const prof = process.env.PATH_BENCH_PROF ? ['--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, `${process.pid}-${run}`)}`] : [];
    // PATH_BENCH_HEAPSNAP=1: SIGUSR2 writes a heap snapshot (the scale part asks for one with every client connected)
    if (process.env.PATH_BENCH_HEAPSNAP) prof.push('--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${join(PROF_DIR, `${process.pid}-${run}`)}`);
    // the daemon as installed (tsc's dist/, `npm run build`); PATH_BENCH_TSX=1 runs the sources through tsx instead
    // (tsx compiles with keepNames: every closure gets a name property, more memory and CPU than the installed daemon)
    const tsx = TSX || this.root.endsWith('+tsx');
    // PATH_BENCH_NODE_FLAGS: V8/node flags for the daemon (e.g. "--max-semi-space-size=2"); a tree written "<dir>+flags" gets them, others not
    const flags = process.env.PATH_BENCH_NODE_FLAGS && (this.root.endsWith('+flags') || !ROOTS.some((r) => r.endsWith('+flags'))) ? process.env.PATH_BENCH_NODE_FLAGS.split(' ') : [];
    prof.push(...flags);
    const main = tsx ? ['--import', 'tsx', 'src/cli/main.ts'] : ['dist/src/cli/main.js'];
    // as installed: the node flags of the command's shebang ("#!/usr/bin/env -S node --flag ..."), before any of the bench's
    const cwd = this.root.replace(/\+(tsx|flags)$/, '');
    const shebang = /^#!\/usr\/bin\/env -S node (.+)$/.exec(readFileSync(join(cwd, main[main.length - 1]!), 'utf8').split('\n', 1)[0] ?? '');
    const installed = shebang ? shebang[1]!.trim().split(/\s+/) : [];
    this.proc = this.lab.spawnIn(this.lab.nsS, DAEMON_CPU, [process.execPath, ...installed, ...prof, ...main, 'serve', '--config', file], {
      cwd: this.root.replace(/\+(tsx|flags)$/, ''),
      logFile: join(this.lab.dir, `daemon-${run}.log`),
    });
    this.pid = this.proc.pid ?? 0;
    const until = Date.now() + 30_000;
    for (;;) {
      if (this.proc.exitCode !== null) throw new Error(`the daemon exited (${this.proc.exitCode}); log: ${join(this.lab.dir, `daemon-${run}.log`)}`);
      try {
        await this.status();
        return;
      } catch {
        if (Date.now() > until) throw new Error('the daemon did not answer on its control socket within 30 s');
        await sleep(200);
      }
    }
  }

  status(): Promise<{ ikeSas: number; sessions: unknown[] }> {
    return controlRequest(this.control, 'GET', '/v1/status') as Promise<{ ikeSas: number; sessions: unknown[] }>;
  }

  /** utime + stime of the daemon (all its threads), in seconds. */
  cpuSeconds(): number {
    return procCpu(this.pid);
  }

  /** stime alone (the kernel's work in the daemon's system calls: UDP, TUN, forwarding, NAT), seconds. */
  systemSeconds(): number {
    return procCpu(this.pid, true);
  }

  /** utime + stime of the daemon's main (JavaScript) thread alone, seconds: the rest is V8's compiler and GC helpers and libuv's pool. */
  mainThreadSeconds(): number {
    return procCpu(this.pid, false, `/proc/${this.pid}/task/${this.pid}/stat`);
  }

  rssKiB(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    p.kill('SIGTERM');
    const gone = new Promise((r) => p.once('exit', r));
    if (!(await Promise.race([gone.then(() => true), sleep(5000).then(() => false)]))) p.kill('SIGKILL');
    await gone;
  }
}

// ---- the client process --------------------------------------------------------

class ClientProc {
  private proc: ChildProcess | undefined;
  private pending: ((r: ClientReply) => void) | undefined;

  constructor(private readonly lab: Lab) {}

  async start(): Promise<void> {
    const p = this.lab.spawnIn(this.lab.nsC, GEN_CPU, [process.execPath, '--import', 'tsx', 'bench/path-client.ts'], { ipc: true, logFile: join(this.lab.dir, 'client.log') });
    this.proc = p;
    const ready = new Promise<void>((resolve, reject) => {
      p.once('exit', (code) => reject(new Error(`client process exited (${code}); log: ${join(this.lab.dir, 'client.log')}`)));
      p.on('message', (m: ClientReply | { type: 'ready' } | { type: 'progress'; ok: number; failed: number; of: number }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'progress') log(`    ${m.ok} of ${m.of} connected${m.failed ? `, ${m.failed} failed` : ''}`);
        else this.pending?.(m);
      });
    });
    await ready;
  }

  async ask<T extends ClientReply['type']>(cmd: ClientCmd, want: T, ms = 600_000): Promise<Extract<ClientReply, { type: T }>> {
    const p = this.proc;
    if (!p) throw new Error('client not started');
    const r = await new Promise<ClientReply>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`client: no answer to ${cmd.cmd} in ${ms} ms`)), ms);
      this.pending = (m) => {
        clearTimeout(t);
        resolve(m);
      };
      p.send(cmd);
    });
    this.pending = undefined;
    if (r.type === 'error') throw new Error(`client: ${r.error}`);
    if (r.type !== want) throw new Error(`client: expected ${want}, got ${r.type}`);
    return r as Extract<ClientReply, { type: T }>;
  }

  async counters(): Promise<Record<string, number>> {
    const { text } = await this.ask({ cmd: 'metrics', url: `http://${SERVER_C}:${METRICS_PORT}/metrics` }, 'metrics', 30_000);
    const out: Record<string, number> = {};
    for (const m of text.matchAll(/^l2tpsec_counter_total\{name="([^"]+)"\} (\d+)$/gm)) out[m[1]!] = Number(m[2]);
    return out;
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    if (p.connected) p.send({ cmd: 'exit' });
    await Promise.race([new Promise((r) => p.once('exit', r)), sleep(2000)]);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function clientAddrs(n: number): ClientAddr[] {
  // 10.201.128.1 .. : skip .0 and .255 of each /24 so no address looks like a network or broadcast
  const out: ClientAddr[] = [];
  for (let i = 0; out.length < n; i++) {
    const b = 128 + Math.floor(i / 254);
    const c = (i % 254) + 1;
    out.push({ address: `10.201.${b}.${c}`, port500: 500, port4500: 4500 });
  }
  return out;
}

const round = (v: number, d = 1): number => Number(v.toFixed(d));

// ---- path part ------------------------------------------------------------------

interface Window {
  pps: number;
  offered: number;
  cpuSeconds: number;
  systemSeconds: number;
  seconds: number;
  rcvbufErrors: number;
}

/** Sink first, then the blaster; the daemon's CPU and the kernel's drop counter read over the sink's window. */
/** utime + stime (or stime alone) of a process from /proc/<pid>/stat, seconds; 0 when it is gone. */
function procCpu(pid: number | undefined, systemOnly = false, file = `/proc/${pid}/stat`): number {
  try {
    const stat = readFileSync(file, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((systemOnly ? 0 : Number(f[11])) + Number(f[12])) / 100; // fields 14 and 15; USER_HZ is 100 on Linux
  } catch {
    return 0;
  }
}

/** The C forwarder as the CPU measure() reads (its pid: `ip netns exec` and taskset exec into it). */
function fwdCpu(p: ChildProcess): { cpuSeconds(): number; systemSeconds(): number } {
  return { cpuSeconds: () => procCpu(p.pid), systemSeconds: () => procCpu(p.pid, true) };
}

async function measure(lab: Lab, d: { cpuSeconds(): number; systemSeconds(): number } | undefined, sink: { ns: string; args: string[] }, blast: { ns: string; args: string[] }): Promise<Window> {
  const s = lab.runC(sink.ns, GEN_CPU, ['sink', ...sink.args, String(WARMUP_MS), String(WINDOW_MS)]);
  await sleep(100);
  const b = lab.runC(blast.ns, GEN_CPU, ['blast', ...blast.args]);
  await sleep(WARMUP_MS);
  const c0 = d?.cpuSeconds() ?? 0;
  const k0 = d?.systemSeconds() ?? 0;
  const e0 = lab.udpRcvbufErrors();
  await sleep(WINDOW_MS);
  const c1 = d?.cpuSeconds() ?? 0;
  const k1 = d?.systemSeconds() ?? 0;
  const e1 = lab.udpRcvbufErrors();
  const [sr, br] = await Promise.all([s.done, b.done]);
  const seconds = sr.seconds || WINDOW_MS / 1000;
  const blastSeconds = (WARMUP_MS + WINDOW_MS + 500) / 1000;
  return { pps: (sr.packets ?? 0) / seconds, offered: (br.sent ?? 0) / blastSeconds, cpuSeconds: c1 - c0, systemSeconds: k1 - k0, seconds, rcvbufErrors: e1 - e0 };
}

async function pathPart(lab: Lab, client: ClientProc, root = ROOT): Promise<PathRow[]> {
  const d = new DaemonProc(lab, root);
  log('starting the daemon (TUN, NAT) in the server namespace on CPU 0');
  await d.start('10.64.0.0/24', 'path');
  const addr = clientAddrs(1);
  try {
    log('one client: IKE Main + Quick Mode (NAT-T), L2TP, PPP over real UDP');
    const c = await client.ask({ cmd: 'connect', server: SERVER_C, psk: PSK, user: USER, password: PASSWORD, group: 14, clients: addr, concurrency: 1 }, 'connected');
    if (c.ok !== 1) throw new Error(`the client did not connect: ${c.errors.join('; ')}`);
    const poolFile = join(lab.dir, 'esp-pool.bin');
    const p = await client.ask({ cmd: 'pool', index: 0, dst: INET, dstPort: SINK_PORT, srcPort: INNER_SRC_PORT, size: SIZE, count: POOL_COUNT, file: poolFile, punch: 3 }, 'pool');
    log(`connected in ${round(c.ms, 0)} ms; ESP pool of ${POOL_COUNT} datagrams of ${p.datagramSize} bytes (inner ${SIZE}-byte IPv4)`);
    // the downstream generator's datagram: a UDP payload that makes a SIZE-byte IPv4 packet
    const downFile = join(lab.dir, 'down-pool.bin');
    writePool(downFile, [Buffer.alloc(SIZE - 28, 0xa5)]);
    const upFile = join(lab.dir, 'up-raw-pool.bin');
    writePool(upFile, [Buffer.alloc(p.datagramSize, 0x3c)]);
    const blastMs = String(WARMUP_MS + WINDOW_MS + 500);

    log(`upstream through the daemon: ${WARMUP_MS} ms warm-up, ${WINDOW_MS} ms window`);
    const up = await measure(lab, d, { ns: lab.nsI, args: [INET, String(SINK_PORT)] }, {
      ns: lab.nsC,
      args: [p.address, '4500', SERVER_C, '4500', poolFile, blastMs, p.authKey, String(p.nextSeq + 8)],
    });
    log(`  ${Math.round(up.pps)} pkt/s delivered (offered ${Math.round(up.offered)})`);
    const st = await d.status();
    if (st.sessions.length !== 1) throw new Error(`the session is gone after the upstream run (${st.sessions.length} sessions)`);

    log('downstream through the daemon (replies on the masqueraded flow)');
    const down = await measure(lab, d, { ns: lab.nsC, args: [p.address, '4500'] }, {
      ns: lab.nsI,
      args: [INET, String(SINK_PORT), SERVER_I, String(INNER_SRC_PORT), downFile, blastMs],
    });
    log(`  ${Math.round(down.pps)} pkt/s delivered (offered ${Math.round(down.offered)})`);

    log('limit: C recvmmsg/sendmmsg forwarder on CPU 0, same veths, upstream');
    const fwdMs = String(WARMUP_MS + WINDOW_MS + 1500);
    const fu = lab.runC(lab.nsS, DAEMON_CPU, ['fwd', SERVER_C, String(FWD_UP_PORT), INET, String(SINK_PORT), fwdMs]);
    await sleep(200);
    const lu = await measure(lab, fwdCpu(fu.proc), { ns: lab.nsI, args: [INET, String(SINK_PORT)] }, { ns: lab.nsC, args: [CLIENT_C, '0', SERVER_C, String(FWD_UP_PORT), upFile, blastMs] });
    await fu.done;
    log(`  ${Math.round(lu.pps)} pkt/s`);
    log('limit: downstream');
    const fd = lab.runC(lab.nsS, DAEMON_CPU, ['fwd', SERVER_I, String(FWD_DOWN_PORT), p.address, '4500', fwdMs]);
    await sleep(200);
    const ld = await measure(lab, fwdCpu(fd.proc), { ns: lab.nsC, args: [p.address, '4500'] }, { ns: lab.nsI, args: [INET, '0', SERVER_I, String(FWD_DOWN_PORT), downFile, blastMs] });
    await fd.done;
    log(`  ${Math.round(ld.pps)} pkt/s`);

    const row = (direction: PathRow['direction'], w: Window, l: Window): PathRow => ({
      direction,
      size: SIZE,
      pps: Math.round(w.pps),
      cpu: round(w.pps > 0 ? (w.cpuSeconds * 1e6) / (w.pps * w.seconds) : 0, 2),
      limit_pps: Math.round(l.pps),
      limit_cpu: round(l.pps > 0 ? (l.cpuSeconds * 1e6) / (l.pps * l.seconds) : 0, 2),
      ratio: round(l.pps > 0 ? w.pps / l.pps : 0, 3),
      gbps: round((w.pps * SIZE * 8) / 1e9, 2),
      offered_pps: Math.round(w.offered),
      daemon_core: round(w.cpuSeconds / w.seconds, 2),
      core_pps: w.cpuSeconds > 0 ? Math.round((w.pps * w.seconds) / w.cpuSeconds) : 0,
      cpu_system: round(w.pps > 0 ? (w.systemSeconds * 1e6) / (w.pps * w.seconds) : 0, 2),
      limit_offered_pps: Math.round(l.offered),
      limit_generator_bound: l.pps >= 0.9 * l.offered,
      udp_rcvbuf_errors: w.rcvbufErrors,
    });
    const rows = [row('upstream', up, lu), row('downstream', down, ld)];
    for (const r of rows) {
      if (r.limit_generator_bound) log(`note: ${r.direction}, the C forwarder kept up with the generator: limit_pps is a lower bound (a busy or slow CPU ${GEN_CPU})`);
    }
    return rows;
  } finally {
    await d.stop();
  }
}

function writePool(file: string, datagrams: Buffer[]): void {
  const parts: Buffer[] = [];
  const head = Buffer.alloc(4);
  head.writeUInt32LE(datagrams.length);
  parts.push(head);
  for (const d of datagrams) {
    const l = Buffer.alloc(4);
    l.writeUInt32LE(d.length);
    parts.push(l, d);
  }
  writeFileSync(file, Buffer.concat(parts));
}

// ---- scale part -------------------------------------------------------------------

let scaleRunNo = 0;

async function scaleRun(lab: Lab, client: ClientProc, group: number, k: number, root = ROOT): Promise<ScaleRow> {
  const name = GROUP_NAMES[group] ?? `group${group}`;
  const d = new DaemonProc(lab, root);
  // a pool with room for every client (and the server's own address)
  const prefix = Math.min(24, 32 - Math.ceil(Math.log2(k + 3)));
  await d.start(`10.64.0.0/${prefix}`, `scale-${name}-${k}-${scaleRunNo++}`);
  // the K clients connect (200 at a time): what they got, the wall time, the daemon's CPU seconds (all, kernel, JavaScript thread)
  const wave = async () => {
    const c0 = d.cpuSeconds();
    const k0 = d.systemSeconds();
    const m0 = d.mainThreadSeconds();
    const t0 = performance.now();
    const c = await client.ask({ cmd: 'connect', server: SERVER_C, psk: PSK, user: USER, password: PASSWORD, group, clients: clientAddrs(k), concurrency: Math.min(k, 200) }, 'connected');
    return { c, wall: (performance.now() - t0) / 1000, cpu: d.cpuSeconds() - c0, sys: d.systemSeconds() - k0, main: d.mainThreadSeconds() - m0 };
  };
  try {
    await sleep(500);
    const rss0 = d.rssKiB();
    const { c, wall, cpu, sys, main } = await wave();
    await sleep(1000);
    const rss1 = d.rssKiB();
    if (process.env.PATH_BENCH_HEAPSNAP) {
      mkdirSync(join(PROF_DIR, `${process.pid}-scale-${name}-${k}-${scaleRunNo - 1}`), { recursive: true });
      process.kill(d.pid, 'SIGUSR2');
      await sleep(Number(process.env.PATH_BENCH_HEAPSNAP_WAIT_MS ?? 20_000));
    }
    log(`  ${name} K=${k}: ${c.ok} connected${c.failed ? ` (${c.failed} failed: ${c.errors.join('; ')})` : ''} in ${round(wall, 2)} s`);
    const before = await client.counters();
    const e0 = lab.udpRcvbufErrors();
    const h = await client.ask({ cmd: 'hangup' }, 'hungup');
    // the daemon ends sessions as the hang-ups arrive; give it a moment
    let st = await d.status();
    for (let i = 0; i < 50 && (st.sessions.length > 0 || st.ikeSas > 0); i++) {
      await sleep(200);
      st = await d.status();
    }
    const after = await client.counters();
    const e1 = lab.udpRcvbufErrors();
    const delta = (n: string): number => (after[n] ?? 0) - (before[n] ?? 0);
    await sleep(500);
    const rss2 = d.rssKiB();
    const cdn = delta('l2tp.rx.CDN');
    const stop = delta('l2tp.rx.StopCCN');
    // the Informational with both Deletes is the only IKE message on 4500 while they leave (DPD is off)
    const del = delta('udp.rx.ike-natt');
    if (process.env.PATH_BENCH_DEBUG) log(JSON.stringify(Object.fromEntries(Object.keys(after).map((n) => [n, delta(n)]).filter(([, v]) => v !== 0))));
    const row: ScaleRow = {
      ...(root === ROOT ? {} : { tree: root }),
      group: name,
      clients: k,
      connected: c.ok,
      failed: c.failed,
      handshakes_per_s: round(c.ok / wall, 1),
      cpu_ms_per_handshake: round(c.ok > 0 ? (cpu * 1000) / c.ok : 0, 2),
      cpu_system_ms_per_handshake: round(c.ok > 0 ? (sys * 1000) / c.ok : 0, 2),
      cpu_main_thread_ms_per_handshake: round(c.ok > 0 ? (main * 1000) / c.ok : 0, 2),
      daemon_core: round(cpu / wall, 2),
      client_cpu_ms_per_handshake: round(c.ok > 0 ? c.cpuMs / c.ok : 0, 2),
      rss_before_mib: round(rss0 / 1024),
      rss_connected_mib: round(rss1 / 1024),
      kib_per_session: round(c.ok > 0 ? (rss1 - rss0) / c.ok : 0),
      rss_after_leave_mib: round(rss2 / 1024),
      hangups: h.clients,
      hangup_send_ms: round(h.ms, 1),
      cdn_rx: cdn,
      stopccn_rx: stop,
      delete_rx: del,
      hangups_lost: 3 * h.clients - cdn - stop - del,
      udp_rcvbuf_errors: e1 - e0,
      sessions_left: st.sessions.length,
      ike_sas_left: st.ikeSas,
    };
    log(`    ${row.handshakes_per_s} handshakes/s, ${row.cpu_ms_per_handshake} ms daemon CPU each, ${row.kib_per_session} KiB/session; hang-ups: ${cdn} CDN, ${stop} StopCCN, ${del} Delete of ${h.clients}`);
    if (WARM && st.sessions.length === 0 && st.ikeSas === 0) {
      // the second wave, on the warm daemon
      await sleep(500);
      const w = await wave();
      const per = (s: number): number => round(w.c.ok > 0 ? (s * 1000) / w.c.ok : 0, 2);
      row.warm_connected = w.c.ok;
      row.warm_handshakes_per_s = round(w.c.ok / w.wall, 1);
      row.warm_cpu_ms_per_handshake = per(w.cpu);
      row.warm_cpu_system_ms_per_handshake = per(w.sys);
      row.warm_cpu_main_thread_ms_per_handshake = per(w.main);
      log(`    second wave (warm daemon): ${w.c.ok} connected, ${row.warm_handshakes_per_s} handshakes/s, ${row.warm_cpu_ms_per_handshake} ms daemon CPU each (JavaScript thread ${row.warm_cpu_main_thread_ms_per_handshake})`);
      await client.ask({ cmd: 'hangup' }, 'hungup');
    }
    return row;
  } finally {
    await d.stop();
  }
}

// ---- main ------------------------------------------------------------------------------

function preflight(): string | undefined {
  if (process.platform !== 'linux') return 'needs Linux (network namespaces, TUN, nftables)';
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, TUN, nftables): sudo npm run bench -- path';
  for (const tool of ['ip', 'nft', 'taskset', 'cc']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `needs ${tool} on PATH`;
  }
  if (cpus().length < 2) return 'needs two CPUs (the daemon on one, the generators on the other)';
  if (!existsSync('/dev/net/tun')) return 'needs /dev/net/tun';
  return undefined;
}

export async function runPathBench(): Promise<void> {
  const why = preflight();
  if (why) {
    console.error(`bench path: ${why}`);
    process.exitCode = 2;
    return;
  }
  const started = Date.now();
  const loadBefore = loadavg().map((v) => round(v, 2));
  const lab = new Lab();
  const onSignal = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    lab.cleanUpSync();
    process.exit(130);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', () => lab.cleanUpSync());
  const client = new ClientProc(lab);
  let rows: PathRow[] = [];
  const scale: ScaleRow[] = [];
  let failed = true;
  try {
    log(`namespaces ${lab.nsC} ${lab.nsS} ${lab.nsI}; building bench/fwd.c`);
    lab.setUp();
    lab.buildFwd();
    if (!TSX) {
      for (const root of new Set([ROOT, ...ROOTS.filter((r) => !r.endsWith('+tsx')).map((r) => r.replace(/\+flags$/, ''))])) {
        log(`building the daemon in ${root} (tsc, dist/)`);
        const b = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
        if (b.status !== 0) throw new Error(`tsc failed in ${root}`);
      }
    }
    await client.start();
    if (PARTS.includes('path')) {
      for (const io of IOS) {
        process.env.L2TPSEC_UDP_IO = io.startsWith('dgram') ? 'dgram' : 'native';
        process.env.L2TPSEC_UDP_GSO = io.includes('-nogso') ? '0' : '1';
        process.env.L2TPSEC_ESP_CRYPTO = io.includes('-jshmac') ? 'js' : 'native';
        process.env.L2TPSEC_TUN_OFFLOAD = io.includes('-notunoff') ? '0' : '1';
        for (const root of ROOTS) {
          log(`path part with the NAT-T port through ${io}${root === ROOT ? '' : ` (daemon from ${root})`}`);
          rows.push(...(await pathPart(lab, client, root)).map((r) => ({ ...r, io, ...(root === ROOT ? {} : { tree: root }) })));
        }
      }
      delete process.env.L2TPSEC_UDP_IO;
      delete process.env.L2TPSEC_UDP_GSO;
      delete process.env.L2TPSEC_ESP_CRYPTO;
      delete process.env.L2TPSEC_TUN_OFFLOAD;
      console.table(rows);
    }
    const sizes = (PARTS.includes('scale') ? SCALE : []).filter((k) => k < 10000 || freemem() > 4 * 1024 ** 3);
    if (sizes.length > 0) log(`scale: ${sizes.join(', ')} clients, each from its own address, modp1024 and modp2048`);
    for (const group of GROUPS) {
      for (const k of sizes) for (const root of ROOTS) scale.push(await scaleRun(lab, client, group, k, root));
    }
    if (scale.length > 0) console.table(scale);
    failed = false;
  } finally {
    await client.stop();
    lab.cleanUpSync(failed || process.env.PATH_BENCH_KEEP_LOGS === "1");
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const result = {
    bench: 'path',
    date: new Date(started).toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model,
    cpus: cpus().length,
    memory_gib: round(totalmem() / 1024 ** 3),
    load_before: loadBefore,
    load_after: loadavg().map((v) => round(v, 2)),
    rps: RPS,
    note:
      'pps: packets/s delivered through the whole daemon (UDP, ESP, L2TP, PPP, TUN, kernel forward + masquerade, and back); ' +
      'cpu: daemon CPU microseconds per packet; limit_pps: C recvmmsg/sendmmsg forwarder on the same core and veths; ' +
      `daemon and forwarder on CPU ${DAEMON_CPU}, generators and sinks on CPU ${GEN_CPU}; ${WINDOW_MS} ms windows`,
    rows,
    scale,
  };
  const dir = join(HERE, 'results');
  mkdirSync(dir, { recursive: true });
  const stamp = new Date(started).toISOString().replace(/[:.]/g, '-');
  const json = `${JSON.stringify(result, null, 2)}\n`;
  writeFileSync(join(dir, `path-${stamp}.json`), json);
  writeFileSync(join(dir, 'latest-path.json'), json);
  log(`wrote bench/results/path-${stamp}.json (${round((Date.now() - started) / 1000, 0)} s)`);
}

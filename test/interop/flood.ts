/**
 * The `flood` scenario: while the real client connects and downloads, flood.py (in the
 * inet namespace) sends spoofed Main Mode 1 from thousands of random source addresses
 * and garbage to UDP 4500, bounded in rate, count and time. Meanwhile the server's RSS
 * (/proc/PID/status VmRSS) and its log output (lines of server.log) are sampled once a
 * second; the verdicts: the client reaches its stage (the attempt's own verdict), RSS
 * stays under a bound, the log under a rate, and the flood really reached the server.
 *
 * The spoofed sources are a part of 100.64.0.0/10 (the range of the run's inet) that no
 * home uses; inet blackholes it, so the server's answers to them end there.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { note, type Ctx } from './attempt.js';
import { SERVER_ADDR, type Net } from './netns.js';
import { run, say, startBackground, stopBackground, type Background } from './util.js';

const HERE = dirname(fileURLToPath(import.meta.url));
export const FLOOD_SRC_NET = '100.64.128.0/17';
const TABLE = 'l2sflood';

export interface FloodSpec {
  /** Spoofed Main Mode 1 per second (random sources in FLOOD_SRC_NET). */
  mm1PerS: number;
  /** Garbage datagrams to UDP 4500 per second (ESP-looking with random SPIs, and 1 in 5 with the non-ESP marker). */
  garbagePerS: number;
  /** Upper bound of the flood's duration, seconds (it is stopped earlier, when the attempt ends). */
  maxS: number;
  /** Verdict: the server's VmRSS must stay under this, MiB. */
  maxRssMiB: number;
  /** Verdict: the server's log lines per second, averaged over the flood, must stay under this. */
  maxLogLinesPerS: number;
}

interface Sample {
  t: number;
  rssKiB: number;
  lines: number;
  /** The server's CPU time (user + system), seconds. */
  cpuS: number;
}

export interface RunningFlood {
  /** UDP counters of the server namespace (/proc/net/snmp) at the start. */
  udp: Map<string, number>;
  proc: Background;
  out: string;
  samples: Sample[];
  timer: NodeJS.Timeout;
  t0: number;
}

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** utime + stime of a process, seconds (fields 14 and 15 of /proc/PID/stat, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

function lineCount(file: string): number {
  if (!existsSync(file)) return 0;
  const b = readFileSync(file);
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}

async function inetNft(net: Net, text: string): Promise<void> {
  await run('ip', ['netns', 'exec', net.inet, 'nft', '-f', '-'], { input: text });
}

/** Counters in inet: flood packets out to the server, the server's answers back to the spoofed sources. */
async function counters(net: Net): Promise<{ out: number; answers: number }> {
  const r = await run('ip', ['netns', 'exec', net.inet, 'nft', 'list', 'table', 'ip', TABLE], { allowFail: true });
  const get = (c: string): number => Number(new RegExp(`counter packets (\\d+) bytes \\d+ comment "${c}"`).exec(r.stdout)?.[1] ?? 0);
  return { out: get('flood-out'), answers: get('flood-answers') };
}

/** The `Udp:` counters of /proc/net/snmp in the server namespace (InDatagrams, RcvbufErrors, ...). */
async function udpCounters(net: Net): Promise<Map<string, number>> {
  const r = await run('ip', ['netns', 'exec', net.server, 'cat', '/proc/net/snmp'], { allowFail: true });
  const rows = r.stdout.split('\n').filter((l) => l.startsWith('Udp: '));
  const names = rows[0]?.split(/\s+/).slice(1) ?? [];
  const values = rows[1]?.split(/\s+/).slice(1) ?? [];
  return new Map(names.map((n, i) => [n, Number(values[i] ?? 0)]));
}

/** Starts the samplers, then the flood; `serverPid` is the daemon's own PID (ip netns exec execs it). */
export async function startFlood(ctx: Ctx, spec: FloodSpec, serverPid: number, serverLog: string, dir: string): Promise<RunningFlood> {
  const net = ctx.net;
  await run('ip', ['-n', net.inet, 'route', 'replace', 'blackhole', FLOOD_SRC_NET]);
  await inetNft(
    net,
    `table ip ${TABLE}
delete table ip ${TABLE}
table ip ${TABLE} {
  chain out {
    type filter hook output priority 0; policy accept;
    oifname "to-server" ip saddr ${FLOOD_SRC_NET} counter comment "flood-out"
  }
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    iifname "to-server" ip daddr ${FLOOD_SRC_NET} counter comment "flood-answers"
  }
}
`,
  );
  const udp = await udpCounters(net);
  const samples: Sample[] = [];
  const t0 = performance.now();
  const sample = (): void => {
    samples.push({ t: (performance.now() - t0) / 1000, rssKiB: rssKiB(serverPid), lines: lineCount(serverLog), cpuS: cpuSeconds(serverPid) });
  };
  sample();
  const timer = setInterval(sample, 1000);
  const out = join(dir, 'flood.out');
  const py = (await run('python3', ['-c', 'import sys; print(sys.executable)'])).stdout.trim();
  const args = [
    'netns', 'exec', net.inet, py, join(HERE, 'flood.py'),
    '--dst', SERVER_ADDR,
    '--src-net', FLOOD_SRC_NET,
    '--mm1-rate', String(spec.mm1PerS),
    '--garbage-rate', String(spec.garbagePerS),
    '--max-seconds', String(spec.maxS),
    '--max-packets', String(Math.ceil((spec.mm1PerS + spec.garbagePerS) * spec.maxS)),
  ];
  note(ctx, `flood: ip ${args.join(' ')}`);
  const proc = startBackground('flood.py', 'ip', args, out);
  say(`${ctx.scenario.name}: flood started: ${spec.mm1PerS} spoofed MM1/s from ${FLOOD_SRC_NET} and ${spec.garbagePerS} garbage/s to 4500, at most ${spec.maxS}s`);
  return { udp, proc, out, samples, timer, t0 };
}

/** Stops the flood and the samplers, removes the inet rules, returns the failed checks. */
export async function stopFlood(ctx: Ctx, f: RunningFlood, spec: FloodSpec, serverLog: string, dir: string, check: (ok: boolean, what: string, detail: string) => boolean): Promise<void> {
  const stillRunning = !f.proc.hasExited();
  await stopBackground(f.proc, 3000);
  // a few seconds more: what the flood left behind (eviction, log lines written late)
  await new Promise((r) => setTimeout(r, 3000));
  clearInterval(f.timer);
  const seconds = (performance.now() - f.t0) / 1000;
  const lastSample = f.samples.at(-1);
  f.samples.push({ t: seconds, rssKiB: lastSample?.rssKiB ?? 0, lines: lineCount(serverLog), cpuS: lastSample?.cpuS ?? 0 });
  const c = await counters(ctx.net);
  const udpAfter = await udpCounters(ctx.net);
  const udpDelta = (k: string): number => (udpAfter.get(k) ?? 0) - (f.udp.get(k) ?? 0);
  const udpText = `the server namespace's UDP: ${udpDelta('InDatagrams')} datagrams in, ${udpDelta('RcvbufErrors')} dropped for a full receive buffer, ${udpDelta('NoPorts')} to no port`;
  await run('ip', ['netns', 'exec', ctx.net.inet, 'nft', 'delete', 'table', 'ip', TABLE], { allowFail: true });
  await run('ip', ['-n', ctx.net.inet, 'route', 'del', 'blackhole', FLOOD_SRC_NET], { allowFail: true });

  const text = existsSync(f.out) ? readFileSync(f.out, 'utf8') : '';
  const last = text.trim().split('\n').filter((l) => l.startsWith('{')).at(-1) ?? '';
  let sent: { mm1?: number; garbage4500?: number; sources?: number; seconds?: number; mm1PerS?: number; errors?: number } = {};
  try {
    sent = JSON.parse(last) as typeof sent;
  } catch {
    /* reported below */
  }
  const first = f.samples[0];
  const peak = Math.max(...f.samples.map((s) => s.rssKiB));
  const lines = (f.samples.at(-1)?.lines ?? 0) - (first?.lines ?? 0);
  let maxPerS = 0;
  for (let i = 1; i < f.samples.length; i++) {
    const a = f.samples[i - 1];
    const b = f.samples[i];
    if (a && b && b.t > a.t) maxPerS = Math.max(maxPerS, (b.lines - a.lines) / (b.t - a.t));
  }
  const perS = lines / seconds;
  const cpuPct = lastSample && first && lastSample.t > first.t ? (100 * (lastSample.cpuS - first.cpuS)) / (lastSample.t - first.t) : 0;
  writeFileSync(join(dir, 'flood-samples.json'), JSON.stringify({ spec, sent, counters: c, udp: { before: Object.fromEntries(f.udp), after: Object.fromEntries(udpAfter) }, samples: f.samples }, null, 1));
  const logBytes = existsSync(serverLog) ? statSync(serverLog).size : 0;
  note(ctx, `flood: ${last || 'flood.py printed no summary'} (it ${stillRunning ? 'was stopped at the attempt\'s end' : 'ended at its bound'}); inet counters ${JSON.stringify(c)}; RSS ${((first?.rssKiB ?? 0) / 1024).toFixed(1)} MiB at the start, peak ${(peak / 1024).toFixed(1)} MiB; ${lines} log lines in ${seconds.toFixed(1)} s (${perS.toFixed(2)}/s, at most ${maxPerS.toFixed(1)} in one second), server.log ${logBytes} bytes; ${udpText}; the server used ${cpuPct.toFixed(0)}% of a core`);
  say(`${ctx.scenario.name}: during the flood the server used ${cpuPct.toFixed(0)}% of a core; ${udpText}`);

  check((sent.mm1 ?? 0) >= spec.mm1PerS * 10 && (sent.sources ?? 0) >= 1000 && c.out >= (sent.mm1 ?? 0), 'the flood ran and left inet toward the server', `${sent.mm1 ?? 0} MM1 + ${sent.garbage4500 ?? 0} garbage to 4500 from ${sent.sources ?? 0} sources in ${sent.seconds ?? 0}s (${sent.mm1PerS ?? 0} MM1/s), ${c.out} counted leaving inet`);
  check(c.answers > 0, 'the server was really reached (it answered spoofed MM1s)', `${c.answers} answers to the spoofed sources, blackholed in inet`);
  check(peak > 0 && peak / 1024 < spec.maxRssMiB, `server RSS under ${spec.maxRssMiB} MiB`, `VmRSS ${((first?.rssKiB ?? 0) / 1024).toFixed(1)} MiB before, peak ${(peak / 1024).toFixed(1)} MiB`);
  check(perS < spec.maxLogLinesPerS, `server log under ${spec.maxLogLinesPerS} lines/s`, `${lines} lines in ${seconds.toFixed(1)} s = ${perS.toFixed(2)}/s (busiest second ${maxPerS.toFixed(1)})`);
}

/**
 * NAT rebinding (the `nat-rebind` scenario): with the client connected through the
 * masquerading home, the home forgets the client's UDP mapping and maps it anew to a
 * port in 40000-40999, as a home router does after a reboot or a mapping timeout. The
 * client's IKE and ESP then reach the server from that new port; the server must follow
 * its authenticated packets (RFC 3947 §4, RFC 3948 §2.2) and send there: ping and a fetch
 * work, the server's DPD probes (dpd_idle = 10) reach the client, status shows the new port.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checks, guestJob, note, readIf, SMALL, type Client, type Ctx } from './attempt.js';
import * as g from './guest.js';
import { statusJson } from './operate.js';
import { run, say, sleep } from './util.js';

const NEW_PORTS = [40000, 40999] as const;

async function homeNft(ns: string, rules: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules });
}

const sysctlPath = (name: string): string => `/proc/sys/net/netfilter/${name}`;

/** Read (or set) a netfilter sysctl of the home namespace (they are per namespace). */
async function nsSysctl(ns: string, name: string, value?: string): Promise<string> {
  const script = value === undefined ? `cat ${sysctlPath(name)}` : `echo ${value} > ${sysctlPath(name)}`;
  return (await run('ip', ['netns', 'exec', ns, 'sh', '-c', script])).stdout.trim();
}

export async function rebind(ctx: Ctx, c: Client, dir: string): Promise<string[]> {
  const { fails, check } = checks(ctx, 'rebind');
  const home = c.vm.home;
  const before = (await statusJson(ctx, ctx.server, dir, 'status-before.json')).st?.sessions.find((x) => x.user === c.user.name);
  note(ctx, `rebind: before, the server sees the client at ${String(before?.peer)}`);

  // New UDP mappings from the port range; then the existing one must expire. Lowering the
  // UDP conntrack timeouts to 1 s does not shorten a timer already running (it was set by
  // the last packet with the old value): one more packet through the old mapping re-arms
  // it at 1 s, and then 1 s of silence ends it. The timeouts stay at 1 s until the new
  // mapping exists (a packet in the meantime only re-arms at 1 s).
  await homeNft(
    home.ns,
    `flush chain ip l2shome post
add rule ip l2shome post oifname "wan" ip saddr 192.0.2.0/24 meta l4proto udp masquerade to :${NEW_PORTS[0]}-${NEW_PORTS[1]}
add rule ip l2shome post oifname "wan" ip saddr 192.0.2.0/24 masquerade
`,
  );
  const names = ['nf_conntrack_udp_timeout', 'nf_conntrack_udp_timeout_stream'];
  const saved = await Promise.all(names.map((n) => nsSysctl(home.ns, n)));
  try {
    for (const n of names) await nsSysctl(home.ns, n, '1');
    await guestJob(ctx, c, 'ping-rearm', g.pingJob(c.gdir, 'ping-rearm.txt'), 30);
    await sleep(5000);
    // The client speaks first (as after any NAT change): its ESP now leaves from a new port.
    await guestJob(ctx, c, 'ping-rebind', g.pingJob(c.gdir, 'ping-after-rebind.txt'), 30);
  } finally {
    for (const [i, n] of names.entries()) await nsSysctl(home.ns, n, saved[i] ?? '30');
  }

  const slog = join(dir, 'server.log');
  const movedTo = (): string[] =>
    existsSync(slog)
      ? readFileSync(slog, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"event":"peer.moved"'))
          .map((l) => /"to":"([^"]+)"/.exec(l)?.[1] ?? '')
      : [];
  const inRange = (ep: string | null | undefined): boolean => {
    const m = new RegExp(`^${home.publicAddr.replace(/\./g, '\\.')}:(\\d+)$`).exec(ep ?? '');
    const port = Number(m?.[1] ?? 0);
    return port >= NEW_PORTS[0] && port <= NEW_PORTS[1];
  };

  check(g.pingOk(readIf(join(c.hdir, 'ping-after-rebind.txt'))), 'ping through the tunnel after the NAT remapped the client', readIf(join(c.hdir, 'ping-after-rebind.txt')).trim().split('\n').at(-1) ?? '');
  const moves = movedTo();
  check(moves.some(inRange), 'server followed the new mapping', moves.length > 0 ? `peer.moved to ${moves.join(', ')}` : 'no peer.moved in server.log');
  await guestJob(ctx, c, 'http-rebind', g.httpJob(c.gdir, SMALL, 60, 'curl-rebind.txt'), 80);
  const h = g.httpOk(readIf(join(c.hdir, 'curl-rebind.txt')), readIf(join(c.hdir, 'http-route.txt')), ctx.www.smallSha);
  check(h.ok, 'fetch after the remapping', h.detail);
  const after = (await statusJson(ctx, ctx.server, dir, 'status-after.json')).st?.sessions.find((x) => x.user === c.user.name);
  check(inRange(after?.peer), 'status shows the new outer port', `before ${String(before?.peer)}, after ${String(after?.peer)}`);

  // Idle for 4 DPD intervals: probes must reach the client at its new port (a probe sent to
  // the old mapping goes unanswered and after 5 misses the server would end the session).
  say(`${ctx.scenario.name}: idle 40 s: the server's DPD probes (dpd_idle 10 s) must reach the new mapping`);
  await sleep(40_000);
  const text = existsSync(slog) ? readFileSync(slog, 'utf8') : '';
  const dead = text.includes('"event":"ike.dpd.dead"');
  const still = (await statusJson(ctx, ctx.server, dir, 'status-idle.json')).st?.sessions.some((x) => x.user === c.user.name) === true;
  check(!dead && still, 'session alive after 40 s of DPD at the new port', `${dead ? 'ike.dpd.dead logged' : 'no ike.dpd.dead'}, session ${still ? 'listed' : 'gone'}`);
  await guestJob(ctx, c, 'ping-rebind-2', g.pingJob(c.gdir, 'ping-after-idle.txt'), 30);
  check(g.pingOk(readIf(join(c.hdir, 'ping-after-idle.txt'))), 'ping after the idle time', readIf(join(c.hdir, 'ping-after-idle.txt')).trim().split('\n').at(-1) ?? '');
  writeFileSync(join(dir, 'rebind-moves.txt'), movedTo().join('\n') + '\n');

  await homeNft(home.ns, 'flush chain ip l2shome post\nadd rule ip l2shome post oifname "wan" ip saddr 192.0.2.0/24 masquerade\n');
  return fails;
}

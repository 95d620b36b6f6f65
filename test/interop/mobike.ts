/**
 * MOBIKE (the `ikev2-mobike` scenario, `nat` topology): an IKEv2 client (charon, MOBIKE
 * on as by default, dpd_delay 5 s) behind the masquerading home is moved by its home
 * router to ANOTHER public address in the middle of a 20 MB download: the router gets
 * a second address on wan (100.64.N.2, on the /24 inet already routes), its SNAT
 * switches to it and the old UDP mappings are forgotten (`conntrack -D` while UDP is
 * dropped in the home's raw prerouting for 2 s so nothing re-creates them), as when a
 * carrier-grade NAT hands out a new address. The server's ESP to the old mapping is
 * lost, so the client (the receiving side of the fetch) hears nothing and goes quiet;
 * after dpd_delay its DPD with NAT detection (RFC 4555 §3.8) shows the changed mapping,
 * charon sends UPDATE_SA_ADDRESSES, the server moves the SA and its child there and
 * sends its return routability check (COOKIE2), and once that is answered the fetch goes
 * on (measured: a stall of about 5 s). Should the client's ESP reach the server from the
 * new mapping first, the server follows that instead (RFC 4555 §3.8 allows it for ESP)
 * and the later update moves nothing. Either way the download must finish with the
 * right SHA-256, `status --json` must show the new address with the same session,
 * virtual IP and growing counters, charon's log the MOBIKE update, the server's the move.
 *
 * `ikev2-mobike-direct` (`direct` topology): the client VM's own address changes instead
 * (192.0.2.10 → 192.0.2.50 in the middle of the fetch: the new one added, the old one
 * deleted); charon's kernel interface notices and sends UPDATE_SA_ADDRESSES from the new
 * address (no DPD needed). The same checks follow; the old address is put back at the end.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIG, checks, guestJob, note, readIf, type Client, type Ctx } from './attempt.js';
import * as g from './guest.js';
import { CLIENT_GW, HTTP_ADDR } from './netns.js';
import { statusJson } from './operate.js';
import { run, say, sleep } from './util.js';

async function homeNft(ns: string, rules: string): Promise<void> {
  await run('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules });
}

/** A fetch of `path` at a bounded rate (so it spans the move), with its SHA-256. */
function slowHttpJob(guestDir: string, path: string, rate: string, maxTimeS: number, file: string): string {
  return `
D=${guestDir}
rm -f /tmp/l2s-download
curl -sS --limit-rate ${rate} --max-time ${maxTimeS} -o /tmp/l2s-download -w '%{http_code} %{size_download} %{speed_download}\\n' http://${HTTP_ADDR}/${path} > "$D/${file}" 2>&1
echo "curl rc=$?" >> "$D/${file}"
sha256sum /tmp/l2s-download >> "$D/${file}" 2>&1
cat "$D/${file}"
`;
}

/** The fetch of slowHttpJob, and 5 s into it the VM's address changes from `oldAddr` to `newAddr` (same /24; the new one is promoted when the old goes). */
function movingHttpJob(guestDir: string, path: string, oldAddr: string, newAddr: string, file: string): string {
  return `
D=${guestDir}
sysctl -qw net.ipv4.conf.all.promote_secondaries=1 net.ipv4.conf.eth0.promote_secondaries=1
rm -f /tmp/l2s-download
( curl -sS --limit-rate 1M --max-time 150 -o /tmp/l2s-download -w '%{http_code} %{size_download} %{speed_download}\\n' http://${HTTP_ADDR}/${path} > "$D/${file}" 2>&1; echo "curl rc=$?" >> "$D/${file}" ) &
P=$!
sleep 5
ip addr add ${newAddr}/24 dev eth0
ip addr del ${oldAddr}/24 dev eth0
ip route replace default via ${CLIENT_GW} dev eth0
date +%T > "$D/ip-addr-moved.txt"; ip -4 addr show dev eth0 >> "$D/ip-addr-moved.txt" 2>&1; ip route >> "$D/ip-addr-moved.txt" 2>&1
wait $P
sha256sum /tmp/l2s-download >> "$D/${file}" 2>&1
cat "$D/${file}"
`;
}

export async function mobikeMove(ctx: Ctx, c: Client, dir: string): Promise<string[]> {
  const { fails, check } = checks(ctx, 'mobike');
  const home = c.vm.home;
  const direct = home.kind === 'direct';
  const newAddr = direct ? `192.0.2.${50 + c.vm.k}` : `100.64.${home.index}.2`;
  const mine = async (file: string) => (await statusJson(ctx, ctx.server, dir, file)).st?.sessions.find((x) => x.user === c.user.name);
  const before = await mine('status-before-move.json');
  note(ctx, `mobike: before, the server sees the client at ${String(before?.peer)}, virtual IP ${String(before?.address)}`);

  if (direct) {
    say(`${ctx.scenario.name}: idle 12 s, then a 20 MB fetch at 1 MB/s; 5 s into it the client's address changes from ${c.vm.addr} to ${newAddr}`);
    await sleep(12_000);
    await guestJob(ctx, c, 'http-mobike', movingHttpJob(c.gdir, BIG, c.vm.addr, newAddr, 'curl-mobike.txt'), 170);
  } else {
    await run('ip', ['-n', home.ns, 'addr', 'add', `${newAddr}/24`, 'dev', 'wan']);
    // Idle first: charon's first DPD (dpd_delay 5 s) with NAT detection records the hash the move is to change.
    say(`${ctx.scenario.name}: idle 12 s (the client's DPD records its NAT mapping), then a 20 MB fetch at 1 MB/s; the home moves it to ${newAddr} after 5 s`);
    await sleep(12_000);

    const download = guestJob(ctx, c, 'http-mobike', slowHttpJob(c.gdir, BIG, '1M', 150, 'curl-mobike.txt'), 170);
    await sleep(5_000);
    await homeNft(home.ns, `flush chain ip l2shome post\nadd rule ip l2shome post oifname "wan" ip saddr 192.0.2.0/24 snat to ${newAddr}\n`);
    // Nothing UDP reaches conntrack meanwhile (raw comes before it) while the home forgets its
    // UDP mappings (conntrack -D), so the next packets get new ones from the new SNAT.
    await homeNft(home.ns, 'table ip l2smove {\n  chain raw {\n    type filter hook prerouting priority raw; policy accept;\n    meta l4proto udp drop\n  }\n}\n');
    try {
      const del = await run('ip', ['netns', 'exec', home.ns, 'conntrack', '-D', '-p', 'udp'], { allowFail: true });
      note(ctx, `mobike: conntrack -D -p udp in the home: ${(del.stderr + del.stdout).trim().split('\n').at(-1) ?? ''}`);
      await sleep(2_000);
    } finally {
      await homeNft(home.ns, 'delete table ip l2smove');
    }
    note(ctx, `mobike: the home now maps the client to ${newAddr}`);
    await download;
  }
  const curl = readIf(join(c.hdir, 'curl-mobike.txt'));
  const sha = /^([0-9a-f]{64})\s/m.exec(curl)?.[1] ?? '';
  check(sha === ctx.www.bigSha && /curl rc=0/.test(curl), '20 MB download across the move intact', `${curl.trim().split('\n')[0] ?? ''}; sha256 ${sha === ctx.www.bigSha ? 'matches' : `${sha || 'none'} (want ${ctx.www.bigSha})`}`);

  // Idle again: the client's DPD now carries NAT detection the server answers for the new
  // path; the hash differs from the recorded one, so charon sends UPDATE_SA_ADDRESSES.
  say(`${ctx.scenario.name}: idle 15 s (${direct ? 'charon has sent its update when its address went' : "the client's DPD sees a changed mapping and sends UPDATE_SA_ADDRESSES"}), then status and the logs`);
  await sleep(15_000);
  const after = await mine('status-after-move.json');
  const moved = (after?.peer ?? '').startsWith(`${newAddr}:`);
  check(moved, 'status shows the new outer address', `before ${String(before?.peer)}, after ${String(after?.peer)}`);
  check(
    after !== undefined && before !== undefined && after.id === before.id && after.address === before.address && after.address === c.vip && after.bytesOut > before.bytesOut,
    'same session, virtual IP and counters after the move',
    `session ${String(before?.id)} -> ${String(after?.id)}, address ${String(before?.address)} -> ${String(after?.address)} (client's ${String(c.vip)}), bytesOut ${String(before?.bytesOut)} -> ${String(after?.bytesOut)}`,
  );
  const charon = readIf(join(c.hdir, 'charon.log'));
  const lines = charon.split('\n');
  const supports = lines.some((l) => l.includes('peer supports MOBIKE'));
  const update = lines.find((l) => /detected changes in NAT mappings, initiating MOBIKE update|requesting address change using MOBIKE/.test(l));
  const sent = lines.find((l) => /generating INFORMATIONAL request \d+ \[.*N\(UPD_SA_ADDR\)/.test(l));
  check(supports && update !== undefined && sent !== undefined, "client's charon log shows the MOBIKE update", `${supports ? 'server supports MOBIKE' : 'no "peer supports MOBIKE"'}; ${update?.trim() ?? 'no MOBIKE update decided'}; ${sent?.trim() ?? 'no UPDATE_SA_ADDRESSES sent'}`);
  const slog = join(dir, 'server.log');
  const server = existsSync(slog) ? readFileSync(slog, 'utf8') : '';
  const upd = server.split('\n').find((l) => l.includes('"event":"ikev2.mobike.update"'));
  check(upd !== undefined, 'server took the UPDATE_SA_ADDRESSES', upd ? (/"to":"([^"]+)"/.exec(upd)?.[1] ?? upd.slice(0, 200)) : 'no ikev2.mobike.update in server.log');
  // how the session got there: MOBIKE with the answered COOKIE2 check, or following authenticated ESP
  const verified = server.split('\n').find((l) => l.includes('"event":"ikev2.mobike.path-verified"') && l.includes(`"peer":"${newAddr}:`));
  const followed = server.split('\n').find((l) => l.includes('"event":"session.moved"') && l.includes('"by":"esp"') && l.includes(`"to":"${newAddr}:`));
  check(
    verified !== undefined || followed !== undefined,
    'server moved the session (MOBIKE with its COOKIE2 check answered, or following ESP)',
    verified ? `return routability check answered at ${/"peer":"([^"]+)"/.exec(verified)?.[1] ?? '?'}` : followed ? 'followed authenticated ESP from the new mapping' : 'neither ikev2.mobike.path-verified nor session.moved by esp to the new address',
  );
  await guestJob(ctx, c, 'ping-mobike', g.ikev2PingJob(c.gdir, g.TUNNEL_SERVER_ADDR, 'ping-after-move.txt'), 30);
  check(g.pingOk(readIf(join(c.hdir, 'ping-after-move.txt'))), 'ping through the tunnel after the move', readIf(join(c.hdir, 'ping-after-move.txt')).trim().split('\n').at(-1) ?? '');

  if (direct) {
    await guestJob(ctx, c, 'mobike-restore', `ip addr add ${c.vm.addr}/24 dev eth0\nip addr del ${newAddr}/24 dev eth0\nip route replace default via ${CLIENT_GW} dev eth0\nip -4 addr show dev eth0`, 20);
  } else {
    await homeNft(home.ns, 'flush chain ip l2shome post\nadd rule ip l2shome post oifname "wan" ip saddr 192.0.2.0/24 masquerade\n');
    await run('ip', ['-n', home.ns, 'addr', 'del', `${newAddr}/24`, 'dev', 'wan'], { allowFail: true });
    // the mappings to the new address would outlive it: the next scenario in this home starts from none
    await run('ip', ['netns', 'exec', home.ns, 'conntrack', '-D', '-p', 'udp'], { allowFail: true });
  }
  return fails;
}

/**
 * One scenario's connection attempt, stage by stage, for one or more client VMs
 * (phase by phase, so that two clients are up at the same time), and the verdicts
 * read from the evidence the guest jobs leave on the share.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { HTTP_ADDR, SERVER_ADDR, type Net } from './netns.js';
import { STAGES, profileOf, stageIndex, type Profile, type Scenario, type Stage } from './scenarios.js';
import { cli, type InteropUser, type ServerSetup } from './server.js';
import { job, type Vm } from './vm.js';
import * as g from './guest.js';
import { checkAborted, run, say, sleep } from './util.js';

export const SMALL = 'small.bin';
export const BIG = 'big.bin';

/** What a client uploads at `http` in a scenario with `upload` (MiB), and the web server's bound per body. */
export const UPLOAD_MIB = 8;
export const UPLOAD_MAX_BYTES = 64 * 1024 * 1024;

/** The file VM `k` fetches when two clients run at once (different content per VM). */
export const smallOf = (k: number): string => `small-vm${k}.bin`;

export interface Www {
  /** The HTTP server's folder. */
  dir: string;
  /** Where the HTTP server writes its verdict on each upload (NAME.json; httpd.py). */
  uploadDir: string;
  smallSha: string;
  bigSha: string;
  /** SHA-256 of smallOf(k), by VM index. */
  perVmSha: string[];
}

/** A file of `mib` MiB in the web folder (made once per run), its name and SHA-256. */
export function sizedFile(www: Www, mib: number): { name: string; sha: string } {
  const name = `dl-${mib}mib.bin`;
  const path = join(www.dir, name);
  if (!existsSync(path)) writeFileSync(path, randomBytes(Math.round(mib * 1024 * 1024)));
  return { name, sha: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

/** Main Mode requests (isakmp phase 1 I ident) from `src` that reached the server namespace. */
export async function mainModeRequests(pcap: string, src: string): Promise<number> {
  if (!existsSync(pcap)) return 0;
  const r = await run('tcpdump', ['-nn', '-r', pcap, 'udp dst port 500 or udp dst port 4500'], { allowFail: true });
  const esc = src.replace(/\./g, '\\.');
  const re = new RegExp(`IP ${esc}\\.\\d+ > 198\\.51\\.100\\.1\\.(500|4500): .*phase 1 I ident`);
  return r.stdout.split('\n').filter((l) => re.test(l)).length;
}

/** IKEv2 requests (IKE_SA_INIT, IKE_AUTH: tcpdump's `ikev2_init[I]`, `ikev2_auth[I]`) from `src` that reached the server namespace. */
export async function ikev2Requests(pcap: string, src: string): Promise<{ init: number; all: number }> {
  if (!existsSync(pcap)) return { init: 0, all: 0 };
  const r = await run('tcpdump', ['-nn', '-r', pcap, 'udp dst port 500 or udp dst port 4500'], { allowFail: true });
  const esc = src.replace(/\./g, '\\.');
  const from = new RegExp(`IP ${esc}\\.\\d+ > 198\\.51\\.100\\.1\\.(500|4500): `);
  const lines = r.stdout.split('\n').filter((l) => from.test(l));
  return { init: lines.filter((l) => /ikev2_init\[I\]/.test(l)).length, all: lines.filter((l) => /ikev2_\w+\[I\]/.test(l)).length };
}

export interface Client {
  vm: Vm;
  user: InteropUser;
  reached: Stage | 'none';
  stopped: boolean;
  /** Guest path of this attempt's log folder, and its host path. */
  gdir: string;
  hdir: string;
  spis: string[];
  /** IKEv2 clients: the virtual IP the server gave (from swanctl --list-sas). */
  vip?: string;
}

export interface Ctx {
  net: Net;
  server: ServerSetup;
  www: Www;
  scenario: Scenario;
  log: string;
  pcap: string;
  t0: number;
}

export function note(ctx: Ctx, text: string): void {
  appendFileSync(ctx.log, text.endsWith('\n') ? text : text + '\n');
}

/**
 * A list of checks beyond the stages (operate, rebind): each verdict is printed and
 * noted; `fails` collects the failed ones as reasons for the scenario.
 */
export function checks(ctx: Ctx, topic: string): { fails: string[]; check: (ok: boolean, what: string, detail: string) => boolean } {
  const fails: string[] = [];
  const check = (ok: boolean, what: string, detail: string): boolean => {
    say(`${ctx.scenario.name}: ${what} ${ok ? '✓' : '✗'} (${detail})`);
    note(ctx, `${topic}: ${what} ${ok ? 'ok' : 'FAILED'}: ${detail}`);
    if (!ok) fails.push(`${what}: ${detail}`);
    return ok;
  };
  return { fails, check };
}

export function mark(ctx: Ctx, c: Client, label: string, multi: boolean, stage: Stage, ok: boolean, detail = ''): boolean {
  checkAborted();
  const who = multi ? `${label}/${c.vm.name}` : label;
  if (ok) {
    c.reached = stage;
    say(`${who}: ${stage} ✓${detail ? ` (${detail})` : ''}`);
  } else {
    c.stopped = true;
    say(`${who}: ${stage} ✗${detail ? ` (${detail})` : ''}`);
  }
  note(ctx, `stage ${stage} ${ok ? 'reached' : 'NOT reached'} ${detail}`);
  return ok;
}

export function readIf(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}

export async function guestJob(ctx: Ctx, c: Client, label: string, script: string, limitS: number): Promise<string> {
  const r = await job(c.vm, label, script, limitS);
  note(ctx, `--- ${c.vm.name} job ${label}: rc=${String(r.rc)}${r.timedOut ? ' (time limit)' : ''}\n${r.out.trimEnd()}`);
  return r.out;
}

/**
 * One connection attempt of every client in the scenario, phase by phase (all up at once).
 * With `secondProfile` (first attempt only), VM 1 runs that profile: the L2TP clients and
 * the IKEv2 clients each go through their own stages, at the same time.
 */
export async function attempt(ctx: Ctx, clients: Client[], label: string, profile: Profile): Promise<void> {
  const second = ctx.scenario.secondProfile !== undefined && label === ctx.scenario.name ? profileOf(ctx.scenario.secondProfile) : null;
  const profOf = (c: Client): Profile => (second && clients.indexOf(c) === 1 ? second : profile);
  const v1 = clients.filter((c) => profOf(c).kind !== 'ikev2');
  const v2 = clients.filter((c) => profOf(c).kind === 'ikev2');
  const v1p = v1[0] ? profOf(v1[0]) : null;
  const v2p = v2[0] ? profOf(v2[0]) : null;
  await Promise.all([v1p ? attemptL2tp(ctx, v1, clients, label, v1p) : Promise.resolve(), v2p ? attemptIkev2(ctx, v2, clients, label, v2p) : Promise.resolve()]);
}

/** The L2TP/IPsec clients' stages (`all`: every client of the scenario, for labels and per-VM files). */
async function attemptL2tp(ctx: Ctx, clients: Client[], all: Client[], label: string, profile: Profile): Promise<void> {
  const multi = all.length > 1;
  const psk = profile.wrongPsk ? `wrong-${ctx.server.psk}` : ctx.server.psk;
  const active = (): Client[] => clients.filter((c) => !c.stopped);
  const each = (f: (c: Client) => Promise<void>): Promise<void[]> => Promise.all(active().map(f));

  await Promise.all(clients.map((c) => guestJob(ctx, c, 'reset', g.resetJob(), 40)));
  await each(async (c) => {
    const src = c.vm.home.kind === 'nat' ? c.vm.home.publicAddr : c.vm.addr;
    const before = await mainModeRequests(ctx.pcap, src);
    await guestJob(ctx, c, 'ike', g.ikeJob(c.gdir, profile, psk, 45), 110);
    // the capture may lag the exchange by a moment on a busy machine: look again for up to 5 s
    let after = await mainModeRequests(ctx.pcap, src);
    for (let k = 0; k < 10 && after <= before; k++) {
      await sleep(500);
      after = await mainModeRequests(ctx.pcap, src);
    }
    const n = after - before;
    if (!mark(ctx, c, label, multi, 'ike-request', n > 0, n > 0 ? `${n} from ${src}` : `no Main Mode request from ${src} in server.pcap`)) return;
    const list = readIf(join(c.hdir, 'swanctl-list-sas.txt'));
    if (!mark(ctx, c, label, multi, 'ike-sa', g.ikeSaUp(list))) return;
    const xfrm = readIf(join(c.hdir, 'xfrm-state.txt'));
    c.spis = g.espSpis(xfrm);
    const udp = /TRANSPORT-in-UDP|encap type espinudp/.test(list + xfrm);
    const odd = udp && c.vm.home.kind === 'direct' ? ' although this path has no NAT (the server\'s NAT-D asked for it)' : '';
    // a GCM-only profile must really run AES-GCM in the client's kernel, not some fallback
    const gcmOnly = profile.esp.split(',').every((p) => /gcm/.test(p));
    const gcmOk = !gcmOnly || /rfc4106\(gcm\(aes\)\)/.test(xfrm);
    mark(ctx, c, label, multi, 'ipsec-sa', g.ipsecSaUp(list, xfrm) && gcmOk, `${udp ? `ESP in UDP${odd}` : 'plain ESP'}${gcmOnly ? (gcmOk ? ', AES-GCM-16 (rfc4106)' : ', NOT AES-GCM') : ''}`);
  });
  await each(async (c) => {
    const pw = profile.wrongPassword ? `${c.user.password}x` : c.user.password;
    await guestJob(ctx, c, 'l2tp', g.l2tpJob(c.gdir, profile, c.user.name, pw, 60, ctx.scenario.extraSessions ?? 0), 100);
    if (!mark(ctx, c, label, multi, 'l2tp-tunnel', g.l2tpTunnelUp(readIf(join(c.hdir, 'xl2tpd.log'))))) return;
    if (!mark(ctx, c, label, multi, 'ppp-auth', g.pppAuthOk(readIf(join(c.hdir, 'pppd.log'))))) return;
    const ip = g.pppIpOk(readIf(join(c.hdir, 'ipup.txt')));
    mark(ctx, c, label, multi, 'ppp-ip', ip.ok, ip.detail);
  });
  await each(async (c) => {
    await guestJob(ctx, c, 'ping', g.pingJob(c.gdir), 30);
    mark(ctx, c, label, multi, 'ping', g.pingOk(readIf(join(c.hdir, 'ping.txt'))));
  });
  await each(async (c) => {
    const big = ctx.scenario.bigDownload === true;
    const mib = ctx.scenario.downloadMiB;
    const sized = mib !== undefined && !big ? sizedFile(ctx.www, mib) : null;
    // ~0.35 MB/s under TCG: 12 s per MiB and 30 s more; under a flood the machine is shared with it (75-160 KB/s measured): 30 s per MiB
    const perMiB = ctx.scenario.flood ? 30 : 12;
    const limit = big ? 240 : sized && mib !== undefined ? Math.max(60, Math.round(30 + perMiB * mib)) : 60;
    // two clients at once fetch different files, both at the same time: each must get its own bytes
    const k = all.indexOf(c);
    const file = big ? BIG : sized ? sized.name : multi ? smallOf(k) : SMALL;
    const sha = big ? ctx.www.bigSha : sized ? sized.sha : multi ? (ctx.www.perVmSha[k] ?? '') : ctx.www.smallSha;
    await guestJob(ctx, c, 'http', g.httpJob(c.gdir, file, limit), limit + 20);
    const h = g.httpOk(readIf(join(c.hdir, 'curl.txt')), readIf(join(c.hdir, 'http-route.txt')), sha);
    const down = `${big ? '20 MB' : sized ? `${String(mib)} MiB` : `64 KiB ${file}`}: ${h.detail}`;
    if (!h.ok || ctx.scenario.upload !== true) {
      mark(ctx, c, label, multi, 'http', h.ok, h.ok ? down : h.detail);
      return;
    }
    const up = await uploadCheck(ctx, c, label, true);
    mark(ctx, c, label, multi, 'http', up.ok, `${down}; upload ${UPLOAD_MIB} MiB: ${up.detail}`);
  });
  const junk = ctx.scenario.junk;
  if (junk !== undefined) await Promise.all(active().filter((c) => c.reached === 'http').map((c) => junkCheck(ctx, c, label, multi, junk)));
  if (ctx.scenario.spoof === true) await Promise.all(active().map((c) => spoofCheck(ctx, c, label, multi)));
  const extra = ctx.scenario.extraSessions;
  if (extra !== undefined && extra > 0) await Promise.all(active().map((c) => sessionLimit(ctx, c, label, multi, extra)));
  const wait = ctx.scenario.rekeyWaitS;
  if (wait !== undefined) {
    const up = clients.filter((c) => stageIndex(c.reached) >= stageIndex('ipsec-sa'));
    if (up.length > 0) {
      say(`${label}: waiting ${wait}s for the IPsec SA rekey`);
      await sleep(wait * 1000);
    }
    await Promise.all(
      up.map(async (c) => {
        await guestJob(ctx, c, 'rekey', g.rekeyCheckJob(c.gdir), 30);
        const list = readIf(join(c.hdir, 'rekey-list-sas.txt'));
        const xfrm = readIf(join(c.hdir, 'rekey-xfrm-state.txt'));
        const spis = g.espSpis(xfrm);
        const fresh = spis.some((s) => !c.spis.includes(s));
        const holds = g.ipsecSaUp(list, xfrm) && fresh;
        const who = multi ? `${label}/${c.vm.name}` : label;
        say(`${who}: ipsec-sa after rekey ${holds ? '✓' : '✗'} (SPIs ${c.spis.join(',')} → ${spis.join(',')})`);
        note(ctx, `rekey: ipsec-sa ${holds ? 'holds' : 'LOST'}; SPIs before ${c.spis.join(',')} after ${spis.join(',')}`);
        if (!holds) {
          c.reached = 'ike-sa';
          return;
        }
        if (stageIndex(c.reached) >= stageIndex('ping')) {
          await guestJob(ctx, c, 'ping-after-rekey', g.pingJob(c.gdir, 'ping-after-rekey.txt'), 30);
          const ok = g.pingOk(readIf(join(c.hdir, 'ping-after-rekey.txt')));
          say(`${who}: ping after rekey ${ok ? '✓' : '✗'}`);
          if (!ok) c.reached = 'ppp-ip';
        }
      }),
    );
  }
  await Promise.all(clients.map((c) => guestJob(ctx, c, 'collect', g.collectJob(c.gdir), 30)));
}

/**
 * The IKEv2 clients' stages: IKE_SA_INIT seen by the server (`ike-request`), the IKE SA
 * (`ike-sa`), the CHILD SA in tunnel mode (`child-sa`), the virtual IP from the pool
 * (`vip`), a ping through the tunnel (`ping`), a fetch with SHA-256 (`http`).
 */
async function attemptIkev2(ctx: Ctx, clients: Client[], all: Client[], label: string, profile: Profile): Promise<void> {
  const multi = all.length > 1;
  const active = (): Client[] => clients.filter((c) => !c.stopped);
  const each = (f: (c: Client) => Promise<void>): Promise<void[]> => Promise.all(active().map(f));
  await Promise.all(clients.map((c) => guestJob(ctx, c, 'reset', g.resetJob(), 40)));
  if (ctx.server.caPem === '') note(ctx, 'no CA from cert init: the IKEv2 client trusts nothing and must fail');
  await each(async (c) => {
    const src = c.vm.home.kind === 'nat' ? c.vm.home.publicAddr : c.vm.addr;
    const before = await ikev2Requests(ctx.pcap, src);
    const pw = profile.wrongPassword ? `${c.user.password}x` : c.user.password;
    const psk = profile.ikev2Psk ? pskLogin(ctx, c, profile) : undefined;
    const ca = profile.untrustedCa ? ctx.server.otherCaPem : ctx.scenario.bigChain ? ctx.server.bigChainCaPem : ctx.server.caPem;
    await guestJob(ctx, c, 'ikev2', g.ikev2Job(c.gdir, profile, c.user.name, pw, ca, ctx.server.ikev2Id, 45, psk), 110);
    // the capture may lag the exchange by a moment on a busy machine: look again for up to 5 s
    let after = await ikev2Requests(ctx.pcap, src);
    for (let k = 0; k < 10 && after.init <= before.init; k++) {
      await sleep(500);
      after = await ikev2Requests(ctx.pcap, src);
    }
    const n = after.init - before.init;
    const m = after.all - before.all;
    if (!mark(ctx, c, label, multi, 'ike-request', n > 0, n > 0 ? `${n} IKE_SA_INIT, ${m} IKEv2 requests in all from ${src}` : `no IKE_SA_INIT from ${src} in server.pcap`)) return;
    const list = readIf(join(c.hdir, 'swanctl-list-sas.txt'));
    const charon = readIf(join(c.hdir, 'charon.log'));
    const refused = /EAP-MS-CHAPv2 failed with error \w+|received AUTHENTICATION_FAILED|EAP_MSCHAPV2 method failed|received EAP_FAILURE/.exec(charon)?.[0];
    const ikeAlg = /^\s+((?:AES|3DES)\S+)$/m.exec(list)?.[1] ?? '';
    if (!mark(ctx, c, label, multi, 'ike-sa', g.ikev2SaUp(list), g.ikev2SaUp(list) ? ikeAlg : refused ? `refused: ${refused}` : 'no ESTABLISHED IKEv2 SA')) {
      if (profile.wrongPassword) wrongPasswordRefused(ctx, c, label, multi, refused);
      if (profile.untrustedCa) untrustedCaRefused(ctx, c, label, multi, charon);
      if (profile.ikev2Psk) pskRefused(ctx, c, label, multi, profile, charon);
      return;
    }
    const xfrm = readIf(join(c.hdir, 'xfrm-state.txt'));
    c.spis = g.espSpis(xfrm);
    const child = g.childSaTunnelUp(list, xfrm);
    const odd = child.udp && c.vm.home.kind === 'direct' ? ' although this path has no NAT (the server\'s NAT-D asked for it)' : '';
    if (!mark(ctx, c, label, multi, 'child-sa', child.ok, `${child.udp ? `TUNNEL-in-UDP${odd}` : 'TUNNEL, plain ESP'} ${child.alg}`)) return;
    const vip = g.vipOf(list, readIf(join(c.hdir, 'ip-addr.txt')));
    c.vip = /^(\S+)/.exec(vip.detail)?.[1] ?? '';
    mark(ctx, c, label, multi, 'vip', vip.ok, vip.detail);
  });
  await each(async (c) => {
    // the server's tunnel address; if it does not answer over IKEv2, the web server's address (through the server's NAT), said so
    await guestJob(ctx, c, 'ping', g.ikev2PingJob(c.gdir, g.TUNNEL_SERVER_ADDR, 'ping.txt'), 30);
    if (g.pingOk(readIf(join(c.hdir, 'ping.txt')))) {
      mark(ctx, c, label, multi, 'ping', true, `${g.TUNNEL_SERVER_ADDR} answers`);
      return;
    }
    await guestJob(ctx, c, 'ping-web', g.ikev2PingJob(c.gdir, HTTP_ADDR, 'ping-web.txt'), 30);
    const web = g.pingOk(readIf(join(c.hdir, 'ping-web.txt')));
    mark(ctx, c, label, multi, 'ping', web, `${g.TUNNEL_SERVER_ADDR} did NOT answer; ${HTTP_ADDR} ${web ? 'answers (through the server\'s NAT)' : 'did not answer either'}`);
  });
  await each(async (c) => {
    const big = ctx.scenario.bigDownload === true && !multi;
    const limit = big ? 240 : 60;
    const k = all.indexOf(c);
    const file = big ? BIG : multi ? smallOf(k) : SMALL;
    const sha = big ? ctx.www.bigSha : multi ? (ctx.www.perVmSha[k] ?? '') : ctx.www.smallSha;
    await guestJob(ctx, c, 'http', g.ikev2HttpJob(c.gdir, file, limit), limit + 20);
    const h = g.ikev2HttpOk(readIf(join(c.hdir, 'curl.txt')), readIf(join(c.hdir, 'http-route.txt')), sha, c.vip ?? '');
    const esp = g.xfrmOutPackets(readIf(join(c.hdir, 'http-xfrm-after.txt')), SERVER_ADDR) - g.xfrmOutPackets(readIf(join(c.hdir, 'http-xfrm-before.txt')), SERVER_ADDR);
    const ok = h.ok && esp > 0;
    const down = ok ? `${big ? '20 MB' : `64 KiB ${file}`}: ${h.detail}; ${esp} ESP packets out` : `${h.detail}; ${esp} ESP packets out`;
    if (!ok || ctx.scenario.upload !== true) {
      mark(ctx, c, label, multi, 'http', ok, down);
      return;
    }
    const up = await uploadCheck(ctx, c, label, false);
    mark(ctx, c, label, multi, 'http', up.ok, `${down}; upload ${UPLOAD_MIB} MiB: ${up.detail}`);
  });
  const wait = ctx.scenario.rekeyWaitS;
  if (wait !== undefined) await Promise.all(active().filter((c) => stageIndex(c.reached) >= stageIndex('child-sa')).map((c) => ikev2Rekey(ctx, c, label, multi, profile, wait)));
  await Promise.all(clients.map((c) => guestJob(ctx, c, 'collect', g.collectJob(c.gdir), 30)));
}

/**
 * The upload half of `http` (scenarios with `upload`): the client makes UPLOAD_MIB MiB of
 * random bytes, hashes them and PUTs them to the web server through the tunnel; the
 * server's own record of what arrived (httpd.py, hashed as it streamed in) must have the
 * same length and SHA-256. ~0.35 MB/s under TCG: 12 s per MiB and 30 s more.
 */
async function uploadCheck(ctx: Ctx, c: Client, label: string, viaPpp: boolean): Promise<{ ok: boolean; detail: string }> {
  const bytes = UPLOAD_MIB * 1024 * 1024;
  const limit = Math.round(30 + 12 * UPLOAD_MIB);
  const name = `${label}-${c.vm.name}-${randomBytes(4).toString('hex')}`.replace(/[^A-Za-z0-9._-]/g, '-').slice(-80);
  const t = performance.now();
  const before = await tunCounters(ctx);
  await guestJob(ctx, c, 'upload', g.uploadJob(c.gdir, name, bytes, limit, viaPpp), limit + 30);
  const after = await tunCounters(ctx);
  const record = readIf(join(ctx.www.uploadDir, `${name}.json`));
  note(ctx, `upload ${name}: the server's record: ${record.trim() || '(none)'}; the job took ${((performance.now() - t) / 1000).toFixed(1)}s`);
  // how much of it the server's TUN writes coalesced (native/tunoff.c): information, not a check (a slow VM may send one segment per turn)
  if (before && after) note(ctx, `upload ${name}: TUN writes meanwhile: ${after.coalesced - before.coalesced} packets in ${after.superPackets - before.superPackets} offload super-packets`);
  return g.uploadOk(readIf(join(c.hdir, 'upload.txt')), g.parseUploadRecord(record), bytes);
}

/** The server's TUN coalescing counters (status --json), or undefined when status fails. */
async function tunCounters(ctx: Ctx): Promise<{ superPackets: number; coalesced: number } | undefined> {
  const r = await cli(ctx.server, ['status', '--json']);
  if (r.code !== 0) return undefined;
  try {
    const c = (JSON.parse(r.stdout) as { counters?: Record<string, number> }).counters ?? {};
    return { superPackets: c['tun.write.super-packets'] ?? 0, coalesced: c['tun.write.coalesced'] ?? 0 };
  } catch {
    return undefined;
  }
}

/**
 * Rekeys under traffic (the client's: strongSwan rekeys the CHILD SA at childRekeyTime,
 * the IKE SA around ikeRekeyTime): 10.40.0.1 pinged every 0.5 s meanwhile; afterwards
 * new ESP SPIs, the CHILD SA INSTALLED, new IKE SPIs if the IKE SA was to rekey, and at
 * most 10% of the pings lost. Otherwise the client drops back to `child-sa`.
 */
async function ikev2Rekey(ctx: Ctx, c: Client, label: string, multi: boolean, profile: Profile, waitS: number): Promise<void> {
  const who = multi ? `${label}/${c.vm.name}` : label;
  say(`${who}: pinging for ${waitS}s while the SAs rekey`);
  await guestJob(ctx, c, 'rekey', g.ikev2RekeyJob(c.gdir, waitS), waitS + 30);
  const before = readIf(join(c.hdir, 'rekey-list-sas-before.txt'));
  const list = readIf(join(c.hdir, 'rekey-list-sas.txt'));
  const xfrm = readIf(join(c.hdir, 'rekey-xfrm-state.txt'));
  const spis = g.espSpis(xfrm);
  // an IKE SA rekey alone (serverIkeLifetime) keeps the children and their SPIs
  const childOk = g.childSaTunnelUp(list, xfrm).ok && (ctx.scenario.serverIkeLifetime !== undefined || spis.some((x) => !c.spis.includes(x)));
  const ikeBefore = g.ikeSpis(before);
  const ikeAfter = g.ikeSpis(list);
  const ikeOk = g.ikev2SaUp(list) && (profile.ikeRekeyTime === undefined || (ikeAfter !== '' && ikeAfter !== ikeBefore));
  const p = g.pingCounts(readIf(join(c.hdir, 'rekey-ping.txt')));
  const pingOk = p.sent > 0 && p.received >= Math.ceil(p.sent * 0.9);
  // a rekey the server started (serverChildLifetime): charon answered our CREATE_CHILD_SA and got our Delete of the old child
  let serverOk = true;
  let serverDetail = '';
  if (ctx.scenario.serverChildLifetime !== undefined) {
    const charon = readIf(join(c.hdir, 'charon.log'));
    const asked = /parsed CREATE_CHILD_SA request \d+ \[[^\]]*N\(REKEY_SA\)/.exec(charon)?.[0];
    const deleted = /received DELETE for ESP CHILD_SA[^\n]*/.exec(charon)?.[0];
    const slog = readIf(join(dirname(ctx.log), 'server.log'));
    const byServer = slog.split('\n').filter((l) => l.includes('"event":"ikev2.child.rekeyed"') && l.includes('"by":"server"')).length;
    serverOk = asked !== undefined && deleted !== undefined && byServer > 0;
    serverDetail = `; server-started: charon ${asked ? `"${asked}"` : 'got no CREATE_CHILD_SA request'}, ${deleted ? `"${deleted.trim()}"` : 'no Delete of the old child'}, server logged ${byServer} rekey(s) of its own`;
  }
  // an IKE SA rekey the server started (serverIkeLifetime): charon answered our CREATE_CHILD_SA for the IKE SA (SA, Nonce, KE,
  // no REKEY_SA), got our Delete of the old IKE SA, and its IKE SPIs changed
  if (ctx.scenario.serverIkeLifetime !== undefined) {
    const charon = readIf(join(c.hdir, 'charon.log'));
    const asked = /parsed CREATE_CHILD_SA request \d+ \[ SA No KE \]/.exec(charon)?.[0];
    const deleted = /received DELETE for IKE_SA[^\n]*|parsed INFORMATIONAL request \d+ \[ D \]/.exec(charon)?.[0];
    const slog = readIf(join(dirname(ctx.log), 'server.log'));
    const byServer = slog.split('\n').filter((l) => l.includes('"event":"ikev2.ike.rekeyed"') && l.includes('"by":"server"')).length;
    const changed = ikeAfter !== '' && ikeAfter !== ikeBefore;
    serverOk = serverOk && asked !== undefined && deleted !== undefined && byServer > 0 && changed;
    serverDetail += `; server-started IKE rekey: charon ${asked ? `"${asked}"` : 'got no CREATE_CHILD_SA request for the IKE SA'}, ${deleted ? `"${deleted.trim()}"` : 'no Delete of the old IKE SA'}, server logged ${byServer} IKE rekey(s) of its own`;
  }
  const ok = childOk && ikeOk && pingOk && serverOk;
  const detail = `ESP SPIs ${c.spis.join(',')} → ${spis.join(',')}; IKE SPIs ${ikeBefore || '-'} → ${ikeAfter || '-'}; ${p.received}/${p.sent} pings answered meanwhile${serverDetail}`;
  say(`${who}: rekeys under traffic ${ok ? '✓' : '✗'} (${detail})`);
  note(ctx, `rekey: ${ok ? 'ok' : 'FAILED'} (child ${childOk ? 'ok' : 'FAILED'}, IKE ${ikeOk ? 'ok' : 'FAILED'}, ping ${pingOk ? 'ok' : 'FAILED'}): ${detail}`);
  if (!ok) c.reached = 'child-sa';
}

/** The identity and key an IKEv2 PSK client uses: its user's, or the negative scenario's wrong one. */
function pskLogin(ctx: Ctx, c: Client, profile: Profile): g.Ikev2PskLogin {
  const other = ctx.server.users.find((u) => u.name !== c.user.name);
  if (profile.swapPsk && !other) throw new Error('swapPsk needs a second user');
  const key = profile.swapPsk ? other!.ikev2Psk : profile.wrongPsk ? `${c.user.ikev2Psk}x` : c.user.ikev2Psk;
  return { id: profile.pskIdentity ?? c.user.name, key };
}

/**
 * A refused IKEv2 PSK client (wrong key, unknown identity, another user's key): the
 * client must have received AUTHENTICATION_FAILED in IKE_AUTH, and the server must have
 * logged ikev2.auth.failed with the reason the scenario is about (naming the user where
 * there is one). No user's key may appear in the server's log. Otherwise the client
 * counts as having reached nothing.
 */
function pskRefused(ctx: Ctx, c: Client, label: string, multi: boolean, profile: Profile, charon: string): void {
  const who = multi ? `${label}/${c.vm.name}` : label;
  const client = /received AUTHENTICATION_FAILED notify error/.exec(charon)?.[0];
  const slog = readIf(join(dirname(ctx.log), 'server.log'));
  const want = profile.pskIdentity !== undefined
    ? { reason: `shared key: unknown identity "${profile.pskIdentity}"`, user: undefined }
    : { reason: `shared key: AUTH does not match the key of "${c.user.name}"`, user: c.user.name };
  const failures = slog
    .split('\n')
    .filter((l) => l.includes('"event":"ikev2.auth.failed"'))
    .map((l) => {
      try {
        return JSON.parse(l) as { reason?: string; user?: string; fields?: { reason?: string; user?: string } };
      } catch {
        return undefined;
      }
    })
    .map((e) => ({ reason: e?.reason ?? e?.fields?.reason, user: e?.user ?? e?.fields?.user }));
  const server = failures.find((f) => f.reason === want.reason && f.user === want.user);
  const leaked = ctx.server.users.filter((u) => slog.includes(u.ikev2Psk)).map((u) => u.name);
  const ok = client !== undefined && server !== undefined && leaked.length === 0;
  const detail = `client: ${client ?? 'no AUTHENTICATION_FAILED in charon.log'}; server: ${server ? `ikev2.auth.failed "${server.reason}"${server.user ? ` user ${server.user}` : ''}` : `no ikev2.auth.failed "${want.reason}" (saw: ${failures.map((f) => f.reason).join(' | ') || 'none'})`}${leaked.length ? `; KEY OF ${leaked.join(', ')} IN server.log` : ''}`;
  say(`${who}: IKEv2 PSK login refused at IKE_AUTH ${ok ? '✓' : '✗'} (${detail})`);
  note(ctx, `ikev2 psk: ${ok ? 'refused as expected' : 'NOT refused as expected'}: ${detail}`);
  if (!ok) c.reached = 'none';
}

/**
 * A wrong password must be refused by the server's EAP-MSCHAPv2 (the client logs the
 * MS-CHAPv2 failure or AUTHENTICATION_FAILED) and the server must log the failed login
 * with the user; a refusal for another reason (a timeout, a certificate problem) does
 * not count: the client then counts as having reached nothing.
 */
function wrongPasswordRefused(ctx: Ctx, c: Client, label: string, multi: boolean, refused: string | undefined): void {
  const who = multi ? `${label}/${c.vm.name}` : label;
  const slog = readIf(join(dirname(ctx.log), 'server.log'));
  const line = slog.split('\n').find((l) => l.includes('"event":"ikev2.auth.failed"') && l.includes(`wrong password (${c.user.name})`)) ?? '';
  const reason = /"reason":"([^"]*)"/.exec(line)?.[1] ?? '';
  const ok = refused !== undefined && reason !== '';
  const detail = `client: ${refused ?? 'no EAP/AUTHENTICATION_FAILED refusal in charon.log'}; server: ${reason !== '' ? `ikev2.auth.failed "${reason}"` : 'no ikev2.auth.failed naming the wrong password'}`;
  say(`${who}: wrong password refused by EAP-MSCHAPv2 ${ok ? '✓' : '✗'} (${detail})`);
  note(ctx, `wrong password: ${ok ? 'refused as expected' : 'NOT refused as expected'}: ${detail}`);
  if (!ok) c.reached = 'none';
}

/**
 * A client that does not trust the server's CA must refuse the server's certificate
 * itself (charon: no trusted path / constraint check failed), before any EAP: the
 * server must not have logged anyone in. Otherwise the client counts as having reached nothing.
 */
function untrustedCaRefused(ctx: Ctx, c: Client, label: string, multi: boolean, charon: string): void {
  const who = multi ? `${label}/${c.vm.name}` : label;
  const why = /no trusted \w+ public key found for '[^']*'|constraint check failed[^\n]*|no issuer certificate found[^\n]*/.exec(charon)?.[0];
  const eap = /server requested EAP_MSCHAPV2|sending 'alice'|sending '\w+'/.test(charon);
  const slog = readIf(join(dirname(ctx.log), 'server.log'));
  const loggedIn = slog.includes('"event":"ikev2.established"');
  const ok = why !== undefined && !loggedIn;
  const detail = `client: ${why ?? 'no certificate refusal in charon.log'}${eap ? ' (it got as far as EAP)' : ''}; server: ${loggedIn ? 'LOGGED SOMEONE IN' : 'nobody logged in'}`;
  say(`${who}: the server's certificate refused by a client trusting another CA ${ok ? '✓' : '✗'} (${detail})`);
  note(ctx, `untrusted CA: ${ok ? 'refused as expected' : 'NOT refused as expected'}: ${detail}`);
  if (!ok) c.reached = 'none';
}

/**
 * L2TP/PPP junk from the client inside its own SA (guest.ts junkJob): it must have gone
 * out through the SA, and afterwards the same session must still work (ping, a fetch)
 * with no session.stop in the server's log.
 */
async function junkCheck(ctx: Ctx, c: Client, label: string, multi: boolean, junk: { count: number; seconds: number }): Promise<void> {
  const who = multi ? `${label}/${c.vm.name}` : label;
  const slog = join(dirname(ctx.log), 'server.log');
  const stops = (): number => readIf(slog).split('"event":"session.stop"').length - 1;
  const stopsBefore = stops();
  await guestJob(ctx, c, 'junk', g.junkJob(c.gdir, junk.count, junk.seconds), junk.seconds + 40);
  const report = readIf(join(c.hdir, 'junk.txt'));
  const sent = Number(/sent (\d+) in/.exec(report)?.[1] ?? 0);
  const esp = g.xfrmOutPackets(readIf(join(c.hdir, 'junk-xfrm-after.txt')), SERVER_ADDR) - g.xfrmOutPackets(readIf(join(c.hdir, 'junk-xfrm-before.txt')), SERVER_ADDR);
  await guestJob(ctx, c, 'ping-after-junk', g.pingJob(c.gdir, 'ping-after-junk.txt'), 30);
  const ping = g.pingOk(readIf(join(c.hdir, 'ping-after-junk.txt')));
  await guestJob(ctx, c, 'http-after-junk', g.httpJob(c.gdir, SMALL, 60, 'curl-after-junk.txt'), 80);
  const h = g.httpOk(readIf(join(c.hdir, 'curl-after-junk.txt')), readIf(join(c.hdir, 'http-route.txt')), ctx.www.smallSha);
  const stopped = stops() - stopsBefore;
  const ok = sent === junk.count && esp >= sent && ping && h.ok && stopped === 0;
  const detail = `${report.trim().split('\n').slice(-1)[0] ?? 'no report'}; ${esp} ESP packets out meanwhile; then ping ${ping ? 'ok' : 'FAILED'}, 64 KiB fetch ${h.ok ? 'ok' : `FAILED (${h.detail})`}, ${stopped} session.stop`;
  say(`${who}: L2TP/PPP junk inside the SA, session holds ${ok ? '✓' : '✗'} (${detail})`);
  note(ctx, `junk: ${ok ? 'ok' : 'FAILED'}: ${detail}\n${report}`);
  if (!ok) c.reached = 'ppp-ip';
}

/** ICMP echo requests seen on the internet side of the server while `guest` runs. */
async function echoRequestsDuring(ctx: Ctx, guest: () => Promise<void>): Promise<{ count: number; lines: string[] }> {
  const cap = run('ip', ['netns', 'exec', ctx.net.inet, 'timeout', '15', 'tcpdump', '-i', 'to-server', '-nn', '-l', 'icmp[icmptype] == icmp-echo'], {
    allowFail: true,
    timeoutMs: 25_000,
  });
  await sleep(1500);
  await guest();
  const r = await cap;
  const lines = r.stdout.split('\n').filter((l) => /ICMP echo request/.test(l));
  return { count: lines.length, lines };
}

/** Packets from a source other than the client's own address must not leave the server. */
async function spoofCheck(ctx: Ctx, c: Client, label: string, multi: boolean): Promise<void> {
  const who = multi ? `${label}/${c.vm.name}` : label;
  const spoofed = await echoRequestsDuring(ctx, async () => {
    await guestJob(ctx, c, 'spoof', g.spoofJob(c.gdir), 40);
  });
  note(ctx, `spoof: ${spoofed.count} echo requests reached the internet namespace\n${spoofed.lines.join('\n')}`);
  const own = await echoRequestsDuring(ctx, async () => {
    await guestJob(ctx, c, 'own-ping', g.ownPingJob(c.gdir), 30);
  });
  note(ctx, `own address: ${own.count} echo requests reached the internet namespace`);
  const ok = spoofed.count === 0 && own.count > 0;
  say(`${who}: spoofed sources blocked ${ok ? '✓' : '✗'} (spoofed: ${spoofed.count} through, own address: ${own.count} through)`);
  if (!ok) c.reached = 'ppp-ip';
}

/**
 * The same user opens `extra` more sessions (LACs vpn2, vpn3, ...): all but the last
 * must come up (the server's limit is 2), the last must be refused with E=649, and
 * every session up must still answer a ping on its own interface.
 */
async function sessionLimit(ctx: Ctx, c: Client, label: string, multi: boolean, extra: number): Promise<void> {
  const who = multi ? `${label}/${c.vm.name}` : label;
  let ok = true;
  for (let n = 2; n <= extra + 1; n++) {
    await guestJob(ctx, c, `session-${n}`, g.extraSessionJob(c.gdir, n, 45), 70);
    const records = readIf(join(c.hdir, 'ipup.txt')).trim().split('\n').filter((l) => l !== '').length;
    const pppLog = readIf(join(c.hdir, `pppd-${n}.log`));
    const refused = /E=649|authentication failed/i.test(pppLog) && !/authentication succeeded/i.test(pppLog);
    const mustRefuse = n === extra + 1;
    const good = mustRefuse ? refused && records === n - 1 : records === n;
    const detail = mustRefuse
      ? refused
        ? `refused: ${(/MS-CHAP[^\n]*E=\d+[^\n]*/i.exec(pppLog)?.[0] ?? 'authentication failed').trim()}`
        : `NOT refused (${records} ip-up records)`
      : `${records} sessions up`;
    say(`${who}: session ${n} of the same user ${mustRefuse ? 'refused' : 'up'} ${good ? '✓' : '✗'} (${detail})`);
    note(ctx, `session-limit: session ${n} ${good ? 'as expected' : 'WRONG'}: ${detail}`);
    if (!good) ok = false;
  }
  for (let i = 0; i < extra; i++) {
    const ifname = `ppp${i}`;
    await guestJob(ctx, c, `ping-${ifname}`, g.pingIfJob(c.gdir, ifname, `ping-${ifname}.txt`), 30);
    const alive = g.pingOk(readIf(join(c.hdir, `ping-${ifname}.txt`)));
    say(`${who}: ${ifname} still answers ${alive ? '✓' : '✗'}`);
    if (!alive) ok = false;
  }
  // The scenario's verdict is its stage: a broken limit cannot count as `http`.
  if (!ok) c.reached = 'ppp-ip';
}

export function newClients(ctx: Ctx, vms: Vm[], label: string, setup: ServerSetup): Client[] {
  return vms.map((vm, i) => {
    const sub = join('s', label);
    mkdirSync(join(vm.share, sub), { recursive: true });
    const user = setup.users[i] ?? setup.users[0];
    if (!user) throw new Error('no users');
    return { vm, user, reached: 'none', stopped: false, gdir: `/t/${sub}`, hdir: join(vm.share, sub), spis: [] };
  });
}

/** Lowest stage reached over the clients. */
export function lowest(clients: Client[]): Stage | 'none' {
  let low: Stage | 'none' = STAGES[STAGES.length - 1] ?? 'none';
  for (const c of clients) if (stageIndex(c.reached) < stageIndex(low)) low = c.reached;
  return low;
}
export function highest(clients: Client[]): Stage | 'none' {
  let hi: Stage | 'none' = 'none';
  for (const c of clients) if (stageIndex(c.reached) > stageIndex(hi)) hi = c.reached;
  return hi;
}

/**
 * Operating a live server (the `operate` scenario): with the client connected, the
 * CLI's view of it (`status --json`, `sessions`), its counters growing with traffic,
 * the metrics endpoint, an administrative `disconnect` seen by the client's pppd, and
 * the `history` entry it leaves. Each check that fails is returned as a reason.
 */
import { createHmac } from 'node:crypto';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { checks, guestJob, note, readIf, SMALL, type Client, type Ctx } from './attempt.js';
import * as g from './guest.js';
import { SERVER_ADDR } from './netns.js';
import { cli, type ServerSetup } from './server.js';
import { run, say, sleep } from './util.js';

/** The fields of `status --json` this check reads (the CLI's JSON contract). */
export interface SessionJson {
  id: string;
  user: string | null;
  address: string | null;
  kind?: string;
  peer: string | null;
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
}
export interface StatusJson {
  listen: string[];
  pskFingerprint: string;
  pool: { used: number; free: number };
  sessions: SessionJson[];
}

export async function statusJson(ctx: Ctx, s: ServerSetup, dir: string, file: string): Promise<{ st: StatusJson | null; raw: string; why: string }> {
  const r = await cli(s, ['status', '--json']);
  writeFileSync(join(dir, file), r.out + '\n');
  note(ctx, `status --json (exit ${String(r.code)}): ${r.out}`);
  if (r.code !== 0) return { st: null, raw: r.out, why: `status --json exited ${String(r.code)}: ${r.out.slice(0, 300)}` };
  try {
    return { st: JSON.parse(r.stdout) as StatusJson, raw: r.stdout, why: '' };
  } catch {
    return { st: null, raw: r.out, why: `status --json printed no JSON: ${r.out.slice(0, 300)}` };
  }
}

/** One sample of a Prometheus text exposition (`name{labels} value`), or null. */
export function metricValue(text: string, name: string, labels = ''): number | null {
  const want = labels === '' ? name : `${name}{${labels}}`;
  for (const line of text.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp > 0 && line.slice(0, sp) === want) return Number(line.slice(sp + 1));
  }
  return null;
}

type Check = (ok: boolean, what: string, detail: string) => boolean;

/** `status --json` again after the second fetch: the session's counters grew by at least 64 KiB out; the session (or undefined). */
async function countersGrew(ctx: Ctx, s: ServerSetup, dir: string, a: SessionJson, check: Check): Promise<SessionJson | undefined> {
  const second = await statusJson(ctx, s, dir, 'status-2.json');
  const b = second.st?.sessions.find((x) => x.id === a.id);
  check(
    b !== undefined && b.bytesOut - a.bytesOut >= 64 * 1024 && b.bytesIn > a.bytesIn && b.packetsOut > a.packetsOut,
    'status: counters grow with traffic',
    b ? `out ${a.bytesOut} → ${b.bytesOut} B, in ${a.bytesIn} → ${b.bytesIn} B` : `session ${a.id} gone: ${second.why || second.raw.slice(0, 200)}`,
  );
  return b;
}

/** The text views, `status` and `sessions` (kept together in status.txt). */
async function textViews(s: ServerSetup, dir: string): Promise<{ text: { code: number | null; out: string }; sessions: { code: number | null; out: string } }> {
  const text = await cli(s, ['status']);
  const sessions = await cli(s, ['sessions']);
  writeFileSync(join(dir, 'status.txt'), `${text.out}\n\n${sessions.out}\n`);
  return { text, sessions };
}

/** The metrics endpoint's text, fetched inside the server's namespace (kept in metrics.txt). */
async function fetchMetrics(ctx: Ctx, s: ServerSetup, dir: string): Promise<{ stdout: string; stderr: string }> {
  const m = await run('ip', ['netns', 'exec', ctx.net.server, 'curl', '-sS', '--max-time', '10', `http://${s.metricsListen}/metrics`], { allowFail: true, timeoutMs: 20_000 });
  writeFileSync(join(dir, 'metrics.txt'), m.stdout + m.stderr);
  return m;
}

/** `disconnect USER --json`: exits 0 and names the session. */
async function disconnect(s: ServerSetup, dir: string, user: string, id: string, check: Check): Promise<void> {
  const d = await cli(s, ['disconnect', user, '--json']);
  writeFileSync(join(dir, 'disconnect.txt'), d.out + '\n');
  check(d.code === 0 && d.out.includes(id), 'disconnect', d.out.slice(0, 200));
}

/** After the disconnect: the user's session leaves status (within 20 s), then its `history` entry (undefined when none). */
async function goneThenHistory(
  ctx: Ctx,
  s: ServerSetup,
  dir: string,
  user: string,
  id: string,
  check: Check,
): Promise<{ last: { reason?: string; bytesOut?: number; address?: string } | undefined; hist: { out: string } }> {
  let gone = false;
  for (let i = 0; i < 20 && !gone; i++) {
    const r = await statusJson(ctx, s, dir, 'status-3.json');
    gone = r.st !== null && !r.st.sessions.some((x) => x.user === user);
    if (!gone) await sleep(1000);
  }
  check(gone, 'status after the disconnect', gone ? `no session of ${user}` : `${user} still listed`);
  const hist = await cli(s, ['history', '--user', user, '--json']);
  writeFileSync(join(dir, 'history.json'), hist.out + '\n');
  let last: { reason?: string; bytesOut?: number; address?: string } | undefined;
  try {
    const list = JSON.parse(hist.stdout) as Array<{ reason?: string; bytesOut?: number; address?: string; session?: string }>;
    last = list.filter((e) => e.session === id).at(-1); // the newest: a name may recur after a restart
  } catch {
    last = undefined;
  }
  return { last, hist };
}

/** `users del USER`: the running daemon reloads (the follow-up login of that user must then fail). */
async function usersDel(s: ServerSetup, dir: string, user: string, check: Check): Promise<void> {
  const del = await cli(s, ['users', 'del', user]);
  writeFileSync(join(dir, 'users-del.txt'), del.out + '\n');
  check(del.code === 0 && /reloaded/.test(del.out), 'users del + reload', del.out.split('\n').join(' | '));
}

export async function operate(ctx: Ctx, c: Client, dir: string): Promise<string[]> {
  const s = ctx.server;
  const user = c.user.name;
  const { fails, check } = checks(ctx, 'operate');

  // 1. status --json names the client: user, its pool address, its outer address, counters.
  const ipup = (readIf(join(c.hdir, 'ipup.txt')).trim().split('\n').at(-1) ?? '').split(' ');
  const clientAddr = ipup[1] ?? '?';
  const first = await statusJson(ctx, s, dir, 'status-1.json');
  if (!check(first.st !== null, 'status --json', first.why || 'parsed')) return fails;
  const st1 = first.st as StatusJson;
  // "SALT:DIGEST": DIGEST = first 16 hex digits of HMAC-SHA256 keyed with the salt's bytes over the PSK
  const salt = /^([0-9a-f]{16}):/.exec(st1.pskFingerprint)?.[1] ?? '';
  const fp = `${salt}:${createHmac('sha256', Buffer.from(salt, 'hex')).update(s.psk).digest('hex').slice(0, 16)}`;
  check(salt !== '' && st1.pskFingerprint === fp && !first.raw.includes(s.psk), 'status: PSK fingerprint, never the PSK', `fingerprint ${st1.pskFingerprint}, expected ${fp}; PSK in output: ${first.raw.includes(s.psk) ? 'YES' : 'no'}`);
  check(st1.listen.some((l) => l.startsWith(`${SERVER_ADDR}:`)), 'status: listening addresses', st1.listen.join(' '));
  const mine1 = st1.sessions.filter((x) => x.user === user);
  const a = mine1[0];
  if (!check(mine1.length === 1 && a !== undefined, 'status: the client\'s session', `${mine1.length} session(s) of ${user} among ${st1.sessions.length}`) || !a) return fails;
  check(a.address === clientAddr, 'status: assigned address', `status ${String(a.address)}, client's pppd ${clientAddr}`);
  const home = c.vm.home.kind === 'nat' ? c.vm.home.publicAddr : c.vm.addr;
  check(a.peer?.startsWith(`${home}:`) === true, 'status: outer address:port', `${String(a.peer)} (client seen from ${home})`);
  check(a.bytesIn > 0 && a.bytesOut > 0 && a.packetsIn > 0 && a.packetsOut > 0, 'status: counters after the fetch', `in ${a.bytesIn} B/${a.packetsIn} pkts, out ${a.bytesOut} B/${a.packetsOut} pkts`);

  // 2. Another 64 KiB fetch: the counters grow by at least that much towards the client.
  await guestJob(ctx, c, 'http-2', g.httpJob(c.gdir, SMALL, 60, 'curl-2.txt'), 80);
  const h = g.httpOk(readIf(join(c.hdir, 'curl-2.txt')), readIf(join(c.hdir, 'http-route.txt')), ctx.www.smallSha);
  check(h.ok, 'second fetch', h.detail);
  const b = await countersGrew(ctx, s, dir, a, check);

  // 3. The text views name the user.
  const { text, sessions } = await textViews(s, dir);
  check(text.code === 0 && sessions.code === 0 && text.out.includes(user) && sessions.out.includes(user) && sessions.out.includes(clientAddr), 'status / sessions text', `exit ${String(text.code)}/${String(sessions.code)}; see status.txt`);

  // 4. The metrics endpoint (inside the server namespace): one session, bytes both ways.
  const m = await fetchMetrics(ctx, s, dir);
  const sessionsGauge = metricValue(m.stdout, 'l2tpsec_sessions');
  const bytesOut = metricValue(m.stdout, 'l2tpsec_bytes_total', 'direction="out"');
  const bytesIn = metricValue(m.stdout, 'l2tpsec_bytes_total', 'direction="in"');
  check(sessionsGauge === 1 && (bytesOut ?? 0) >= (b?.bytesOut ?? 1) && (bytesIn ?? 0) > 0, 'metrics endpoint', `l2tpsec_sessions ${String(sessionsGauge)}, bytes out ${String(bytesOut)} in ${String(bytesIn)}`);

  // 5. disconnect USER: the client's pppd reports the hang-up (LCP Terminate from the server),
  //    xl2tpd the CDN, charon the Delete of its child SA.
  await disconnect(s, dir, user, a.id, check);
  await guestJob(ctx, c, 'hangup', g.hangupWaitJob(c.gdir, 30), 60);
  const pppd = readIf(join(c.hdir, 'hangup-pppd.txt'));
  check(/LCP terminated by peer/i.test(pppd), 'client pppd reports the hang-up', (pppd.trim().split('\n').find((l) => /terminated/i.test(l)) ?? 'nothing in pppd.log').trim());
  const xl2tpd = readIf(join(c.hdir, 'hangup-xl2tpd.txt'));
  note(ctx, `xl2tpd after the disconnect:\n${xl2tpd}`);
  check(/closed to .*\(admin disconnect\)/.test(xl2tpd), 'client xl2tpd gets the CDN', (xl2tpd.split('\n').find((l) => /closed/i.test(l)) ?? 'no close in xl2tpd.log').trim());
  const charon = readIf(join(c.hdir, 'hangup-charon.txt'));
  note(ctx, `charon after the disconnect:\n${charon}`);
  check(/received DELETE for ESP CHILD_SA/i.test(charon), 'client charon gets the Delete of its IPsec SA', (charon.split('\n').find((l) => /DELETE/.test(l)) ?? 'no DELETE in charon.log').trim());

  // 6. The session is gone from status, and history tells why it ended.
  const { last, hist } = await goneThenHistory(ctx, s, dir, user, a.id, check);
  check(last?.reason === 'admin disconnect' && (last.bytesOut ?? 0) >= (b?.bytesOut ?? 1), 'history', last ? `reason "${String(last.reason)}", ${String(last.bytesOut)} B out, address ${String(last.address)}` : `no entry for session ${a.id}: ${hist.out.slice(0, 200)}`);

  // 7. users del: the running daemon reloads; the next login of that user must fail (the follow-up attempt).
  await usersDel(s, dir, user, check);
  return fails;
}

/**
 * The same for an IKEv2 client (the `ikev2-operate` scenario): `status --json` lists it as
 * kind `ikev2` with its virtual IP and outer address, the counters grow with a second
 * fetch, the text views and the metrics show it; `disconnect USER` sends the INFORMATIONAL
 * Delete of the IKE SA, which charon must log (`received DELETE for IKE_SA`), and history
 * says `admin disconnect`; then `users del` (the follow-up login must be refused).
 */
export async function operateIkev2(ctx: Ctx, c: Client, dir: string): Promise<string[]> {
  const s = ctx.server;
  const user = c.user.name;
  const vip = c.vip ?? '';
  const { fails, check } = checks(ctx, 'operate');

  // 1. status --json: kind ikev2, the virtual IP charon got, its outer address, counters.
  const first = await statusJson(ctx, s, dir, 'status-1.json');
  if (!check(first.st !== null, 'status --json', first.why || 'parsed')) return fails;
  const mine1 = (first.st as StatusJson).sessions.filter((x) => x.user === user);
  const a = mine1[0];
  if (!check(mine1.length === 1 && a !== undefined, 'status: the client\'s session', `${mine1.length} session(s) of ${user} among ${(first.st as StatusJson).sessions.length}`) || !a) return fails;
  check(a.kind === 'ikev2', 'status: kind ikev2', `kind ${String(a.kind)}`);
  check(vip !== '' && a.address === vip, 'status: virtual IP', `status ${String(a.address)}, charon's virtual IP ${vip || '(none)'}`);
  const home = c.vm.home.kind === 'nat' ? c.vm.home.publicAddr : c.vm.addr;
  check(a.peer?.startsWith(`${home}:`) === true, 'status: outer address:port', `${String(a.peer)} (client seen from ${home})`);
  check(a.bytesIn > 0 && a.bytesOut > 0 && a.packetsIn > 0 && a.packetsOut > 0, 'status: counters after the fetch', `in ${a.bytesIn} B/${a.packetsIn} pkts, out ${a.bytesOut} B/${a.packetsOut} pkts`);

  // 2. Another 64 KiB fetch: the counters grow by at least that much towards the client.
  await guestJob(ctx, c, 'http-2', g.ikev2HttpJob(c.gdir, SMALL, 60, 'curl-2.txt'), 80);
  const h = g.ikev2HttpOk(readIf(join(c.hdir, 'curl-2.txt')), readIf(join(c.hdir, 'http-route.txt')), ctx.www.smallSha, vip);
  check(h.ok, 'second fetch', h.detail);
  const b = await countersGrew(ctx, s, dir, a, check);

  // 3. The text views name the user, the kind and the address.
  const { text, sessions } = await textViews(s, dir);
  const row = sessions.out.split('\n').find((l) => l.includes(user)) ?? '';
  check(text.code === 0 && sessions.code === 0 && text.out.includes('kind: ikev2') && /\bikev2\b/.test(row) && row.includes(vip), 'status / sessions text', `exit ${String(text.code)}/${String(sessions.code)}; row: ${row.trim() || '(none)'}`);

  // 4. The metrics endpoint: one session, of kind ikev2, and the bytes.
  const m = await fetchMetrics(ctx, s, dir);
  const gauge = metricValue(m.stdout, 'l2tpsec_sessions');
  const byKind = metricValue(m.stdout, 'l2tpsec_sessions_by_kind', 'kind="ikev2"');
  const bytesOut = metricValue(m.stdout, 'l2tpsec_bytes_total', 'direction="out"');
  check(gauge === 1 && byKind === 1 && (bytesOut ?? 0) >= (b?.bytesOut ?? 1), 'metrics endpoint', `l2tpsec_sessions ${String(gauge)}, by kind ikev2 ${String(byKind)}, bytes out ${String(bytesOut)}`);

  // 5. disconnect USER: the server deletes the IKE SA; charon must log the Delete.
  await disconnect(s, dir, user, a.id, check);
  await guestJob(ctx, c, 'hangup', g.ikev2HangupWaitJob(c.gdir, 30), 60);
  const charon = readIf(join(c.hdir, 'hangup-charon.txt'));
  note(ctx, `charon after the disconnect:\n${charon}`);
  check(/received DELETE for IKE_SA/.test(charon), 'client charon gets the Delete of its IKE SA', (charon.split('\n').find((l) => /DELETE/.test(l)) ?? 'no DELETE in charon.log').trim());
  const left = readIf(join(c.hdir, 'hangup-list-sas.txt'));
  check(!g.ikev2SaUp(left) && g.espSpis(readIf(join(c.hdir, 'hangup-xfrm-state.txt'))).length === 0, 'client has no SA left', g.ikev2SaUp(left) ? 'IKE SA still ESTABLISHED' : 'no IKE SA, no ESP state');

  // 6. The session is gone from status, and history tells why it ended.
  const { last, hist } = await goneThenHistory(ctx, s, dir, user, a.id, check);
  check(last?.reason === 'admin disconnect' && last.address === vip && (last.bytesOut ?? 0) >= (b?.bytesOut ?? 1), 'history', last ? `reason "${String(last.reason)}", ${String(last.bytesOut)} B out, address ${String(last.address)}` : `no entry for session ${a.id}: ${hist.out.slice(0, 200)}`);

  // 7. users del: the running daemon reloads; the next IKEv2 login of that user must fail (the follow-up attempt).
  await usersDel(s, dir, user, check);
  return fails;
}

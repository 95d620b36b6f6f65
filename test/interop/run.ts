/**
 * `npm run test:interop [-- --all | --scenario NAME ... | --list]`
 *
 * A real Linux L2TP/IPsec client (strongSwan + xl2tpd + pppd in a QEMU VM running
 * Debian's kernel) against l2tpsec in network namespaces. See test/interop/README.md.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareKernel, type GuestKernel } from './kernel.js';
import { cleanupStale, createCore, createHome, deleteNamespace, listNamespaces, netNames, removeServerLeftovers, serverForwarding, serverLeftovers, serverTable, setServerForwarding, HTTP_ADDR, type Home, type HomeKind, type Net } from './netns.js';
import { applyPathFaults, dropChapSuccessOffJob, dropChapSuccessOnJob, ikeDuplicates, netemOffJob, netemOnJob, netemSent, nftCounter, pathFaultCounters, quickModeReplies, removePathFaults } from './faults.js';
import { FLOOD_SRC_NET, startFlood, stopFlood, type RunningFlood } from './flood.js';
import { ALL_STAGES, SCENARIOS, profileOf, stageIndex, usesIkev2, type Scenario, type Stage, type Topology } from './scenarios.js';
import { addUser, BIG_CHAIN_DIR, cli, prepareBigChain, prepareServer, serverConfigText, startServer, stopServer, type RunningServer, type ServerSetup } from './server.js';
import { operate, operateIkev2 } from './operate.js';
import { radiusChecks, radiusConfigText, startRadius } from './radius.js';
import type { FreeRadius } from '../radius/freeradius.js';
import { rebind } from './rebind.js';
import { bigChainChecks } from './bigchain.js';
import { mobikeMove } from './mobike.js';
import { bootVm, job, shutdownVm, type Vm } from './vm.js';
import { vanishJob } from './guest.js';
import { attempt, BIG, highest, lowest, newClients, note, SMALL, smallOf, UPLOAD_MAX_BYTES, type Client, type Ctx, type Www } from './attempt.js';
import { Aborted, bash, checkAborted, headline, killAllLive, setAborting, run, say, startBackground, stopBackground, waitFor, type Background } from './util.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

interface Options {
  list: boolean;
  all: boolean;
  names: string[];
  timeoutMin: number;
  /** Override every selected scenario's `expect` (a probe: "does everything reach X?"). */
  expect: Stage | null;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { list: false, all: false, names: [], timeoutMin: 45, expect: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--list') o.list = true;
    else if (a === '--all') o.all = true;
    else if (a === '--scenario') o.names.push(...(argv[++i] ?? '').split(',').filter((s) => s !== ''));
    else if (a === '--timeout-min') o.timeoutMin = Number(argv[++i]);
    else if (a === '--expect') {
      const st = argv[++i] ?? '';
      const found = ALL_STAGES.find((x) => x === st);
      if (!found) throw new Error(`--expect needs one of ${ALL_STAGES.join(', ')}`);
      o.expect = found;
    }
    else if (a === '--help' || a === '-h') {
      process.stdout.write('usage: npm run test:interop -- [--list] [--all] [--scenario NAME[,NAME]]... [--expect STAGE] [--timeout-min N]\n');
      process.exit(0);
    } else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!(o.timeoutMin > 0)) throw new Error('--timeout-min needs a positive number');
  return o;
}

const homeKindOf = (t: Topology): HomeKind => (t === 'direct' || t === 'direct2' ? 'direct' : 'nat');
const vmCountOf = (t: Topology): number => (t === 'direct2' || t === 'nat2' ? 2 : 1);

/** Everything that cleanup must undo. */
interface World {
  net: Net | null;
  vms: Vm[];
  bg: Background[];
  wwwDir: string | null;
  /** The HTTP server's upload verdicts (one small JSON file per upload; no body is kept). */
  uploadDir: string | null;
  leftovers: string[];
}
const world: World = { net: null, vms: [], bg: [], wwwDir: null, uploadDir: null, leftovers: [] };

let cleaning: Promise<boolean> | null = null;


/** Undo everything; true when no namespace or QEMU of ours is left. Safe to call twice. */
function cleanup(): Promise<boolean> {
  cleaning ??= (async () => {
    setAborting();
    for (const vm of world.vms) await shutdownVm(vm).catch(() => undefined);
    for (const b of world.bg) await stopBackground(b, 3000).catch(() => undefined);
    const killed = killAllLive();
    if (killed.length > 0) say(`cleanup: killed ${killed.join(', ')}`);
    let clean = true;
    const net = world.net;
    if (net) {
      const names = await listNamespaces();
      if (names.includes(net.server)) {
        world.leftovers = await serverLeftovers(net).catch(() => []);
        if (world.leftovers.length > 0) say(`cleanup: the server left ${world.leftovers.join(', ')} in its namespace`);
      }
      for (const ns of [...net.homes.map((h) => h.ns), net.server, net.inet]) {
        if (names.includes(ns)) await deleteNamespace(ns);
      }
      const rest = (await listNamespaces()).filter((n) => n.startsWith(`${net.prefix}-`));
      if (rest.length > 0) {
        clean = false;
        say(`cleanup: namespaces still present: ${rest.join(' ')}`);
      }
    }
    for (const vm of world.vms) {
      if (!vm.qemu.hasExited() && vm.qemu.pid > 0) {
        clean = false;
        say(`cleanup: qemu pid ${vm.qemu.pid} still running`);
      }
    }
    if (world.wwwDir) rmSync(world.wwwDir, { recursive: true, force: true });
    if (world.uploadDir) rmSync(world.uploadDir, { recursive: true, force: true });
    return clean;
  })();
  return cleaning;
}

function onSignal(sig: NodeJS.Signals): void {
  say(`${sig}: cleaning up`);
  void cleanup().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
}

function makeFiles(dir: string, uploadDir: string): Www {
  mkdirSync(dir, { recursive: true });
  mkdirSync(uploadDir, { recursive: true });
  const small = randomBytes(64 * 1024);
  const big = randomBytes(20 * 1024 * 1024);
  writeFileSync(join(dir, SMALL), small);
  writeFileSync(join(dir, BIG), big);
  const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
  // one file of its own per VM when two clients share a scenario: each must get ITS bytes back
  const perVm = [0, 1].map((k) => {
    const b = randomBytes(64 * 1024);
    writeFileSync(join(dir, smallOf(k)), b);
    return sha(b);
  });
  return { dir, uploadDir, smallSha: sha(small), bigSha: sha(big), perVmSha: perVm };
}

/**
 * The web server in inet (httpd.py): GET of `www.dir` as `python3 -m http.server` serves it,
 * and PUT/POST to /upload/NAME hashed on the fly, its verdict in `www.uploadDir`/NAME.json
 * (at most UPLOAD_MAX_BYTES a body; nothing of the body is written).
 */
async function startHttp(net: Net, www: Www, logFile: string): Promise<Background> {
  const py = (await run('python3', ['-c', 'import sys; print(sys.executable)'])).stdout.trim();
  const args = [join(REPO, 'test', 'interop', 'httpd.py'), '--bind', HTTP_ADDR, '--port', '80', '--directory', www.dir, '--uploads', www.uploadDir, '--max-bytes', String(UPLOAD_MAX_BYTES)];
  const p = startBackground('httpd.py', 'ip', ['netns', 'exec', net.inet, py, ...args], logFile);
  world.bg.push(p);
  const ok = await waitFor(async () => {
    const r = await run('ip', ['netns', 'exec', net.inet, 'ss', '-H', '-tln', `src ${HTTP_ADDR}:80`], { allowFail: true });
    return r.stdout.trim() !== '' || p.hasExited();
  }, 20_000);
  if (!ok || p.hasExited()) throw new Error(`HTTP server on ${HTTP_ADDR}:80 did not start; see ${logFile}`);
  return p;
}

/**
 * tcpdump in the server namespace: the scenario's capture, and the proof of `ike-request`.
 * `--immediate-mode` with `-U`: each packet is in the file as soon as it was seen (without
 * it the kernel hands packets over in blocks, and a check right after a short exchange
 * could find none of them yet).
 */
async function startCapture(net: Net, pcap: string, logFile: string, exclude?: string): Promise<Background> {
  const filter = `(udp port 500 or udp port 4500 or udp port 1701 or esp)${exclude !== undefined ? ` and not net ${exclude}` : ''}`;
  const p = startBackground('tcpdump', 'ip', ['netns', 'exec', net.server, 'tcpdump', '-i', 'eth0', '-nn', '-U', '--immediate-mode', '-s', '2048', '-w', pcap, filter], logFile);
  world.bg.push(p);
  await waitFor(() => p.hasExited() || (existsSync(logFile) && /listening on/.test(readFileSync(logFile, 'utf8'))), 15_000, 200);
  return p;
}

interface Outcome {
  name: string;
  reached: string;
  ok: boolean;
  why: string;
  seconds: number;
  dir: string;
}

async function runScenario(sc: Scenario, net: Net, vms: Vm[], setup: ServerSetup, www: Www, runDir: string): Promise<Outcome> {
  const t0 = performance.now();
  const dir = join(runDir, sc.name);
  mkdirSync(dir, { recursive: true });
  const ctx: Ctx = { net, server: setup, www, scenario: sc, log: join(dir, 'scenario.log'), pcap: join(dir, 'server.pcap'), t0 };
  note(ctx, `scenario ${sc.name}: profile ${sc.profile} ${JSON.stringify(sc.tweak ?? {})}, topology ${sc.topology}, expect ${sc.expect}${sc.mustNotReach ? `, mustNotReach ${sc.mustNotReach}` : ''}`);
  say(`${sc.name}: start (${sc.profile}, ${sc.topology}, expect ${sc.expect}${sc.mustNotReach ? `, must not reach ${sc.mustNotReach}` : ''})`);
  // a flood's own packets stay out of the capture (it would be hundreds of MB)
  const capture = await startCapture(net, ctx.pcap, join(dir, 'tcpdump.log'), sc.flood ? FLOOD_SRC_NET : undefined);
  const why: string[] = [];
  let ok = true;
  // Checks beyond the stages; a check named in knownFailures is expected to fail (and must not pass).
  const known = new Set(sc.knownFailures ?? []);
  const check = (pass: boolean, what: string, detail: string): boolean => {
    const isKnown = known.has(what);
    const sign = pass ? (isKnown ? '✓ (but marked as a known failure: remove the mark)' : '✓') : isKnown ? '✗ (KNOWN FAILURE, expected on this code)' : '✗';
    say(`${sc.name}: ${what} ${sign} (${detail})`);
    note(ctx, `check: ${what} ${pass ? 'ok' : 'FAILED'}${isKnown ? ' [marked as a known failure]' : ''}: ${detail}`);
    if (pass === isKnown) {
      ok = false;
      why.push(isKnown ? `${what}: passes but is marked as a known failure (remove it from knownFailures)` : `${what}: ${detail}`);
    }
    return pass;
  };
  // kill9: what forwarding was before the first start, and the fresh start's rule count
  const forwardingBefore = sc.kill9 ? await serverForwarding(net) : '';
  // vanish: DPD and HELLO at 10 s, so the server notices soon; rebind: DPD at 10 s, so a probe to a stale mapping would show
  const timers = sc.vanish ? { dpdIdle: 10, helloInterval: 10 } : sc.rebind ? { dpdIdle: 10, helloInterval: 60 } : undefined;
  // a scenario with an IKEv2 client: the server serves IKEv2 too ([ikev2] enabled, the chain of cert init)
  const ikev2 = usesIkev2(sc);
  const ownConfig = sc.pool !== undefined || timers !== undefined || ikev2 || sc.radius === true;
  if (sc.bigChain) {
    const failed = await prepareBigChain(setup);
    if (failed) note(ctx, `server: ${failed}`);
  }
  if (ownConfig) writeFileSync(setup.config, serverConfigText(setup, sc.pool, timers, ikev2, sc.bigChain ? BIG_CHAIN_DIR : '', sc.serverChildLifetime, sc.serverIkeLifetime) + (sc.radius ? radiusConfigText() : ''));
  // radius: FreeRADIUS in the server namespace before the server (its first login asks it)
  let fr: FreeRadius | undefined;
  if (sc.radius) {
    try {
      fr = await startRadius(net.server, setup);
      note(ctx, `FreeRADIUS started in ${net.server} (${fr.dir}), auth ${fr.authPort}, acct ${fr.acctPort}`);
    } catch (e) {
      ok = false;
      why.push(`FreeRADIUS did not start: ${(e as Error).message.slice(0, 300)}`);
      note(ctx, `FreeRADIUS did not start: ${(e as Error).message}`);
    }
  }
  let srv = await startServer(net, setup, join(dir, 'server.log'), 60_000);
  for (const n of srv.notes) {
    note(ctx, `server: ${n}`);
    say(`${sc.name}: server: ${headline(n)}`);
  }
  if (srv.proc) world.bg.push(srv.proc);
  let reachedText = '';
  let freshRules = -1;
  if (sc.kill9) {
    const t = await serverTable(net);
    freshRules = t?.rules ?? -1;
    if (t) writeFileSync(join(dir, 'nft-fresh.txt'), t.text);
    note(ctx, `kill9: ip_forward before the first start ${forwardingBefore}; the fresh start's table has ${freshRules} rules`);
  }
  try {
    const clients = newClients(ctx, vms, sc.name, setup);
    await faulted(ctx, sc, vms, clients, srv, dir, check, () => attempt(ctx, clients, sc.name, profileOf(sc.profile, sc.tweak)));
    const low = lowest(clients);
    const high = highest(clients);
    reachedText = low === high ? low : `${low}..${high}`;
    if (stageIndex(low) < stageIndex(sc.expect)) {
      ok = false;
      why.push(`reached ${low}, expected ${sc.expect}`);
    }
    if (sc.mustNotReach && stageIndex(high) >= stageIndex(sc.mustNotReach)) {
      ok = false;
      why.push(`reached ${high}, must not reach ${sc.mustNotReach}`);
    }
    const first = clients[0];
    if (sc.rebind && first && ok) {
      say(`${sc.name}: the home NAT forgets the client's mapping; its next packets leave from a new port`);
      const fails = await rebind(ctx, first, dir);
      if (fails.length > 0) {
        ok = false;
        why.push(...fails);
      }
    }
    if (sc.bigChain && first && ok) {
      const fails = bigChainChecks(ctx, first, join(setup.dir, BIG_CHAIN_DIR, 'server.crt'));
      if (fails.length > 0) {
        ok = false;
        why.push(...fails);
      }
    }
    if (sc.mobikeMove && first && ok) {
      say(`${sc.name}: the home router moves the client to another public address mid-download`);
      const fails = await mobikeMove(ctx, first, dir);
      if (fails.length > 0) {
        ok = false;
        why.push(...fails);
      }
    }
    if (sc.operate && first && ok) {
      say(`${sc.name}: operating the server: status, metrics, disconnect, history, users del`);
      const fails = profileOf(sc.profile, sc.tweak).kind === 'ikev2' ? await operateIkev2(ctx, first, dir) : await operate(ctx, first, dir);
      if (fails.length > 0) {
        ok = false;
        why.push(...fails);
      }
    }
    if (sc.radius && first && ok && fr) {
      say(`${sc.name}: RADIUS: ${sc.tweak?.wrongPassword ? 'the Access-Reject, no accounting' : "the address it gave, Start, Interim-Update, radclient's Disconnect-Request, the Stop's bytes"}`);
      const fails = await radiusChecks(ctx, first, fr, dir);
      if (fails.length > 0) {
        ok = false;
        why.push(...fails);
      }
    }
    if (sc.thenProfile) {
      if (sc.restartServer && sc.kill9) {
        say(`${sc.name}: kill -9 of the server with the client connected, then a start`);
        if (srv.proc) {
          srv.proc.child.kill('SIGKILL');
          await srv.proc.exited;
        }
        const left = await serverLeftovers(net);
        note(ctx, `server killed (SIGKILL); left behind (expected: its nftables table): ${left.length > 0 ? left.join(', ') : 'nothing'}; ip_forward now ${await serverForwarding(net)}`);
        srv = await startServer(net, setup, join(dir, 'server-2.log'), 60_000);
        if (srv.proc) world.bg.push(srv.proc);
        const t = await serverTable(net);
        if (t) writeFileSync(join(dir, 'nft-after-kill9.txt'), t.text);
        check(t !== null && freshRules > 0 && t.rules === freshRules, 'restart after kill -9: nftables table as a fresh start has it', `${t ? t.rules : 'no table'} rules after the restart, ${freshRules} after a fresh start`);
      } else if (sc.restartServer) {
        say(`${sc.name}: restarting the server`);
        await stopServer(srv);
        const left = await serverLeftovers(net);
        note(ctx, `server stopped for a restart; left behind: ${left.length > 0 ? left.join(', ') : 'nothing'}`);
        if (left.length > 0) {
          ok = false;
          why.push(`server left ${left.join(', ')} at its stop`);
        }
        srv = await startServer(net, setup, join(dir, 'server-2.log'), 60_000);
        if (srv.proc) world.bg.push(srv.proc);
      }
      if (sc.vanish) {
        say(`${sc.name}: the client vanishes (kill -9, no goodbye); waiting for the server to notice`);
        const tv = performance.now();
        for (const vm of vms) {
          const r = await job(vm, 'vanish', vanishJob(), 30);
          note(ctx, `--- ${vm.name} job vanish: rc=${String(r.rc)}\n${r.out.trimEnd()}`);
        }
        const slog = join(dir, 'server.log');
        const noticed = await waitFor(() => existsSync(slog) && readFileSync(slog, 'utf8').includes('"event":"session.stop"'), 150_000, 1000);
        const took = ((performance.now() - tv) / 1000).toFixed(1);
        note(ctx, `server ${noticed ? `logged session.stop ${took}s after the client vanished` : 'logged no session.stop within 150 s of the client vanishing'}`);
        say(`${sc.name}: ${noticed ? `server noticed in ${took}s` : 'server did not notice within 150 s'}`);
        if (!noticed) {
          ok = false;
          why.push('the server did not end the vanished session within 150 s');
        } else {
          // history and session.stop must say why: a liveness check (DPD, or L2TP HELLO unanswered), not a clean close
          const stop = readFileSync(slog, 'utf8').split('\n').find((l) => l.includes('"event":"session.stop"')) ?? '';
          const reason = /"reason":"([^"]*)"/.exec(stop)?.[1] ?? '';
          const named = /dpd|acknowledgement/i.test(reason);
          note(ctx, `session.stop reason: "${reason}"`);
          say(`${sc.name}: session.stop reason "${reason}" ${named ? '✓' : '✗'}`);
          if (!named) {
            ok = false;
            why.push(`the vanished session ended with reason "${reason}", not DPD / HELLO unanswered`);
          }
        }
      }
      const label = `${sc.name}-then-${sc.thenProfile}`;
      const then = newClients(ctx, vms, label, setup);
      await attempt(ctx, then, label, profileOf(sc.thenProfile));
      const tl = lowest(then);
      reachedText += `, then ${tl}`;
      const te = sc.thenExpect ?? sc.expect;
      if (stageIndex(tl) < stageIndex(te)) {
        ok = false;
        why.push(`follow-up ${sc.thenProfile} reached ${tl}, expected ${te}`);
      }
      const th = highest(then);
      if (sc.thenMustNotReach && stageIndex(th) >= stageIndex(sc.thenMustNotReach)) {
        ok = false;
        why.push(`follow-up ${sc.thenProfile} reached ${th}, must not reach ${sc.thenMustNotReach}`);
      }
    }
    if (sc.kill9) {
      // a clean stop of the restarted server: nothing left, forwarding as before the FIRST start
      await stopServer(srv);
      const left = await serverLeftovers(net);
      check(left.length === 0, 'clean stop after the restart leaves nothing', left.length > 0 ? left.join(', ') : 'no l2stun* device, no l2tpsec table');
      const fw = await serverForwarding(net);
      check(fw === forwardingBefore, 'ip_forward after the clean stop as before the first start', `before the first start ${forwardingBefore}, after kill -9, restart and clean stop ${fw}`);
    }
  } catch (e) {
    if (e instanceof Aborted) throw e;
    ok = false;
    why.push(`harness error: ${(e as Error).message}`);
    note(ctx, `harness error: ${(e as Error).stack ?? String(e)}`);
  } finally {
    await stopServer(srv);
    if (fr) {
      writeFileSync(join(dir, 'freeradius.log'), fr.log());
      writeFileSync(join(dir, 'radius-detail.txt'), fr.detail());
      await fr.stop();
    }
    if (sc.kill9 && forwardingBefore !== '' && (await serverForwarding(net)) !== forwardingBefore) {
      // whatever the server did, the next scenario starts as this one did
      await setServerForwarding(net, forwardingBefore);
      note(ctx, `kill9: ip_forward set back to ${forwardingBefore} for the scenarios after this one`);
    }
    if (ownConfig) writeFileSync(setup.config, serverConfigText(setup));
    if (sc.operate) {
      // put back the users this scenario deleted, for the scenarios after it
      const have = (await cli(setup, ['users', 'list', '--json'])).stdout;
      for (const u of setup.users) {
        if (have.includes(`"${u.name}"`)) continue;
        const r = await addUser(setup, u);
        note(ctx, `users add ${u.name} (restore): exit ${String(r.code)} ${r.out}`);
      }
    }
    await stopBackground(capture, 2000);
    const left = await serverLeftovers(net);
    if (left.length > 0) {
      why.push(`server left ${left.join(', ')}`);
      ok = false;
      note(ctx, `server left behind: ${left.join(', ')} (removed for the next scenario)`);
      await removeServerLeftovers(net);
    }
    for (const vm of vms) {
      for (const sub of [sc.name, `${sc.name}-then-${sc.thenProfile ?? ''}`]) {
        const src = join(vm.share, 's', sub);
        if (existsSync(src)) cpSync(src, join(dir, vms.length > 1 || sub !== sc.name ? `${vm.name}${sub === sc.name ? '' : '-then'}` : 'client'), { recursive: true });
      }
    }
  }
  checkAborted();
  const seconds = (performance.now() - t0) / 1000;
  note(ctx, `result: ${ok ? 'PASS' : 'FAIL'} reached ${reachedText} in ${seconds.toFixed(1)}s ${why.join('; ')}`);
  say(`${sc.name}: ${ok ? 'PASS' : 'FAIL'} — reached ${reachedText || 'none'} (expect ${sc.expect}) in ${seconds.toFixed(1)}s${ok ? '' : `: ${why.join('; ')}\n    artifacts: ${dir}`}`);
  return { name: sc.name, reached: reachedText || 'none', ok, why: why.join('; '), seconds, dir };
}

/**
 * The first attempt under the scenario's faults: loss/duplicates on the path, netem on
 * the VMs, a flood; each one is undone after the attempt (whatever happened) and judged.
 */
async function faulted(ctx: Ctx, sc: Scenario, vms: Vm[], clients: Client[], srv: RunningServer, dir: string, check: (pass: boolean, what: string, detail: string) => boolean, body: () => Promise<void>): Promise<void> {
  const home = vms[0]?.home;
  const path = (sc.pathLossPct ?? 0) > 0 || sc.dupIke === true || sc.dropQm3Once === true;
  let flood: RunningFlood | null = null;
  const slog = join(dir, 'server.log');
  try {
    if (path && home) {
      const rules = await applyPathFaults(ctx.net, home, { ...(sc.pathLossPct !== undefined ? { lossPct: sc.pathLossPct } : {}), ...(sc.dupIke === true ? { dupIke: true } : {}), ...(sc.dropQm3Once === true ? { dropQm3Once: true } : {}) });
      note(ctx, `faults on the path (inet):\n${rules}`);
      say(`${sc.name}: path faults on:${sc.pathLossPct ? ` ${sc.pathLossPct}% loss each way` : ''}${sc.dupIke ? ' every IKE packet twice' : ''}${sc.dropQm3Once ? ' the client\'s first QM3 dropped' : ''}`);
    }
    if (sc.clientNetem !== undefined) {
      for (const c of clients) {
        const r = await job(c.vm, 'netem-on', netemOnJob(c.gdir, sc.clientNetem), 20);
        note(ctx, `--- ${c.vm.name} job netem-on: rc=${String(r.rc)}\n${r.out.trimEnd()}`);
        check(r.rc === 0 && /netem/.test(r.out), 'netem on the client VM', r.out.trim().split('\n').at(-1) ?? '');
      }
    }
    if (sc.dropChapSuccessOnce) {
      for (const c of clients) {
        const r = await job(c.vm, 'drop-chap-success', dropChapSuccessOnJob(c.gdir), 20);
        note(ctx, `--- ${c.vm.name} job drop-chap-success: rc=${String(r.rc)}\n${r.out.trimEnd()}`);
        check(/rc=0/.test(r.out), 'the client drops the first MS-CHAPv2 Success (nftables in the VM)', r.out.trim().split('\n').at(-1) ?? '');
      }
    }
    if (sc.flood && srv.proc) flood = await startFlood(ctx, sc.flood, srv.proc.pid, slog, dir);
    await body();
  } finally {
    if (flood && sc.flood) await stopFlood(ctx, flood, sc.flood, slog, dir, check);
    if (path) {
      const n = await pathFaultCounters(ctx.net);
      await removePathFaults(ctx.net);
      writeFileSync(join(dir, 'path-faults.json'), JSON.stringify(Object.fromEntries(n), null, 1));
      if ((sc.pathLossPct ?? 0) > 0) {
        const all = (n.get('all-up') ?? 0) + (n.get('all-down') ?? 0);
        const lost = (n.get('loss-up') ?? 0) + (n.get('loss-down') ?? 0);
        const pct = all > 0 ? (100 * lost) / all : 0;
        // the drops must really have happened, at about the rate asked for
        check(all > 500 && Math.abs(pct - (sc.pathLossPct ?? 0)) < 2, `${sc.pathLossPct ?? 0}% loss on the path`, `${lost} of ${all} packets dropped (${pct.toFixed(2)}%): up ${n.get('loss-up') ?? 0}/${n.get('all-up') ?? 0}, down ${n.get('loss-down') ?? 0}/${n.get('all-down') ?? 0}`);
      }
      if (sc.dupIke) {
        const up = (n.get('dup-up-500') ?? 0) + (n.get('dup-up-4500') ?? 0);
        const down = (n.get('dup-down-500') ?? 0) + (n.get('dup-down-4500') ?? 0);
        const seen = ikeDuplicates(ctx.pcap, 'to-server');
        // every IKE packet the client sent reached the server twice, byte for byte (one lost copy at most: the capture starts with the flow)
        check(up >= 4 && down >= 3 && seen.distinct > 0 && seen.twice >= seen.distinct - 1, 'every IKE packet duplicated on the path', `copied ${up} up, ${down} down; the server's capture has ${seen.distinct} distinct IKE packets from the client, ${seen.twice} of them twice`);
      }
      if (sc.dropQm3Once) {
        const dropped = n.get('drop-qm3') ?? 0;
        const qm2 = await quickModeReplies(ctx.pcap);
        check(dropped === 1 && qm2 >= 2, "the client's QM3 dropped once, the server sent QM2 again", `${dropped} QM3 dropped; the server's capture has ${qm2} Quick Mode replies`);
      }
    }
    if (sc.dropChapSuccessOnce) {
      for (const c of clients) {
        const r = await job(c.vm, 'drop-chap-success-off', dropChapSuccessOffJob(c.gdir), 20);
        note(ctx, `--- ${c.vm.name} job drop-chap-success-off: rc=${String(r.rc)}\n${r.out.trimEnd()}`);
        const dropped = nftCounter(r.out, 'success-dropped');
        const passed = nftCounter(r.out, 'success-passed');
        check(dropped === 1 && passed >= 1, 'the first Success dropped, the server sent it again', `${dropped} dropped, ${passed} repeated Success let through`);
      }
    }
    if (sc.clientNetem !== undefined) {
      for (const c of clients) {
        const r = await job(c.vm, 'netem-off', netemOffJob(c.gdir), 20);
        note(ctx, `--- ${c.vm.name} job netem-off: rc=${String(r.rc)}\n${r.out.trimEnd()}`);
        const sent = netemSent(r.out);
        check(sent > 100 && !/qdisc netem/.test(r.out.split('\n').slice(-3).join('\n')), 'netem delayed the client\'s packets (then off)', `${sent} packets through netem`);
      }
    }
  }
}

function selectScenarios(o: Options): Scenario[] {
  if (o.names.length > 0) {
    return o.names.map((n) => {
      const s = SCENARIOS.find((x) => x.name === n);
      if (!s) throw new Error(`no scenario ${n} (see --list)`);
      return s;
    });
  }
  return SCENARIOS.filter((s) => o.all || s.ci);
}

function withExpect(list: Scenario[], expect: Stage | null): Scenario[] {
  return expect === null ? list : list.map((s) => ({ ...s, expect, thenExpect: s.thenProfile ? expect : s.thenExpect }));
}

/** Scenarios grouped by home (direct first), one-VM scenarios before two-VM ones. */
function order(list: Scenario[]): Scenario[] {
  const key = (s: Scenario): number => (homeKindOf(s.topology) === 'direct' ? 0 : 10) + vmCountOf(s.topology);
  return list.map((s, i) => ({ s, i })).sort((a, b) => key(a.s) - key(b.s) || a.i - b.i).map((x) => x.s);
}

async function checkTools(): Promise<void> {
  const missing: string[] = [];
  for (const t of ['qemu-system-x86_64', 'tcpdump', 'nft', 'conntrack', 'ip', 'ss', 'modprobe', 'depmod', 'cpio', 'dpkg-deb', 'python3', '/bin/busybox', '/usr/lib/ipsec/charon', 'swanctl', 'xl2tpd', 'pppd', 'curl']) {
    const r = await bash(`command -v ${t}`, { allowFail: true });
    if (r.code !== 0) missing.push(t);
  }
  if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}: run \`sudo bash test/interop/setup.sh\``);
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  if (o.list) {
    for (const s of SCENARIOS) {
      process.stdout.write(`${s.name.padEnd(20)} ${s.profile.padEnd(11)} ${s.topology.padEnd(8)} expect ${s.expect.padEnd(12)}${s.mustNotReach ? ` mustNotReach ${s.mustNotReach}` : ''}${s.ci ? '  [ci]' : ''}\n`);
    }
    return 0;
  }
  if (process.getuid?.() !== 0) throw new Error('the interop suite needs root (network namespaces, taps, nftables)');
  const scenarios = order(withExpect(selectScenarios(o), o.expect));
  say(`interop: ${scenarios.length} scenario(s): ${scenarios.map((s) => s.name).join(', ')}`);
  await checkTools();
  const stale = await cleanupStale();
  if (stale.length > 0) say(`removed stale namespaces of crashed runs: ${stale.join(' ')}`);

  const kernel: GuestKernel = await prepareKernel(join(REPO, '.cache', 'interop'));
  const runId = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d+Z$/, 'Z');
  const runDir = join(REPO, 'artifacts', 'interop', runId);
  mkdirSync(runDir, { recursive: true });
  say(`artifacts: ${runDir}`);

  const prefix = `l2s${process.pid}`;
  const net = netNames(prefix);
  world.net = net;
  await createCore(net);
  world.wwwDir = join(tmpdir(), `${prefix}-www`);
  world.uploadDir = join(tmpdir(), `${prefix}-uploads`);
  const www = makeFiles(world.wwwDir, world.uploadDir);
  await startHttp(net, www, join(runDir, 'http.log'));
  say(`network: ${net.inet}, ${net.server} up; HTTP on ${HTTP_ADDR}:80`);

  const psk = randomBytes(12).toString('hex');
  const users = [
    { name: 'alice', password: randomBytes(9).toString('base64url'), ikev2Psk: randomBytes(24).toString('base64url') },
    { name: 'bob', password: randomBytes(9).toString('base64url'), ikev2Psk: randomBytes(24).toString('base64url') },
  ];
  const setup = await prepareServer(REPO, runDir, psk, users, join(tmpdir(), `${prefix}-control.sock`));
  for (const n of setup.notes) say(`server setup: ${headline(n)}`);

  const homes = new Map<HomeKind, { home: Home; vms: Vm[] }>();
  const outcomes: Outcome[] = [];
  const boots: string[] = [];
  let index = 0;
  for (const sc of scenarios) {
    const kind = homeKindOf(sc.topology);
    // Done with the other home: stop its VMs (CPU is scarce).
    for (const [k, h] of homes) {
      if (k !== kind && h.vms.length > 0) {
        for (const vm of h.vms) await shutdownVm(vm);
        h.vms = [];
      }
    }
    let h = homes.get(kind);
    if (!h) {
      index += 1;
      h = { home: await createHome(net, index, kind), vms: [] };
      homes.set(kind, h);
    }
    while (h.vms.length < vmCountOf(sc.topology)) {
      say(`booting client VM ${h.vms.length} in ${h.home.ns} (${kind})...`);
      const vm = await bootVm({ kernel, home: h.home, k: h.vms.length, runDir, bootTimeoutMs: 240_000 });
      world.vms.push(vm);
      h.vms.push(vm);
      boots.push(`${vm.name} ${vm.bootSeconds.toFixed(1)}s`);
      say(`VM ${vm.name} (${vm.addr}) booted in ${vm.bootSeconds.toFixed(1)}s`);
    }
    checkAborted();
    outcomes.push(await runScenario(sc, net, h.vms.slice(0, vmCountOf(sc.topology)), setup, www, runDir));
  }

  const clean = await cleanup();
  process.stdout.write('\n== interop summary\n');
  for (const r of outcomes) process.stdout.write(`${r.ok ? 'PASS' : 'FAIL'} ${r.name.padEnd(20)} reached ${r.reached.padEnd(24)} ${r.seconds.toFixed(1).padStart(6)}s${r.ok ? '' : `  ${r.why}  (${r.dir})`}\n`);
  process.stdout.write(`boots: ${boots.join(', ') || 'none'}\n`);
  process.stdout.write(`server leftovers in its namespace at the end: ${world.leftovers.length === 0 ? 'none' : world.leftovers.join(', ')}\n`);
  process.stdout.write(`cleanup: ${clean ? 'no namespace or QEMU of this run left' : 'INCOMPLETE (see above)'}\n`);
  process.stdout.write(`total ${(performance.now() / 1000).toFixed(1)}s\n`);
  process.stdout.write(`artifacts: ${runDir}\n`);
  const passed = outcomes.filter((r) => r.ok).length;
  process.stdout.write(`interop: ${passed} passed, ${outcomes.length - passed} failed\n`);
  writeFileSync(join(runDir, 'summary.json'), JSON.stringify({ outcomes, boots, leftovers: world.leftovers, clean }, null, 2));
  return outcomes.every((r) => r.ok) && clean && world.leftovers.length === 0 ? 0 : 1;
}

process.on('uncaughtException', (e) => {
  say(`interop: uncaught ${e.stack ?? String(e)}: cleaning up`);
  void cleanup().finally(() => process.exit(1));
});
process.on('unhandledRejection', (e) => {
  say(`interop: unhandled rejection ${String(e)}: cleaning up`);
  void cleanup().finally(() => process.exit(1));
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);

const o = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch {
    return null;
  }
})();
const overall = setTimeout(() => {
  say(`interop: overall time limit (${o?.timeoutMin ?? 45} min) reached: cleaning up`);
  void cleanup().finally(() => process.exit(1));
}, (o?.timeoutMin ?? 45) * 60_000);

main()
  .then(async (code) => {
    clearTimeout(overall);
    await cleanup();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    clearTimeout(overall);
    if (!(e instanceof Aborted)) say(`interop: error: ${(e as Error).message}`);
    await cleanup();
    process.exit(1);
  });

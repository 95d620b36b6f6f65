/**
 * One client VM: Debian's kernel under QEMU (TCG) inside a home namespace, the host's
 * root as its read-only root, and a read-write 9p folder (`/t` in the guest) through
 * which the host drives it: the host writes jobs/N.sh (and N.t, its time limit in
 * seconds), the guest agent runs it and writes N.out and N.rc. The VM boots once and
 * runs scenario after scenario.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GuestKernel } from './kernel.js';
import { CLIENT_GW, createTap, type Home } from './netns.js';
import { startBackground, stopBackground, waitFor, type Background, sleep } from './util.js';

export interface Vm {
  name: string;
  home: Home;
  /** Index in its home: address 192.0.2.(10+k). */
  k: number;
  addr: string;
  /** Host path of the guest's /t. */
  share: string;
  qemu: Background;
  seq: number;
  bootSeconds: number;
}

export interface JobResult {
  rc: number | null;
  out: string;
  timedOut: boolean;
}

/** Guest modules for IPsec transport mode (esp4 + XFRM), PPP and L2TP. */
const GUEST_MODULES = ['esp4', 'xfrm_user', 'af_key', 'authenc', 'echainiv', 'cbc', 'des_generic', 'des3_ede', 'sha256_generic', 'sha512_generic', 'ppp_generic', 'ppp_async', 'l2tp_ppp', 'tun'];

/** The guest's agent: set up, then run jobs from /t/jobs in order, forever. */
function agentScript(addr: string, hostname: string): string {
  return `#!/bin/sh
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev 2>/dev/null
mount -t tmpfs tmpfs /run; mount -t tmpfs tmpfs /tmp; mkdir -p /dev/pts /run/lock; mount -t devpts devpts /dev/pts
for m in ${GUEST_MODULES.join(' ')}; do modprobe $m 2>>/t/agent.log; done
hostname ${hostname}
ip link set lo up; ip link set eth0 up
ip addr add ${addr}/24 dev eth0; ip route add default via ${CLIENT_GW}
echo "booted $(cat /proc/uptime)" >> /t/agent.log
touch /t/ready
cd /t/jobs || exit 1
while :; do
  for j in /t/jobs/*.sh; do
    [ -e "$j" ] || continue
    n=\${j%.sh}
    [ -e "$n.started" ] && continue
    : > "$n.started"
    lim=$(cat "$n.t" 2>/dev/null || echo 60)
    timeout -k 5 "$lim" sh "$j" > "$n.out" 2>&1 < /dev/null
    echo $? > "$n.rc.tmp"; mv "$n.rc.tmp" "$n.rc"
  done
  sleep 0.3
done
`;
}

export interface BootOptions {
  kernel: GuestKernel;
  home: Home;
  k: number;
  runDir: string;
  bootTimeoutMs: number;
}

export async function bootVm(o: BootOptions): Promise<Vm> {
  const name = `${o.home.kind}${o.home.index}-vm${o.k}`;
  const share = join(o.runDir, 'vm', name);
  mkdirSync(join(share, 'jobs'), { recursive: true });
  mkdirSync(join(share, 's'), { recursive: true });
  const addr = `192.0.2.${10 + o.k}`;
  writeFileSync(join(share, 'agent.sh'), agentScript(addr, `l2s-${name}`), { mode: 0o755 });
  const tap = `tap${o.k}`;
  await createTap(o.home, tap);
  const mac = `52:54:00:12:${(o.home.index & 0xff).toString(16).padStart(2, '0')}:${(10 + o.k).toString(16).padStart(2, '0')}`;
  const args = [
    'netns', 'exec', o.home.ns,
    'qemu-system-x86_64',
    '-name', `l2s-${name}`,
    '-accel', 'tcg,thread=single', '-cpu', 'max', '-smp', '1', '-m', '512',
    '-nodefaults', '-no-user-config', '-display', 'none', '-monitor', 'none', '-no-reboot',
    '-serial', `file:${join(share, 'console.log')}`,
    '-kernel', o.kernel.vmlinuz, '-initrd', o.kernel.initrd,
    '-append', 'console=ttyS0 panic=-1 loglevel=4 random.trust_cpu=on',
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${o.kernel.modulesDir},mount_tag=mods,security_model=none,readonly=on`,
    '-virtfs', `local,path=${share},mount_tag=t,security_model=none`,
    '-device', 'virtio-rng-pci',
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    // romfile=: no PXE option ROM needed (direct kernel boot), so ipxe-qemu is optional.
    '-device', `virtio-net-pci,netdev=n0,mac=${mac},romfile=`,
  ];
  const started = performance.now();
  const qemu = startBackground(`qemu ${name}`, 'ip', args, join(share, 'qemu.log'));
  const ok = await waitFor(() => existsSync(join(share, 'ready')) || qemu.hasExited(), o.bootTimeoutMs, 500);
  if (!ok || qemu.hasExited()) {
    await stopBackground(qemu, 1000);
    throw new Error(`VM ${name} did not boot (${qemu.hasExited() ? 'qemu exited' : 'timeout'}); see ${share}/console.log and qemu.log`);
  }
  return { name, home: o.home, k: o.k, addr, share, qemu, seq: 0, bootSeconds: (performance.now() - started) / 1000 };
}

/** Run one shell script in the guest, bounded by limitS (guest side) and limitS+20 (host side). */
export async function job(vm: Vm, label: string, script: string, limitS: number): Promise<JobResult> {
  vm.seq += 1;
  const base = join(vm.share, 'jobs', `${String(vm.seq).padStart(3, '0')}-${label}`);
  writeFileSync(`${base}.t`, `${limitS}\n`);
  writeFileSync(`${base}.sh.tmp`, `set -u\n${script}\n`);
  renameSync(`${base}.sh.tmp`, `${base}.sh`);
  const done = await waitFor(() => existsSync(`${base}.rc`) || vm.qemu.hasExited(), (limitS + 20) * 1000, 300);
  const out = existsSync(`${base}.out`) ? readFileSync(`${base}.out`, 'utf8') : '';
  if (!done || !existsSync(`${base}.rc`)) {
    return { rc: null, out: out + `\n[harness] job ${label} ${vm.qemu.hasExited() ? 'lost: qemu exited' : 'did not finish in time'}\n`, timedOut: true };
  }
  const rc = Number.parseInt(readFileSync(`${base}.rc`, 'utf8').trim(), 10);
  return { rc: Number.isNaN(rc) ? null : rc, out, timedOut: rc === 124 || rc === 137 };
}

export async function shutdownVm(vm: Vm): Promise<void> {
  if (vm.qemu.hasExited()) return;
  // No clean poweroff needed: the guest's state is a tmpfs, its logs are already on the share.
  await stopBackground(vm.qemu, 3000);
  await sleep(100);
}

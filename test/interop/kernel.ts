/**
 * The client VM's kernel and initramfs: Debian's own kernel package (it has esp4,
 * xfrm_user, ppp, l2tp, virtio and 9p as modules, which the host kernel lacks),
 * fetched once with `apt-get download` and cached under .cache/interop/, keyed by
 * the kernel version; plus a tiny busybox initramfs whose /init mounts the host's
 * root over 9p (read-only) with a tmpfs overlay and hands over to the agent.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { basename, join } from 'node:path';
import { bash, run, say } from './util.js';

export interface GuestKernel {
  version: string;
  vmlinuz: string;
  /** The extracted lib/modules/VERSION folder (shared into the guest over 9p). */
  modulesDir: string;
  initrd: string;
}

/** Modules the initramfs loads before it can mount the root (with their dependencies). */
const INITRAMFS_MODULES = ['virtio_pci', 'virtio_net', 'virtio_rng', '9p', '9pnet_virtio', 'overlay'];

/** The version `apt-cache depends linux-image-amd64` names (never a glob). */
async function debianKernelVersion(): Promise<string | undefined> {
  const r = await run('apt-cache', ['depends', 'linux-image-amd64'], { allowFail: true });
  const m = /Depends:\s*linux-image-(\d[\w.+~-]*-amd64)\b/.exec(r.stdout);
  return m?.[1];
}

function cachedVersions(cacheRoot: string): string[] {
  if (!existsSync(cacheRoot)) return [];
  return readdirSync(cacheRoot)
    .filter((d) => d.startsWith('kernel-') && existsSync(join(cacheRoot, d, 'ready')))
    .map((d) => d.slice('kernel-'.length))
    .sort();
}

/** The /init of the initramfs (after /work/shared/testbed/initramfs-init.sh). */
export function initScript(version: string): string {
  return `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for f in $(cat /lib/mods/order.txt); do insmod /lib/mods/$f 2>/dev/null; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /lower || echo "init: 9p mount of hostroot failed"
mount -t tmpfs tmpfs /upper; mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot || echo "init: overlay failed"
mkdir -p /newroot/lib/modules/${version} /newroot/t
mount -t 9p -o trans=virtio,version=9p2000.L,ro mods /newroot/lib/modules/${version}
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 t /newroot/t
exec switch_root /newroot /bin/sh /t/agent.sh
`;
}

async function buildInitramfs(dir: string, rootDir: string, version: string): Promise<void> {
  const work = join(dir, 'initramfs');
  rmSync(work, { recursive: true, force: true });
  for (const d of ['bin', 'proc', 'sys', 'dev', 'lower', 'upper', 'newroot', 'lib/mods']) mkdirSync(join(work, d), { recursive: true });
  copyFileSync('/bin/busybox', join(work, 'bin/busybox'));
  chmodSync(join(work, 'bin/busybox'), 0o755);
  writeFileSync(join(work, 'init'), initScript(version), { mode: 0o755 });
  // modprobe prints "insmod /path/x.ko" per module, dependencies first; "builtin x" for built-ins.
  const deps = await run('modprobe', ['-d', rootDir, '-S', version, '-a', '--show-depends', ...INITRAMFS_MODULES]);
  const order: string[] = [];
  for (const line of deps.stdout.split('\n')) {
    const m = /^insmod\s+(\S+)/.exec(line.trim());
    if (!m?.[1]) continue;
    const name = basename(m[1]);
    if (order.includes(name)) continue;
    let src = m[1];
    if (!src.startsWith(rootDir)) src = join(rootDir, src);
    copyFileSync(src, join(work, 'lib/mods', name));
    order.push(name);
  }
  if (order.some((n) => !n.endsWith('.ko'))) {
    throw new Error(`kernel modules are compressed (${order.join(' ')}); busybox insmod needs plain .ko`);
  }
  writeFileSync(join(work, 'lib/mods/order.txt'), order.join('\n') + '\n');
  await bash(`cd ${JSON.stringify(work)} && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > ../initrd.gz`);
}

/** Fetch, extract and prepare the guest kernel (cached); throws with a clear message. */
export async function prepareKernel(cacheRoot: string): Promise<GuestKernel> {
  mkdirSync(cacheRoot, { recursive: true });
  let version = await debianKernelVersion();
  if (!version) {
    const cached = cachedVersions(cacheRoot).at(-1);
    if (!cached) throw new Error('apt-cache depends linux-image-amd64 names no kernel: run `bash test/interop/setup.sh` (apt-get update) first');
    version = cached;
  }
  const dir = join(cacheRoot, `kernel-${version}`);
  const rootDir = join(dir, 'root');
  const result: GuestKernel = {
    version,
    vmlinuz: join(rootDir, 'boot', `vmlinuz-${version}`),
    modulesDir: join(rootDir, 'lib', 'modules', version),
    initrd: join(dir, 'initrd.gz'),
  };
  const ready = join(dir, 'ready');
  if (existsSync(ready) && readFileSync(ready, 'utf8').trim() === initScript(version).length.toString()) {
    say(`guest kernel ${version}: cached in ${dir}`);
    return result;
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const pkg = `linux-image-${version}`;
  say(`guest kernel: downloading ${pkg} (apt-get download, about 70 MB)...`);
  await run('apt-get', ['download', pkg], { cwd: dir, timeoutMs: 900_000 });
  const deb = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb in ${dir}`);
  say(`guest kernel: extracting ${deb}...`);
  await run('dpkg-deb', ['-x', join(dir, deb), rootDir], { timeoutMs: 600_000 });
  rmSync(join(dir, deb));
  say('guest kernel: depmod...');
  await run('depmod', ['-b', rootDir, version], { timeoutMs: 600_000 });
  say('guest kernel: building the busybox initramfs...');
  await buildInitramfs(dir, rootDir, version);
  if (!existsSync(result.vmlinuz)) throw new Error(`no ${result.vmlinuz} in the package`);
  writeFileSync(ready, initScript(version).length.toString() + '\n');
  say(`guest kernel ${version}: ready`);
  return result;
}

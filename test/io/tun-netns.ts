/** Test helpers: a throwaway network namespace, and why a root-only test must skip. */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

function have(cmd: string, args: string[]): boolean {
  try {
    execFileSync(cmd, args, { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Undefined when namespace tests can run here, else the reason they are skipped. */
export function netnsSkipReason(needTun: boolean): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (process.getuid?.() !== 0) return 'not root (network namespaces, TUN and nftables need root)';
  if (!have('ip', ['-V'])) return 'iproute2 (ip) not installed';
  if (!have('nft', ['--version'])) return 'nft not installed';
  if (needTun && !existsSync('/dev/net/tun')) return '/dev/net/tun missing (modprobe tun)';
  return undefined;
}

/** Creates a namespace with lo up; the caller must call delete() (afterAll/finally). */
export function createNetns(prefix: string): { name: string; delete(): void } {
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name]);
  try {
    execFileSync('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (e) {
    execFileSync('ip', ['netns', 'delete', name]);
    throw e;
  }
  return {
    name,
    delete(): void {
      try {
        execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore' });
      } catch {
        /* already gone */
      }
    },
  };
}

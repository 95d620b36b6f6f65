import { describe, expect, it } from 'vitest';
import { ExecError, execRunner, netnsRunner, type Runner } from '../../src/io/exec.js';

describe('execRunner', () => {
  it('runs an argument vector without a shell and feeds stdin', async () => {
    const r = await execRunner('cat', [], 'a b; $(echo no)\n');
    expect(r.stdout).toBe('a b; $(echo no)\n');
    const e = await execRunner('echo', ['$HOME', ';', 'x']);
    expect(e.stdout).toBe('$HOME ; x\n');
  });

  it('rejects with an ExecError carrying argv, exit code and stderr', async () => {
    const err = await execRunner('ls', ['/nonexistent-l2tpsec-path']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExecError);
    const x = err as ExecError;
    expect(x.argv).toEqual(['ls', '/nonexistent-l2tpsec-path']);
    expect(x.exitCode).not.toBe(0);
    expect(x.stderr).toMatch(/nonexistent-l2tpsec-path/);
    expect(x.message).toMatch(/^ls \/nonexistent-l2tpsec-path failed \(exit \d+\): /);
  });

  it('reports a missing program', async () => {
    await expect(execRunner('l2tpsec-no-such-program', [])).rejects.toThrow(/l2tpsec-no-such-program failed/);
  });
});

describe('netnsRunner', () => {
  it('prefixes ip netns exec <ns> and passes stdin through', async () => {
    const seen: Array<[string, readonly string[], string | undefined]> = [];
    const inner: Runner = async (file, args, input) => {
      seen.push([file, args, input]);
      return { stdout: '', stderr: '' };
    };
    await netnsRunner('vpn-ns', inner)('nft', ['-f', '-'], 'table ip x\n');
    expect(seen).toEqual([['ip', ['netns', 'exec', 'vpn-ns', 'nft', '-f', '-'], 'table ip x\n']]);
  });
});

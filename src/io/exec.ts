import { execFile } from 'node:child_process';

/**
 * Runs a program with an argument vector (execFile: never a shell string),
 * optionally feeding `input` on stdin. Resolves with stdout; rejects with an
 * ExecError carrying the command line, exit code and stderr.
 */

export interface ExecResult {
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly argv: readonly string[],
    readonly exitCode: number | string | null,
    readonly stderr: string,
    cause?: unknown,
  ) {
    super(`${argv.join(' ')} failed (${exitCode === null ? 'killed' : `exit ${exitCode}`}): ${stderr.trim() || String(cause)}`);
  }
}

/** How commands are run; tests and namespaced setups substitute their own. */
export type Runner = (file: string, args: readonly string[], input?: string) => Promise<ExecResult>;

export const execRunner: Runner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { timeout: 10_000, maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const code = (err as NodeJS.ErrnoException & { code?: number | string }).code ?? null;
        reject(new ExecError([file, ...args], code, stderr, err.message));
        return;
      }
      resolve({ stdout, stderr });
    });
    child.stdin?.on('error', () => {
      /* the exit status reports the failure */
    });
    if (input !== undefined) child.stdin?.end(input);
    else child.stdin?.end();
  });

/** A runner that runs everything inside a network namespace (`ip netns exec <ns> ...`). */
export function netnsRunner(ns: string, inner: Runner = execRunner): Runner {
  return (file, args, input) => inner('ip', ['netns', 'exec', ns, file, ...args], input);
}

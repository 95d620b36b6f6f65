/**
 * Small process and timing helpers for the interop harness (host side).
 * Every child process the harness starts is registered here so that cleanup can
 * end exactly those, by PID, after a failure, an exception or a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

const started = performance.now();

/** `[12.3s]`: seconds since the harness started. */
export function stamp(): string {
  return `[${((performance.now() - started) / 1000).toFixed(1)}s]`;
}

export function say(msg: string): void {
  process.stdout.write(`${stamp()} ${msg}\n`);
}

export function elapsedS(since: number): string {
  return `${((performance.now() - since) / 1000).toFixed(1)}s`;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  input?: string;
  timeoutMs?: number;
  cwd?: string;
  /** Resolve instead of rejecting on a non-zero exit. */
  allowFail?: boolean;
}

/** Run a command to completion (bounded by timeoutMs, default 120 s). */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const pid = child.pid;
    if (pid !== undefined) live.set(pid, { name: `${cmd} ${args.join(' ')}`.slice(0, 80), child });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    child.on('error', (err) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      if (opts.allowFail) resolve({ code: null, stdout, stderr: stderr + String(err), timedOut });
      else reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (pid !== undefined) live.delete(pid);
      const r = { code, stdout, stderr, timedOut };
      if (code !== 0 && !opts.allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} failed (${timedOut ? 'timeout' : `exit ${code}`}): ${stderr.trim() || stdout.trim()}`));
      } else resolve(r);
    });
    // A command may exit without reading its input: ignore EPIPE on stdin.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}

/** `bash -c SCRIPT`, for pipelines. */
export function bash(script: string, opts: RunOptions = {}): Promise<RunResult> {
  return run('bash', ['-c', script], opts);
}

interface Live {
  name: string;
  child: ChildProcess;
}
const live = new Map<number, Live>();

export interface Background {
  name: string;
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string | null>;
  hasExited(): boolean;
}

/**
 * Start a long-running process (QEMU, the server, tcpdump, the HTTP server),
 * stdout+stderr appended to logFile. The PID is the real process: commands are
 * started through `ip netns exec`, which execs them.
 */
export function startBackground(name: string, cmd: string, args: readonly string[], logFile: string, cwd?: string): Background {
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.pipe(out, { end: false });
  child.stderr?.pipe(out, { end: false });
  let done = false;
  const exited = new Promise<number | string | null>((resolve) => {
    child.on('error', (err) => {
      out.write(`\n[harness] spawn error: ${String(err)}\n`);
      done = true;
      resolve(null);
    });
    child.on('close', (code, signal) => {
      done = true;
      if (child.pid !== undefined) live.delete(child.pid);
      out.end();
      resolve(code ?? signal);
    });
  });
  const pid = child.pid ?? -1;
  if (pid > 0) live.set(pid, { name, child });
  return { name, child, pid, exited, hasExited: () => done };
}

/** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. */
export async function stopBackground(p: Background, graceMs = 5000): Promise<void> {
  if (p.hasExited()) return;
  p.child.kill('SIGTERM');
  const t = setTimeout(() => {
    if (!p.hasExited()) p.child.kill('SIGKILL');
  }, graceMs);
  await Promise.race([p.exited, sleep(graceMs + 3000)]);
  clearTimeout(t);
}

/** Kill every process this harness started and that is still running (cleanup path). */
export function killAllLive(): string[] {
  const names: string[] = [];
  for (const [pid, l] of live) {
    try {
      l.child.kill('SIGKILL');
      names.push(`${l.name} (pid ${pid})`);
    } catch {
      /* already gone */
    }
  }
  live.clear();
  return names;
}

/** Poll pred every intervalMs until it is true or timeoutMs passes. */
export async function waitFor(pred: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 500): Promise<boolean> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    if (await pred()) return true;
    if (performance.now() >= end) return false;
    await sleep(intervalMs);
  }
}

/** The most telling line of a failure's output (the first Error line, else the first line). */
export function headline(text: string): string {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  const first = lines[0] ?? '';
  const err = lines.find((l) => /\b(Error|error:|ERR_)/.test(l));
  return (err !== undefined && err !== first ? `${first.split(': ')[0] ?? first}: ${err}` : first).slice(0, 240);
}

/** Thrown once a signal or the overall time limit started cleanup: stop reporting and starting work. */
export class Aborted extends Error {}
let aborting = false;
export function setAborting(): void {
  aborting = true;
}
export function checkAborted(): void {
  if (aborting) throw new Aborted('aborted');
}

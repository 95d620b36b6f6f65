import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkConfig, formatProblem, hostCheckEnv } from '../daemon/check.js';
import { ConfigError } from '../daemon/config.js';

/** `l2tpsec check [--config FILE] [--json]`: exit 1 on errors, 0 with warnings printed. */
export function checkCommand(args: string[], configFile: (v: string | undefined) => string): number {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } } });
  const file = configFile(values.config);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, undefined, `cannot read: ${(e as Error).message}`);
  }
  const r = checkConfig(text, file, hostCheckEnv);
  if (values.json) {
    process.stdout.write(JSON.stringify({ ok: r.errors === 0, errors: r.errors, warnings: r.warnings, users: r.users, problems: r.problems }) + '\n');
  } else {
    for (const p of r.problems) process.stdout.write(formatProblem(p) + '\n');
    process.stdout.write(
      r.errors === 0
        ? `${file}: ok${r.warnings ? ` (${r.warnings} warning${r.warnings > 1 ? 's' : ''})` : ''}, ${r.users} user${r.users === 1 ? '' : 's'}\n`
        : `${file}: ${r.errors} error${r.errors > 1 ? 's' : ''}, ${r.warnings} warning${r.warnings === 1 ? '' : 's'}\n`,
    );
  }
  return r.errors === 0 ? 0 : 1;
}

/** `l2tpsec doctor [--config FILE] [--json]`: exit 1 when a finding is an error. */
export async function doctorCommand(args: string[], configFile: (v: string | undefined) => string): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' } } });
  const { existsSync } = await import('node:fs');
  const { loadConfig, defaultConfig } = await import('../daemon/config.js');
  const { diagnose, formatFinding } = await import('../daemon/doctor.js');
  const { gatherDoctorInputs } = await import('../daemon/doctor-gather.js');
  const file = configFile(values.config);
  const cfg = existsSync(file) ? loadConfig(file) : defaultConfig();
  const { inputs, daemonRunning } = gatherDoctorInputs({ ikePort: cfg.server.ikePort, nattPort: cfg.server.nattPort });
  const findings = diagnose(inputs, { daemonRunning });
  const errors = findings.filter((f) => f.status === 'error').length;
  if (values.json) {
    process.stdout.write(JSON.stringify({ ok: errors === 0, daemon_running: daemonRunning, findings }) + '\n');
  } else {
    for (const f of findings) process.stdout.write(formatFinding(f) + '\n');
    if (typeof process.getuid === 'function' && process.getuid() !== 0) process.stdout.write('(not root: processes of other users and nft rules may be invisible)\n');
  }
  return errors === 0 ? 0 : 1;
}

import { execFileSync, spawnSync } from 'node:child_process';
import { statSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../tmpdir.js';
import { ROOT } from './serve-helpers.js';

describe('the README install: npm run build, then a symlink on the PATH', () => {
  it('dist/src/cli/main.js is executable and runs through a symlink', () => {
    execFileSync('npm', ['run', 'build'], { cwd: ROOT, stdio: 'ignore', timeout: 170_000 });
    const main = join(ROOT, 'dist/src/cli/main.js');
    expect(statSync(main).mode & 0o111).toBe(0o111);
    const bin = tempDir('l2tpsec-bin-');
    symlinkSync(main, join(bin, 'l2tpsec'));
    const r = spawnSync('l2tpsec', ['version'], { encoding: 'utf8', env: { PATH: `${bin}:${process.env['PATH'] ?? ''}` } });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^l2tpsec \d+\.\d+\.\d+\n$/);
  }, 180_000);
});

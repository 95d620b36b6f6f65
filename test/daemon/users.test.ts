import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { checkIkev2Psk, checkUserName, formatUsers, generateIkev2Psk, loadUsers, parseUsers, saveUsers, UserStore, UsersFileError } from '../../src/daemon/users.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'l2tpsec-users-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('user store', () => {
  it('a missing file is an empty store', async () => {
    const s = await loadUsers(join(dir, 'nope.toml'));
    expect(s.size).toBe(0);
  });

  it('add keeps only the NT hash (RFC 2759 §8.3): "password" → 8846f7eaee8fb117ad06bdd830b7586c', () => {
    const s = new UserStore();
    s.add('alice', 'password', { address: '10.40.0.10', maxSessions: 1 });
    expect(s.get('alice')?.ntHash.toString('hex')).toBe('8846f7eaee8fb117ad06bdd830b7586c');
    expect(s.lookup('alice')).toEqual({ name: 'alice', ntHash: s.get('alice')!.ntHash, staticAddress: '10.40.0.10', maxSessions: 1 });
    expect(() => s.add('alice', 'x')).toThrow(/already exists/);
  });

  it('passwd, del, list (sorted), staticAddresses', () => {
    const s = new UserStore();
    s.add('zed', 'a');
    s.add('amy', 'b', { address: '10.40.0.9' });
    s.passwd('zed', 'password');
    expect(s.get('zed')?.ntHash.toString('hex')).toBe('8846f7eaee8fb117ad06bdd830b7586c');
    expect(s.list().map((u) => u.name)).toEqual(['amy', 'zed']);
    expect(s.staticAddresses()).toEqual(['10.40.0.9']);
    expect(s.del('zed')).toBe(true);
    expect(s.del('zed')).toBe(false);
    expect(() => s.passwd('zed', 'x')).toThrow(/no user/);
  });

  it('user names: printable (spaces, @, DOMAIN\\ allowed), 1–64 chars, no control characters', () => {
    for (const ok of ['a', 'bob smith', 'user@example.com', 'CORP\\bob', 'ünïcødé', 'x'.repeat(64)]) expect(checkUserName(ok)).toBeUndefined();
    for (const bad of ['', 'x'.repeat(65), 'a\nb', 'tab\there', 'nul\u0000', 'del\u007f']) expect(checkUserName(bad)).toBeDefined();
  });

  it('names like __proto__ and constructor round-trip', () => {
    const s = new UserStore();
    for (const n of ['__proto__', 'constructor', 'toString', 'hasOwnProperty']) s.add(n, `pw-${n}`);
    const back = parseUsers(formatUsers(s), 't.toml');
    expect(back.list().map((u) => u.name)).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
    expect(back.get('__proto__')?.ntHash.equals(s.get('__proto__')!.ntHash)).toBe(true);
  });

  it('two users cannot share a static address', () => {
    const s = new UserStore();
    s.add('a', 'x', { address: '10.40.0.5' });
    expect(() => s.add('b', 'y', { address: '10.40.0.5' })).toThrow(/already the static address/);
  });

  it('save then load round-trips, atomically, mode 0600, no temp file left', async () => {
    const path = join(dir, 'users.toml');
    const s = new UserStore();
    s.add('alice', 'password', { address: '10.40.0.10', maxSessions: 2 });
    s.add('bob smith', 'Plaintext-Secret-9');
    s.add('CORP\\"q"', 'pw2');
    await saveUsers(path, s);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['users.toml']);
    const text = await readFile(path, 'utf8');
    expect(text).toContain('nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"');
    expect(text).not.toContain('Plaintext-Secret-9');
    const back = await loadUsers(path);
    expect(back.list().map((u) => [u.name, u.ntHash.toString('hex'), u.address, u.maxSessions])).toEqual(
      s.list().map((u) => [u.name, u.ntHash.toString('hex'), u.address, u.maxSessions]),
    );
    // Overwrite keeps 0600 and replaces the content.
    back.del('alice');
    await saveUsers(path, back);
    expect((await loadUsers(path)).has('alice')).toBe(false);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  });

  it('round trip of arbitrary valid names and hashes', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 20 }).filter((n) => checkUserName(n) === undefined), { maxLength: 6 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        (names, h) => {
          const s = new UserStore();
          for (const n of names) s.put(n, Buffer.from(h));
          const text = formatUsers(s);
          const back = parseUsers(text, 't.toml');
          return back.size === names.length && names.every((n) => back.get(n)?.ntHash.equals(Buffer.from(h)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('IKEv2 keys: kept as they are (the PRF needs them), round-trip through the 0600 file, set and removed', async () => {
    const path = join(dir, 'users.toml');
    const s = new UserStore();
    s.add('alice', 'password', { ikev2Psk: 'a "quoted" key \\ with €' });
    s.add('bob', 'pw');
    expect(s.ikev2Key('alice')).toEqual(Buffer.from('a "quoted" key \\ with €', 'utf8'));
    expect(s.ikev2Key('bob')).toBeUndefined();
    expect(s.ikev2Key('nobody')).toBeUndefined();
    // a key changes nothing for PPP/EAP
    expect(s.lookup('alice')).toEqual({ name: 'alice', ntHash: s.get('alice')!.ntHash });
    s.setIkev2Psk('bob', 'bobs-key-0123456789');
    await saveUsers(path, s);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const back = await loadUsers(path);
    expect(back.get('alice')!.ikev2Psk).toBe('a "quoted" key \\ with €');
    expect(back.ikev2Key('bob')).toEqual(Buffer.from('bobs-key-0123456789'));
    back.setIkev2Psk('bob', undefined);
    expect(back.ikev2Key('bob')).toBeUndefined();
    expect(formatUsers(back)).not.toContain('bobs-key');
    expect(() => back.setIkev2Psk('nobody', 'x'.repeat(20))).toThrow(/no user/);
    expect(() => back.setIkev2Psk('bob', 'bad\nkey-0123456789')).toThrow(/control character/);
  });

  it('generated IKEv2 keys: 32 characters of base64url from 24 random bytes, each different', () => {
    expect(generateIkev2Psk(() => Buffer.alloc(24, 0xff))).toBe('_'.repeat(32));
    const a = generateIkev2Psk();
    expect(a).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(generateIkev2Psk()).not.toBe(a);
    expect(checkIkev2Psk(a)).toBeUndefined();
    expect(checkIkev2Psk('')).toMatch(/empty/);
    expect(checkIkev2Psk('x'.repeat(257))).toMatch(/longer than 256/);
  });

  it('property: any valid IKEv2 key survives format and parse byte for byte', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80, unit: 'grapheme' }).filter((k) => checkIkev2Psk(k) === undefined), (k) => {
        const s = new UserStore();
        s.add('u', 'pw', { ikev2Psk: k });
        return parseUsers(formatUsers(s), 't.toml').get('u')?.ikev2Psk === k;
      }),
      { numRuns: 200 },
    );
  });

  describe('bad files name the file, line and key', () => {
    const cases: Array<[string, string, number | undefined, RegExp]> = [
      ['bad TOML', '[users.alice]\nnt_hash = \n', 2, /invalid TOML/],
      ['short hash', '[users.alice]\nnt_hash = "abcd"\n', 2, /users\.alice\.nt_hash: must be 32 hex digits/],
      ['missing hash', '\n[users.alice]\naddress = "10.40.0.3"\n', 2, /users\.alice: nt_hash is required/],
      ['bad address', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.300"\n', 3, /users\.bob\.address: not an IPv4 address/],
      ['bad max_sessions', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n\nmax_sessions = -1\n', 4, /users\.bob\.max_sessions/],
      ['unknown key', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\npassword = "plain"\n', 3, /users\.bob\.password: unknown key/],
      ['unknown section', '[server]\nx = 1\n', 1, /server: unknown section/],
      ['ikev2_psk not a string', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\nikev2_psk = 12\n', 3, /users\.bob\.ikev2_psk: must be a string/],
      ['ikev2_psk empty', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\nikev2_psk = ""\n', 3, /users\.bob\.ikev2_psk: ikev2_psk is empty/],
      ['ikev2_psk with a control character (not echoed)', '[users.bob]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\nikev2_psk = "SeCrEt\\u0007xyz"\n', 3, /^(?!.*SeCrEt).*users\.bob\.ikev2_psk: ikev2_psk contains a control character/],
      ['control char in quoted name', '[users."a\\tb"]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n', 1, /control character/],
      ['duplicate static address', '[users.a]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.5"\n[users.b]\nnt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\naddress = "10.40.0.5"\n', 6, /users\.b\.address: .*already the static address/],
    ];
    for (const [name, text, line, re] of cases) {
      it(name, async () => {
        const path = join(dir, 'users.toml');
        await writeFile(path, text);
        const err = await loadUsers(path).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(UsersFileError);
        const e = err as UsersFileError;
        expect(e.file).toBe(path);
        expect(e.line).toBe(line);
        expect(e.message).toMatch(re);
        expect(e.message.startsWith(`${path}:${line}: `)).toBe(true);
      });
    }
  });

  it('arbitrary text: parseUsers throws nothing but UsersFileError', () => {
    const tomlish = fc.array(
      fc.oneof(
        fc.constant('[users.a]\n'),
        fc.constant('nt_hash = "8846f7eaee8fb117ad06bdd830b7586c"\n'),
        fc.constant('address = "10.40.0.9"\n'),
        fc.constant('max_sessions = 3\n'),
        fc.constant('[users."b c"]\n'),
        fc.constant('users = 5\n'),
        fc.string({ maxLength: 30 }),
      ),
      { maxLength: 10 },
    );
    fc.assert(
      fc.property(tomlish, (parts) => {
        try {
          parseUsers(parts.join(''), 'f.toml');
          return true;
        } catch (e) {
          return e instanceof UsersFileError && e.message.startsWith('f.toml');
        }
      }),
      { numRuns: 300 },
    );
  });
});

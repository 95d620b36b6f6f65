import { describe, expect, it } from 'vitest';
import { EnvError, parseFirstRunEnv } from '../../src/daemon/env.js';

describe('parseFirstRunEnv (hwdsl2 VPN_* variables)', () => {
  it('empty environment: nothing set', () => {
    expect(parseFirstRunEnv({})).toEqual({ psk: undefined, users: [], dns: undefined });
  });
  it('reads psk, users, additional users and DNS', () => {
    const r = parseFirstRunEnv({
      VPN_IPSEC_PSK: 'sharedsecret',
      VPN_USER: 'alice',
      VPN_PASSWORD: 'pw1',
      VPN_ADDL_USERS: 'bob  carol',
      VPN_ADDL_PASSWORDS: ' pw2 pw3 ',
      VPN_DNS_SRV1: '8.8.8.8',
      VPN_DNS_SRV2: '8.8.4.4',
    });
    expect(r.psk).toBe('sharedsecret');
    expect(r.users).toEqual([
      { name: 'alice', password: 'pw1' },
      { name: 'bob', password: 'pw2' },
      { name: 'carol', password: 'pw3' },
    ]);
    expect(r.dns).toEqual(['8.8.8.8', '8.8.4.4']);
  });
  it('DNS 2 alone is ignored, DNS 1 alone is one server', () => {
    expect(parseFirstRunEnv({ VPN_DNS_SRV2: '8.8.4.4' }).dns).toBeUndefined();
    expect(parseFirstRunEnv({ VPN_DNS_SRV1: '1.0.0.1' }).dns).toEqual(['1.0.0.1']);
  });
  it('rejects mismatched lists, half-set user, bad DNS, duplicates', () => {
    expect(() => parseFirstRunEnv({ VPN_ADDL_USERS: 'a b', VPN_ADDL_PASSWORDS: 'x' })).toThrow(EnvError);
    expect(() => parseFirstRunEnv({ VPN_USER: 'a' })).toThrow(/VPN_PASSWORD/);
    expect(() => parseFirstRunEnv({ VPN_PASSWORD: 'a' })).toThrow(/VPN_USER/);
    expect(() => parseFirstRunEnv({ VPN_DNS_SRV1: '8.8.8' })).toThrow(/VPN_DNS_SRV1/);
    expect(() => parseFirstRunEnv({ VPN_USER: 'a', VPN_PASSWORD: 'x', VPN_ADDL_USERS: 'a', VPN_ADDL_PASSWORDS: 'y' })).toThrow(/twice/);
  });
});

import { describe, expect, it } from 'vitest';
import { espLabel } from '../../src/daemon/daemon.js';

describe('espLabel (status and ipsec.sa.up)', () => {
  it('names CBC transforms with their integrity and GCM with its ICV', () => {
    expect(espLabel({ cipher: 'aes-cbc', keyBits: 256, integ: 'hmac-sha1-96' })).toBe('aes-cbc256-hmac-sha1-96');
    expect(espLabel({ cipher: '3des-cbc', keyBits: 192, integ: 'hmac-sha256-128' })).toBe('3des-cbc192-hmac-sha256-128');
    expect(espLabel({ cipher: 'aes-gcm-16', keyBits: 128, integ: 'none' })).toBe('aes-gcm128-icv16');
  });
});

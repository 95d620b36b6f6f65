import { digest } from '../oneshot.js';

/**
 * MPPE master keys of MS-CHAPv2 (RFC 3079 §3.3, §3.4) and the EAP-MSCHAPv2 MSK.
 *
 *   MasterKey = SHA1(PasswordHashHash | NT-Response | Magic1)[0..16]
 *   StartKey  = SHA1(MasterKey | SHSpad1 | Magic2/3 | SHSpad2)[0..len]
 *
 * Magic2 is the client's send key and the server's receive key; Magic3 the
 * client's receive key and the server's send key.
 *
 * The MSK of EAP-MSCHAPv2 (draft-kamath-pppext-eap-mschapv2, as strongSwan,
 * hostapd and Windows compute it) is MasterReceiveKey | MasterSendKey, seen from
 * the server, zero-padded to 64 bytes: Magic2 key | Magic3 key | 32 zero bytes.
 */
const MAGIC1 = Buffer.from('This is the MPPE Master Key', 'ascii');
const MAGIC2 = Buffer.from('On the client side, this is the send key; on the server side, it is the receive key.', 'ascii');
const MAGIC3 = Buffer.from('On the client side, this is the receive key; on the server side, it is the send key.', 'ascii');
const SHS_PAD1 = Buffer.alloc(40, 0x00);
const SHS_PAD2 = Buffer.alloc(40, 0xf2);

/** RFC 3079 §3.4 GetMasterKey. */
export function getMasterKey(passwordHashHash: Uint8Array, ntResponse: Uint8Array): Buffer {
  return digest('sha1', passwordHashHash, ntResponse, MAGIC1).subarray(0, 16);
}

/** RFC 3079 §3.4 GetAsymmetricStartKey (session key length 8 or 16 bytes). */
export function getAsymmetricStartKey(masterKey: Uint8Array, length: number, isSend: boolean, isServer: boolean): Buffer {
  const s = isSend === isServer ? MAGIC3 : MAGIC2;
  return digest('sha1', masterKey, SHS_PAD1, s, SHS_PAD2).subarray(0, Math.min(length, 20));
}

/** The 64-byte EAP-MSCHAPv2 MSK from the server's view (see above). */
export function eapMschapv2Msk(passwordHashHash: Uint8Array, ntResponse: Uint8Array): Buffer {
  const master = getMasterKey(passwordHashHash, ntResponse);
  const receive = getAsymmetricStartKey(master, 16, false, true);
  const send = getAsymmetricStartKey(master, 16, true, true);
  return Buffer.concat([receive, send, Buffer.alloc(32)]);
}

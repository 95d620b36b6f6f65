/** Vendor ID payload body (RFC 2408 §3.16): an opaque hash identifying a capability. */
export interface VendorIdPayload {
  data: Buffer;
}

export function decodeVendorId(body: Uint8Array): VendorIdPayload {
  return { data: Buffer.from(body) };
}

export function encodeVendorId(v: VendorIdPayload): Buffer {
  return Buffer.from(v.data);
}

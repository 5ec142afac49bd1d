// GUIDs in VHDX are stored in Microsoft's mixed-endian layout: Data1 (u32), Data2 and Data3 (u16)
// little-endian, Data4 as 8 raw bytes. We show them upper-case, the way Hyper-V prints them.

const HEX = /^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$/;

export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

function hex(buf: Uint8Array, from: number, to: number, reverse: boolean): string {
  let s = '';
  if (reverse) for (let i = to - 1; i >= from; i--) s += buf[i]!.toString(16).padStart(2, '0');
  else for (let i = from; i < to; i++) s += buf[i]!.toString(16).padStart(2, '0');
  return s;
}

/** Reads the 16-byte GUID at `offset` and returns its canonical upper-case text form. */
export function parseGuid(buf: Uint8Array, offset = 0): string {
  if (offset < 0 || offset + 16 > buf.length) throw new RangeError(`GUID at ${offset} is outside a ${buf.length}-byte buffer`);
  const o = offset;
  const s = `${hex(buf, o, o + 4, true)}-${hex(buf, o + 4, o + 6, true)}-${hex(buf, o + 6, o + 8, true)}-${hex(buf, o + 8, o + 10, false)}-${hex(buf, o + 10, o + 16, false)}`;
  return s.toUpperCase();
}

/** The 16 on-disk bytes of a GUID given in text form (either case). */
export function guidToBytes(guid: string): Buffer {
  if (!HEX.test(guid)) throw new RangeError(`not a GUID: ${JSON.stringify(guid)}`);
  const h = guid.replace(/-/g, '');
  const raw = Buffer.from(h, 'hex');
  const out = Buffer.alloc(16);
  raw.copy(out, 0, 0, 16);
  out.subarray(0, 4).reverse();
  out.subarray(4, 6).reverse();
  out.subarray(6, 8).reverse();
  return out;
}

import type { VhdxContext } from './file-io';
import { vhdxInvalid } from './file-io';
import { parseGuid } from './guid';

// The parent locator of a differencing disk: a locator type GUID and UTF-16LE key/value pairs
// (parent_linkage = the parent's DataWriteGuid, relative_path, absolute_win32_path, ...).

export const LOCATOR_TYPE_VHDX = 'B04AEFB7-D19E-4A81-B789-25B8E9445913';

/** A parsed parent locator. */
export interface VhdxParentLocator {
  readonly locatorType: string;
  readonly entries: Readonly<Record<string, string>>;
}

/** Decodes the parent locator item's bytes; every key and value must lie inside the item. */
export function parseParentLocator(ctx: VhdxContext, buf: Buffer): VhdxParentLocator {
  const locatorType = parseGuid(buf, 0);
  const count = buf.readUInt16LE(18);
  if (20 + count * 12 > buf.length) throw vhdxInvalid(ctx, 'parentLocator', `parent locator claims ${count} entries but is only ${buf.length} bytes`);
  const entries: Record<string, string> = {};
  for (let i = 0; i < count; i++) {
    const o = 20 + i * 12;
    const keyOffset = buf.readUInt32LE(o);
    const valueOffset = buf.readUInt32LE(o + 4);
    const keyLength = buf.readUInt16LE(o + 8);
    const valueLength = buf.readUInt16LE(o + 10);
    if (keyOffset + keyLength > buf.length || valueOffset + valueLength > buf.length || keyLength === 0) {
      throw vhdxInvalid(ctx, 'parentLocator', `parent locator entry ${i} points outside the locator`);
    }
    entries[buf.toString('utf16le', keyOffset, keyOffset + keyLength)] = buf.toString('utf16le', valueOffset, valueOffset + valueLength);
  }
  return { locatorType, entries };
}

// Public API of the VHDX reader: parse a file's structure, map what it references, map virtual ranges.
export { crc32c } from './crc32c';
export { parseGuid, guidToBytes, ZERO_GUID } from './guid';
export type { VhdxFile } from './file-io';
export type { VhdxHeader, VhdxHeaderSlot } from './header';
export type { VhdxRegion, VhdxRegionKind } from './region-table';
export type { VhdxMetadataItem } from './metadata';
export type { VhdxParentLocator } from './parent-locator';
export type { VhdxLogReplay, VhdxLogWrite } from './log';
export { readVhdxLayout } from './layout';
export type { FileExtent, VhdxLayout, ReadLayoutOptions } from './layout';
export { batReader, scanBat, payloadBatIndex, bitmapBatIndex, DEFAULT_BAT_CHUNK_BYTES } from './bat';
export type { BatEntry, BatEntryPresence, BatReader, BatReadOptions } from './bat';
export { newlyReferenced, referencedMap } from './referenced-map';
export type { ReferencedKind, ReferencedMap } from './referenced-map';
export { mapVirtualRanges, mergeExtents } from './map-ranges';
export type { VirtualRange } from './map-ranges';
export { sniffVhdx } from './sniff';

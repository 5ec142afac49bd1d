// Fixed offsets, sizes and identifiers of the VHDX format (MS-VHDX v1.0).

export const KiB = 1024;
export const MiB = 1024 * 1024;

export const FILE_SIGNATURE = 'vhdxfile';
export const HEADER_SIGNATURE = 'head';
export const REGION_TABLE_SIGNATURE = 'regi';
export const METADATA_SIGNATURE = 'metadata';

/** Header section: file identifier, two headers, two region tables, reserved; always the first MiB. */
export const HEADER_SECTION_SIZE = MiB;
export const HEADER_OFFSETS = [64 * KiB, 128 * KiB] as const;
export const HEADER_SIZE = 4 * KiB;
export const REGION_TABLE_OFFSETS = [192 * KiB, 256 * KiB] as const;
export const REGION_TABLE_SIZE = 64 * KiB;
export const REGION_TABLE_MAX_ENTRIES = 2047;
export const METADATA_TABLE_SIZE = 64 * KiB;
export const METADATA_MAX_ENTRIES = 2047;

export const REGION_BAT = '2DC27766-F623-4200-9D64-115E9BFD4A08';
export const REGION_METADATA = '8B7CA206-4790-4B9A-B8FE-575F050F886E';

export const ITEM_FILE_PARAMETERS = 'CAA16737-FA36-4D43-B3B6-33F0AA44E76B';
export const ITEM_VIRTUAL_DISK_SIZE = '2FA54224-CD1B-4876-B211-5DBED83BF4B8';
export const ITEM_PAGE83 = 'BECA12AB-B2E6-4523-93EF-C309E000C746';
export const ITEM_LOGICAL_SECTOR_SIZE = '8141BF1D-A96F-4709-BA47-F233A8FAAB5F';
export const ITEM_PHYSICAL_SECTOR_SIZE = 'CDA348C7-445D-4471-9CC9-E9885251C556';
export const ITEM_PARENT_LOCATOR = 'A8D35F2D-B30B-454D-ABF7-D3D84834AB0C';

/** Sector bitmap blocks are 1 MiB and each covers 2^23 sectors. */
export const SECTORS_PER_BITMAP_BLOCK = 2 ** 23;
export const SECTOR_BITMAP_BLOCK_SIZE = MiB;
export const MIN_BLOCK_SIZE = MiB;
export const MAX_BLOCK_SIZE = 256 * MiB;
export const MAX_VIRTUAL_DISK_SIZE = 64 * 1024 ** 4;

/** BAT entry states (low 3 bits). 5 is the v0.95 draft's "unmapped", still read as zeros. */
export const PAYLOAD_NOT_PRESENT = 0;
export const PAYLOAD_UNDEFINED = 1;
export const PAYLOAD_ZERO = 2;
export const PAYLOAD_UNMAPPED = 3;
export const PAYLOAD_UNMAPPED_V095 = 5;
export const PAYLOAD_FULLY_PRESENT = 6;
export const PAYLOAD_PARTIALLY_PRESENT = 7;
export const SB_NOT_PRESENT = 0;
export const SB_PRESENT = 6;

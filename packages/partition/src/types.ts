/**
 * Partition types by name.
 *
 * GPT type GUIDs: UEFI 2.10 §5.3.3 Table 5-7 (EFI System Partition) and the UAPI Group's
 * Discoverable Partitions Specification ("DPS", uapi-group.org/specifications/specs/
 * discoverable_partitions_specification/) for the Linux types — root, /usr and their dm-verity
 * hash partitions per architecture, swap, /home, /srv, /var, /tmp, XBOOTLDR and generic Linux data.
 * Names follow systemd-repart's `Type=` names. BIOS boot (GRUB's core image on a GPT disk) and
 * Microsoft basic data (FAT/NTFS data partitions, the ISO's GPT entries) are the two others a
 * bootable appliance image uses.
 *
 * MBR type bytes: the conventional system indicator values (fdisk's and sfdisk's type list); 0xEF
 * for an ESP comes from UEFI 2.10 §5.2.1, 0xEA for XBOOTLDR from the Boot Loader Specification.
 */
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { isGuidText, parseGuid } from './guid.js';

/** GPT partition type GUIDs by name (text form, upper case). */
export const GPT_TYPES = {
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  xbootldr: 'BC13C2FF-59E6-4262-A352-B275FD6F7172',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  home: '933AC7E1-2EB4-4F13-B844-0E14E2AEF915',
  srv: '3B8F8425-20E0-4F3B-907F-1A25A76F98E8',
  var: '4D21B016-B534-45C2-A9FB-5C16E091FD2D',
  tmp: '7EC6F557-3BC5-4ACA-B293-16EF5DF639D1',
  'root-x86-64': '4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709',
  'usr-x86-64': '8484680C-9521-48C6-9C11-B0720656F69E',
  'root-x86-64-verity': '2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5',
  'usr-x86-64-verity': '77FF5F63-E7B6-4633-ACF4-1565B864C0E6',
  'root-arm64': 'B921B045-1DF0-41C3-AF44-4C6F280D3FAE',
  'usr-arm64': 'B0E01050-EE5F-4390-949A-9101B17104E9',
  'root-arm64-verity': 'DF3300CE-D69F-4C92-978C-9BFB0F38D820',
  'usr-arm64-verity': '6E11A4E7-FBCA-4DED-B9E9-E1A512BB664E',
  'bios-boot': '21686148-6449-6E6F-744E-656564454649',
  'basic-data': 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
} as const;
export type GptTypeName = keyof typeof GPT_TYPES;

/** MBR system indicator bytes by name. */
export const MBR_TYPES = {
  linux: 0x83,
  swap: 0x82,
  esp: 0xef,
  xbootldr: 0xea,
  fat12: 0x01,
  fat16: 0x0e, // FAT16, LBA
  fat32: 0x0c, // FAT32, LBA
  ntfs: 0x07,
  'linux-lvm': 0x8e,
  'linux-raid': 0xfd,
  extended: 0x0f, // extended, LBA
} as const;
export type MbrTypeName = keyof typeof MBR_TYPES;

/** MBR type of the GPT protective (UEFI §5.2.3) and hybrid MBR entry. */
export const MBR_TYPE_GPT_PROTECTIVE = 0xee;
/** Extended partition types the Linux kernel follows (block/partitions/msdos.c is_extended_partition). */
export const MBR_EXTENDED_TYPES: readonly number[] = [0x05, 0x0f, 0x85];

export type PartitionType = string | number;

/** A GPT type: a name from GPT_TYPES or a GUID. Returns the stored GUID bytes and its text. */
export function resolveGptType(type: PartitionType, field: string): { guid: Uint8Array; text: string } {
  if (typeof type === 'string') {
    const byName = (GPT_TYPES as Record<string, string>)[type.toLowerCase()];
    if (byName) return { guid: parseGuid(byName, field), text: byName };
    if (isGuidText(type)) return { guid: parseGuid(type, field), text: type.toUpperCase() };
  }
  throw new ImgkitError(ErrorCodes.BAD_OPTION, {
    format: 'partition',
    field,
    detail:
      typeof type === 'number'
        ? `GPT partition type 0x${type.toString(16)} is an MBR type byte; a GPT type is a name or a GUID`
        : `unknown GPT partition type "${type}"`,
    hint: `use one of ${Object.keys(GPT_TYPES).join(', ')}, or a type GUID`,
  });
}

/** An MBR type: a name from MBR_TYPES, a byte (number), or "0x83"-style hex text. */
export function resolveMbrType(type: PartitionType, field: string): number {
  if (typeof type === 'number') {
    if (Number.isInteger(type) && type > 0 && type <= 0xff) return type;
    throw new ImgkitError(ErrorCodes.BAD_OPTION, {
      format: 'partition',
      field,
      detail: `MBR partition type ${type} is not a byte from 0x01 to 0xff`,
    });
  }
  const byName = (MBR_TYPES as Record<string, number>)[type.toLowerCase()];
  if (byName !== undefined) return byName;
  if (/^0x[0-9a-f]{1,2}$/i.test(type)) return resolveMbrType(Number.parseInt(type.slice(2), 16), field);
  const gptOnly = Object.hasOwn(GPT_TYPES, type.toLowerCase()) || isGuidText(type);
  throw new ImgkitError(ErrorCodes.BAD_OPTION, {
    format: 'partition',
    field,
    detail: gptOnly ? `partition type "${type}" exists only in GPT; an MBR entry needs a type byte` : `unknown MBR partition type "${type}"`,
    hint: `use one of ${Object.keys(MBR_TYPES).join(', ')}, or a byte such as 0x83`,
  });
}

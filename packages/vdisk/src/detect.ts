/**
 * Input format detection from magic numbers, as qemu's probes do: qcow2 "QFI\xfb" at 0, VMDK
 * "KDMV" at 0 (or a text descriptor starting "# Disk DescriptorFile"), VHDX "vhdxfile" at 0, VHD
 * "conectix" at 0 (dynamic) or in the last 512 bytes (fixed: the footer only). Anything else is raw.
 */
import type { RandomAccessReader } from '@imgkit/core';

export type ImageFormat = 'raw' | 'qcow2' | 'vmdk' | 'vhd' | 'vhdx';

const ascii = (b: Uint8Array, at: number, n: number): string => String.fromCharCode(...b.subarray(at, at + n));

export async function detectFormat(reader: RandomAccessReader): Promise<ImageFormat> {
  const head = await reader.read(0, 512);
  if (head.byteLength >= 4 && head[0] === 0x51 && head[1] === 0x46 && head[2] === 0x49 && head[3] === 0xfb) return 'qcow2';
  if (head.byteLength >= 4 && ascii(head, 0, 4) === 'KDMV') return 'vmdk';
  if (head.byteLength >= 8 && ascii(head, 0, 8) === 'vhdxfile') return 'vhdx';
  if (head.byteLength >= 8 && ascii(head, 0, 8) === 'conectix') return 'vhd';
  if (head.byteLength >= 21 && ascii(head, 0, 21) === '# Disk DescriptorFile') return 'vmdk';
  if (reader.size >= 1024 && reader.size % 512 === 0) {
    const tail = await reader.read(reader.size - 512, 512);
    if (ascii(tail, 0, 8) === 'conectix') return 'vhd';
  }
  return 'raw';
}

/**
 * The system-area decisions (system-area.ts) against bytes xorriso 1.5.4 wrote: each case gives
 * encodeSystemArea the layout numbers of an image that `xorriso -as mkisofs` made with the options in
 * its comment (SOURCE_DATE_EPOCH=1700000000, so xorriso derives its GUIDs and disk signature from the
 * volume date as imgkit does), and compares MBR bytes 432–511, the GPT header and entries, and the
 * APM blocks with the hex xorriso wrote. The image-level comparisons (same tree through both tools)
 * are in test/iso-xorriso.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromHex, toHex } from '@imgkit/core';
import { encodeSystemArea, planPartitionTables, resolveOptions, type IsoOptions, type SystemAreaLayout } from '@imgkit/iso9660';

/** MBR code of the APM-aware isohdpfx.bin variants starts 33 ED 90 90 …; the rest is irrelevant here. */
const ISOHDPFX_LIKE = new Uint8Array(432);
ISOHDPFX_LIKE.set([0x33, 0xed, ...new Array<number>(30).fill(0x90)]);
const GRUB_BOOT_HYBRID_LIKE = new Uint8Array(512).fill(0x90);
GRUB_BOOT_HYBRID_LIKE.set([0x55, 0xaa], 510);
const host = (size: number) => ({ size, read: async function* () {} });

function sa(options: IsoOptions, l: Omit<SystemAreaLayout, 'plan'>) {
  const o = resolveOptions(options);
  return { o, bytes: encodeSystemArea(o, { ...l, plan: planPartitionTables(o) }) };
}

test('Debian live-build: isohybrid MBR, EFI image marked -isohybrid-gpt-basdat and -isohybrid-apm-hfsplus', () => {
  // xorriso -as mkisofs … -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4
  //   -boot-info-table -isohybrid-mbr isohdpfx.bin -eltorito-alt-boot -e boot/grub/efi.img
  //   -no-emul-boot -isohybrid-gpt-basdat -isohybrid-apm-hfsplus  (image: 3584 blocks)
  const { bytes } = sa(
    {
      boot: [
        { platform: 'bios', path: 'isolinux/isolinux.bin', bootInfoTable: true },
        { platform: 'efi', path: 'boot/grub/efi.img', gptMark: 'basic-data', apmMark: true },
      ],
      systemArea: { template: ISOHDPFX_LIKE, mbrCode: 'isohybrid' },
    },
    {
      heads: 64,
      sectors: 32,
      volumeBlocks: 3584,
      totalBlocks: 3584,
      postPadBytes: 0,
      partitionOffset: 0,
      boot: [
        { platform: 0, gptMark: 0, apmMark: false, appended: -1, lba: 1477, sizeBytes: 38912 },
        { platform: 0xef, gptMark: 1, apmMark: true, appended: -1, lba: 37, sizeBytes: 2949120 },
      ],
      appended: [undefined, undefined, undefined, undefined],
      efiBootPart: undefined,
      dateDigits: '2023111422132000',
    },
  );
  const a = bytes.area;
  assert.equal(
    toHex(a.subarray(432, 512)),
    '141700000000000053384e62000080000100003f2006000000000038000000feffffeffeffff9400000080160000' + '00'.repeat(32) + '55aa',
  );
  // APM head over the MBR code, then the map's own entry and the EFI image's (2 KiB blocks).
  assert.equal(toHex(a.subarray(0, 8)), '4552080000009090');
  assert.equal(toHex(a.subarray(2048, 2048 + 0x60)), '504d00000000000200000001000000024170706c65' + '00'.repeat(27) + '4170706c655f706172746974696f6e5f6d6170' + '00'.repeat(13) + '00000000000000020000000300000000');
  assert.equal(toHex(a.subarray(4096, 4096 + 0x20)), '504d00000000000200000025000005a0454649' + '00'.repeat(13));
  assert.equal(toHex(a.subarray(4096 + 0x50, 4096 + 0x5c)), '00000000000005a040000013');
  // GPT after the APM (entries from sector 12, 208 of them), basic-data "ISOHybrid" over the ISO and "ISOHybrid1" on the EFI image.
  assert.equal(
    toHex(a.subarray(512, 604)),
    '4546492050415254000001005c000000b3ca94b2000000000100000000000000ff370000000000004000000000000000ca370000000000003230323331313144b2303032313332300c00000000000000d00000008000000091a079d4',
  );
  assert.equal(
    toHex(a.subarray(6144, 6144 + 256)),
      'a2a0d0ebe5b9334487c068b6b72699c73230323331313144b23130323133323' +
      '00'.repeat(8) +
      '0c7370000000000000100000000000010490053004f004800790062007200690064' +
      '00'.repeat(55) +
      'a2a0d0ebe5b9334487c068b6b72699c73230323331313144b232303231333230940000000000000013170000000000000100000000000010490053004f0048007900620072006900640031' +
      '00'.repeat(53),
  );
  assert.equal(bytes.gptBackup!.byteLength, 14 * 2048);
  assert.equal(bytes.pvdCountsTotal, false);
});

test('grub-mkrescue: --grub2-mbr, --protective-msdos-label, -efi-boot-part --efi-boot-image', () => {
  // xorriso -as mkisofs -graft-points --modification-date=2023111422132000 -b boot/grub/i386-pc/eltorito.img
  //   -no-emul-boot -boot-load-size 4 -boot-info-table --grub2-boot-info --grub2-mbr boot_hybrid.img
  //   --efi-boot efi.img -efi-boot-part --efi-boot-image --protective-msdos-label …  (9781 blocks)
  const { bytes } = sa(
    {
      boot: [
        { platform: 'bios', path: 'boot/grub/i386-pc/eltorito.img', bootInfoTable: true, grub2BootInfo: true },
        { platform: 'efi', path: 'efi.img' },
      ],
      volumeDates: { uuid: '2023111422132000' },
      systemArea: { template: GRUB_BOOT_HYBRID_LIKE, mbrCode: 'grub2', protectiveMsdosLabel: true, efiBootPartition: 'boot-image' },
    },
    {
      heads: 64,
      sectors: 32,
      volumeBlocks: 9781,
      totalBlocks: 9781,
      postPadBytes: 0,
      partitionOffset: 0,
      boot: [
        { platform: 0, gptMark: 0, apmMark: false, appended: -1, lba: 2858, sizeBytes: 29541 },
        { platform: 0xef, gptMark: 0, apmMark: false, appended: -1, lba: 72, sizeBytes: 2949120 },
      ],
      appended: [undefined, undefined, undefined, undefined],
      efiBootPart: { startBlock: 72, sizeBlocks: 1440 },
      dateDigits: '2023111422132000',
    },
  );
  const a = bytes.area;
  // GRUB2's jump target LBA × 4 + 4; the template's bytes 440–445 stay; 0xEE over the disk, nothing active.
  assert.equal(toHex(a.subarray(432, 512)), 'ac2c000000000000' + '909090909090' + '00000200ee06141301000000d3980000' + '00'.repeat(48) + '55aa');
  assert.equal(
    toHex(a.subarray(512, 604)),
    '4546492050415254000001005c000000cc7d47fb000000000100000000000000d398000000000000400000000000000094980000000000003230323331313144b2303032313332300200000000000000f800000080000000c08e0947',
  );
  // Gap0 (64…287), the ESP "EFI boot partition" (288…6047), Gap1 to the backup GPT.
  assert.equal(
    toHex(a.subarray(1024, 1024 + 384)),
      'a2a0d0ebe5b9334487c068b6b72699c73230323331313144b23130323133323040000000000000001f0100000000000001000000000000104700610070003' +
      '00'.repeat(65) +
      '028732ac11ff8d211ba4b00a0c93ec93b3230323331313144b23230323133323020010000000000009f170000000000000100000000000010450046004900200062006f006f007400200070006100720074006900740069006f006e' +
      '00'.repeat(37) +
      'a2a0d0ebe5b9334487c068b6b72699c73230323331313144b233303231333230a0170000000000009398000000000000010000000000001047006100700031' +
      '00'.repeat(65),
  );
  // Backup header: mirrors the primary, entries just before it.
  const backup = bytes.gptBackup!;
  assert.equal(
    toHex(backup.subarray(backup.byteLength - 512, backup.byteLength - 420)),
    '4546492050415254000001005c000000508f2f6c00000000d3980000000000000100000000000000400000000000000094980000000000003230323331313144b2303032313332309598000000000000f800000080000000c08e0947',
  );
  assert.equal(bytes.pvdCountsTotal, true, 'a protective label: the PVD counts the whole image');
});

test('archiso MBR style: -partition_offset 16, isohybrid, -append_partition 2 0xef, EFI entry on it', () => {
  // xorriso -as mkisofs … -partition_offset 16 -isohybrid-mbr isohdpfx.bin -eltorito-boot isolinux/isolinux.bin
  //   … -append_partition 2 0xef esp.img -eltorito-alt-boot -e --interval:appended_partition_2:all::
  //   -no-emul-boot -isohybrid-gpt-basdat  (ISO 3072 blocks, ESP 4 MiB... appended at 3072, 4096 blocks)
  const { bytes } = sa(
    {
      boot: [
        { platform: 'bios', path: 'isolinux/isolinux.bin', bootInfoTable: true },
        { platform: 'efi', appendedPartition: 2, gptMark: 'basic-data' },
      ],
      systemArea: { template: ISOHDPFX_LIKE, mbrCode: 'isohybrid', partitionOffsetBlocks: 16, appendedPartitions: [{ number: 2, type: 0xef, content: host(8 << 20) }] },
    },
    {
      heads: 64,
      sectors: 32,
      volumeBlocks: 3072,
      totalBlocks: 7334,
      postPadBytes: 0,
      partitionOffset: 16,
      boot: [
        { platform: 0, gptMark: 0, apmMark: false, appended: -1, lba: 67, sizeBytes: 38912 },
        { platform: 0xef, gptMark: 1, apmMark: false, appended: 1, lba: 0, sizeBytes: 0 },
      ],
      appended: [undefined, { startBlock: 3072, sizeBlocks: 4096, typeByte: 0xef, typeGuid: undefined }, undefined, undefined],
      efiBootPart: undefined,
      dateDigits: '2023111422132000',
    },
  );
  const a = bytes.area;
  assert.equal(toHex(a.subarray(432, 512)), '0c0100000000000053384e62000080020100003f200540000000c02f000000000106ef3f200d0030000000400000' + '00'.repeat(32) + '55aa');
  assert.equal(
    toHex(a.subarray(512, 604)),
    '4546492050415254000001005c000000ec08a86d0000000001000000000000009772000000000000400000000000000058720000000000003230323331313144b2303032313332300200000000000000f800000080000000c799af4c',
  );
  assert.equal(bytes.pvdCountsTotal, true, 'a partition offset: the PVD counts the whole image');
});

test('Ubuntu: GRUB2 MBR, protective label, offset 16, ESP appended as GPT partition, forced active entry', () => {
  // xorriso -as mkisofs --modification-date=2022080916483300 --grub2-mbr … --protective-msdos-label
  //   -partition_cyl_align off -partition_offset 16 --mbr-force-bootable -append_partition 2
  //   28732ac11ff8d211ba4b00a0c93ec93b esp.img -appended_part_as_gpt
  //   -iso_mbr_part_type a2a0d0ebe5b9334487c068b6b72699c7 -c /boot.catalog -b /boot/grub/i386-pc/eltorito.img …
  const { bytes } = sa(
    {
      boot: [
        { platform: 'bios', path: 'boot/grub/i386-pc/eltorito.img', bootInfoTable: true, grub2BootInfo: true },
        { platform: 'efi', appendedPartition: 2 },
      ],
      systemArea: {
        template: GRUB_BOOT_HYBRID_LIKE,
        mbrCode: 'grub2',
        protectiveMsdosLabel: true,
        cylinderAlign: 'off',
        partitionOffsetBlocks: 16,
        mbrForceBootable: true,
        appendedPartitions: [{ number: 2, type: '28732ac11ff8d211ba4b00a0c93ec93b', content: host(4 << 20) }],
        appendedAsGpt: true,
        isoPartitionType: 'a2a0d0ebe5b9334487c068b6b72699c7',
      },
    },
    {
      heads: 64,
      sectors: 32,
      volumeBlocks: 9742,
      totalBlocks: 11956,
      postPadBytes: 0,
      partitionOffset: 16,
      boot: [
        { platform: 0, gptMark: 0, apmMark: false, appended: -1, lba: 201, sizeBytes: 29541 },
        { platform: 0xef, gptMark: 0, apmMark: false, appended: 1, lba: 0, sizeBytes: 0 },
      ],
      appended: [undefined, { startBlock: 9742, sizeBlocks: 2048, typeByte: 0xef, typeGuid: fromHex('28732ac11ff8d211ba4b00a0c93ec93b') }, undefined, undefined],
      efiBootPart: undefined,
      dateDigits: '2022080916483300',
    },
  );
  const a = bytes.area;
  assert.equal(toHex(a.subarray(432, 446)), '2803000000000000' + '909090909090');
  // 0xEE from sector 1 over the whole disk; --mbr-force-bootable adds an active dummy entry.
  assert.equal(toHex(a.subarray(446, 512)), '00000200ee16101701000000cfba0000' + '80000100000001000000000001000000' + '00'.repeat(32) + '55aa');
  assert.equal(
    toHex(a.subarray(512, 604)),
    '4546492050415254000001005c00000041fbc06b000000000100000000000000cfba000000000000400000000000000090ba0000000000003230323230383049b1303036343833330200000000000000f8000000800000008e212699',
  );
});

test('without a GPT, 0xEE is refused in the MBR (xorriso: "Prevented partition type 0xEE")', () => {
  const warnings: string[] = [];
  const o = resolveOptions({ boot: [{ platform: 'bios', path: 'b' }], systemArea: { protectiveMsdosLabel: true }, onWarning: (w) => warnings.push(w.detail) });
  const r = encodeSystemArea(o, {
    plan: planPartitionTables(o),
    heads: 64,
    sectors: 32,
    volumeBlocks: 1000,
    totalBlocks: 1000,
    postPadBytes: 0,
    partitionOffset: 0,
    boot: [{ platform: 0, gptMark: 0, apmMark: false, appended: -1, lba: 40, sizeBytes: 2048 }],
    appended: [undefined, undefined, undefined, undefined],
    efiBootPart: undefined,
    dateDigits: '2023111422132000',
  });
  // A protective label without a GPT: type 0xCD, active (GRUB's convention), from sector 1.
  assert.equal(toHex(r.area.subarray(446, 462)), '80000200cd3c2001010000009f0f0000');
  assert.equal(warnings.length, 0);
  assert.equal(r.gptBackup, undefined);
});

/**
 * `imgkit mkisofs` argument reading (packages/cli/src/commands/mkisofs-args.ts): the command lines
 * of the distributions' scripts, read as xorriso 1.5 reads them — boot entries and their options in
 * argv order, pathspecs and grafts, intervals, native commands around -as mkisofs, ignored and
 * unsupported options. What the resulting images look like is test/iso-xorriso.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../src/common.ts';
import { mkisofsOptions, parseMkisofsArgs, splitXorrisoArgv } from '../src/commands/mkisofs.ts';
import { parseInterval, type ParseContext } from '../src/commands/mkisofs-args.ts';

/** A parse context over a pretend file system: `dirs` are directories, `files` everything else. */
function fakeFs(dirs: string[], files: Record<string, string> = {}): ParseContext {
  return {
    cwd: '/work',
    statKind: (p) => (dirs.includes(p) ? 'dir' : p in files ? 'other' : 'missing'),
    readText: (p) => {
      const abs = p.startsWith('/') ? p : `/work/${p}`;
      if (!(abs in files)) throw new UsageError(`cannot read ${p}`);
      return files[abs]!;
    },
  };
}
const fs0 = fakeFs(['/work/binary', '/work/tree', '/tmp/grub.X'], { '/work/file.txt': 'x' });

test('Debian live-build: BIOS then EFI entry, each with the options that follow it', () => {
  const a = parseMkisofsArgs(
    ['-R', '-r', '-J', '-joliet-long', '-l', '-cache-inodes', '-iso-level', '3', '-isohybrid-mbr', '/usr/lib/ISOLINUX/isohdpfx.bin', '-partition_offset', '16',
      '-A', 'Debian Live', '-V', 'Debian trixie', '--modification-date=2023111422132000', '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-eltorito-alt-boot', '-e', 'boot/grub/efi.img', '-no-emul-boot',
      '-isohybrid-gpt-basdat', '-isohybrid-apm-hfsplus', '-o', 'live.iso', 'binary'],
    fs0,
  );
  assert.equal(a.out, 'live.iso');
  assert.deepEqual(a.grafts, [{ isoPath: '', hostPath: '/work/binary' }]);
  assert.equal(a.isoLevel, 3);
  assert.ok(a.rock && a.rational && a.joliet && a.jolietLong);
  assert.equal(a.dateUuid, '2023111422132000');
  assert.deepEqual(a.notes, ['-cache-inodes: ignored (xorriso ignores it too)']);
  assert.deepEqual(a.boot, [
    { platform: 0, path: 'isolinux/isolinux.bin', loadSectors: 4, bootInfoTable: true, grub2BootInfo: false, apmMark: false },
    { platform: 0xef, path: 'boot/grub/efi.img', loadSectors: 'full', bootInfoTable: false, grub2BootInfo: false, apmMark: true, gptMark: 'basic-data' },
  ]);
  assert.equal(a.catalogPath, 'isolinux/boot.cat');
  assert.equal(a.systemArea.mbrCode, 'isohybrid');
  assert.equal(a.systemArea.partitionOffsetBlocks, 16);
  assert.deepEqual(a.systemArea.templateSource, { path: '/usr/lib/ISOLINUX/isohdpfx.bin' });
});

test('-boot-load-size after -eltorito-alt-boot -e belongs to the EFI entry, not the BIOS one', () => {
  const a = parseMkisofsArgs(['-b', 'eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-eltorito-alt-boot', '-e', 'efi.img', '-no-emul-boot', '-boot-load-size', '8192', 'tree'], fs0);
  assert.equal(a.boot[0]!.loadSectors, 4);
  // xorriso loads an EFI image of the tree by its file size when a size is given (its own rule).
  assert.equal(a.boot[1]!.loadSectors, 'file-size');
  assert.equal(a.boot[1]!.platform, 0xef);
});

test('options before -b belong to its entry (live-build grub-pc order); a second -b without -eltorito-alt-boot replaces the first', () => {
  const a = parseMkisofsArgs(['-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-b', 'boot/grub/grub_eltorito', '-e', 'x.img', 'tree'], fs0);
  assert.equal(a.boot.length, 1);
  assert.equal(a.boot[0]!.path, 'x.img');
  assert.equal(a.boot[0]!.platform, 0xef);
  const b = parseMkisofsArgs(['-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '-b', 'boot/grub/grub_eltorito', 'tree'], fs0);
  assert.deepEqual(b.boot[0], { platform: 0, path: 'boot/grub/grub_eltorito', loadSectors: 4, bootInfoTable: true, grub2BootInfo: true, apmMark: false });
  // Without -boot-load-size an entry loads its whole image (xorriso's mkisofs default).
  assert.equal(parseMkisofsArgs(['-b', 'i.bin', '-no-emul-boot', 'tree'], fs0).boot[0]!.loadSectors, 'full');
  // Without -no-emul-boot xorriso would make a floppy-emulation entry: refused, saying what to add.
  assert.throws(() => parseMkisofsArgs(['-b', 'i.bin', 'tree'], fs0), /floppy-emulation .* add -no-emul-boot/);
});

test('grub-mkrescue: --efi-boot closes the BIOS entry; -efi-boot-part --efi-boot-image; two sources merged; sort weights; HFS+ accepted', () => {
  const a = parseMkisofsArgs(
    ['-graft-points', '--modification-date=2023111422132000', '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
      '--grub2-boot-info', '--grub2-mbr', '/usr/lib/grub/i386-pc/boot_hybrid.img', '-hfsplus', '-apm-block-size', '2048', '-hfsplus-file-creator-type', 'chrp', 'tbxj',
      '/System/Library/CoreServices/.disk_label', '-hfs-bless-by', 'i', '/System/Library/CoreServices/boot.efi', '--efi-boot', 'efi.img', '-efi-boot-part',
      '--efi-boot-image', '--protective-msdos-label', '-o', 'out.iso', '-r', '/tmp/grub.X', '--sort-weight', '0', '/', '--sort-weight', '1', '/boot', 'tree'],
    fs0,
  );
  assert.deepEqual(a.grafts, [{ isoPath: '', hostPath: '/tmp/grub.X' }, { isoPath: '', hostPath: '/work/tree' }]);
  assert.deepEqual(a.sortWeights, [{ path: '', weight: 0 }, { path: 'boot', weight: 1 }]);
  assert.equal(a.boot.length, 2);
  assert.ok(a.boot[0]!.grub2BootInfo && a.boot[0]!.bootInfoTable);
  assert.deepEqual(a.boot[1], { platform: 0xef, path: 'efi.img', loadSectors: 'full', bootInfoTable: false, grub2BootInfo: false, apmMark: false });
  assert.equal(a.systemArea.mbrCode, 'grub2');
  assert.equal(a.systemArea.protectiveMsdosLabel, true);
  assert.equal(a.systemArea.efiBootPartition, 'boot-image');
  assert.deepEqual(a.hfsplus, ['-hfsplus', '-hfsplus-file-creator-type chrp tbxj /System/Library/CoreServices/.disk_label', '-hfs-bless-by i /System/Library/CoreServices/boot.efi']);
});

test('Ubuntu remaster: the forms -report_el_torito as_mkisofs prints', () => {
  const a = parseMkisofsArgs(
    ['-V', 'Ubuntu-Server 22.04.1 LTS amd64', '--modification-date=2022080916483300', '--grub2-mbr', '--interval:local_fs:0s-15s:zero_mbrpt,zero_gpt:ubuntu.iso',
      '--protective-msdos-label', '-partition_cyl_align', 'off', '-partition_offset', '16', '-partition_hd_cyl', '64', '-partition_sec_hd', '32',
      '--mbr-force-bootable', '-append_partition', '2', '28732ac11ff8d211ba4b00a0c93ec93b', '--interval:local_fs:2871452d-2879947d::ubuntu.iso',
      '-appended_part_as_gpt', '-iso_mbr_part_type', 'a2a0d0ebe5b9334487c068b6b72699c7', '-c', '/boot.catalog', '-b', '/boot/grub/i386-pc/eltorito.img',
      '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '--grub2-boot-info', '-eltorito-alt-boot',
      '-e', '--interval:appended_partition_2_start_717863s_size_8496d:all::', '-no-emul-boot', '-boot-load-size', '8496', 'tree'],
    fs0,
  );
  assert.deepEqual(a.systemArea.templateSource, { path: 'ubuntu.iso', startByte: 0, endByte: 16 * 2048 - 1, zeroMbrTable: true, zeroGpt: true });
  assert.deepEqual(a.appended, [{ number: 2, type: '28732ac11ff8d211ba4b00a0c93ec93b', source: { path: 'ubuntu.iso', startByte: 2871452 * 512, endByte: 2879948 * 512 - 1 } }]);
  assert.equal(a.systemArea.isoPartitionType, 'a2a0d0ebe5b9334487c068b6b72699c7');
  assert.equal(a.systemArea.cylinderAlign, 'off');
  assert.equal(a.systemArea.headsPerCylinder, 64);
  assert.equal(a.systemArea.sectorsPerHead, 32);
  assert.ok(a.systemArea.mbrForceBootable && a.systemArea.appendedAsGpt && a.systemArea.protectiveMsdosLabel);
  assert.equal(a.catalogPath, 'boot.catalog');
  assert.equal(a.boot[0]!.path, 'boot/grub/i386-pc/eltorito.img');
  assert.equal(a.boot[1]!.appendedPartition, 2);
  assert.equal(a.boot[1]!.platform, 0xef);
});

test('intervals: units s (2048), d (512), k, m; the end unit is included; flags; imported_iso refused', () => {
  assert.deepEqual(parseInterval('-x', '--interval:local_fs:0s-15s::f'), { path: 'f', startByte: 0, endByte: 32767 });
  assert.deepEqual(parseInterval('-x', '--interval:local_fs:100d-199d:zero_apm:/a/b'), { path: '/a/b', startByte: 51200, endByte: 102399, zeroApm: true });
  assert.deepEqual(parseInterval('-x', '--interval:local_fs:1k-2k::x'), { path: 'x', startByte: 1024, endByte: 3071 });
  assert.throws(() => parseInterval('-x', '--interval:imported_iso:0s-15s::x'), /imported_iso .* local_fs/);
  assert.throws(() => parseInterval('-x', '--interval:local_fs:9-3::x'), /ends before it starts/);
});

test('pathspecs: a directory to the root, a file to /leaf, ISO=DISK with -graft-points and its escapes', () => {
  const a = parseMkisofsArgs(['-graft-points', 'tree', 'file.txt', 'boot/x=file.txt', 'a\\=b=file.txt', '/=tree'], fs0);
  assert.deepEqual(a.grafts, [
    { isoPath: '', hostPath: '/work/tree' },
    { isoPath: 'file.txt', hostPath: '/work/file.txt' },
    { isoPath: 'boot/x', hostPath: '/work/file.txt' },
    { isoPath: 'a=b', hostPath: '/work/file.txt' },
    { isoPath: '', hostPath: '/work/tree' },
  ]);
  // Without -graft-points "=" is part of the name.
  assert.throws(() => parseMkisofsArgs(['boot/x=file.txt'], fs0), /no such file or directory/);
  // -path-list: one pathspec per line.
  const b = parseMkisofsArgs(['-graft-points', '-path-list', 'list'], fakeFs(['/work/tree'], { '/work/list': 'isolinux=/work/tree\nboot/k=/work/file.txt\n', '/work/file.txt': '' }));
  assert.deepEqual(b.grafts, [{ isoPath: 'isolinux', hostPath: '/work/tree' }, { isoPath: 'boot/k', hostPath: '/work/file.txt' }]);
});

test('NixOS and k3OS: native xorriso commands before -as mkisofs and after --', () => {
  const argv = ['-boot_image', 'any', 'gpt_disk_guid=0123456789abcdef0123456789abcdef', '-volume_date', 'all_file_dates', '=1700000000', '-as', 'mkisofs', '-iso-level', '3', '-volid', 'nixos', 'tree'];
  const s = splitXorrisoArgv(argv)!;
  assert.deepEqual(s.before, argv.slice(0, 6));
  const a = parseMkisofsArgs(s.mkisofs, fs0, { before: s.before, after: s.after });
  assert.equal(a.systemArea.gptDiskGuid, '0123456789abcdef0123456789abcdef');
  assert.equal(a.allFileDates, 1700000000);
  const k = splitXorrisoArgv(['-joliet', 'on', '-rockridge', 'on', '-as', 'mkisofs', '-graft-points', '-o', 'k.iso', 'tree', '--', '-volid', 'K3OS', '-joliet', 'on'])!;
  assert.deepEqual(k.after, ['-volid', 'K3OS', '-joliet', 'on']);
  const b = parseMkisofsArgs(k.mkisofs, fs0, { before: k.before, after: k.after });
  assert.equal(b.ids.volid, 'K3OS');
  assert.ok(b.joliet && b.rock);
  assert.equal(splitXorrisoArgv(['-o', 'x', 'tree']), undefined);
  assert.throws(() => parseMkisofsArgs(['tree'], fs0, { before: ['-outdev', 'x'] }), /xorriso command -outdev is not supported/);
});

test('fused letters and surplus dashes, as xorriso reads them; ignored, unsupported and unknown options', () => {
  const a = parseMkisofsArgs(['-JR', '--joliet-long', '--full-iso9660-filenames', 'tree'], fs0);
  assert.ok(a.joliet && a.rock && a.jolietLong);
  // Rock Ridge is on without -R, as in xorrisofs; --norock turns it off.
  assert.equal(parseMkisofsArgs(['tree'], fs0).rock, true);
  assert.equal(parseMkisofsArgs(['--norock', 'tree'], fs0).rock, false);
  assert.equal(a.isoLevel, 2);
  assert.throws(() => parseMkisofsArgs(['-hard-disk-boot', 'tree'], fs0), (e: unknown) => e instanceof UsageError && /-hard-disk-boot is not supported: .*-no-emul-boot/.test(e.message));
  assert.throws(() => parseMkisofsArgs(['-iso-level', '4', 'tree'], fs0), /-iso-level 4 .* use -iso-level 3/);
  assert.throws(() => parseMkisofsArgs(['-frobnicate', 'tree'], fs0), /unknown mkisofs option -frobnicate/);
  assert.throws(() => parseMkisofsArgs(['-partition_offset', '8', 'tree'], fs0), /-partition_offset 8: use 0 or 16/);
  assert.throws(() => parseMkisofsArgs(['-append_partition', '2', 'bogus', 'f', 'tree'], fs0), /the type is a byte 0x00…0xff or a GUID/);
  assert.deepEqual(parseMkisofsArgs(['-T', '-volset-size', '1', 'tree'], fs0).notes, ['-T: ignored (xorriso ignores it too)', '-volset-size 1: ignored (xorriso ignores it too)']);
});

test('-isohybrid-mbr and --protective-msdos-label exclude each other, the later one wins (as in xorriso)', () => {
  assert.equal(parseMkisofsArgs(['--protective-msdos-label', '-isohybrid-mbr', 'm', 'tree'], fs0).systemArea.protectiveMsdosLabel, false);
  const b = parseMkisofsArgs(['-isohybrid-mbr', 'm', '--protective-msdos-label', 'tree'], fs0).systemArea;
  assert.equal(b.protectiveMsdosLabel, true);
  assert.equal(b.mbrCode, undefined);
});

test('identifiers as xorriso records them: a-characters upper case in the PVD, as given in Joliet; volume id as given', () => {
  const a = parseMkisofsArgs(['-J', '-V', 'Vol id 1', '-publisher', 'Debian Live project; debian-live@lists.debian.org', '-p', 'live-build x@y', '-sysid', 'linux', 'tree'], fs0);
  const o = mkisofsOptions(a, 1700000000);
  assert.equal(o.volumeId, 'Vol id 1');
  assert.equal(o.publisherId, 'DEBIAN LIVE PROJECT; DEBIAN-LIVE_LISTS.DEBIAN.ORG');
  assert.equal(o.dataPreparerId, 'LIVE-BUILD X_Y');
  assert.equal(o.systemId, 'LINUX');
  assert.equal(o.volumeSetId, '', 'no volume set id unless given');
  assert.equal(o.applicationId, '');
  assert.deepEqual(o.jolietIds, { systemId: 'linux', volumeSetId: '', publisherId: 'Debian Live project; debian-live@lists.debian.org', dataPreparerId: 'live-build x@y', applicationId: '' });
  assert.equal(o.rockRidgeVersion, '1.10');
  assert.equal(o.jolietTruncate, true, "xorriso's lossy Joliet rule");
});

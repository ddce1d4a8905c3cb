/**
 * `imgkit mkisofs` against `xorriso -as mkisofs` (1.5.4), one layout family per test: the same
 * staging tree (test/lib/iso-kit.ts), the same options and SOURCE_DATE_EPOCH through both tools,
 * then:
 *   - every byte outside the directory records is identical: the system area (MBR, APM, primary
 *     GPT), volume descriptors, path tables, boot catalog, patched boot images, file data,
 *     appended partitions, padding and backup GPT — so the layout (every LBA) is xorriso's;
 *   - inside directory records only the fields where imgkit deliberately differs may differ (PX
 *     link counts of directories: the real counts, xorriso writes 1; Joliet ".." records: the
 *     parent, libisofs points them at the directory itself), checked record by record;
 *   - `xorriso -report_el_torito plain -report_system_area plain`, `fdisk -l`, `sgdisk -p` and
 *     `isoinfo -d` print the same (image paths aside), and bsdtar extracts the same tree.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { grubMkrescue, IMGKIT_XORRISO, isoKit, KIT_EPOCH, KIT_LINES, kitArgs, type IsoKit } from './lib/iso-kit.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { assertSameTree, snapshotDir } from './lib/tree.ts';

const env = { SOURCE_DATE_EPOCH: KIT_EPOCH };
let kit: IsoKit;
let work = '';
before(async () => {
  kit = await isoKit();
  work = await tempDir('iso-xorriso');
});

const xorriso = () => requireTool('xorriso', 'xorriso');

/** The same mkisofs command line (test/lib/iso-kit.ts) through both tools. */
async function both(name: string, line: { args: readonly string[]; source?: string }, extra: readonly string[] = []): Promise<{ x: string; i: string; stderr: string; toolName: boolean }> {
  const argv = kitArgs(kit, line, extra);
  const x = join(work, `${name}.xorriso.iso`);
  const i = join(work, `${name}.imgkit.iso`);
  await run(xorriso(), ['-as', 'mkisofs', ...argv, '-o', x], { env, cwd: kit.tree });
  const r = await runImgkit(['mkisofs', ...argv, '-o', i], { env, cwd: kit.tree });
  assert.equal(r.code, 0, `imgkit mkisofs ${argv.join(' ')}\n${r.stderr}`);
  // Without -p each tool writes its own name as data preparer.
  const toolName = !argv.some((a) => a === '-p' || a === '-preparer');
  return { x, i, stderr: r.stderr, toolName };
}

interface Reports {
  report: string;
  fdisk: string;
  sgdisk: string;
  isoinfo: string;
}

async function reports(iso: string, toolName = true): Promise<Reports> {
  // Image paths, and the column widths that follow their length.
  const norm = (s: string) => s.split(iso).join('IMAGE').replace(/[ \t]+/g, ' ');
  const rep = (await run(xorriso(), ['-indev', iso, '-report_el_torito', 'plain', '-report_system_area', 'plain'])).stdout.toString();
  const fdisk = (await run(requireTool('fdisk', 'fdisk'), ['-l', iso])).stdout.toString();
  const sgdisk = (await run(requireTool('sgdisk', 'gdisk'), ['-p', iso], { allowFail: true })).stdout.toString();
  const isoinfo = (await run(requireTool('isoinfo', 'genisoimage'), ['-d', '-i', iso])).stdout.toString();
  return {
    report: rep,
    fdisk: norm(fdisk),
    sgdisk: norm(sgdisk),
    // xorriso writes its own name as data preparer unless told otherwise.
    isoinfo: toolName ? isoinfo.replace(/^Data preparer id: .*$/m, 'Data preparer id: (tool)') : isoinfo,
  };
}

/** Byte extents of every directory of an image: both trees, and the partition offset's copy. */
function directoryExtents(img: Buffer): [number, number][] {
  const out: [number, number][] = [];
  const seen = new Set<number>();
  for (let vd = 16; vd < 1100; vd++) {
    const d = img.subarray(vd * 2048, vd * 2048 + 2048);
    if (d.subarray(1, 6).toString('latin1') !== 'CD001' || (d[0] !== 1 && d[0] !== 2)) continue;
    // A partition's descriptors (at P + 16) count addresses from P.
    const shift = vd >= 32 ? Math.floor((vd - 16) / 16) * 16 : 0;
    const stack: [number, number][] = [[d.readUInt32LE(156 + 2) + shift, d.readUInt32LE(156 + 10)]];
    while (stack.length) {
      const [lba, size] = stack.pop()!;
      if (seen.has(lba)) continue;
      seen.add(lba);
      out.push([lba * 2048, lba * 2048 + size]);
      for (let at = lba * 2048, end = at + size; at < end; ) {
        const len = img[at]!;
        if (len === 0) {
          at = (Math.floor(at / 2048) + 1) * 2048;
          continue;
        }
        const idLen = img[at + 32]!;
        if ((img[at + 25]! & 2) !== 0 && !(idLen === 1 && img[at + 33]! <= 1)) stack.push([img.readUInt32LE(at + 2) + shift, img.readUInt32LE(at + 10)]);
        at += len;
      }
    }
  }
  return out;
}

/**
 * Compare the images byte by byte: outside directory extents everything equal; inside, a differing
 * byte must lie in a directory's PX link count (RRIP: bytes 12–19 of "PX") or in a Joliet ".."
 * record's extent address.
 */
function compareBytes(x: Buffer, i: Buffer, toolName: boolean): void {
  assert.equal(i.byteLength, x.byteLength, 'image sizes');
  const extents = directoryExtents(x);
  const inExtent = (off: number) => extents.find(([s, e]) => off >= s && off < e);
  const allowed = new Set<number>();
  const toolField = new Set<number>();
  if (toolName) {
    // The data preparer id (ECMA-119 §8.4.15, bytes 446–573) of every primary and Joliet descriptor.
    for (let vd = 16; vd < 1100; vd++) {
      const d = x.subarray(vd * 2048, vd * 2048 + 7);
      if (d.subarray(1, 6).toString('latin1') === 'CD001' && (d[0] === 1 || d[0] === 2)) for (let k = 446; k < 574; k++) toolField.add(vd * 2048 + k);
    }
  }
  for (const [s, e] of extents) {
    let at = s;
    let first = true;
    while (at < e) {
      const len = x[at]!;
      if (len === 0) {
        at = (Math.floor(at / 2048) + 1) * 2048;
        first = true;
        continue;
      }
      const idLen = x[at + 32]!;
      const isDir = (x[at + 25]! & 2) !== 0;
      // The second record of a directory is ".." (its extent address may differ in Joliet).
      if (!first && idLen === 1 && x[at + 33] === 1) for (let k = 2; k < 10; k++) allowed.add(at + k);
      if (isDir) {
        const su = at + 33 + idLen + (idLen % 2 === 0 ? 1 : 0);
        for (let p = su; p + 4 <= at + len; ) {
          const l = x[p + 2]!;
          if (l === 0) break;
          if (x[p] === 0x50 && x[p + 1] === 0x58) for (let k = 12; k < 20; k++) allowed.add(p + k);
          p += l;
        }
      }
      first = false;
      at += len;
    }
  }
  const bad: string[] = [];
  for (let off = 0; off < x.byteLength && bad.length < 20; off++) {
    if (x[off] === i[off]) continue;
    if ((inExtent(off) && allowed.has(off)) || toolField.has(off)) continue;
    bad.push(`byte ${off} (block ${Math.floor(off / 2048)} + ${off % 2048}${inExtent(off) ? ', in a directory record' : ''}): xorriso ${x[off]}, imgkit ${i[off]}`);
  }
  assert.deepEqual(bad, [], 'bytes that differ outside the fields imgkit writes differently');
}

async function assertSameImages(x: string, i: string, toolName: boolean): Promise<void> {
  const [rx, ri] = [await reports(x, toolName), await reports(i, toolName)];
  for (const k of ['report', 'fdisk', 'sgdisk', 'isoinfo'] as const) assert.equal(ri[k], rx[k], `${k} of imgkit's image vs xorriso's`);
  compareBytes(await readFile(x), await readFile(i), toolName);
  const ex = join(work, `${Date.now()}-x`);
  const ei = join(work, `${Date.now()}-i`);
  await mkdir(ex);
  await mkdir(ei);
  const bsdtar = requireTool('bsdtar', 'libarchive-tools');
  await run(bsdtar, ['--numeric-owner', '-xpf', x, '-C', ex]);
  await run(bsdtar, ['--numeric-owner', '-xpf', i, '-C', ei]);
  // Directory link counts differ by design (see above); everything else extracted must be equal.
  const [si, sx] = [await snapshotDir(ei), await snapshotDir(ex)];
  for (const s of [si, sx]) for (const e of s.values()) if (e.kind === 'dir') delete e.nlink;
  // The root's time is the extraction's (bsdtar does not restore it); the byte comparison covers it.
  assertSameTree(si, sx, { ignore: ['root'] });
}

describe('imgkit mkisofs lays images out as xorriso -as mkisofs does', () => {
  test('Debian live-build (syslinux + GRUB EFI): -isohybrid-mbr, -isohybrid-gpt-basdat, -isohybrid-apm-hfsplus', async () => {
    const { x, i, stderr, toolName } = await both('live-build', KIT_LINES.liveBuild);
    assert.match(stderr, /-cache-inodes: ignored/);
    const rep = (await reports(i)).report;
    // The defect this layout fixes: partition 1 type 0x00 (not 0x17), beside the 0xEF entry; GPT and APM.
    assert.match(rep, /MBR partition      :\s+1\s+0x80\s+0x00\s+0\s/);
    assert.match(rep, /MBR partition      :\s+2\s+0x00\s+0xef\s/);
    assert.match(rep, /GPT partname local :\s+2\s+ISOHybrid1/);
    assert.match(rep, /APM partition type :\s+1\s+Apple_HFS/);
    await assertSameImages(x, i, toolName);
  });

  test('live-build with -partition_offset 16: the ISO partition at 64 with its own descriptors', async () => {
    const { x, i, toolName } = await both('offset', KIT_LINES.offset);
    assert.match((await reports(i)).report, /MBR partition      :\s+1\s+0x80\s+0x00\s+64\s/);
    await assertSameImages(x, i, toolName);
  });

  test('grub-mkrescue layout: --grub2-mbr, --grub2-boot-info, --protective-msdos-label, -efi-boot-part --efi-boot-image, sort weights', async () => {
    const { x, i, toolName } = await both('grub2', KIT_LINES.grubMkrescue);
    const rep = (await reports(i)).report;
    assert.match(rep, /System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT/);
    assert.match(rep, /El Torito img opts :\s+1\s+boot-info-table grub2-boot-info/);
    await assertSameImages(x, i, toolName);
  });

  test('Ubuntu 22.04: GRUB2 MBR, offset 16, ESP appended as GPT partition 2, forced active entry, ISO partition type GUID', async () => {
    const { x, i, toolName } = await both('ubuntu', KIT_LINES.ubuntu);
    const rep = (await reports(i)).report;
    assert.match(rep, /MBR partition      :\s+2\s+0x80\s+0x00\s+0\s+1\b/);
    assert.match(rep, /GPT partname local :\s+1\s+ISO9660/);
    await assertSameImages(x, i, toolName);
    // The remaster: what xorriso prints for it, replayed through imgkit, gives xorriso's layout again.
    const asMkisofs = (await run(xorriso(), ['-indev', x, '-report_el_torito', 'as_mkisofs'])).stdout.toString();
    // Shell words: quoted and bare parts of one word join (--modification-date='2022…').
    const replay = [...asMkisofs.matchAll(/(?:'[^']*'|[^\s'])+/g)].map((m) => m[0].replace(/'([^']*)'/g, '$1'));
    assert.ok(replay.some((a) => a.startsWith('--interval:local_fs:')), replay.join(' '));
    const r2 = await both('ubuntu-replay', { args: ['-r', '-J', '-joliet-long', ...replay] });
    await assertSameImages(r2.x, r2.i, r2.toolName);
  });

  test('archiso: MBR-style (-append_partition 2 0xef, the EFI entry on it, -isohybrid-gpt-basdat) and GPT-style (-appended_part_as_gpt)', async () => {
    const mbr = await both('arch-mbr', KIT_LINES.archisoMbr);
    const rep = (await reports(mbr.i)).report;
    assert.match(rep, /MBR partition      :\s+1\s+0x80\s+0x00\s+64\s/);
    assert.match(rep, /MBR partition      :\s+2\s+0x00\s+0xef\s/);
    await assertSameImages(mbr.x, mbr.i, mbr.toolName);
    // The same with the ESP as a GPT partition (archiso before 2021).
    const args = KIT_LINES.archisoMbr.args.map((a) => (a === '0xef' ? 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B' : a));
    args.splice(args.indexOf('-isohybrid-gpt-basdat'), 0, '-appended_part_as_gpt');
    const gpt = await both('arch-gpt', { args });
    assert.match((await reports(gpt.i)).report, /MBR partition      :\s+1\s+0x00\s+0xee\s+1\s/);
    await assertSameImages(gpt.x, gpt.i, gpt.toolName);
  });

  test('Fedora lorax: pathspecs only, hidden catalog, GPT partition type of the ISO, EFI image appended', async () => {
    const { x, i, toolName } = await both('fedora', KIT_LINES.fedora);
    assert.doesNotMatch((await run(requireTool('isoinfo', 'genisoimage'), ['-f', '-i', i])).stdout.toString(), /BOOT\.CAT/);
    await assertSameImages(x, i, toolName);
  });

  test('Alpine: -follow-links, -full-iso9660-filenames, -sysid, -quiet', async () => {
    const { x, i, toolName } = await both('alpine', KIT_LINES.alpine);
    await assertSameImages(x, i, toolName);
    // The link was followed: a file sharing the kernel's data (one host file, stored once), no symlink.
    const listing = (await run(requireTool('isoinfo', 'genisoimage'), ['-R', '-l', '-i', i])).stdout.toString();
    const extent = (name: string) => new RegExp(`^-\\S+\\s+2\\s+\\d+\\s+\\d+\\s+\\d+ .*\\[\\s*(\\d+) 00\\]\\s+${name} $`, 'm').exec(listing)?.[1];
    assert.ok(extent('kernel-link') !== undefined && extent('kernel-link') === extent('vmlinuz'), listing);
    assert.equal((await stat(i)).size % (1 << 20), 0, 'isohybrid: cylinder-aligned');
  });
});

describe('imgkit iso expresses the same layouts as named presets', () => {
  test('--hybrid grub2 equals the grub-mkrescue options through imgkit mkisofs', async () => {
    const a = join(work, 'preset-grub2.iso');
    const b = join(work, 'mkisofs-grub2.iso');
    const r1 = await runImgkit(['iso', kit.tree, a, '--rrip', '1.10', '--volid', 'ISOIMAGE', '--sysid', '', '--appid', '', '--preparer', 'IMGKIT', '--iso-level', '1',
      '--hybrid', 'grub2', '--mbr-template', kit.bootHybrid, '--bios-boot', 'boot/grub/i386-pc/eltorito.img', '--boot-info-table', '--grub2-boot-info',
      '--boot-load-size', '4', '--efi-boot', 'boot/grub/efi.img', '--modification-date', '2023111422132000'], { env });
    assert.equal(r1.code, 0, r1.stderr);
    const r2 = await runImgkit(['mkisofs', '--modification-date=2023111422132000', '-R', '-b', 'boot/grub/i386-pc/eltorito.img', '-no-emul-boot', '-boot-load-size', '4',
      '-boot-info-table', '--grub2-boot-info', '--grub2-mbr', kit.bootHybrid, '--efi-boot', 'boot/grub/efi.img', '-efi-boot-part', '--efi-boot-image',
      '--protective-msdos-label', '-o', b, kit.tree], { env });
    assert.equal(r2.code, 0, r2.stderr);
    const [ra, rb] = [await reports(a), await reports(b)];
    assert.equal(ra.report, rb.report);
    assert.deepEqual((await readFile(a)).subarray(0, 32768), (await readFile(b)).subarray(0, 32768), 'same system area');
  });
});

describe('imgkit iso: the mbr-style preset is archiso\'s layout', () => {
  test('--hybrid mbr-style --append-partition --partition-offset 16 --mbr-force-bootable equals the archiso line', async () => {
    const a = join(work, 'preset-mbr-style.iso');
    const b = join(work, 'mkisofs-archiso.iso');
    const r1 = await runImgkit(['iso', kit.tree, a, '--rrip', '1.10', '--sysid', '', '--appid', 'Arch Linux Live/Rescue DVD', '--preparer', 'prepared by mkarchiso',
      '--publisher', 'Arch Linux <https://archlinux.org>', '--volid', 'ARCH_202311', '--joliet-long', '--hybrid', 'mbr-style', '--mbr-template', kit.isohdpfx,
      '--append-partition', kit.esp, '--efi-boot', 'appended-esp', '--partition-offset', '16', '--mbr-force-bootable', '--bios-boot', 'isolinux/isolinux.bin',
      '--boot-catalog', 'isolinux/boot.cat', '--boot-load-size', '4', '--boot-info-table'], { env });
    assert.equal(r1.code, 0, r1.stderr);
    const r2 = await runImgkit(['mkisofs', ...kitArgs(kit, KIT_LINES.archisoMbr), '-o', b], { env });
    assert.equal(r2.code, 0, r2.stderr);
    assert.equal((await reports(a)).report, (await reports(b)).report);
    assert.deepEqual((await readFile(a)).subarray(0, 32768), (await readFile(b)).subarray(0, 32768), 'same system area');
  });
});

describe('grub-mkrescue --xorriso=imgkit-xorriso.js', () => {
  test('the probe (-as mkisofs -help) answers as grub-mkrescue expects', async () => {
    const r = await run(process.execPath, [IMGKIT_XORRISO, '-as', 'mkisofs', '-help'], { allowFail: true });
    assert.equal(r.code, 0);
    // grub-mkrescue reads stdout and stderr through one pipe.
    const text = r.stdout.toString() + r.stderr;
    assert.match(text, /graft-points/);
    assert.match(text, /grub2-boot-info/);
  });

  test('grub-mkrescue runs through imgkit: its El Torito entries and GRUB2 hybrid system area as with xorriso, HFS+ refused with one warning', async () => {
    const x = join(work, 'mkrescue.xorriso.iso');
    const i = join(work, 'mkrescue.imgkit.iso');
    const rx = await grubMkrescue(kit, xorriso(), x);
    assert.equal(rx.code, 0, rx.output);
    const ri = await grubMkrescue(kit, IMGKIT_XORRISO, i);
    assert.equal(ri.code, 0, ri.output);
    // grub-mkrescue asks for an HFS+ tree and an Apple Partition Map (Macs); imgkit says once that it writes neither.
    assert.equal(ri.output.match(/warning: .*HFS\+/g)?.length, 1, ri.output);
    const [px, pi] = [(await reports(x)).report, (await reports(i)).report];
    // xorriso's image adds the APM and an HFS+ partition; the rest is the same layout.
    const elTorito = (rep: string) => rep.split('\n').filter((l) => /^El Torito (boot img|img path|img opts|images)/.test(l)).map((l) => l.replace(/\s+\d+$/, ' LBA'));
    assert.deepEqual(elTorito(pi), elTorito(px));
    assert.match(pi, /System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT\n/);
    assert.match(px, /System area summary: MBR protective-msdos-label grub2-mbr cyl-align-off GPT APM\n/);
    // The GPT's ESP is GRUB's efi.img (xorriso numbers it after its HFS+ gap partition).
    for (const line of [/GPT partname local :\s+\d+\s+EFI boot partition\n/, /GPT type GUID      :\s+\d+\s+28732ac11ff8d211ba4b00a0c93ec93b\n/, /GPT partition path :\s+\d+\s+\/efi\.img\n/]) {
      assert.ok(line.test(px) && line.test(pi), `${line}\nxorriso:\n${px}\nimgkit:\n${pi}`);
    }
  });
});

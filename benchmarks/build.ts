/**
 * The live-ISO recipe (examples/live-iso's shape: hybrid ISO + update image + root tar, each with
 * its .sha256) on a real root tree, same input, same run:
 *
 *   imgkit build recipe.yaml --out DIR --workers 2
 *   the native pipeline a project runs today: cpio | gzip (initramfs), mksquashfs -comp zstd
 *     -processors 2, mkfs.fat -C + mmd + mcopy (the ESP), xorriso -as mkisofs (isolinux El Torito,
 *     isohybrid MBR, the ESP appended as GPT partition 2), tar, cp, sha256sum
 *
 *   npm run build && node --import tsx benchmarks/build.ts      # BENCH_ITER=3 by default
 *
 * Input: root = /usr/lib/python3 (override with BENCH_BUILD_ROOT), Debian's kernel, busybox-static,
 * isolinux, GRUB's monolithic EFI image; the initramfs is examples/common/initramfs with busybox
 * (no kernel modules, in both pipelines). Outputs go to benchmarks/results/build-*. The page cache
 * is warmed. Both squashfs use zstd level 15 (mksquashfs's default and imgkit's).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 3);
const rootTree = process.env.BENCH_BUILD_ROOT ?? '/usr/lib/python3';
const kernel = join('/boot', readdirSync('/boot').filter((n) => n.startsWith('vmlinuz-')).sort().at(-1) ?? 'vmlinuz-missing');
const FILES = {
  isolinux: ['/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'],
  ldlinux: ['/usr/lib/syslinux/modules/bios/ldlinux.c32', 'syslinux-common'],
  mbr: ['/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux'],
  grub: ['/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi', 'grub-efi-amd64-bin'],
  busybox: ['/usr/bin/busybox', 'busybox-static'],
  kernel: [kernel, 'linux-image-amd64'],
} as const;
for (const [file, pkg] of Object.values(FILES)) if (!existsSync(file)) throw new Error(`${file} is missing: apt-get install -y ${pkg}`);
for (const [tool, pkg] of [['xorriso', 'xorriso'], ['mkfs.fat', 'dosfstools'], ['mcopy', 'mtools'], ['mksquashfs', 'squashfs-tools'], ['cpio', 'cpio']]) {
  if (!['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${tool}`))) throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}
mkdirSync(RESULTS, { recursive: true });
execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: rootTree });

const initDir = join(ROOT, 'examples/common/initramfs');
const cmdline = 'console=ttyS0 panic=-1 oops=panic imgkit.root=live';
const recipe = join(RESULTS, 'build-recipe.yaml');
writeFileSync(
  recipe,
  `name: bench
version: 1.0.0
arch: amd64
root: ${rootTree}
squashfs: { compression: zstd }
kernel: ${kernel}
initramfs: { dir: ${initDir}, manifest: ${join(ROOT, 'examples/common/initramfs.manifest')}, compression: gzip }
boot:
  isolinux: { bin: ${FILES.isolinux[0]}, ldlinux: ${FILES.ldlinux[0]}, mbr: ${FILES.mbr[0]} }
  efi: { loader: ${FILES.grub[0]} }
  entries: [{ label: live, cmdline: "${cmdline}" }]
artifacts: [{ type: iso, volumeId: LIVE }, update, tar]
`,
);

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const mine = join(RESULTS, 'build-imgkit');
const theirs = join(RESULTS, 'build-native');
const env = { SOURCE_DATE_EPOCH: '1700000000', MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LANG: 'C.UTF-8' };
const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
const st = join(theirs, 'stage');
const native = [
  `mkdir -p ${q(`${st}/isolinux`)} ${q(`${st}/boot/grub`)} ${q(`${st}/live`)} ${q(`${st}/.disk`)} ${q(`${theirs}/initramfs/bin`)}`,
  // initramfs: the directory + busybox, archived by cpio, gzip -6
  `cp -a ${q(initDir)}/. ${q(`${theirs}/initramfs`)} && cp ${q(FILES.busybox[0])} ${q(`${theirs}/initramfs/bin/busybox`)} && ln -s busybox ${q(`${theirs}/initramfs/bin/sh`)}`,
  `(cd ${q(`${theirs}/initramfs`)} && find . | cpio -o -H newc -R 0:0 --quiet | gzip -6 > ${q(`${st}/boot/initrd.img`)})`,
  `cp ${q(kernel)} ${q(`${st}/boot/vmlinuz`)} && cp ${q(FILES.isolinux[0])} ${q(FILES.ldlinux[0])} ${q(`${st}/isolinux/`)}`,
  `printf 'SERIAL 0 115200\\nDEFAULT live\\nPROMPT 0\\nTIMEOUT 0\\nLABEL live\\n  KERNEL /boot/vmlinuz\\n  INITRD /boot/initrd.img\\n  APPEND ${cmdline}\\n' > ${q(`${st}/isolinux/isolinux.cfg`)}`,
  `printf "menuentry live {\\n  linux /boot/vmlinuz ${cmdline}\\n  initrd /boot/initrd.img\\n}\\n" > ${q(`${st}/boot/grub/grub.cfg`)} && echo bench > ${q(`${st}/.disk/info`)}`,
  `mksquashfs ${q(rootTree)} ${q(`${st}/live/filesystem.squashfs`)} -comp zstd -processors 2 -noappend -quiet >/dev/null`,
  `mkfs.fat -C ${q(`${theirs}/esp.img`)} 4200 >/dev/null && mmd -i ${q(`${theirs}/esp.img`)} ::/EFI ::/EFI/BOOT && mcopy -i ${q(`${theirs}/esp.img`)} ${q(FILES.grub[0])} ::/EFI/BOOT/BOOTX64.EFI`,
  `xorriso -as mkisofs -quiet -o ${q(`${theirs}/bench.iso`)} -V LIVE -J -R -b isolinux/isolinux.bin -c isolinux/boot.cat -no-emul-boot -boot-load-size 4 -boot-info-table -isohybrid-mbr ${q(FILES.mbr[0])} -append_partition 2 0xef ${q(`${theirs}/esp.img`)} -appended_part_as_gpt -eltorito-alt-boot -e --interval:appended_partition_2:all:: -no-emul-boot ${q(st)} 2>/dev/null`,
  `cp ${q(`${st}/live/filesystem.squashfs`)} ${q(`${theirs}/system-1.0.0.squashfs`)}`,
  `tar -C ${q(rootTree)} -cf ${q(`${theirs}/bench.tar`)} .`,
  `(cd ${q(theirs)} && for f in bench.iso system-1.0.0.squashfs bench.tar; do sha256sum $f > $f.sha256; done)`,
].join(' && ');

const cases: Case[] = [
  {
    name: 'imgkit build recipe.yaml (--workers 2): ISO + update image + tar + .sha256',
    argv: [process.execPath, imgkit, 'build', recipe, '--out', mine, '--workers', '2'],
    env,
    output: join(mine, 'bench-1.0.0-amd64.iso'),
    before: () => rmSync(mine, { recursive: true, force: true }),
  },
  {
    name: 'cpio + gzip, mksquashfs -processors 2, mkfs.fat + mmd + mcopy, xorriso -as mkisofs, cp, tar, sha256sum',
    shell: native,
    env,
    output: join(theirs, 'bench.iso'),
    before: () => rmSync(theirs, { recursive: true, force: true }),
  },
];

const rows = comparisonRows(await runCases(cases, ITER));
const du = (t: string) => (Number(execFileSync('du', ['-sb', t], { encoding: 'utf8' }).split('\t')[0]) / 1e6).toFixed(1);
console.log(`Input: root ${rootTree} (${du(rootTree)} MB), kernel ${kernel}; output: ISO (the row's size), update image, tar`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
console.log(markdownTable(['pipeline', 'wall s', 'peak RSS MiB', 'ISO MiB', 'time ratio', 'size ratio'], rows));

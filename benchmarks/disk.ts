/**
 * The whole A/B appliance disk (the shape of fixtures/disk/ab/layout.yaml: 2 GiB GPT, ESP 100 MiB
 * FAT, system-a 300 MiB squashfs zstd, system-b empty, config 100 MiB FAT16, data filling the
 * rest), same input, same run:
 *
 *   imgkit disk layout.yaml disk.img --workers 2
 *   truncate + sgdisk -n … + mkfs.fat -C + mcopy -s -m (ESP) + mksquashfs -comp zstd -processors 2
 *     + mkfs.fat -F 16 -C + mcopy -s -m (config) + dd conv=notrunc,sparse of the three into the disk
 *
 *   npm run build && node --import tsx benchmarks/disk.ts      # BENCH_ITER=3 by default
 *
 * Input: ESP = /boot (kernel and initramfs, ~38 MB), system-a = /usr/lib/python3 (~48 MB),
 * config = a tree of 200 small text files made here; override with BENCH_DISK_ESP, BENCH_DISK_ROOT. Both disks are checked with
 * sgdisk -v. Outputs go to benchmarks/results/. The page cache is warmed. mksquashfs's zstd level
 * is 15 (its default) and so is imgkit's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { comparisonRows, machineLine, markdownTable, runCases, type Case } from './lib.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = join(ROOT, 'benchmarks/results');
const ITER = Number(process.env.BENCH_ITER ?? 3);
const espTree = process.env.BENCH_DISK_ESP ?? '/boot';
const rootTree = process.env.BENCH_DISK_ROOT ?? '/usr/lib/python3';

for (const [tool, pkg] of [['sgdisk', 'gdisk'], ['mkfs.fat', 'dosfstools'], ['mcopy', 'mtools'], ['mksquashfs', 'squashfs-tools']]) {
  if (!['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((d) => existsSync(`${d}/${tool}`))) throw new Error(`${tool} is missing: apt-get install -y ${pkg}`);
}
mkdirSync(RESULTS, { recursive: true });
const cfgTree = join(RESULTS, 'disk-config-tree');
rmSync(cfgTree, { recursive: true, force: true });
mkdirSync(join(cfgTree, 'network'), { recursive: true });
for (let i = 0; i < 200; i++) writeFileSync(join(cfgTree, i % 2 ? 'network' : '', `setting-${String(i).padStart(3, '0')}.conf`), `key${i}=value ${i}\n`.repeat(20));
for (const t of [espTree, rootTree]) execFileSync('sh', ['-c', 'find . -type f -print0 | xargs -0 cat > /dev/null'], { cwd: t });

const layout = join(RESULTS, 'disk-layout.yaml');
writeFileSync(
  layout,
  [
    'table: gpt',
    'size: 2G',
    'partitions:',
    `  - { label: esp, type: esp, size: 100M, content: { fat: ${espTree} } }`,
    `  - { label: system-a, type: linux, size: 300M, content: { squashfs: ${rootTree}, compression: zstd } }`,
    '  - { label: system-b, type: linux, size: 300M }',
    `  - { label: config, type: linux, size: 100M, content: { fat: ${cfgTree}, fatBits: 16 } }`,
    '  - { label: data, type: linux, size: fill }',
    '',
  ].join('\n'),
);

const imgkit = join(ROOT, 'packages/cli/bin/imgkit.js');
const mine = join(RESULTS, 'imgkit-disk.img');
const theirs = join(RESULTS, 'native-disk.img');
const work = join(RESULTS, 'native-disk-parts');
const env = { SOURCE_DATE_EPOCH: '1700000000', MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LANG: 'C.UTF-8' };
const q = (p: string) => `'${p.replace(/'/g, `'\\''`)}'`;
const native = [
  `mkdir -p ${q(work)}`,
  `truncate -s 2G ${q(theirs)}`,
  `sgdisk -n 1:2048:+100M -t 1:ef00 -c 1:esp -n 2:0:+300M -t 2:8300 -c 2:system-a -n 3:0:+300M -t 3:8300 -c 3:system-b -n 4:0:+100M -t 4:8300 -c 4:config -n 5:0:0 -t 5:8300 -c 5:data ${q(theirs)} >/dev/null`,
  `mkfs.fat -C ${q(`${work}/esp.img`)} 102400 >/dev/null && mcopy -s -m -i ${q(`${work}/esp.img`)} ${q(espTree)}/* ::/`,
  `mksquashfs ${q(rootTree)} ${q(`${work}/sys.sqfs`)} -comp zstd -processors 2 -noappend -quiet >/dev/null`,
  `mkfs.fat -F 16 -C ${q(`${work}/cfg.img`)} 102400 >/dev/null && mcopy -s -m -i ${q(`${work}/cfg.img`)} ${q(cfgTree)}/* ::/`,
  `dd if=${q(`${work}/esp.img`)} of=${q(theirs)} bs=1M seek=1 conv=notrunc,sparse status=none`,
  `dd if=${q(`${work}/sys.sqfs`)} of=${q(theirs)} bs=1M seek=101 conv=notrunc,sparse status=none`,
  `dd if=${q(`${work}/cfg.img`)} of=${q(theirs)} bs=1M seek=701 conv=notrunc,sparse status=none`,
].join(' && ');

const cases: Case[] = [
  { name: 'imgkit disk layout.yaml (--workers 2)', argv: [process.execPath, imgkit, 'disk', layout, mine, '--workers', '2'], env, output: mine, before: () => rmSync(mine, { force: true }) },
  {
    name: 'sgdisk + mkfs.fat + mcopy + mksquashfs -processors 2 + mkfs.fat -F 16 + mcopy + dd',
    shell: native,
    env,
    output: theirs,
    before: () => {
      rmSync(theirs, { force: true });
      rmSync(work, { recursive: true, force: true });
    },
  },
];

const rows = comparisonRows(await runCases(cases, ITER));
for (const img of [mine, theirs]) {
  const out = execFileSync('sgdisk', ['-v', img], { encoding: 'utf8' });
  console.log(`sgdisk -v ${img.replace(`${ROOT}/`, '')}: ${/No problems found/.test(out) ? 'No problems found' : out}`);
  const used = execFileSync('du', ['-B1', img], { encoding: 'utf8' }).split('\t')[0];
  console.log(`  disk space used: ${(Number(used) / 1048576).toFixed(1)} MiB of 2048 (sparse)`);
}
const du = (t: string) => (Number(execFileSync('du', ['-sb', t], { encoding: 'utf8' }).split('\t')[0]) / 1e6).toFixed(1);
console.log(`Input: ESP ${espTree} (${du(espTree)} MB), system-a ${rootTree} (${du(rootTree)} MB), config 200 small files; 2 GiB GPT disk`);
console.log(`Machine: ${machineLine()}; median of ${ITER} run(s) each\n`);
console.log(markdownTable(['command', 'wall s', 'peak RSS MiB', 'output MiB', 'time ratio', 'size ratio'], rows));

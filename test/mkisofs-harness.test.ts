/**
 * The comparison harness of the mkisofs client tests (test/lib/iso-reports.ts) can fail: two
 * xorriso images of one tree are compared where only the layout differs (accepted: every moved
 * address is explained by the same relation in both images) and where something firmware reads
 * differs (each reported). Without this, a comparison that silently accepts everything would look
 * like success.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { collectFacts, compareCatalogs, compareFacts, relate, type IsoFacts } from './lib/iso-reports.ts';
import { KIT_EPOCH, makeFat, put, putCopy, requireFile } from './lib/mkisofs-kit.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

let dir = '';
let tree = '';

before(async () => {
  dir = await tempDir('mkisofs-harness');
  tree = join(dir, 'tree');
  await putCopy(join(tree, 'isolinux/isolinux.bin'), requireFile('/usr/lib/ISOLINUX/isolinux.bin', 'isolinux'));
  for (let i = 0; i < 6; i++) await put(join(tree, `a/file${i}`), Buffer.alloc(5000 + i * 3000, 0x40 + i));
  await put(join(tree, 'b/big'), Buffer.alloc(200_000, 0x62));
  await put(join(tree, 'EFI/BOOT/BOOTX64.EFI'), 'not a loader\n');
  await makeFat(join(tree, 'boot/efi.img'), { tool: 'mkfs.fat', args: ['-n', 'ESP'], kib: 1024 }, [{ from: join(tree, 'EFI/BOOT/BOOTX64.EFI'), to: 'EFI/BOOT/BOOTX64.EFI' }]);
});

/** A live-build-like hybrid image with extra xorriso options. */
async function image(name: string, extra: string[], swap: [string, string][] = []): Promise<IsoFacts> {
  let args = [
    '-as', 'mkisofs', '-R', '-J', '-V', 'HARNESS',
    '-isohybrid-mbr', requireFile('/usr/lib/ISOLINUX/isohdpfx.bin', 'isolinux'), '-partition_offset', '16',
    '-b', 'isolinux/isolinux.bin', '-c', 'isolinux/boot.cat', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
    '-eltorito-alt-boot', '-e', 'boot/efi.img', '-no-emul-boot', '-isohybrid-gpt-basdat',
    ...extra, '-o', join(dir, name), tree,
  ];
  for (const [a, b] of swap) args = args.map((x) => (x === a ? b : x));
  await run(requireTool('xorriso', 'xorriso'), args, { env: { SOURCE_DATE_EPOCH: String(KIT_EPOCH) } });
  return collectFacts(join(dir, name));
}

test('relate: a moved address is accepted only through the same anchor or the same offset', () => {
  const A = new Map([['lba:/x', 100], ['lba4:/x', 400], ['iso512', 9000]]);
  const B = new Map([['lba:/x', 130], ['lba4:/x', 520], ['iso512', 9100]]);
  assert.equal(relate(400, 520, A, B), 'lba4:/x');
  assert.equal(relate(404, 524, A, B), 'lba4:/x+4');
  assert.equal(relate(8999, 9099, A, B), 'iso512-1');
  assert.equal(relate(400, 400, A, B), '=');
  assert.equal(relate(400, 521, A, B), undefined);
  assert.equal(relate(100, 520, A, B), undefined);
});

test('two images that differ only in file order compare equal', async () => {
  const x = await image('plain.iso', []);
  const y = await image('reordered.iso', ['--sort-weight', '9', '/b', '--sort-weight', '5', '/a/file3']);
  assert.notEqual(x.files.get('/b/big')!.lba, y.files.get('/b/big')!.lba, 'the layouts do differ');
  assert.deepEqual([...compareFacts(x, y, { setsAppId: false }), ...(await compareCatalogs(x, y))], []);
});

test('a different MBR partition type, partition offset, load size or a missing GPT is reported', async () => {
  const x = await image('plain2.iso', []);
  // Without -isohybrid-gpt-basdat xorriso applies -iso_mbr_part_type to partition 1 (0x17 by default).
  const noGptX = await image('nogpt-17.iso', [], [['-isohybrid-gpt-basdat', '-J']]);
  const type = compareFacts(noGptX, await image('nogpt-83.iso', ['-iso_mbr_part_type', '0x83'], [['-isohybrid-gpt-basdat', '-J']]));
  assert.ok(type.some((p) => /MBR partition 1 type: 0x17 vs 0x83/.test(p)), `no type problem in:\n${type.join('\n')}`);
  const offset = compareFacts(x, await image('offset0.iso', [], [['16', '0']]));
  assert.ok(offset.some((p) => /Partition offset/.test(p)), `no partition offset problem in:\n${offset.join('\n')}`);
  const load = await image('load.iso', [], [['4', '8']]);
  const loadProblems = [...compareFacts(x, load), ...(await compareCatalogs(x, load))];
  assert.ok(loadProblems.some((p) => /El Torito boot img/.test(p)), loadProblems.join('\n'));
  assert.ok(loadProblems.some((p) => /boot catalog entry at byte 32/.test(p)), loadProblems.join('\n'));
  const nogpt = compareFacts(x, await image('nogpt.iso', [], [['-isohybrid-gpt-basdat', '-J']]));
  assert.ok(nogpt.some((p) => /GPT/.test(p)), nogpt.join('\n'));
});

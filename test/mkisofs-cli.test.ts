/**
 * `imgkit mkisofs`, `imgkit-xorriso` and `imgkit iso` from the command line: volume dates and blkid
 * UUIDs, exclusions, Joliet shortening, the Rock Ridge name limit, and errors whose hints name the
 * options of the command that was run.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { IMGKIT_XORRISO } from './lib/iso-kit.ts';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';

const noEpoch = { SOURCE_DATE_EPOCH: undefined };

async function tree(dir: string, newest: number): Promise<string> {
  const t = join(dir, 'tree');
  await mkdir(join(t, 'sub'), { recursive: true });
  await writeFile(join(t, 'keep.txt'), 'keep\n');
  await writeFile(join(t, 'drop.log'), 'log\n');
  await writeFile(join(t, 'sub/x.tmp'), 'x\n');
  await writeFile(join(t, `${'j'.repeat(70)}.txt`), 'long\n');
  for (const p of ['keep.txt', 'drop.log', 'sub/x.tmp', `${'j'.repeat(70)}.txt`, 'sub', '.']) await utimes(join(t, p), newest - 100, newest - 100);
  await utimes(join(t, 'keep.txt'), newest, newest);
  return t;
}

async function uuid(iso: string): Promise<string> {
  return (await run(requireTool('blkid', 'util-linux'), ['-o', 'value', '-s', 'UUID', iso])).stdout.toString().trim();
}

async function listing(iso: string, joliet = false): Promise<string[]> {
  const out = (await run(requireTool('isoinfo', 'genisoimage'), [joliet ? '-J' : '-R', '-f', '-i', iso])).stdout.toString();
  return out.split('\n').filter((l) => l !== '').sort();
}

test('without SOURCE_DATE_EPOCH the volume is dated by the newest time in the tree: never 1970, a different UUID per tree', async () => {
  const dir = await tempDir('mkisofs-dates');
  const a = await tree(join(dir, 'a'), Date.UTC(2024, 0, 2, 3, 4, 5) / 1000);
  const b = await tree(join(dir, 'b'), Date.UTC(2024, 5, 6, 7, 8, 9) / 1000);
  for (const [t, want] of [[a, '2024-01-02-03-04-05-00'], [b, '2024-06-06-07-08-09-00']] as const) {
    const out = join(t, '..', 'm.iso');
    const r = await runImgkit(['mkisofs', '-R', '-J', '-joliet-long', '-o', out, t], { env: noEpoch });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await uuid(out), want);
    const again = join(t, '..', 'm2.iso');
    await runImgkit(['mkisofs', '-R', '-J', '-joliet-long', '-o', again, t], { env: noEpoch });
    assert.ok((await readFile(out)).equals(await readFile(again)), 'the same tree gives the same bytes');
    const i = join(t, '..', 'i.iso');
    assert.equal((await runImgkit(['iso', t, i, '--joliet-long'], { env: noEpoch })).code, 0);
    assert.equal(await uuid(i), want);
  }
});

test('--modification-date sets the UUID (mkisofs and iso); -volume_date uuid and all_file_dates as xorriso reads them', async () => {
  const dir = await tempDir('mkisofs-moddate');
  const t = await tree(dir, 1_650_000_000);
  const m = join(dir, 'm.iso');
  assert.equal((await runImgkit(['mkisofs', '-R', '-J', '-joliet-long', '--modification-date=2022080916483300', '-o', m, t], { env: noEpoch })).code, 0);
  assert.equal(await uuid(m), '2022-08-09-16-48-33-00');
  const i = join(dir, 'i.iso');
  assert.equal((await runImgkit(['iso', t, i, '--joliet-long', '--modification-date', '2022080916483300'], { env: noEpoch })).code, 0);
  assert.equal(await uuid(i), '2022-08-09-16-48-33-00');
  // NixOS: xorriso -volume_date uuid … -volume_date all_file_dates =1 -as mkisofs …
  const n = join(dir, 'n.iso');
  const r = await run(process.execPath, [IMGKIT_XORRISO, '-volume_date', 'uuid', '1980010100000000', '-volume_date', 'all_file_dates', '=1', '-as', 'mkisofs', '-R', '-o', n, t], { allowFail: true, env: noEpoch });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await uuid(n), '1980-01-01-00-00-00-00');
  const l = (await run(requireTool('isoinfo', 'genisoimage'), ['-R', '-l', '-i', n])).stdout.toString();
  assert.match(l, /keep\.txt/);
  for (const line of l.split('\n').filter((x) => /^-/.test(x))) assert.match(line, / Jan\s+1 1970 /, line);
  const bad = await runImgkit(['mkisofs', '--modification-date=2022-08-09', '-o', join(dir, 'x.iso'), t]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--modification-date.2022-08-09: give the date as YYYYMMDDhhmmsscc/);
});

test('exclusions: mkisofs -m (a name anywhere), -x (a disk path), -exclude; iso --exclude (tree paths)', async () => {
  const dir = await tempDir('mkisofs-exclude');
  const t = await tree(dir, 1_650_000_000);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const m = join(dir, 'm.iso');
  const r = await runImgkit(['mkisofs', '-R', '-m', '*.log', '-x', join(t, 'sub'), '-exclude', 'j*', '-o', m, t], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await listing(m), ['/keep.txt']);
  const i = join(dir, 'i.iso');
  const r2 = await runImgkit(['iso', t, i, '--exclude', '*.log', '--exclude', 'sub', '--exclude', 'j*'], { env });
  assert.equal(r2.code, 0, r2.stderr);
  assert.deepEqual(await listing(i), ['/keep.txt']);
});

test('Joliet: mkisofs shortens over-long names with a warning, as xorriso; --strict makes it an error whose hint names mkisofs options; iso refuses with its own', async () => {
  const dir = await tempDir('mkisofs-joliet');
  const t = await tree(dir, 1_650_000_000);
  const env = { SOURCE_DATE_EPOCH: '1700000000' };
  const a = join(dir, 'a.iso');
  const r = await runImgkit(['mkisofs', '-R', '-J', '-o', a, t], { env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: j{70}\.txt: Joliet name is 74 UTF-16 units, over the limit of 64; written as "j+\.txt"/);
  // xorriso's own image has the same Joliet name.
  const x = join(dir, 'x.iso');
  await run(requireTool('xorriso', 'xorriso'), ['-as', 'mkisofs', '-R', '-J', '-o', x, t], { env });
  assert.deepEqual(await listing(a, true), await listing(x, true));
  const s = await runImgkit(['mkisofs', '-R', '-J', '--strict', '-o', join(dir, 's.iso'), t], { env });
  assert.equal(s.code, 1);
  assert.match(s.stderr, /Joliet name is 74 UTF-16 units; the limit is 64 \(pass -joliet-long \(103 units\) or drop -J\) \[E_NAME_TOO_LONG\]/);
  assert.equal(existsSync(join(dir, 's.iso')), false);
  const i = await runImgkit(['iso', t, join(dir, 'i.iso'), '--joliet'], { env });
  assert.equal(i.code, 1);
  assert.match(i.stderr, /\(pass --joliet-long \(103 units\) or leave Joliet off\)/);
});

test('Rock Ridge names over 255 bytes are an error naming the path (a graft point can make one); the output is removed', async () => {
  const dir = await tempDir('mkisofs-rrname');
  const t = await tree(dir, 1_650_000_000);
  const out = join(dir, 'o.iso');
  const long = 'r'.repeat(256);
  const r = await runImgkit(['mkisofs', '-R', '-graft-points', '-o', out, `d/${long}=${join(t, 'keep.txt')}`], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`d/${long}: the name is 256 bytes; Rock Ridge readers \\(Linux isofs, libarchive\\) stop at 255 \\(rename it or leave it out with -m\\) \\[E_NAME_TOO_LONG\\]`));
  assert.equal(existsSync(out), false);
  const ok = await runImgkit(['mkisofs', '-R', '-graft-points', '-o', out, `d/${'r'.repeat(255)}=${join(t, 'keep.txt')}`], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(ok.code, 0, ok.stderr);
  assert.deepEqual(await listing(out), ['/d', `/d/${'r'.repeat(255)}`]);
});

test('hints name the options of the command that was run: -iso-level and -b for mkisofs, --bios-boot for iso', async () => {
  const dir = await tempDir('mkisofs-hints');
  const t = await tree(dir, 1_650_000_000);
  const r1 = await runImgkit(['mkisofs', '-iso-level', '4', '-o', join(dir, 'a.iso'), t]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /-iso-level 4 .*use -iso-level 3/);
  assert.doesNotMatch(r1.stderr, /--iso-level/);
  // The same library check, reached from each command, in each command's words.
  const r2 = await runImgkit(['mkisofs', '--grub2-mbr', join(t, 'keep.txt'), '-o', join(dir, 'b.iso'), t]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /GRUB2 MBR code jumps to the first El Torito boot image; there is none \(add GRUB's eltorito\.img as BIOS boot image \(-b\)\)/);
  const r3 = await runImgkit(['mkisofs', '-isohybrid-mbr', join(t, 'keep.txt'), '-o', join(dir, 'c.iso'), t]);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /\(add a BIOS boot image \(-b\)\)/);
  const r4 = await runImgkit(['iso', t, join(dir, 'd.iso'), '--hybrid', 'grub2', '--mbr-template', '/usr/lib/grub/i386-pc/boot_hybrid.img']);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /\(pass --bios-boot\)/);
  for (const r of [r1, r2, r3]) assert.doesNotMatch(r.stderr, /--bios-boot|--mbr-template|--iso-level/);
});

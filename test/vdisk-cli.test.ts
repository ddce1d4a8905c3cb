/**
 * `imgkit convert` and `imgkit check` as a qemu-img user calls them: a chain raw → qcow2 (zstd) →
 * VMDK → VHDX → VHD → raw, each input format detected and each output identical to the source for
 * qemu-img; `-f` forcing raw; check's report and JSON; option errors as usage errors (exit 2)
 * naming the option.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { runImgkit, tempDir } from './lib/tools.ts';
import { makeSparseDisk, qemuImg, type SparseDisk } from './lib/vdisk.ts';

let dir = '';
let disk: SparseDisk;
before(async () => {
  dir = await tempDir('vdisk-cli');
  disk = await makeSparseDisk(dir);
});

test('convert chain: raw → qcow2 (-c zstd, 128k clusters) → vmdk → vhdx → vpc (fixed, MiB) → raw, formats detected', async () => {
  const steps: [string, string[], string][] = [
    ['a.qcow2', ['-O', 'qcow2', '-c', '-o', 'compression_type=zstd,cluster_size=128k'], 'qcow2'],
    ['b.vmdk', ['-O', 'vmdk', '-o', 'subformat=streamOptimized,adapter_type=lsilogic'], 'vmdk'],
    ['c.vhdx', ['-O', 'vhdx', '-o', 'subformat=dynamic,block_size=2M'], 'vhdx'],
    ['d.vhd', ['-O', 'vpc', '-o', 'subformat=fixed,force_size=on', '--vhd-size-align', 'mib'], 'vpc'],
    ['e.raw', ['-O', 'raw'], 'raw'],
  ];
  let input = disk.path;
  for (const [name, args, qf] of steps) {
    const out = join(dir, name);
    const r = await runImgkit(['convert', input, out, ...args], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    const cmp = await qemuImg(['compare', '-f', 'raw', '-F', qf, disk.path, out]);
    assert.equal(cmp.code, 0, `${name}: ${cmp.stdout}${cmp.stderr}`);
    input = out;
  }
  const info = await qemuImg(['info', join(dir, 'a.qcow2')]);
  assert.match(info.stdout.toString(), /cluster_size: 131072/);
  assert.match(info.stdout.toString(), /compression type: zstd/);
});

test('check: the report, --output json, exit codes; a raw image cannot be checked (exit 1)', async () => {
  const q = join(dir, 'chk.qcow2');
  assert.equal((await runImgkit(['convert', disk.path, q, '-O', 'qcow2'])).code, 0);
  const human = await runImgkit(['check', q]);
  assert.equal(human.code, 0);
  assert.match(human.stdout.toString(), /No errors were found on the image\./);
  const json = await runImgkit(['check', '--output', 'json', q]);
  assert.equal(json.code, 0);
  const report = JSON.parse(json.stdout.toString());
  assert.equal(report.format, 'qcow2');
  assert.equal(report.exitCode, 0);
  assert.equal(report.info.clusterSize, 65536);
  assert.ok(report.info.allocatedClusters > 0);
  const raw = await runImgkit(['check', disk.path]);
  assert.equal(raw.code, 1);
  const missing = await runImgkit(['check', join(dir, 'nope.qcow2')]);
  assert.equal(missing.code, 1);
});

test('option errors are usage errors (exit 2) naming the option; -f raw copies an image as bytes', async () => {
  const out = join(dir, 'x.img');
  const cases: [string[], RegExp][] = [
    [['-O', 'qcow2', '-o', 'bogus=1'], /-o bogus: not an option of qcow2 output/],
    [['-O', 'vhdx', '-c'], /-c compresses qcow2 clusters/],
    [['-O', 'vmdk', '-o', 'subformat=twoGbMaxExtentFlat'], /subformat=twoGbMaxExtentFlat/],
    [['-O', 'qcow2', '--vhd-size-align', 'mib'], /--vhd-size-align applies to VHD/],
    [['-O', 'qcow2', '-o', 'compat=0.10,compression_type=zstd'], /compat/],
    [['-O', 'nope'], /argument 'nope' is invalid/],
  ];
  for (const [args, msg] of cases) {
    const r = await runImgkit(['convert', disk.path, out, ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  const q = join(dir, 'asbytes.qcow2');
  assert.equal((await runImgkit(['convert', disk.path, q, '-O', 'qcow2'])).code, 0);
  const r = await runImgkit(['convert', '-f', 'raw', q, join(dir, 'copy.raw'), '-O', 'raw']);
  assert.equal(r.code, 0, r.stderr);
  const cmp = await qemuImg(['compare', '-f', 'raw', '-F', 'raw', q, join(dir, 'copy.raw')]);
  assert.equal(cmp.code, 0, cmp.stdout.toString());
});

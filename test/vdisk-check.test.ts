/**
 * `imgkit check` (checkImage) against `qemu-img check` on damaged images. Each case writes a good
 * image, damages it the way the case says, and runs both checkers: their exit codes must agree
 * (0 clean, 1 cannot open, 2 corruption, 3 leaks only) wherever qemu-img has a check for the format.
 * Where qemu-img has none (VHD) or does not look (VMDK grain markers, VHDX checksums of the
 * inactive copies), imgkit's own verdict is asserted.
 */
import assert from 'node:assert/strict';
import { readFile, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { nodeFileReader } from '@imgkit/core/node';
import { checkExitCode, checkImage, decodeHeader, decodeL1Entry, decodeL2Entry, type ImageOptions } from '@imgkit/vdisk';
import { runImgkit, tempDir } from './lib/tools.ts';
import { makeSparseDisk, qemuImg, writeDiskImage, type SparseDisk } from './lib/vdisk.ts';

let dir = '';
let disk: SparseDisk;
before(async () => {
  dir = await tempDir('vdisk-check');
  disk = await makeSparseDisk(dir);
});

async function imgkitExit(path: string): Promise<number> {
  const reader = await nodeFileReader(path);
  try {
    return checkExitCode(await checkImage(reader));
  } finally {
    await reader.close();
  }
}

/** qcow2 internals of a written image: the first allocated L2 entry, its data cluster, refcount block 0. */
function qcow2Map(b: Buffer): { cs: number; l2: number; slot: number; entry: ReturnType<typeof decodeL2Entry>; rb: number } {
  const h = decodeHeader(b);
  const view = (at: number) => new DataView(b.buffer, b.byteOffset + at);
  const l2 = decodeL1Entry(view(h.l1TableOffset), 0).offset;
  let slot = 0;
  while (decodeL2Entry(view(l2), slot, h.clusterBits, 3).kind === 'unallocated') slot++;
  const entry = decodeL2Entry(view(l2), slot, h.clusterBits, 3);
  const rb = decodeL1Entry(view(h.refcountTableOffset), 0).offset;
  return { cs: h.clusterSize, l2, slot, entry, rb };
}

interface Damage {
  name: string;
  o: ImageOptions;
  file: string;
  damage: (path: string) => Promise<void>;
  /** Expected exit code; `qemu: true` when qemu-img must give the same. */
  expect: number;
  qemu: boolean;
}

async function patch(path: string, fn: (b: Buffer) => void): Promise<void> {
  const b = await readFile(path);
  fn(b);
  await writeFile(path, b);
}

const damages: Damage[] = [
  {
    name: 'qcow2: refcount of the header cluster one too high (a leak)',
    o: { format: 'qcow2' },
    file: 'leak.qcow2',
    expect: 3,
    qemu: true,
    damage: (p) => patch(p, (b) => {
      const m = qcow2Map(b);
      b.writeUInt16BE(b.readUInt16BE(m.rb) + 1, m.rb);
    }),
  },
  {
    name: 'qcow2: refcount of a data cluster one too low',
    o: { format: 'qcow2' },
    file: 'low.qcow2',
    expect: 2,
    qemu: true,
    damage: (p) => patch(p, (b) => {
      const m = qcow2Map(b);
      assert.equal(m.entry.kind, 'standard');
      const at = m.rb + ((m.entry as { offset: number }).offset / m.cs) * 2;
      b.writeUInt16BE(b.readUInt16BE(at) - 1, at);
    }),
  },
  {
    name: 'qcow2: COPIED cleared on a data cluster',
    o: { format: 'qcow2' },
    file: 'copied.qcow2',
    expect: 2,
    qemu: true,
    damage: (p) => patch(p, (b) => {
      const m = qcow2Map(b);
      b[m.l2 + m.slot * 8] = b[m.l2 + m.slot * 8]! & 0x7f;
    }),
  },
  {
    name: 'qcow2: COPIED set on a compressed cluster',
    o: { format: 'qcow2', qcow2: { compress: true } },
    file: 'ccopied.qcow2',
    expect: 2,
    qemu: true,
    damage: (p) => patch(p, (b) => {
      const m = qcow2Map(b);
      assert.equal(m.entry.kind, 'compressed');
      b[m.l2 + m.slot * 8] = b[m.l2 + m.slot * 8]! | 0x80;
    }),
  },
  {
    name: 'qcow2: two L2 entries share one data cluster (overlapping allocation)',
    o: { format: 'qcow2' },
    file: 'overlap.qcow2',
    expect: 2,
    qemu: true,
    damage: (p) => patch(p, (b) => {
      const m = qcow2Map(b);
      let free = 0;
      while (b.readBigUInt64BE(m.l2 + free * 8) !== 0n) free++;
      b.writeBigUInt64BE(b.readBigUInt64BE(m.l2 + m.slot * 8), m.l2 + free * 8);
    }),
  },
  { name: 'qcow2: file truncated to half', o: { format: 'qcow2' }, file: 'trunc.qcow2', expect: 2, qemu: true, damage: async (p) => truncate(p, Math.floor((await readFile(p)).byteLength / 2)) },
  { name: 'VMDK streamOptimized: truncated (footer gone)', o: { format: 'vmdk' }, file: 'trunc.vmdk', expect: 1, qemu: true, damage: async (p) => truncate(p, (await readFile(p)).byteLength - 1024) },
  {
    name: 'VMDK streamOptimized: a grain marker with the wrong LBA',
    o: { format: 'vmdk' },
    file: 'lba.vmdk',
    expect: 2,
    qemu: false,
    damage: (p) => patch(p, (b) => b.writeBigUInt64LE(b.readBigUInt64LE(128 * 512) + 8n, 128 * 512)),
  },
  { name: 'VHD dynamic: footer checksum broken', o: { format: 'vhd' }, file: 'sum.vhd', expect: 2, qemu: false, damage: (p) => patch(p, (b) => (b[b.byteLength - 412] = b[b.byteLength - 412]! ^ 1)) },
  { name: 'VHD dynamic: truncated (footer gone)', o: { format: 'vhd' }, file: 'trunc.vhd', expect: 1, qemu: false, damage: async (p) => truncate(p, (await readFile(p)).byteLength - 4096) },
  { name: 'VHDX dynamic: truncated inside the blocks', o: { format: 'vhdx' }, file: 'trunc.vhdx', expect: 2, qemu: true, damage: async (p) => truncate(p, (await readFile(p)).byteLength - (8 << 20)) },
  { name: 'VHDX dynamic: region table 2 checksum broken', o: { format: 'vhdx' }, file: 'rt.vhdx', expect: 2, qemu: false, damage: (p) => patch(p, (b) => (b[256 * 1024 + 200] = b[256 * 1024 + 200]! ^ 1)) },
];

for (const d of damages) {
  test(`${d.name}: exit ${d.expect}${d.qemu ? ', as qemu-img check' : ''}`, async () => {
    const path = join(dir, d.file);
    await writeDiskImage(disk, path, d.o);
    assert.equal(await imgkitExit(path), 0, 'the undamaged image is clean');
    await d.damage(path);
    assert.equal(await imgkitExit(path), d.expect, 'imgkit check exit code');
    const cli = await runImgkit(['check', path]);
    assert.equal(cli.code, d.expect, `imgkit check (CLI):\n${cli.stdout}${cli.stderr}`);
    if (d.qemu) {
      const q = await qemuImg(['check', path]);
      assert.equal(q.code, d.expect, `qemu-img check:\n${q.stdout}${q.stderr}`);
    }
  });
}

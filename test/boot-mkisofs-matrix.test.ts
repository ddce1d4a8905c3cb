/**
 * Issue 13 boot matrix: every client's image (test/lib/mkisofs-clients.ts), made by xorriso and by
 * imgkit from the same command line and staging tree, booted in QEMU to the kit's /init marker:
 *
 *   seabios-cd             SeaBIOS, the image as a CD-ROM (El Torito BIOS entry)
 *   seabios-disk           SeaBIOS, the image as an IDE disk (the MBR boot code)
 *   ovmf-cd                OVMF, the image as a CD-ROM (El Torito UEFI entry)
 *   ovmf-disk-no-eltorito  OVMF, a copy of the image as a virtio disk with El Torito defaced, so
 *                          the firmware must find the ESP through the MBR or GPT
 *
 * Defacing: OVMF's partition driver (EDK2 PartitionDxe, ElTorito.c) looks for El Torito on any
 * block device, disks included, and BOOTING.md records that behind an ordinary MBR it boots a disk
 * through El Torito; a pass on the plain image would not prove the partition path. The copy gets
 * the Boot System Identifier of every Boot Record volume descriptor (ECMA-119 §8.2, El Torito 1.0
 * §2.0: type 0, "CD001", "EL TORITO SPECIFICATION" at bytes 7..38) zeroed, in the first session's
 * descriptor set and in the copy -partition_offset writes for partition 1. Without that id no
 * reader treats the sector as a boot record, so the catalog is never found, whatever its content;
 * `xorriso -report_el_torito` on the copy proves it (no boot image left).
 *
 * The claim is "every cell that passes with xorriso's image passes with imgkit's". Each cell boots
 * imgkit's image first; when that passes, the claim holds for the cell whatever xorriso's image
 * does, so xorriso's is booted only where it can matter: when imgkit's fails (the test then fails
 * unless xorriso's fails too and the client's `xorrisoFails` names the cell and the reason), and
 * in the cells `xorrisoFails` names (asserted to fail, so the expectation stays explicit). That
 * halves the boots (64 → 32) against booting both everywhere; the summary line says which ran.
 * At most two QEMU run at a time.
 */
import assert from 'node:assert/strict';
import { copyFile, open } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eltoritoEntries } from './lib/iso-reports.ts';
import { CELLS, CLIENTS, runFailure, runTool, type Cell, type Client, type Tool, type ToolRun } from './lib/mkisofs-clients.ts';
import { getKit, MARKER } from './lib/mkisofs-kit.ts';
import { boot, consoleTail, type BootOptions, type BootResult } from './lib/qemu.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';

/** At most `n` QEMU at once (BOOTING.md: two on this 2-core machine). */
function limiter(n: number): <T>(job: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (job) => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    active++;
    try {
      return await job();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
const qemuSlot = limiter(2);

/** Zero the Boot System Identifier of every Boot Record volume descriptor found; returns how many. */
async function defaceEltorito(image: string): Promise<number> {
  const fh = await open(image, 'r+');
  try {
    let n = 0;
    const sector = Buffer.alloc(2048);
    // The first session's descriptors start at block 16; -partition_offset 16 repeats them at
    // block 32 (16 blocks into partition 1). Scan the first 64 blocks for both.
    for (let lba = 16; lba < 64; lba++) {
      const { bytesRead } = await fh.read(sector, 0, 2048, lba * 2048);
      if (bytesRead < 2048) break;
      if (sector[0] === 0 && sector.toString('latin1', 1, 6) === 'CD001' && sector.toString('latin1', 7, 30) === 'EL TORITO SPECIFICATION') {
        await fh.write(Buffer.alloc(32), 0, 32, lba * 2048 + 7);
        n++;
      }
    }
    return n;
  } finally {
    await fh.close();
  }
}

function cellOptions(cell: Cell, image: string): BootOptions {
  switch (cell) {
    case 'seabios-cd':
      return { cdrom: image, bootDisk: 'cdrom', firmware: 'seabios', marker: MARKER };
    case 'seabios-disk':
      // -snapshot: guest writes go to a temporary overlay, so the image is opened read-only and
      // another cell may boot the same file at the same time (no write lock).
      return { drives: [{ file: image, if: 'ide', format: 'raw' }], bootDisk: 'disk', firmware: 'seabios', marker: MARKER, extraArgs: ['-snapshot'] };
    case 'ovmf-cd':
      return { cdrom: image, bootDisk: 'cdrom', firmware: 'ovmf', marker: MARKER, memoryMb: 1024 };
    case 'ovmf-disk-no-eltorito':
      return { drives: [{ file: image, if: 'virtio', format: 'raw' }], bootDisk: 'disk', firmware: 'ovmf', marker: MARKER, memoryMb: 1024, extraArgs: ['-snapshot'] };
  }
}

/** Where the loader said it came from (GRUB prints $cmdpath; isolinux prints its banner). */
function bootPath(r: BootResult): string {
  const m = /imgkit-(?:cmdpath|grub platform=\S+ cmdpath)=(\S*)/.exec(r.console);
  if (m) return `GRUB cmdpath=${m[1]}`;
  if (/ISOLINUX/.test(r.console)) return 'ISOLINUX';
  return 'no loader banner';
}

interface Images {
  runs: Partial<Record<Tool, ToolRun>>;
  errors: Partial<Record<Tool, string>>;
}

const images = new Map<string, Images>();
const bootClients = CLIENTS.filter((c) => c.boot);
let boots = 0;
let matrixStart = 0;
const results: string[] = [];

before(async () => {
  const kit = await getKit();
  const work = await tempDir('mkisofs-boot');
  for (const client of bootClients) {
    const im: Images = { runs: {}, errors: {} };
    images.set(client.name, im);
    let staged;
    try {
      staged = await client.stage(kit, join(work, client.name, 'stage'));
    } catch (err) {
      im.errors.xorriso = im.errors.imgkit = `staging failed: ${(err as Error).message}`;
      continue;
    }
    for (const tool of ['xorriso', 'imgkit'] as const) {
      try {
        const r = await runTool(tool, staged, join(work, client.name, `${tool}.iso`));
        const f = runFailure(r);
        if (f) im.errors[tool] = f;
        else im.runs[tool] = r;
      } catch (err) {
        im.errors[tool] = (err as Error).message;
      }
    }
  }
  matrixStart = Date.now();
});

after(() => {
  const seconds = Math.round((Date.now() - matrixStart) / 1000);
  console.log(`# mkisofs boot matrix: ${boots} QEMU boots in ${seconds} s wall time (at most 2 at once)`);
  for (const r of results) console.log(`# ${r}`);
});

/** Boot one tool's image in one cell; an image that could not be made is a failed boot. */
async function bootCell(client: Client, cell: Cell, tool: Tool): Promise<BootResult> {
  const im = images.get(client.name)!;
  const r = im.runs[tool];
  if (!r) return { passed: false, console: '', reason: `no image: ${im.errors[tool]}` };
  let image = r.out;
  if (cell === 'ovmf-disk-no-eltorito') {
    image = `${r.out}.no-eltorito`;
    await copyFile(r.out, image);
    const n = await defaceEltorito(image);
    const rep = await run(requireTool('xorriso', 'xorriso'), ['-indev', image, '-report_el_torito', 'plain']);
    const left = eltoritoEntries(rep.stdout.toString().split('\n'));
    if (n === 0 || left.length > 0) return { passed: false, console: '', reason: `defacing El Torito failed (${n} descriptors defaced, ${left.length} boot images still reported)` };
  }
  return qemuSlot(async () => {
    boots++;
    return boot(cellOptions(cell, image));
  });
}

describe('mkisofs boot matrix', { concurrency: 2 }, () => {
  for (const client of bootClients) {
    for (const cell of CELLS) {
      const expectedFail = client.xorrisoFails?.[cell];
      const title = expectedFail
        ? `${client.name} / ${cell}: xorriso's image fails here too (${expectedFail}); imgkit's result is reported`
        : `${client.name} / ${cell}: imgkit's image boots to the marker (xorriso's booted only if imgkit's fails)`;
      test(title, async () => {
        const line = (tool: string, r: BootResult) => `${client.name} ${cell} ${tool}: ${r.passed ? 'PASS' : 'FAIL'} (${r.passed ? bootPath(r) : r.reason})`;
        const y = await bootCell(client, cell, 'imgkit');
        results.push(line('imgkit', y));
        if (expectedFail) {
          const x = await bootCell(client, cell, 'xorriso');
          results.push(line('xorriso', x));
          assert.equal(x.passed, false, `xorriso's image was expected to fail ${cell} (${expectedFail}) but booted (${bootPath(x)}): update the client's xorrisoFails`);
          return;
        }
        if (!y.passed) {
          // Only now does xorriso's result decide: the claim fails if xorriso's image boots here.
          const x = await bootCell(client, cell, 'xorriso');
          results.push(line('xorriso', x));
          assert.ok(!x.passed, `imgkit's image does not boot in ${cell} where xorriso's does (${bootPath(x)}): ${y.reason}\n${consoleTail(y.console)}`);
          assert.fail(`neither image boots in ${cell}: xorriso's fails too (${x.reason}); if that is xorriso's behaviour, list the cell in the client's xorrisoFails, else the kit is broken\n${consoleTail(x.console)}`);
        }
        results.push(`${client.name} ${cell} xorriso: not booted (imgkit's image passed, so the claim holds for this cell)`);
        if (cell === 'ovmf-disk-no-eltorito') {
          // With El Torito gone, the EFI loader must have come from an MBR or GPT partition.
          assert.match(bootPath(y), /cmdpath=\(hd\d+,(gpt|msdos)\d+\)/, `imgkit: ${bootPath(y)}`);
        }
      });
    }
  }
});

/**
 * Issue 13: `imgkit mkisofs` as a drop-in for `xorriso -as mkisofs`, proven with the command lines
 * distributions run today (test/lib/mkisofs-clients.ts; verbatim lines and sources in
 * fixtures/mkisofs-clients/README.md). For each client the same command, staging tree and
 * SOURCE_DATE_EPOCH go through xorriso 1.5.4 and through imgkit, and the two images are compared
 * through the reference tools (test/lib/iso-reports.ts): xorriso's El Torito and system-area
 * reports, fdisk -l, sgdisk -p/-v, isoinfo -d, the ISO 9660 and Joliet names, the MBR, and the
 * trees bsdtar extracts (names, kinds, modes, owners, times, link targets, sha256), which must
 * also hold the staging tree's files. grub-mkrescue itself runs with --xorriso= pointing at
 * imgkit's xorriso entry point.
 *
 * Booting the same images is test/boot-mkisofs-matrix.test.ts.
 */
import assert from 'node:assert/strict';
import { lstat, mkdir, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { checkPatchedBootFiles, collectFacts, compareCatalogs, compareFacts, eltoritoEntries, formatProblems, maskedSha256, type IsoFacts, type PatchCheck } from './lib/iso-reports.ts';
import { CLIENTS, imgkitXorrisoProgram, runFailure, runTool, type Staged, type Tool, type ToolRun } from './lib/mkisofs-clients.ts';
import { getKit, KIT_EPOCH, type Kit } from './lib/mkisofs-kit.ts';
import { requireTool, run, tempDir } from './lib/tools.ts';
import { diffTrees, snapshotDir, type Snapshot } from './lib/tree.ts';

let kit: Kit;
before(async () => {
  kit = await getKit();
});

interface Built {
  staged: Staged;
  runs: Partial<Record<Tool, ToolRun>>;
  errors: Partial<Record<Tool, unknown>>;
}

async function extract(image: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run(requireTool('bsdtar', 'libarchive-tools'), ['--numeric-owner', '-xpf', image, '-C', dir]);
}

/** The root directory's mtime, from libarchive's mtree listing of the image. */
async function rootMtime(image: string): Promise<number> {
  const r = await run(requireTool('bsdtar', 'libarchive-tools'), ['--format=mtree', '-cf', '-', `@${image}`]);
  const m = /^\. .*\btime=(\d+)/m.exec(r.stdout.toString());
  if (!m) throw new Error(`no root entry in the mtree listing of ${image}`);
  return Number(m[1]);
}

/** A snapshot with the given files re-hashed with byte ranges zeroed. */
async function maskSnapshot(s: Snapshot, root: string, masks: Map<string, [number, number][]>): Promise<void> {
  for (const [p, ranges] of masks) {
    const e = s.get(p.replace(/^\//, ''));
    if (e?.kind === 'file') e.sha256 = await maskedSha256(join(root, p), ranges);
  }
}

/** Host files under `host` (following links when asked) as ISO path -> kind + sha256/target. */
async function hostEntries(host: string, iso: string, follow: boolean): Promise<Map<string, { kind: string; target?: string; path: string }>> {
  const out = new Map<string, { kind: string; target?: string; path: string }>();
  const walk = async (abs: string, rel: string): Promise<void> => {
    const st = follow ? await stat(abs) : await lstat(abs);
    const p = `${iso}${rel}`;
    if (st.isDirectory()) {
      if (rel) out.set(p, { kind: 'dir', path: abs });
      for (const n of await readdir(abs)) await walk(join(abs, n), `${rel}/${n}`);
    } else if (st.isSymbolicLink()) out.set(p, { kind: 'symlink', target: await readlink(abs), path: abs });
    else out.set(p, { kind: 'file', path: abs });
  };
  await walk(host, '');
  return out;
}

for (const client of CLIENTS) {
  describe(`mkisofs client ${client.name}: ${client.source}`, () => {
    let work = '';
    let built: Built | undefined;
    let buildError: unknown;
    const facts: Partial<Record<Tool, IsoFacts>> = {};
    before(async () => {
      work = await tempDir(`mkisofs-${client.name}`);
      try {
        const staged = await client.stage(kit, join(work, 'stage'));
        const runs: Partial<Record<Tool, ToolRun>> = {};
        const errors: Partial<Record<Tool, unknown>> = {};
        for (const tool of ['xorriso', 'imgkit'] as const) {
          try {
            runs[tool] = await runTool(tool, staged, join(work, `${client.name}.${tool}.iso`));
          } catch (err) {
            errors[tool] = err;
          }
        }
        built = { staged, runs, errors };
      } catch (err) {
        buildError = err;
      }
    });
    const need = (): Built => {
      if (!built) throw buildError instanceof Error ? buildError : new Error(String(buildError));
      return built;
    };
    const image = (tool: Tool): string => {
      const b = need();
      const r = b.runs[tool];
      if (!r) throw b.errors[tool] instanceof Error ? (b.errors[tool] as Error) : new Error(String(b.errors[tool]));
      const f = runFailure(r);
      if (f) assert.fail(f);
      return r.out;
    };
    const command = (tool: Tool): string => need().runs[tool]?.command ?? '(did not run)';
    const factsOf = async (tool: Tool): Promise<IsoFacts> => (facts[tool] ??= await collectFacts(image(tool)));

    test('xorriso runs the command (the reference: proves the adapted command line is valid)', () => {
      image('xorriso');
    });

    test('imgkit runs the same command unchanged', () => {
      image('imgkit');
    });

    test('HFS+ options: imgkit warns exactly once that it writes no HFS+, where xorriso got them', () => {
      const b = need();
      image('xorriso');
      image('imgkit');
      const out = (t: Tool) => `${b.runs[t]!.result.stdout.toString()}${b.runs[t]!.result.stderr.toString()}`;
      // test/lib/xorriso-without-hfsplus.mjs says what it left out of xorriso's reference run.
      const hfsGiven = /xorriso-without-hfsplus: left out -hfsplus/.test(out('xorriso'));
      const warnings = out('imgkit').split('\n').filter((l) => /HFS\+ and its Apple Partition Map entries are not written/.test(l));
      assert.equal(warnings.length, hfsGiven ? 1 : 0, `HFS+ options ${hfsGiven ? 'given' : 'not given'}; imgkit printed:\n${out('imgkit')}`);
    });

    test('El Torito, MBR/GPT/APM, fdisk, sgdisk, isoinfo and name lists match xorriso', async () => {
      const b = need();
      const x = await factsOf('xorriso');
      const y = await factsOf('imgkit');
      const problems = [...compareFacts(x, y, { exactDiskGuid: b.staged.exactDiskGuid, setsPreparer: b.staged.setsPreparer, setsAppId: b.staged.setsAppId }), ...(await compareCatalogs(x, y))];
      assert.deepEqual(problems, [], `${formatProblems(`imgkit's image differs from xorriso's`, problems)}\n\nxorriso: ${command('xorriso')}\nimgkit:  ${command('imgkit')}`);
    });

    test('the extracted trees match xorriso and hold the staging files', async () => {
      const b = need();
      const x = await factsOf('xorriso');
      const y = await factsOf('imgkit');
      const dirs = { xorriso: join(work, 'x-xorriso'), imgkit: join(work, 'x-imgkit') };
      await extract(x.image, dirs.xorriso);
      await extract(y.image, dirs.imgkit);
      // Boot files carry their own addresses (-boot-info-table, --grub2-boot-info): verify those
      // bytes in each image, then leave them out of the content comparison.
      const px = await checkPatchedBootFiles(x, dirs.xorriso);
      const py = await checkPatchedBootFiles(y, dirs.imgkit);
      const xProblems = px.flatMap((c) => c.problems.map((p) => `${c.path}: ${p}`));
      assert.deepEqual(xProblems, [], `harness: xorriso's own patched boot files do not match the formulas:\n${xProblems.join('\n')}`);
      const yProblems = py.flatMap((c) => c.problems.map((p) => `${c.path}: ${p}`));
      const masks = new Map<string, [number, number][]>();
      const addMask = (c: PatchCheck | { path: string; ranges: [number, number][] }) => masks.set(c.path, [...(masks.get(c.path) ?? []), ...c.ranges]);
      for (const c of [...px, ...py]) addMask(c);
      for (const [p, r] of Object.entries(b.staged.masks ?? {})) addMask({ path: p, ranges: r });
      // The catalog file's bytes are compared entry by entry in the report test (compareCatalogs).
      for (const l of x.report) {
        const m = /^El Torito cat path :\s*(\S.*)$/.exec(l);
        if (m) addMask({ path: m[1]!.trim(), ranges: [[0, 2048]] });
      }
      const sx = await snapshotDir(dirs.xorriso);
      const sy = await snapshotDir(dirs.imgkit);
      // bsdtar does not date the directory it extracts into: take the root's time from the image.
      sx.get('')!.mtime = await rootMtime(x.image);
      sy.get('')!.mtime = await rootMtime(y.image);
      await maskSnapshot(sx, dirs.xorriso, masks);
      await maskSnapshot(sy, dirs.imgkit, masks);
      // imgkit clamps file times newer than SOURCE_DATE_EPOCH to it (README, STYLE.md
      // "Deterministic output"); xorriso 1.5.4 keeps them. Only host directories grafted as they
      // are (Fedora's /usr/lib/grub/i386-pc) are newer here: accept exactly that, and say so.
      // grub-mkrescue writes its own staging files (/tmp/grub.XXXXXX) during each run, so their
      // times are that run's (the kernel dates them; faketime cannot): in the two images they may
      // differ by the seconds between the runs. Such a time counts as equal when both images carry
      // a time from their own run (or imgkit clamped it to the epoch, as above).
      const runsOwn = b.staged.kind === 'grub-mkrescue';
      const xStart = b.runs.xorriso!.startedAt;
      const yStart = b.runs.imgkit!.startedAt;
      let clamped = 0;
      let runTimes = 0;
      for (const [p, ex] of sx) {
        const ey = sy.get(p);
        if (!ey || ex.mtime === ey.mtime) continue;
        if (ex.mtime > KIT_EPOCH && ey.mtime === KIT_EPOCH) {
          ey.mtime = ex.mtime;
          clamped++;
        } else if (runsOwn && ex.mtime >= xStart && ey.mtime >= yStart) {
          ey.mtime = ex.mtime;
          runTimes++;
        }
      }
      const d = diffTrees(sy, sx);
      // The staging files: every file, link and directory of the host tree is in the ISO with
      // the same content (masked where the tool patched it), in both images.
      const missing: string[] = [];
      for (const [tool, snap, root] of [['xorriso', sx, dirs.xorriso], ['imgkit', sy, dirs.imgkit]] as const) {
        for (const st of b.staged.staging ?? []) {
          for (const [p, h] of await hostEntries(st.host, st.iso, st.followLinks ?? false)) {
            const e = snap.get(p.replace(/^\//, ''));
            if (!e) {
              missing.push(`${tool}: ${p} (${h.kind}) missing`);
              continue;
            }
            if (e.kind !== h.kind) missing.push(`${tool}: ${p} is a ${e.kind}, the staging tree has a ${h.kind}`);
            else if (h.kind === 'symlink' && e.linkTarget !== h.target) missing.push(`${tool}: ${p} -> ${e.linkTarget}, staging -> ${h.target}`);
            else if (h.kind === 'file') {
              const want = await maskedSha256(h.path, masks.get(p) ?? []);
              const got = await maskedSha256(join(root, p), masks.get(p) ?? []);
              if (want !== got) missing.push(`${tool}: ${p} content differs from ${h.path}`);
            }
          }
        }
      }
      const msg = [
        formatProblems("imgkit's patched boot files", yProblems),
        formatProblems("imgkit's tree differs from xorriso's", d),
        formatProblems('staging files not in the image as they are', missing),
        clamped ? `(accepted: ${clamped} entries with times newer than SOURCE_DATE_EPOCH clamped by imgkit)` : '',
        runTimes ? `(accepted: ${runTimes} entries dated by grub-mkrescue's own runs)` : '',
      ]
        .filter(Boolean)
        .join('\n\n');
      assert.deepEqual([...yProblems, ...d, ...missing], [], msg);
    });

    const weights = client.sortWeights;
    if (weights) test('--sort-weight: a heavier file lies before a lighter one, in both images', async () => {
      // xorrisofs(1) --sort-weight: a higher weight goes to a lower LBA; each option sets the
      // weight of everything under its path, so a later one overrides an earlier one (NixOS's
      // trailing `--sort-weight 0 /` resets its `/isolinux` weight). El Torito boot images are
      // left out: libisofs places them by its own rules.
      const weightOf = (p: string) => {
        let w = 0;
        for (const [x, dir] of weights) if (dir === '/' || p === dir || p.startsWith(`${dir}/`)) w = x;
        return w;
      };
      const problems: string[] = [];
      for (const tool of ['xorriso', 'imgkit'] as const) {
        const f = await factsOf(tool);
        const boot = new Set(eltoritoEntries(f.report).map((e) => e.path));
        const files = [...f.files].filter(([p, v]) => v.size > 0 && !boot.has(p)).sort((a, b) => a[1].lba - b[1].lba);
        for (let i = 1; i < files.length; i++) {
          const [pa] = files[i - 1]!;
          const [pb] = files[i]!;
          if (weightOf(pa) < weightOf(pb)) problems.push(`${tool}: ${pa} (weight ${weightOf(pa)}) lies before ${pb} (weight ${weightOf(pb)})`);
        }
      }
      assert.deepEqual(problems, []);
    });
  });
}

test("grub-mkrescue's probe: `PROGRAM -as mkisofs -help` exits 0 and names graft-points and grub2-boot-info", async () => {
  // util/grub-mkrescue.c check_xorriso(): reads the child's output through one pipe.
  for (const [name, program] of [
    ['xorriso', () => requireTool('xorriso', 'xorriso')],
    ['imgkit', imgkitXorrisoProgram],
  ] as const) {
    const cmd = program();
    const r = await run(cmd, ['-as', 'mkisofs', '-help'], { allowFail: true });
    const text = r.stdout.toString() + r.stderr;
    assert.equal(r.code, 0, `${name} (${cmd}) -as mkisofs -help exit status`);
    for (const w of ['graft-points', 'grub2-boot-info']) assert.ok(text.includes(w), `${name}'s -help mentions ${w}`);
  }
});

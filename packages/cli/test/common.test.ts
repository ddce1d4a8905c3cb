import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from 'commander';
import { ErrorCodes, ImgkitError } from '@imgkit/core';
import { UsageError, checkOutputOutside, interruptOutputs, intOption, main, openSink, printWarning, resetOutputs, runCommand, type CliContext } from '@imgkit/cli';

const dir = mkdtempSync(join(tmpdir(), 'imgkit-cli-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ROOTFS = fileURLToPath(new URL('../../../fixtures/rootfs', import.meta.url));

function fakeCtx(opts: { tty?: boolean } = {}): CliContext & { err: () => string } {
  let err = '';
  const stderr = new Writable({
    write(chunk, _enc, cb) {
      err += String(chunk);
      cb();
    },
  }) as Writable & { isTTY?: boolean };
  if (opts.tty) stderr.isTTY = true;
  return { env: {}, stdout: new PassThrough(), stderr, exitCode: -1, err: () => err };
}

test('intOption: whole numbers in range, else InvalidArgumentError (exit 2)', () => {
  const p = intOption(0, 64);
  assert.equal(p('8'), 8);
  for (const bad of ['-1', '65', '1.5', 'x', '']) assert.throws(() => p(bad), InvalidArgumentError, bad);
});

test('runCommand: exit codes 0 / 1 (ImgkitError, message without stack) / 2 (usage, E_BAD_OPTION)', async () => {
  const ok = fakeCtx();
  await runCommand(ok, async () => {});
  assert.equal(ok.exitCode, 0);
  const fail = fakeCtx();
  await runCommand(fail, async () => {
    throw new ImgkitError(ErrorCodes.SOURCE_UNREADABLE, { format: 'core', path: 'etc/x', detail: 'cannot read' });
  });
  assert.equal(fail.exitCode, 1);
  assert.equal(fail.err(), 'imgkit: core: etc/x: cannot read [E_SOURCE_UNREADABLE]\n');
  const usage = fakeCtx();
  await runCommand(usage, async () => {
    throw new UsageError('bad');
  });
  assert.equal(usage.exitCode, 2);
  const badOpt = fakeCtx();
  await runCommand(badOpt, async () => {
    throw new ImgkitError(ErrorCodes.BAD_OPTION, { detail: 'level 99' });
  });
  assert.equal(badOpt.exitCode, 2);
});

test('runCommand: usage errors after parsing point to the command help (ctx.command), whatever raised them; failures do not', async () => {
  for (const thrown of [new UsageError('bad'), new InvalidArgumentError('bad'), new ImgkitError(ErrorCodes.BAD_OPTION, { format: 'cpio', field: 'level', detail: 'lz4 has no compression levels' })]) {
    const ctx = fakeCtx();
    ctx.command = 'cpio';
    await runCommand(ctx, async () => {
      throw thrown;
    });
    assert.equal(ctx.exitCode, 2);
    assert.ok(ctx.err().endsWith('(see imgkit cpio --help)\n'), ctx.err());
  }
  const fail = fakeCtx();
  fail.command = 'cpio';
  await runCommand(fail, async () => {
    throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { detail: 'gone' });
  });
  assert.equal(fail.exitCode, 1);
  assert.doesNotMatch(fail.err(), /--help/);
  // through main(): the command name comes from commander (preAction hook)
  const real = fakeCtx();
  assert.equal(await main(['node', 'imgkit', 'cpio', ROOTFS, join(dir, 'lvl.cpio'), '--compress', 'lz4', '--level', '1'], real), 2);
  assert.match(real.err(), /\[E_BAD_OPTION\]\n\(see imgkit cpio --help\)\n$/);
});

test('printWarning: the manifest path and line as path:line', () => {
  const ctx = fakeCtx();
  const warn = printWarning(ctx);
  warn({ code: ErrorCodes.NAME_COLLISION, format: 'manifest', path: 'm.list', line: 4, detail: 'name "a" is already given on line 1' });
  warn({ code: ErrorCodes.NAME_COLLISION, format: 'manifest', line: 5, detail: 'x' });
  assert.equal(ctx.err(), 'imgkit: warning: m.list:4: name "a" is already given on line 1\nimgkit: warning: line 5: x\n');
});

test('checkOutputOutside: refuses anything below the source dir (also under another name or a bind mount), accepts siblings', () => {
  const src = join(dir, 'src');
  const isErr = (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.OUTPUT_IN_SOURCE;
  assert.throws(() => checkOutputOutside(join(ROOTFS, 'x.cpio'), [ROOTFS]), isErr);
  assert.throws(() => checkOutputOutside(join(ROOTFS, 'etc/x.cpio'), [ROOTFS]), isErr);
  // The source directory itself is a directory: no output at all.
  assert.throws(() => checkOutputOutside(ROOTFS, [ROOTFS]), (e: unknown) => e instanceof ImgkitError && e.code === ErrorCodes.OUTPUT_UNWRITABLE);
  checkOutputOutside(`${ROOTFS}-sibling.cpio`, [ROOTFS]);
  checkOutputOutside('-', [src]);
  symlinkSync(ROOTFS, join(dir, 'rootfs-link'));
  assert.throws(() => checkOutputOutside(join(dir, 'rootfs-link', 'etc', 'x.cpio'), [ROOTFS]), isErr);
  if (process.getuid?.() === 0) {
    const bind = join(dir, 'bind');
    mkdirSync(bind);
    assert.equal(spawnSync('mount', ['--bind', ROOTFS, bind]).status, 0, 'mount --bind (root)');
    try {
      assert.throws(() => checkOutputOutside(join(bind, 'usr', 'x.cpio'), [ROOTFS]), isErr);
    } finally {
      spawnSync('umount', [bind]);
    }
  }
});

test("openSink: '-' refused for seekable writers and for a terminal (usage errors)", async () => {
  await assert.rejects(openSink(fakeCtx(), '-', { seekable: true, what: 'a squashfs image' }), UsageError);
  const tty = fakeCtx();
  (tty.stdout as PassThrough & { isTTY?: boolean }).isTTY = true;
  await assert.rejects(openSink(tty, '-', { seekable: false }), UsageError);
  const sink = await openSink(fakeCtx(), '-', { seekable: false });
  assert.equal(sink.seekable, false);
});

test('progress line on stderr only when it is a terminal, cleared at the end', async () => {
  const tty = fakeCtx({ tty: true });
  const code = await main(['node', 'imgkit', 'cpio', ROOTFS, join(dir, 'a.cpio'), '--compress', 'none', '--workers', '0'], tty);
  assert.equal(code, 0, tty.err());
  assert.match(tty.err(), /cpio: \d+\/\d+ entries/);
  assert.match(tty.err(), /\r\x1b\[Kimgkit: wrote [^\r]*a\.cpio\n$/, 'the progress line is cleared, then the result');
  const pipe = fakeCtx();
  assert.equal(await main(['node', 'imgkit', 'cpio', ROOTFS, join(dir, 'b.cpio'), '--compress', 'none', '--workers', '0'], pipe), 0);
  assert.match(pipe.err(), /^imgkit: wrote \d+\.\d KiB \(\d+ bytes\) to .*b\.cpio\n$/, 'no progress line, only the result');
});

test('interruptOutputs: one true sentence per output kind, the temporary file removed', async () => {
  resetOutputs();
  assert.equal(interruptOutputs(), 'nothing was written');

  const fresh = join(dir, 'int-new.img');
  const s1 = await openSink(fakeCtx(), fresh, { seekable: true });
  await s1.write(new Uint8Array(3 << 20));
  const existing = join(dir, 'int-old.img');
  writeFileSync(existing, 'old');
  const s2 = await openSink(fakeCtx(), existing, { seekable: true });
  await s2.write(new Uint8Array(10));
  const nul = join(dir, 'int-null');
  assert.equal(spawnSync('mknod', ['-m', '666', nul, 'c', '1', '3']).status, 0);
  const s3 = await openSink(fakeCtx(), nul, { seekable: false });
  await s3.write(new Uint8Array(2 << 20)); // more than the 1 MiB buffer: sent
  const s4 = await openSink(fakeCtx(), '-', { seekable: false });
  await s4.write(new Uint8Array(5));
  assert.equal(
    interruptOutputs(),
    `${fresh} was not created; ${existing} keeps its previous content; the image sent to ${nul} is incomplete (2.0 MiB sent); the image on standard output is incomplete`,
  );
  assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('.int-') || n.startsWith('int-')).sort(), ['int-null', 'int-old.img'], 'temporary files removed');
  assert.equal(readFileSync(existing, 'utf8'), 'old');

  resetOutputs();
  const done = join(dir, 'int-done.img');
  const s5 = await openSink(fakeCtx(), done, { seekable: false });
  await s5.write(new Uint8Array(1));
  await s5.close();
  assert.equal(interruptOutputs(), `${done} was already complete`);
});

/**
 * Boot an image under QEMU (software emulation) and decide from the serial console whether it
 * reached its marker. See /work/shared/BOOTING.md for the facts this relies on.
 *
 * - `-no-reboot -nographic -nic none`, kernel arguments `console=ttyS0 panic=-1 oops=panic`: a panic
 *   or oops ends qemu at once instead of hanging.
 * - qemu is killed as soon as the marker appears, or a dead-end string (`Shell> `, `grub> `,
 *   `grub rescue> `, `No bootable device`, isolinux's "Boot failed: please change disks"), or after
 *   `timeoutMs` (300 s by default: a guard against a hang, never a measure; the boot lane shares the cores with the other tests).
 * - qemu exits 0 when killed, so pass/fail comes from the marker and from who ended qemu, never
 *   from its exit status. Lines echoing the kernel command line are ignored when looking for the
 *   marker, so a marker passed in `append` cannot fake a pass.
 * - OVMF: a per-boot copy of OVMF_VARS_4M.fd (the firmware writes to it).
 */
import { spawn } from 'node:child_process';
import { copyFile, readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { requireTool, tempDir } from './tools.js';

export interface DriveSpec {
  file: string;
  /** @default 'raw' ('qcow2' when the name ends in .qcow2) */
  format?: string;
  /** @default 'virtio' */
  if?: 'virtio' | 'ide' | 'scsi' | 'none';
  media?: 'disk' | 'cdrom';
  readonly?: boolean;
}

export interface BootOptions {
  /** Kernel for -kernel; omit to boot from firmware (cdrom/drives). Use `defaultKernel()` for Debian's. */
  kernel?: string;
  initrd?: string;
  /** Appended to `console=ttyS0 panic=-1 oops=panic` (only with `kernel`). */
  append?: string;
  drives?: (string | DriveSpec)[];
  cdrom?: string;
  /** @default 'seabios' ('aavmf' with machine 'aarch64') */
  firmware?: 'seabios' | 'ovmf' | 'aavmf';
  /**
   * 'aarch64': qemu-system-aarch64 -machine virt -cpu cortex-a57 with AAVMF (qemu-system-arm,
   * qemu-efi-aarch64), 1024 MiB unless memoryMb says otherwise; drives and firmware as given.
   * @default 'x86_64'
   */
  machine?: 'x86_64' | 'aarch64';
  /** Boot order: 'cdrom' (-boot d), 'disk' (-boot c), or a raw -boot order string. */
  bootDisk?: 'cdrom' | 'disk' | string;
  /** Text on the console that means success. */
  marker: string;
  /** @default 150000 */
  timeoutMs?: number;
  /** Guest RAM in MiB. @default 256 */
  memoryMb?: number;
  /** More qemu arguments. */
  extraArgs?: string[];
}

export interface BootResult {
  passed: boolean;
  /** Everything the serial console printed. */
  console: string;
  /** Why qemu ended: 'marker', 'dead end: …', 'qemu exited (code N) before the marker', 'timeout …'. */
  reason: string;
}

const DEAD_ENDS = ['Shell> ', 'grub> ', 'grub rescue> ', 'No bootable device', 'Boot failed: please change disks', 'Kernel panic - not syncing'];

/** Debian's kernel (/boot/vmlinuz-*, the newest by name) and its version. */
export async function defaultKernel(): Promise<{ kernel: string; version: string }> {
  const names = (await readdir('/boot')).filter((n) => n.startsWith('vmlinuz-')).sort();
  const name = names.at(-1);
  if (!name) throw new Error('no kernel in /boot: apt-get install -y linux-image-amd64');
  return { kernel: join('/boot', name), version: name.slice('vmlinuz-'.length) };
}

function lineHasMarker(line: string, marker: string): boolean {
  return !/command line/i.test(line) && line.includes(marker);
}
function markerSeen(consoleText: string, marker: string): boolean {
  return consoleText.split('\n').some((line) => lineHasMarker(line, marker));
}

export async function boot(opts: BootOptions): Promise<BootResult> {
  const arm = opts.machine === 'aarch64';
  const qemu = arm ? requireTool('qemu-system-aarch64', 'qemu-system-arm') : requireTool('qemu-system-x86_64', 'qemu-system-x86');
  const args = [...(arm ? ['-machine', 'virt', '-cpu', 'cortex-a57'] : []), '-m', String(opts.memoryMb ?? (arm ? 1024 : 256)), '-no-reboot', '-nographic', '-nic', 'none', '-monitor', 'none', '-serial', 'stdio'];
  // -nographic alone multiplexes the monitor onto stdio; with -monitor none and -serial stdio only
  // the guest's serial console reaches us.
  if (arm || opts.firmware === 'aavmf') {
    const code = '/usr/share/AAVMF/AAVMF_CODE.fd';
    const varsTemplate = '/usr/share/AAVMF/AAVMF_VARS.fd';
    if (!existsSync(code) || !existsSync(varsTemplate)) throw new Error(`AAVMF firmware missing (${code}): apt-get install -y qemu-efi-aarch64`);
    const vars = join(await tempDir('aavmf-vars'), 'AAVMF_VARS.fd');
    await copyFile(varsTemplate, vars);
    args.push('-drive', `if=pflash,format=raw,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,file=${vars}`);
  } else if (opts.firmware === 'ovmf') {
    const code = '/usr/share/OVMF/OVMF_CODE_4M.fd';
    const varsTemplate = '/usr/share/OVMF/OVMF_VARS_4M.fd';
    if (!existsSync(code) || !existsSync(varsTemplate)) throw new Error(`OVMF firmware missing (${code}): apt-get install -y ovmf`);
    const vars = join(await tempDir('ovmf-vars'), 'OVMF_VARS_4M.fd');
    await copyFile(varsTemplate, vars);
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${code}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`);
  }
  if (opts.kernel) {
    args.push('-kernel', opts.kernel, '-append', `console=ttyS0 panic=-1 oops=panic${opts.append ? ` ${opts.append}` : ''}`);
    if (opts.initrd) args.push('-initrd', opts.initrd);
  }
  for (const d of opts.drives ?? []) {
    const spec: DriveSpec = typeof d === 'string' ? { file: d } : d;
    const format = spec.format ?? (spec.file.endsWith('.qcow2') ? 'qcow2' : 'raw');
    let s = `file=${spec.file},format=${format},if=${spec.if ?? 'virtio'}`;
    if (spec.media) s += `,media=${spec.media}`;
    if (spec.readonly) s += ',readonly=on';
    args.push('-drive', s);
  }
  if (opts.cdrom) args.push('-cdrom', opts.cdrom);
  if (opts.bootDisk) args.push('-boot', opts.bootDisk === 'cdrom' ? 'd' : opts.bootDisk === 'disk' ? 'c' : opts.bootDisk);
  args.push(...(opts.extraArgs ?? []));
  const timeoutMs = opts.timeoutMs ?? 300_000;

  return new Promise((resolve, reject) => {
    const child = spawn(qemu, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let reason: string | undefined;
    let passed = false;
    const finish = (why: string, ok: boolean) => {
      if (reason !== undefined) return;
      reason = why;
      passed = ok;
      child.kill('SIGKILL');
    };
    const timer = setTimeout(() => finish(`timeout after ${timeoutMs} ms`, false), timeoutMs);
    // Only the text since the last complete line is examined again (consoles print byte by byte).
    let lineStart = 0;
    const check = () => {
      const fresh = out.slice(lineStart);
      for (const line of fresh.split('\n')) if (lineHasMarker(line, opts.marker)) return finish('marker', true);
      for (const d of DEAD_ENDS) if (fresh.includes(d)) return finish(`dead end: ${JSON.stringify(d.trim())}`, false);
      const nl = out.lastIndexOf('\n');
      if (nl >= lineStart) lineStart = nl + 1;
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (s: string) => {
      out += s;
      check();
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => {
      err += s;
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (reason === undefined) {
        // qemu ended by itself (poweroff, panic with -no-reboot): pass only if the marker made it out.
        passed = markerSeen(out, opts.marker);
        reason = passed ? 'marker' : `qemu exited (${code ?? signal}) before the marker${err ? `; stderr: ${err.trim().slice(0, 500)}` : ''}`;
      }
      resolve({ passed, console: out, reason });
    });
  });
}

/** The last `lines` lines of a console (for assertion messages). */
export function consoleTail(text: string, lines = 40): string {
  return text.split('\n').slice(-lines).join('\n');
}

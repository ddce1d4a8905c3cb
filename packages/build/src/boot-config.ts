/**
 * Boot loader configuration written from the recipe's boot entries, unless the recipe gives its own:
 * - isolinux.cfg (syslinux doc/syslinux.txt: SERIAL, DEFAULT, PROMPT, TIMEOUT in 1/10 s, LABEL,
 *   KERNEL, INITRD, APPEND). PROMPT 0 with TIMEOUT 0 boots the default at once.
 * - grub.cfg (GRUB manual "Shell-like scripting", `menuentry`, `linux`, `initrd`; `serial`,
 *   `terminal_input`/`terminal_output`). On a disk it first loads the environment block beside it
 *   (`load_env -f`, GRUB manual "Environment block") so an updater picks the slot with
 *   `grub-editenv grubenv set slot=<label>` — the A/B switch.
 * - the environment block itself: exactly 1024 bytes, "# GRUB Environment Block\n", `key=value`
 *   lines, '#' padding (grub-core/lib/envblk.c).
 */
import type { BootEntrySpec, BootSpec } from './recipe.js';

export interface PlacedEntry extends BootEntrySpec {
  /** Absolute paths of the kernel and initramfs on the boot medium. */
  kernelPath: string;
  initrdPath: string | undefined;
}

export function isolinuxConfig(boot: BootSpec, entries: readonly PlacedEntry[], defaultLabel = entries[0]!.label): string {
  const lines: string[] = [];
  if (boot.console !== 'vga') lines.push('SERIAL 0 115200');
  lines.push(`DEFAULT ${defaultLabel}`);
  if (boot.timeout === 0) lines.push('PROMPT 0', 'TIMEOUT 0');
  else lines.push('PROMPT 1', `TIMEOUT ${boot.timeout * 10}`);
  for (const e of entries) {
    lines.push(`LABEL ${e.label}`, `  KERNEL ${e.kernelPath}`);
    if (e.initrdPath) lines.push(`  INITRD ${e.initrdPath}`);
    lines.push(`  APPEND ${e.cmdline}`);
  }
  return `${lines.join('\n')}\n`;
}

export interface GrubConfigOptions {
  /** Load `grubenv` from the directory GRUB was started from and boot `$slot` when set (disks). */
  environment?: boolean;
  /** The entry booted by default. @default the first */
  defaultLabel?: string;
  /** Search for this file to set `root` (the medium holding the kernels), e.g. `/.disk/info` on an ISO. */
  searchFile?: string;
}

export function grubConfig(boot: BootSpec, entries: readonly PlacedEntry[], o: GrubConfigOptions = {}): string {
  const lines: string[] = [];
  if (boot.console !== 'vga') lines.push('serial --unit=0 --speed=115200');
  const terms = boot.console === 'serial' ? 'serial' : boot.console === 'vga' ? 'console' : 'serial console';
  lines.push(`terminal_input ${terms}`, `terminal_output ${terms}`);
  lines.push(`set timeout=${boot.timeout}`, `set default=${quote(o.defaultLabel ?? entries[0]!.label)}`);
  if (o.searchFile) lines.push(`search --no-floppy --file --set=root ${o.searchFile}`);
  if (o.environment) {
    lines.push('if [ -f "$cmdpath/grubenv" ]; then', '  load_env -f "$cmdpath/grubenv"', 'fi', 'if [ -n "$slot" ]; then', '  set default="$slot"', 'fi');
  }
  for (const e of entries) {
    lines.push(`menuentry ${quote(e.label)} --id ${quote(e.label)} {`, `  linux ${e.kernelPath} ${e.cmdline}`.trimEnd());
    if (e.initrdPath) lines.push(`  initrd ${e.initrdPath}`);
    lines.push('}');
  }
  return `${lines.join('\n')}\n`;
}

/** GRUB's quoting: single quotes, a single quote as '\''. */
function quote(s: string): string {
  return `'${s.replace(/'/g, "'\\''")}'`;
}

/** grub-core/lib/envblk.c: the signature line, then variables, '#' up to 1024 bytes. */
export const GRUBENV_SIZE = 1024;
const GRUBENV_SIGNATURE = '# GRUB Environment Block\n';

export function grubEnvironmentBlock(vars: Readonly<Record<string, string>> = {}): Uint8Array {
  let text = GRUBENV_SIGNATURE;
  for (const [k, v] of Object.entries(vars)) text += `${k}=${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
  const bytes = new TextEncoder().encode(text);
  if (bytes.byteLength > GRUBENV_SIZE) throw new RangeError('GRUB environment block over 1024 bytes');
  const out = new Uint8Array(GRUBENV_SIZE).fill(0x23); // '#'
  out.set(bytes);
  return out;
}

/**
 * Kernel modules for an initramfs built from a directory: the names the recipe lists and, first,
 * their dependencies, from the kernel's `modules.dep` (kmod's depmod output: `path: dep dep …`,
 * the deepest dependency last). Each module lands in `/lib/modules/<name>.ko` (decompressed when
 * the kernel package ships `.ko.xz`, `.ko.zst` or `.ko.gz`) and `/lib/modules/load.list` names them
 * in load order, one a line, for the init script's `insmod` loop (busybox's modprobe cannot read
 * a Debian modules.dep).
 */
import { concatBytes, decompressStream, ErrorCodes, ImgkitError, type RandomAccessReader } from '@imgkit/core';

export interface ResolvedModule {
  /** Canonical name (`_` for `-`). */
  name: string;
  /** Path under the module directory, as modules.dep gives it (`kernel/fs/squashfs/squashfs.ko`). */
  file: string;
  compression: 'xz' | 'zstd' | 'gzip' | undefined;
}

const canon = (name: string) => name.replace(/-/g, '_');
const modName = (file: string) => canon((file.split('/').pop() ?? file).replace(/\.ko(\.(xz|zst|gz))?$/, ''));

/** Modules in load order (dependencies first) for `names`, from modules.dep's text. */
export function resolveModules(depText: string, names: readonly string[], where: string): ResolvedModule[] {
  const deps = new Map<string, { file: string; deps: string[] }>();
  for (const line of depText.split('\n')) {
    const m = /^([^:]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    deps.set(modName(m[1]!), { file: m[1]!, deps: m[2]!.split(/\s+/).filter(Boolean).map(modName) });
  }
  const order: ResolvedModule[] = [];
  const done = new Set<string>();
  const visiting = new Set<string>();
  const visit = (n: string) => {
    if (done.has(n) || visiting.has(n)) return;
    const d = deps.get(n);
    if (!d) throw new ImgkitError(ErrorCodes.SOURCE_MISSING, { format: 'build', path: where, detail: `kernel module ${n} is not in modules.dep`, hint: 'built into the kernel (then leave it out) or misspelt' });
    visiting.add(n);
    for (const x of [...d.deps].reverse()) visit(x);
    done.add(n);
    const compression = d.file.endsWith('.xz') ? 'xz' : d.file.endsWith('.zst') ? 'zstd' : d.file.endsWith('.gz') ? 'gzip' : undefined;
    order.push({ name: n, file: d.file, compression });
  };
  for (const n of names) visit(canon(n));
  return order;
}

/** The module's bytes, decompressed (modules are small: held in memory). */
export async function moduleBytes(reader: RandomAccessReader, m: ResolvedModule): Promise<Uint8Array> {
  if (m.compression === undefined) return reader.read(0, reader.size);
  const parts: Uint8Array[] = [];
  for await (const c of decompressStream(reader, 0, m.compression).chunks) parts.push(c);
  return concatBytes(parts);
}

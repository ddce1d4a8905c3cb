/**
 * What `inspectImage` reports: a tree of nodes (a VM container, its virtual disk, a partition
 * table, each partition, the filesystem or archive inside it), each with its fields and the
 * findings of its consistency checks, and an exit code in `imgkit check`'s (qemu-img check's)
 * scheme:
 *
 *   0  no defect (warnings may be printed)
 *   1  the inspection could not be completed (a structure could not be read)
 *   2  a defect: a structure contradicts itself, another structure or the image size
 *   3  only leaked clusters in a VM container (waste, no harm)
 */

/** How bad a finding is. */
export type FindingSeverity = 'defect' | 'leak' | 'warning' | 'incomplete';

export interface Finding {
  severity: FindingSeverity;
  /** The structure and field, as ImgkitError fields name them: `gpt.header.headerCrc32`. */
  field: string;
  /** What is wrong, with the numbers. */
  message: string;
  /** Where the node holding it sits in the tree (`disk/gpt/partition 2/fat`), filled in by `collectFindings`. */
  at?: string;
}

export type FieldValue = string | number | boolean | null | readonly (string | number)[] | { readonly [k: string]: FieldValue };

export interface InspectNode {
  /** What this is: `qcow2`, `vmdk`, `vhd`, `vhdx`, `ova`, `mbr`, `gpt`, `partition`, `iso9660`, `el-torito`, `fat`, `squashfs`, `ext4`, `cpio`, `tar`, `initramfs`, `compressed`, `empty`, `unknown`. */
  type: string;
  /** Short name in the tree (`partition 2`); defaults to `type`. */
  name?: string;
  /** Offset of the node's bytes in the disk or file that holds it. */
  offset: number;
  /** Size in bytes of the node's extent. */
  size: number;
  /** Summary fields (label, uuid, counts, compressor, …). */
  fields: Record<string, FieldValue>;
  children: InspectNode[];
  findings: Finding[];
}

export interface InspectReport {
  /** The name the caller gave (a path). */
  image: string;
  root: InspectNode;
  /** Every finding of the tree, with `at` set. */
  findings: Finding[];
  exitCode: 0 | 1 | 2 | 3;
}

export function node(type: string, offset: number, size: number, fields: Record<string, FieldValue> = {}, name?: string): InspectNode {
  const n: InspectNode = { type, offset, size, fields, children: [], findings: [] };
  if (name !== undefined) n.name = name;
  return n;
}

export function defect(n: InspectNode, field: string, message: string): void {
  n.findings.push({ severity: 'defect', field, message });
}
export function warning(n: InspectNode, field: string, message: string): void {
  n.findings.push({ severity: 'warning', field, message });
}
export function incomplete(n: InspectNode, field: string, message: string): void {
  n.findings.push({ severity: 'incomplete', field, message });
}

/** Every finding below `root`, each with the path of its node. */
export function collectFindings(root: InspectNode): Finding[] {
  const out: Finding[] = [];
  const walk = (n: InspectNode, path: string) => {
    const here = path ? `${path}/${n.name ?? n.type}` : (n.name ?? n.type);
    for (const f of n.findings) out.push({ ...f, at: here });
    for (const c of n.children) walk(c, here);
  };
  walk(root, '');
  return out;
}

/** The exit code of a set of findings (see the module comment). */
export function exitCodeOf(findings: readonly Finding[]): 0 | 1 | 2 | 3 {
  if (findings.some((f) => f.severity === 'defect')) return 2;
  if (findings.some((f) => f.severity === 'incomplete')) return 1;
  if (findings.some((f) => f.severity === 'leak')) return 3;
  return 0;
}

function formatValue(v: FieldValue): string {
  if (v === null) return '-';
  if (Array.isArray(v)) return v.join(', ');
  if (typeof v === 'object') return Object.entries(v as Record<string, FieldValue>).map(([k, x]) => `${k}=${formatValue(x)}`).join(' ');
  return String(v);
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${n} B` : `${v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)} ${units[u]}`;
}

/** The report as a tree for people: one line per node, its fields indented below it, then findings. */
export function formatInspectTree(r: InspectReport): string {
  const lines: string[] = [];
  const walk = (n: InspectNode, indent: string, last: boolean, top: boolean) => {
    const branch = top ? '' : last ? '└─ ' : '├─ ';
    const title = n.name && n.name !== n.type ? `${n.name}: ${n.type}` : n.type;
    lines.push(`${indent}${branch}${title}  [${n.offset} +${n.size} = ${formatBytes(n.size)}]`);
    const inner = top ? '' : indent + (last ? '   ' : '│  ');
    const pad = `${inner}${n.children.length > 0 ? '│ ' : '  '} `;
    for (const [k, v] of Object.entries(n.fields)) lines.push(`${pad}${k}: ${formatValue(v)}`);
    for (const f of n.findings) lines.push(`${pad}${f.severity.toUpperCase()} ${f.field}: ${f.message}`);
    n.children.forEach((c, i) => walk(c, inner, i === n.children.length - 1, false));
  };
  walk(r.root, '', true, true);
  const count = (s: string) => r.findings.filter((f) => f.severity === s).length;
  const d = count('defect');
  const w = count('warning');
  const inc = count('incomplete');
  const l = count('leak');
  const parts = [`${d} defect${d === 1 ? '' : 's'}`, `${w} warning${w === 1 ? '' : 's'}`];
  if (inc > 0) parts.push(`${inc} not completed`);
  if (l > 0) parts.push(`${l} leak${l === 1 ? '' : 's'}`);
  lines.push('', `${r.image}: ${parts.join(', ')} (exit code ${r.exitCode})`);
  return `${lines.join('\n')}\n`;
}

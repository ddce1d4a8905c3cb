/**
 * What `checkImage` reports, with the exit codes of `qemu-img check`: 0 clean, 1 the check could
 * not be completed, 2 corruption (errors), 3 leaked clusters only.
 */
export interface CheckReport {
  format: string;
  /** Corruptions: data may be read wrong or a write may destroy data. */
  errors: string[];
  /** Allocated space nothing refers to (harmless waste). */
  leaks: string[];
  /** The check could not finish (unsupported feature, unreadable structure): exit code 1. */
  incomplete?: string;
  /** Facts for the summary (allocated clusters, image end offset, …). */
  info: Record<string, number | string | boolean>;
}

export function checkExitCode(r: CheckReport): 0 | 1 | 2 | 3 {
  if (r.incomplete !== undefined) return 1;
  if (r.errors.length > 0) return 2;
  if (r.leaks.length > 0) return 3;
  return 0;
}

/** The summary lines qemu-img check prints, for the CLI. */
export function formatCheckReport(r: CheckReport): string {
  const lines: string[] = [];
  for (const e of r.errors) lines.push(`ERROR ${e}`);
  for (const l of r.leaks) lines.push(`Leaked ${l}`);
  if (r.incomplete !== undefined) lines.push(`Check not completed: ${r.incomplete}`);
  if (r.errors.length === 0 && r.leaks.length === 0 && r.incomplete === undefined) lines.push('No errors were found on the image.');
  if (r.errors.length > 0) {
    lines.push(`\n${r.errors.length} errors were found on the image.\nData may be corrupted, or further writes to the image may corrupt it.`);
  }
  if (r.leaks.length > 0) lines.push(`\n${r.leaks.length} leaked clusters were found on the image.\nThis means waste of disk space, but no harm to data.`);
  return `${lines.join('\n')}\n`;
}

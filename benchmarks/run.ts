/**
 * `npm run bench`: every benchmark in turn (each prints its own markdown table), or the ones named:
 * `npm run bench -- cpio squashfs`. Each runs imgkit beside the native tool on the same input in the
 * same run; see the header of each file for its input and knobs (BENCH_ITER, BENCH_TREE, …).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ALL = ['rootfs', 'codecs', 'zstd-libs', 'zstd-native', 'cpio', 'squashfs', 'iso', 'fat', 'ext4', 'vdisk', 'disk', 'build', 'browser'];
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ALL;
const dir = fileURLToPath(new URL('.', import.meta.url));
let failed = 0;
for (const name of chosen) {
  if (!ALL.includes(name)) {
    console.error(`unknown benchmark ${name}; one of ${ALL.join(', ')}`);
    process.exit(2);
  }
  console.log(`\n## ${name}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', `${dir}${name}.ts`], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);

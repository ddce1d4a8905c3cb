/**
 * Child-process entry of the cross-runtime and bundle tests: builds the sample images
 * (sample-images.ts) and prints one JSON line (SampleReport) on stdout.
 *   node --import tsx test/lib/sample-images-main.ts [--workers N] [image names…]
 */
import { sampleReport } from './sample-images.ts';

const args = process.argv.slice(2);
let workers = 2;
const at = args.indexOf('--workers');
if (at >= 0) {
  workers = Number(args[at + 1]);
  args.splice(at, 2);
}
const report = await sampleReport(workers, args.length > 0 ? args : undefined);
process.stdout.write(`${JSON.stringify(report)}\n`);

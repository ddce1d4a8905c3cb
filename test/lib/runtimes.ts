/**
 * The Node runtimes imgkit supports and CI tests (README "Runtimes"): the oldest line that
 * package.json's `engines` admits, which the machines here ship as /usr/bin/node, and the newest
 * line, installed from the npm registry's `node` package into a cache outside the checkout by
 * .ci/run. A missing runtime fails the test that asks for it and says how to install it.
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The newest supported line (an even, LTS-bound release line). */
export const NEWEST_NODE_MAJOR = 26;
/** Where .ci/run installs it: `npm install --prefix <dir> node@26`. */
export const NEWEST_NODE_DIR = `/var/cache/imgkit/node-${NEWEST_NODE_MAJOR}`;

/** The oldest major `engines.node` (">=20") admits. */
export function oldestNodeMajor(): number {
  const engines = (JSON.parse(readFileSync(`${REPO_ROOT}/package.json`, 'utf8')) as { engines: { node: string } }).engines.node;
  const m = /^>=\s*(\d+)/.exec(engines);
  if (!m) throw new Error(`package.json engines.node "${engines}" is not of the form ">=N"`);
  return Number(m[1]);
}

export interface NodeRuntime {
  path: string;
  version: string;
  major: number;
}

function probe(path: string, expectMajor: number, install: string): NodeRuntime {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`Node ${expectMajor} is missing at ${path}: ${install}`);
  }
  const r = spawnSync(path, ['-p', 'process.version'], { encoding: 'utf8' });
  const version = (r.stdout ?? '').trim();
  const major = Number(/^v(\d+)\./.exec(version)?.[1]);
  if (r.status !== 0 || major !== expectMajor) {
    throw new Error(`${path} should be Node ${expectMajor}, but says "${version || r.stderr}": ${install}`);
  }
  return { path, version, major };
}

/** The oldest supported Node: IMGKIT_NODE_OLDEST, else /usr/bin/node (Debian's `nodejs` package here). */
export function oldestNode(): NodeRuntime {
  const major = oldestNodeMajor();
  return probe(process.env.IMGKIT_NODE_OLDEST ?? '/usr/bin/node', major, `install Node ${major} (Debian package nodejs ${major}.x), or point IMGKIT_NODE_OLDEST at one`);
}

/** The newest supported Node: IMGKIT_NODE_NEWEST, else the copy .ci/run installs from the npm registry. */
export function newestNode(): NodeRuntime {
  return probe(
    process.env.IMGKIT_NODE_NEWEST ?? `${NEWEST_NODE_DIR}/node_modules/node/bin/node`,
    NEWEST_NODE_MAJOR,
    `install it from the npm registry's "node" package: npm install --prefix ${NEWEST_NODE_DIR} --no-save node@${NEWEST_NODE_MAJOR} (or point IMGKIT_NODE_NEWEST at a Node ${NEWEST_NODE_MAJOR} binary)`,
  );
}

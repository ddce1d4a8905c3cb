/**
 * Entry module of every Node pool worker (dist/node/worker.js): installs the Node codecs, imports
 * the extra task modules the pool was given, then answers task requests in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { handleTaskRequest, loadCodec, type CodecName, type TaskRequest } from '@imgkit/core';
import { registerNodeCodecs } from './codecs.js';

registerNodeCodecs();
const port = parentPort;
if (!port) throw new Error('@imgkit/core/node worker.js must run in a worker thread');

const data = workerData as { modules?: string[]; preload?: CodecName[] } | undefined;
const modules: string[] = data?.modules ?? [];
const ready = Promise.all(modules.map((m) => import(m)));
// Warm-up only: a codec that fails to load here fails again, with its error, at its first job.
for (const name of data?.preload ?? []) loadCodec({ name }).catch(() => {});

port.on('message', (req: TaskRequest) => {
  void ready
    .then(() => handleTaskRequest(req))
    .then(
      ({ reply, transfer }) => port.postMessage(reply, transfer),
      (err: unknown) => port.postMessage(
        { id: req.id, ok: false, error: { __imgkitError: true, name: 'ImgkitError', code: 'E_WORKER', format: 'core', field: 'pool.modules', detail: `worker could not load its task modules: ${err instanceof Error ? err.message : String(err)}` } },
      ),
    );
});

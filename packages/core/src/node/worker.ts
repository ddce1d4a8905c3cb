/**
 * Entry module of every Node pool worker (dist/node/worker.js): installs the Node codecs, imports
 * the extra task modules the pool was given, then answers task requests in arrival order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { handleTaskRequest, type TaskRequest } from '@imgkit/core';
import { registerNodeCodecs } from './codecs.js';

registerNodeCodecs();
const port = parentPort;
if (!port) throw new Error('@imgkit/core/node worker.js must run in a worker thread');

const modules: string[] = (workerData as { modules?: string[] } | undefined)?.modules ?? [];
const ready = Promise.all(modules.map((m) => import(m)));

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

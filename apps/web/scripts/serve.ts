/**
 * A small static server for the built page (apps/web/dist): `npm run web` builds and serves it on
 * http://127.0.0.1:8080/ (PORT and HOST change that). Only files under the folder are served;
 * .wasm goes out as application/wasm (instantiateStreaming needs it), nothing is cached by the
 * browser's HTTP cache (the service worker holds the offline copy).
 */
import { createServer, type Server } from 'node:http';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_OUTDIR } from './build.ts';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
  '.txt': 'text/plain; charset=utf-8',
};

export interface Served {
  server: Server;
  url: string;
  /** Paths requested, in order (tests check what came from the network). */
  requests: string[];
  close(): Promise<void>;
}

export function serveDir(root: string, port = 0, host = '127.0.0.1'): Promise<Served> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    requests.push(path);
    const rel = normalize(path.endsWith('/') ? `${path}index.html` : path).replace(/^[/\\]+/, '');
    const file = join(root, rel);
    if (rel.split(sep).includes('..') || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(400).end();
      return;
    }
    readFile(file).then(
      (data) => res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' }).end(req.method === 'HEAD' ? undefined : data),
      () => res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const a = server.address();
      const p = typeof a === 'object' && a ? a.port : port;
      resolve({
        server,
        url: `http://${host}:${p}/`,
        requests,
        close: () => new Promise<void>((r) => {
          server.closeAllConnections();
          server.close(() => r());
        }),
      });
    });
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const port = Number(process.env['PORT'] ?? 8080);
  const s = await serveDir(process.argv[2] ?? DEFAULT_OUTDIR, port, process.env['HOST'] ?? '127.0.0.1');
  console.log(`imgkit web: serving ${process.argv[2] ?? DEFAULT_OUTDIR} at ${s.url} (Ctrl-C stops)`);
}

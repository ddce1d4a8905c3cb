import { buildBrowserPage } from './build.ts';
import * as esbuild from 'esbuild';
import { createServer } from 'node:http';
import { readFile, mkdir, copyFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
const out = '/tmp/probe/site';
await buildBrowserPage(out);
await esbuild.build({ entryPoints: { probe: '/work/main/test/browser/probe-tmp.ts', 'throwing-worker': '/work/main/test/browser/throwing-worker-tmp.ts', 'probe-worker': '/work/main/test/browser/probe-worker-tmp.ts' }, absWorkingDir: '/work/main', outdir: out, bundle: true, format: 'esm', platform: 'browser' });
await mkdir(out + '/nowasm', { recursive: true });
await copyFile(out + '/worker.js', out + '/nowasm/worker.js');
const server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    if (req.method === 'POST') { console.log(req.url, Buffer.concat(chunks).toString()); res.writeHead(204).end(); if (req.url === '/done') { child.kill('SIGKILL'); server.close(); } return; }
    const p = req.url === '/' ? '/probe.html' : req.url!;
    if (p === '/probe.html') { res.writeHead(200, { 'content-type': 'text/html' }).end('<script type="module" src="probe.js"></script>'); return; }
    try { const d = await readFile(out + p); res.writeHead(200, { 'content-type': p.endsWith('.js') ? 'text/javascript' : 'application/wasm' }).end(d); } catch { res.writeHead(404).end(); }
  });
}).listen(0, '127.0.0.1');
await new Promise((r) => server.once('listening', r));
const port = (server.address() as any).port;
const child = spawn('/usr/bin/chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--user-data-dir=/tmp/probe/profile-' + Date.now(), `http://127.0.0.1:${port}/`], { stdio: 'ignore' });
setTimeout(() => { console.log('overall timeout'); child.kill('SIGKILL'); process.exit(1); }, 60000).unref();

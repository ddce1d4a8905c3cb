import '@imgkit/core/node';
import { memoryTree, MemorySink, makeDev } from '@imgkit/core';
import { writeSquashfs } from '@imgkit/squashfs';
import { writeFileSync } from 'node:fs';
const comp = (process.argv[2] ?? 'gzip') as any;
const big = new Uint8Array(300000); for (let i = 0; i < big.length; i++) big[i] = (i * 7) % 251;
const tree = memoryTree([
  { path: 'a.txt', kind: 'file', content: 'hello\n', mtime: 1000, uid: 1000, gid: 100 },
  { path: 'b.txt', kind: 'file', content: 'hello\n', mtime: 1000 },
  { path: 'dir/big.bin', kind: 'file', content: big, mtime: 2000 },
  { path: 'dir/empty', kind: 'file', content: '' },
  { path: 'dir/sub/link', kind: 'symlink', linkTarget: '../../a.txt' },
  { path: 'dir/hl', kind: 'file', hardLinkTo: 'a.txt', content: 'hello\n' },
  { path: 'dev/null', kind: 'char', rdev: makeDev(1, 3) },
  { path: 'dev/sda', kind: 'block', rdev: makeDev(8, 0) },
  { path: 'dev/fifo', kind: 'fifo' },
  { path: 'dev/sock', kind: 'socket' },
  { path: 'x', kind: 'file', content: 'xa', xattrs: [{ name: 'user.foo', value: new TextEncoder().encode('bar') }] },
]);
const sink = new MemorySink();
const r = await writeSquashfs(tree, sink, { compression: comp, epoch: 1700000000 });
console.log(r);
writeFileSync(`/tmp/sq/smoke-${comp}.sqfs`, sink.bytes());

import { memoryTree, MemorySink } from '@imgkit/core';
import { writeIso } from '@imgkit/iso9660';
import { writeFileSync } from 'node:fs';
const t = process.argv[2]!;
const tree = memoryTree([{ path: 'long', kind: 'symlink', linkTarget: t }, { path: 'zz', kind: 'file', content: 'x' }]);
const sink = new MemorySink();
await writeIso(tree, sink, JSON.parse(process.argv[3] ?? '{}'));
writeFileSync('/tmp/isot/t.iso', sink.bytes());

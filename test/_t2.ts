import { nodeSource, fileSink } from '@imgkit/core/node';
import { writeIso } from '@imgkit/iso9660';
const s = await fileSink('/tmp/isot/f.iso'); await writeIso(nodeSource(process.argv[2]!), s, {}); await s.close();

import { registerTask } from '@imgkit/core';
import { startBrowserWorker } from '@imgkit/core/browser';
registerTask('bad-output', () => ({ f: () => 1 }));
startBrowserWorker();

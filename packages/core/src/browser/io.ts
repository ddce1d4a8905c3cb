/** Browser I/O in one place: Blob/File input, in-memory and Web-stream output (all universal, from core). */
export { MemorySink, WebStreamSink, blobReader, memoryReader } from '@imgkit/core';
export type { ByteSink, RandomAccessReader } from '@imgkit/core';

/**
 * @imgkit/vdisk: VM disk images — qcow2, VMDK (streamOptimized, monolithicSparse), OVA, VHD
 * (fixed, dynamic), VHDX (fixed, dynamic) — written as container sinks or from a RangeSource,
 * read back (`openImage`) and checked (`checkImage`), in Node and in browsers.
 */
export * from './range-source.js';
export * from './zero.js';
export * from './block-sink.js';
export * from './allocation.js';
export * from './detect.js';
export * from './qcow2/header.js';
export * from './qcow2/tables.js';
export * from './qcow2/refcount.js';
export * from './qcow2/writer.js';
export * from './qcow2/reader.js';
export * from './qcow2/check.js';
export * from './check-report.js';
export * from './io.js';
export * from './vmdk/sparse-header.js';
export * from './vmdk/descriptor.js';
export * from './vmdk/writer.js';
export * from './vmdk/reader.js';
export * from './vmdk/check.js';
export * from './vhd/footer.js';
export * from './vhd/writer.js';
export * from './vhd/reader.js';
export * from './vhd/check.js';
export * from './passthrough.js';
export * from './vhdx/structures.js';
export * from './vhdx/writer.js';
export * from './vhdx/reader.js';
export * from './vhdx/check.js';
export * from './ova/ustar.js';
export * from './ova/ovf.js';
export * from './ova/writer.js';
export * from './image.js';

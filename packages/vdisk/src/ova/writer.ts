/**
 * OVA writer (DMTF DSP0243 OVF 1.0 §5.3 "Distribution as a single file"): a ustar archive whose
 * members are, in this order, the OVF descriptor, the disk (a stream-optimized VMDK) and the
 * manifest with SHA256 digests of both (`SHA256(name)= hex`, what ovftool and VirtualBox write).
 *
 * The VMDK streams into the archive as it is compressed and hashed; its size, which its tar header
 * and the OVF's File ovf:size hold, is known only at its end, so both are patched then: an OVA
 * needs a seekable output. Held: the OVF text (a few KiB) and the VMDK writer's state.
 */
import { Sha256, resolveEpoch, toHex, writeZeros, ErrorCodes, ImgkitError, type ByteSink, type WorkerPool } from '@imgkit/core';
import { badOption, needsSeekable } from '../errors.js';
import { pipeSource, type RangeSource } from '../range-source.js';
import { vmdkContainer } from '../vmdk/writer.js';
import { encodeOvf, patchOvfSize } from './ovf.js';
import { TAR_BLOCK, TAR_RECORD, encodeUstarHeader, tarPadding } from './ustar.js';

const FORMAT = 'ova';

export interface OvaOptions {
  /** Size of the virtual disk in bytes (ovaSink; writeOva takes the source's). */
  virtualSize: number;
  /** Virtual machine name; also names the members (<name>.ovf, <name>-disk1.vmdk, <name>.mf). @default 'imgkit' */
  name?: string;
  /** Virtual CPUs. @default 2 */
  cpus?: number;
  /** Memory in MiB. @default 1024 */
  memoryMiB?: number;
  /** Firmware. @default 'efi' */
  firmware?: 'efi' | 'bios';
  /** Disk controller. @default 'sata' */
  controller?: 'sata' | 'scsi';
  /** VMware virtual hardware version (VirtualSystemType vmx-N, ddb.virtualHWVersion). @default 10 */
  hwVersion?: number;
  /** Guest OS: CIM_OperatingSystem id and VMware guest id. @default { cimId: 101, vmwareId: 'otherLinux64Guest', description: 'Linux (64-bit)' } */
  os?: { cimId: number; vmwareId: string; description: string };
  /** Name of the network the NIC connects to. @default 'VM Network' */
  network?: string;
  /** Seconds since 1970: member times and the VMDK's ids. @default 0 */
  epoch?: number;
  /** Where grains are compressed. @default inline */
  pool?: WorkerPool;
  /** zlib level of the VMDK's grains. @default 6 */
  compressionLevel?: number;
}

export interface OvaMembers {
  ovf: string;
  vmdk: string;
  mf: string;
}

export function ovaMemberNames(name: string): OvaMembers {
  const base = name.replace(/[^A-Za-z0-9._-]/g, '_');
  return { ovf: `${base}.ovf`, vmdk: `${base}-disk1.vmdk`, mf: `${base}.mf` };
}

/** Counts and hashes what goes through, for the VMDK member. */
class HashingSink implements ByteSink {
  readonly sha = new Sha256();
  count = 0;
  readonly seekable = false;
  constructor(private readonly out: ByteSink) {}
  get position(): number {
    return this.count;
  }
  async write(chunk: Uint8Array): Promise<void> {
    this.sha.update(chunk);
    this.count += chunk.byteLength;
    await this.out.write(chunk);
  }
  async writeAt(): Promise<void> {
    throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, { format: FORMAT, detail: 'the VMDK inside an OVA is written in order' });
  }
  async close(): Promise<void> {}
}

export class OvaSink implements ByteSink {
  readonly seekable = false;
  private readonly members: OvaMembers;
  private readonly epoch: number;
  private ovf: Uint8Array;
  private readonly base: number;
  private vmdkHeaderAt = -1;
  private readonly hashing: HashingSink;
  private readonly inner: ReturnType<typeof vmdkContainer>;
  private started = false;
  private state: 'open' | 'closed' | 'aborted' = 'open';

  constructor(
    private readonly out: ByteSink,
    o: OvaOptions,
    private readonly ownsOut: boolean,
  ) {
    if (!out.seekable) throw needsSeekable(FORMAT, "the disk's size, which its tar header and the OVF hold, is known only once it is compressed");
    const name = o.name ?? 'imgkit';
    if (name.length === 0 || name.length > 80 || /[\x00-\x1f]/.test(name)) throw badOption(FORMAT, 'name', `name ${JSON.stringify(name)} must be 1–80 printable characters`);
    const cpus = o.cpus ?? 2;
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 768) throw badOption(FORMAT, 'cpus', `${cpus} CPUs is outside 1…768`);
    const memoryMiB = o.memoryMiB ?? 1024;
    if (!Number.isInteger(memoryMiB) || memoryMiB < 4 || memoryMiB > 24 * 1024 * 1024) throw badOption(FORMAT, 'memoryMiB', `${memoryMiB} MiB of memory is outside 4 MiB…24 TiB`);
    const firmware = o.firmware ?? 'efi';
    if (firmware !== 'efi' && firmware !== 'bios') throw badOption(FORMAT, 'firmware', `firmware "${String(firmware)}" is neither efi nor bios`);
    const controller = o.controller ?? 'sata';
    if (controller !== 'sata' && controller !== 'scsi') throw badOption(FORMAT, 'controller', `controller "${String(controller)}" is neither sata nor scsi`);
    const hwVersion = o.hwVersion ?? 10;
    this.epoch = resolveEpoch(o.epoch, FORMAT);
    this.members = ovaMemberNames(name);
    const os = o.os ?? { cimId: 101, vmwareId: 'otherLinux64Guest', description: 'Linux (64-bit)' };
    const capacity = Math.ceil(o.virtualSize / 512) * 512;
    this.ovf = new TextEncoder().encode(
      encodeOvf({
        name,
        cpus,
        memoryMiB,
        firmware,
        controller,
        diskFile: this.members.vmdk,
        diskCapacity: capacity,
        hwVersion,
        osCimId: os.cimId,
        osVmwareId: os.vmwareId,
        osDescription: os.description,
        network: o.network ?? 'VM Network',
      }),
    );
    this.base = out.position;
    this.hashing = new HashingSink(out);
    const vmdk: Parameters<typeof vmdkContainer>[1] = {
      virtualSize: capacity,
      subformat: 'streamOptimized',
      adapterType: controller === 'scsi' ? 'lsilogic' : 'ide',
      hwVersion,
      fileName: this.members.vmdk,
      epoch: this.epoch,
      label: name,
    };
    if (o.pool) vmdk.pool = o.pool;
    if (o.compressionLevel !== undefined) vmdk.compressionLevel = o.compressionLevel;
    this.inner = vmdkContainer(this.hashing, vmdk, false);
  }

  get position(): number {
    return this.inner.position;
  }

  private async begin(): Promise<void> {
    if (this.started) return;
    this.started = true;
    await this.out.write(encodeUstarHeader(this.members.ovf, this.ovf.byteLength, this.epoch));
    await this.out.write(this.ovf);
    await writeZeros(this.out, tarPadding(this.ovf.byteLength));
    this.vmdkHeaderAt = this.out.position;
    await this.out.write(new Uint8Array(TAR_BLOCK)); // patched once the VMDK's size is known
  }

  async write(chunk: Uint8Array): Promise<void> {
    await this.begin();
    await this.inner.write(chunk);
  }
  async writeZeros(n: number): Promise<void> {
    await this.begin();
    await this.inner.writeZeros(n);
  }
  async writeAt(): Promise<void> {
    await this.inner.writeAt();
  }

  /** Finish the VMDK, patch its header and the OVF, append the manifest and the end of the archive. */
  async finish(): Promise<void> {
    await this.begin();
    await this.inner.close();
    const size = this.hashing.count;
    const vmdkDigest = toHex(this.hashing.sha.digest());
    await writeZeros(this.out, tarPadding(size));
    await this.out.writeAt(this.vmdkHeaderAt, encodeUstarHeader(this.members.vmdk, size, this.epoch));
    this.ovf = patchOvfSize(this.ovf, size);
    await this.out.writeAt(this.base + TAR_BLOCK, this.ovf);
    const ovfDigest = toHex(new Sha256().update(this.ovf).digest());
    const mf = new TextEncoder().encode(`SHA256(${this.members.ovf})= ${ovfDigest}\nSHA256(${this.members.vmdk})= ${vmdkDigest}\n`);
    await this.out.write(encodeUstarHeader(this.members.mf, mf.byteLength, this.epoch));
    await this.out.write(mf);
    await writeZeros(this.out, tarPadding(mf.byteLength));
    // end of archive: two zero blocks, then up to a whole record as GNU tar does
    await writeZeros(this.out, 2 * TAR_BLOCK);
    const used = this.out.position - this.base;
    await writeZeros(this.out, (TAR_RECORD - (used % TAR_RECORD)) % TAR_RECORD);
  }

  async close(): Promise<void> {
    if (this.state !== 'open') return;
    try {
      await this.finish();
    } catch (err) {
      await this.abort(err);
      throw err;
    }
    this.state = 'closed';
    if (this.ownsOut) await this.out.close();
  }

  async abort(reason?: unknown): Promise<void> {
    if (this.state === 'aborted') return;
    this.state = 'aborted';
    try {
      await this.inner.abort(reason);
    } finally {
      if (this.ownsOut) await this.out.abort?.(reason);
    }
  }
}

export function ovaSink(out: ByteSink, o: OvaOptions): ByteSink {
  return new OvaSink(out, o, true);
}

/** Write `source` as an OVA on `out` (a seekable output; not closed). */
export async function writeOva(source: RangeSource, out: ByteSink, o: Omit<OvaOptions, 'virtualSize'> = {}): Promise<void> {
  const sink = new OvaSink(out, { ...o, virtualSize: source.virtualSize }, false);
  try {
    await pipeSource(source, sink);
    await sink.close();
  } catch (err) {
    await sink.abort(err).catch(() => undefined);
    throw err;
  }
}

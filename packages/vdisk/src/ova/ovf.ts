/**
 * OVF 1.0 envelope (DMTF DSP0243 1.0, schema dsp8023): one VirtualSystem with one disk on a SATA
 * (vmware.sata.ahci) or SCSI (lsilogic) controller, one E1000 NIC on one network, CPUs and memory,
 * and VMware's firmware setting (vmw:Config firmware=efi|bios, read by ESXi and Workstation).
 * RASD children are written in the schema's (alphabetical) order, which ovftool validates.
 *
 * The File's ovf:size is written as a placeholder of fixed width (the value followed by spaces
 * inside the tag) so that it can be patched once the VMDK's size is known without moving bytes.
 */

export interface OvfFields {
  /** VirtualSystem id and Name. */
  name: string;
  cpus: number;
  memoryMiB: number;
  firmware: 'efi' | 'bios';
  controller: 'sata' | 'scsi';
  diskFile: string;
  diskCapacity: number;
  /** vmx-N (VirtualSystemType). */
  hwVersion: number;
  /** CIM_OperatingSystem id (101: Linux 64-bit) and VMware guest id. */
  osCimId: number;
  osVmwareId: string;
  osDescription: string;
  network: string;
}

/** Width reserved for the file size digits. */
export const OVF_SIZE_WIDTH = 20;
const SIZE_MARK = 'ovf:size="';

const xml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export function encodeOvf(f: OvfFields): string {
  const item = (fields: [string, string | number | boolean][]): string =>
    `      <Item>\n${fields
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `        <rasd:${k}>${xml(String(v))}</rasd:${k}>`)
      .join('\n')}\n      </Item>`;
  const controller =
    f.controller === 'sata'
      ? item([
          ['Address', 0],
          ['Description', 'SATA Controller'],
          ['ElementName', 'sataController0'],
          ['InstanceID', 3],
          ['ResourceSubType', 'vmware.sata.ahci'],
          ['ResourceType', 20],
        ])
      : item([
          ['Address', 0],
          ['Description', 'SCSI Controller'],
          ['ElementName', 'scsiController0'],
          ['InstanceID', 3],
          ['ResourceSubType', 'lsilogic'],
          ['ResourceType', 6],
        ]);
  return `<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="imgkit" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="${xml(f.diskFile)}" ovf:id="file1" ${SIZE_MARK}0"${' '.repeat(OVF_SIZE_WIDTH - 1)}/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="${f.diskCapacity}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="${xml(f.network)}">
      <Description>The ${xml(f.network)} network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${xml(f.name)}">
    <Info>A virtual machine</Info>
    <Name>${xml(f.name)}</Name>
    <OperatingSystemSection ovf:id="${f.osCimId}" vmw:osType="${xml(f.osVmwareId)}">
      <Info>The kind of installed guest operating system</Info>
      <Description>${xml(f.osDescription)}</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${xml(f.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-${String(f.hwVersion).padStart(2, '0')}</vssd:VirtualSystemType>
      </System>
${item([
  ['AllocationUnits', 'hertz * 10^6'],
  ['Description', 'Number of Virtual CPUs'],
  ['ElementName', `${f.cpus} virtual CPU(s)`],
  ['InstanceID', 1],
  ['ResourceType', 3],
  ['VirtualQuantity', f.cpus],
])}
${item([
  ['AllocationUnits', 'byte * 2^20'],
  ['Description', 'Memory Size'],
  ['ElementName', `${f.memoryMiB}MB of memory`],
  ['InstanceID', 2],
  ['ResourceType', 4],
  ['VirtualQuantity', f.memoryMiB],
])}
${controller}
${item([
  ['AddressOnParent', 0],
  ['ElementName', 'disk0'],
  ['HostResource', 'ovf:/disk/vmdisk1'],
  ['InstanceID', 4],
  ['Parent', 3],
  ['ResourceType', 17],
])}
${item([
  ['AddressOnParent', 0],
  ['AutomaticAllocation', true],
  ['Connection', f.network],
  ['Description', `E1000 ethernet adapter on "${f.network}"`],
  ['ElementName', 'ethernet0'],
  ['InstanceID', 5],
  ['ResourceSubType', 'E1000'],
  ['ResourceType', 10],
])}
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="${f.firmware}"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/** The OVF bytes with the File's ovf:size set to `size` (same length: the padding absorbs the digits). */
export function patchOvfSize(ovf: Uint8Array, size: number): Uint8Array {
  const mark = new TextEncoder().encode(SIZE_MARK);
  let at = -1;
  for (let i = 0; i + mark.length <= ovf.length && at < 0; i++) {
    let k = 0;
    while (k < mark.length && ovf[i + k] === mark[k]) k++;
    if (k === mark.length) at = i;
  }
  if (at < 0) throw new RangeError('the OVF has no ovf:size placeholder');
  const digits = String(size);
  if (digits.length > OVF_SIZE_WIDTH) throw new RangeError(`size ${size} has more than ${OVF_SIZE_WIDTH} digits`);
  const start = at + SIZE_MARK.length;
  const field = `${digits}"${' '.repeat(OVF_SIZE_WIDTH - digits.length)}`;
  const out = Uint8Array.from(ovf);
  for (let i = 0; i < field.length; i++) out[start + i] = field.charCodeAt(i);
  return out;
}

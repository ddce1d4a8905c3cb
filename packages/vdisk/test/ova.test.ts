/**
 * OVA pieces: ustar headers (checksum, GNU base-256 sizes from 8 GiB) and the OVF's fixed-width
 * size placeholder.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UstarHeader, encodeOvf, encodeUstarHeader, patchOvfSize, tarPadding } from '@imgkit/vdisk';

test('ustar header: fields, magic, checksum over the block with the field as spaces', () => {
  const h = encodeUstarHeader('vm.ovf', 3834, 1700000000);
  const d = UstarHeader.decode(h);
  assert.equal(d.name, 'vm.ovf');
  assert.equal(d.mode, 0o644);
  assert.equal(d.mtime, 1700000000);
  assert.equal(new TextDecoder().decode(h.subarray(257, 265)), 'ustar\u000000');
  assert.equal(new TextDecoder().decode(h.subarray(124, 136)), '00000007372\u0000');
  const copy = Uint8Array.from(h);
  copy.fill(0x20, 148, 156);
  const sum = copy.reduce((a, b) => a + b, 0);
  assert.equal(new TextDecoder().decode(h.subarray(148, 156)), `${sum.toString(8).padStart(6, '0')}\u0000 `);
  assert.equal(tarPadding(3834), 262);
  assert.equal(tarPadding(1024), 0);
});

test('ustar size of 8 GiB and more: GNU base-256', () => {
  const h = encodeUstarHeader('big.vmdk', 9 * 2 ** 30, 0);
  assert.equal(h[124], 0x80);
  const v = new DataView(h.buffer);
  assert.equal(v.getUint32(128, false) * 2 ** 32 + v.getUint32(132, false), 9 * 2 ** 30);
});

test('OVF: the size placeholder is patched in place', () => {
  const text = encodeOvf({
    name: 'vm é',
    cpus: 2,
    memoryMiB: 512,
    firmware: 'efi',
    controller: 'sata',
    diskFile: 'vm-disk1.vmdk',
    diskCapacity: 1 << 30,
    hwVersion: 10,
    osCimId: 101,
    osVmwareId: 'otherLinux64Guest',
    osDescription: 'Linux',
    network: 'VM Network',
  });
  const bytes = new TextEncoder().encode(text);
  const patched = patchOvfSize(bytes, 123456789);
  assert.equal(patched.byteLength, bytes.byteLength);
  assert.match(new TextDecoder().decode(patched), /ovf:size="123456789" {11}\/>/);
  assert.match(text, /<vssd:VirtualSystemType>vmx-10<\/vssd:VirtualSystemType>/);
  assert.match(text, /vmw:key="firmware" vmw:value="efi"/);
});

/**
 * OVA written by `imgkit convert -O ova`: `tar -tvf` lists the OVF, the VMDK and the manifest in
 * that order; the manifest's SHA256 digests equal `sha256sum` of the extracted members; the OVF is
 * well-formed (`xmllint`, libxml2-utils) and its disk capacity, file reference and size, CPUs,
 * memory, controller and firmware are what was asked and match the VMDK, which qemu-img checks
 * and finds identical to the source disk.
 */
import assert from 'node:assert/strict';
import { mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { requireTool, run, runImgkit, tempDir } from './lib/tools.ts';
import { makeSparseDisk, qemuImg, qemuInfo, type SparseDisk } from './lib/vdisk.ts';

let dir = '';
let disk: SparseDisk;
before(async () => {
  dir = await tempDir('vdisk-ova');
  disk = await makeSparseDisk(dir);
});

async function xpath(file: string, expr: string): Promise<string> {
  const r = await run(requireTool('xmllint', 'libxml2-utils'), ['--xpath', expr, file]);
  return r.stdout.toString('utf8').trim();
}

const NS = (e: string) => `//*[local-name()='${e}']`;

test('OVA: member order, manifest digests, OVF contents, the VMDK inside', async () => {
  const ova = join(dir, 'appliance.ova');
  const r = await runImgkit(['convert', disk.path, ova, '-O', 'ova', '-o', 'name=appliance,cpus=4,memory=2G,firmware=efi,controller=scsi'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
  assert.equal(r.code, 0, r.stderr);

  const list = await run(requireTool('tar', 'tar'), ['-tvf', ova]);
  const lines = list.stdout.toString('utf8').trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(/\s+/).at(-1)), ['appliance.ovf', 'appliance-disk1.vmdk', 'appliance.mf']);
  for (const l of lines) assert.match(l, /^-rw-r--r-- root\/root .* 2023-11-14 /);
  const bsd = await run(requireTool('bsdtar', 'libarchive-tools'), ['-tf', ova]);
  assert.deepEqual(bsd.stdout.toString('utf8').trim().split('\n'), ['appliance.ovf', 'appliance-disk1.vmdk', 'appliance.mf']);

  const x = join(dir, 'x');
  await mkdir(x);
  await run(requireTool('tar', 'tar'), ['-xf', ova, '-C', x]);
  const mf = (await run('cat', [join(x, 'appliance.mf')])).stdout.toString('utf8');
  const sums = await run(requireTool('sha256sum', 'coreutils'), ['appliance.ovf', 'appliance-disk1.vmdk'], { cwd: x });
  const expected = sums.stdout
    .toString('utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const [hex, name] = l.split(/\s+/);
      return `SHA256(${name})= ${hex}`;
    });
  assert.deepEqual(mf.trim().split('\n'), expected);

  const ovf = join(x, 'appliance.ovf');
  const lint = await run(requireTool('xmllint', 'libxml2-utils'), ['--noout', ovf], { allowFail: true });
  assert.equal(lint.code, 0, lint.stderr);
  const vmdk = join(x, 'appliance-disk1.vmdk');
  const info = await qemuInfo(vmdk);
  assert.equal(await xpath(ovf, `string(${NS('Disk')}/@*[local-name()='capacity'])`), String(info['virtual-size']));
  assert.equal(info['virtual-size'], disk.size);
  assert.equal(await xpath(ovf, `string(${NS('File')}/@*[local-name()='href'])`), 'appliance-disk1.vmdk');
  assert.equal(await xpath(ovf, `string(${NS('File')}/@*[local-name()='size'])`), String((await stat(vmdk)).size));
  assert.equal(await xpath(ovf, `string(${NS('Disk')}/@*[local-name()='fileRef'])`), await xpath(ovf, `string(${NS('File')}/@*[local-name()='id'])`));
  assert.equal(await xpath(ovf, `string(${NS('VirtualSystem')}/@*[local-name()='id'])`), 'appliance');
  const item = (type: number, field: string) => xpath(ovf, `string(${NS('Item')}[${NS('ResourceType').slice(2)}='${type}']/${NS(field).slice(2)})`);
  assert.equal(await item(3, 'VirtualQuantity'), '4');
  assert.equal(await item(4, 'VirtualQuantity'), '2048');
  assert.equal(await item(6, 'ResourceSubType'), 'lsilogic');
  assert.equal(await item(17, 'HostResource'), 'ovf:/disk/vmdisk1');
  assert.equal(await item(17, 'Parent'), await item(6, 'InstanceID'));
  assert.equal(await item(10, 'ResourceSubType'), 'E1000');
  assert.equal(await xpath(ovf, `string(${NS('Config')}[@*[local-name()='key']='firmware']/@*[local-name()='value'])`), 'efi');
  assert.equal((info['format-specific'] as { data: { 'create-type': string } }).data['create-type'], 'streamOptimized');

  const check = await qemuImg(['check', vmdk]);
  assert.equal(check.code, 0, check.stdout.toString());
  const cmp = await qemuImg(['compare', '-f', 'raw', '-F', 'vmdk', disk.path, vmdk]);
  assert.equal(cmp.code, 0, cmp.stdout.toString());
});

test('OVA: SATA and BIOS; the same input and epoch give the same archive', async () => {
  const a = join(dir, 'a.ova');
  const b = join(dir, 'b.ova');
  for (const out of [a, b]) {
    const r = await runImgkit(['convert', disk.path, out, '-O', 'ova', '-o', 'firmware=bios'], { env: { SOURCE_DATE_EPOCH: '1700000000' } });
    assert.equal(r.code, 0, r.stderr);
  }
  const cmp = await run(requireTool('cmp', 'diffutils'), [a, b], { allowFail: true });
  assert.equal(cmp.code, 0, 'byte-identical');
  const x = join(dir, 'y');
  await mkdir(x);
  await run(requireTool('tar', 'tar'), ['-xf', a, '-C', x]);
  const ovf = join(x, 'imgkit.ovf');
  assert.equal(await xpath(ovf, `string(${NS('Item')}[${NS('ResourceType').slice(2)}='20']/${NS('ResourceSubType').slice(2)})`), 'vmware.sata.ahci');
  assert.equal(await xpath(ovf, `string(${NS('Config')}/@*[local-name()='value'])`), 'bios');
  assert.equal((await stat(a)).size % 10240, 0, 'a whole number of tar records');
});

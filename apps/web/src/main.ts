/**
 * The page: pick a source, fill a form, build into a save target, with progress, cancel, a report
 * and the CLI's error messages. The state machine is on `document.body.dataset.state`
 * ('idle' | 'running' | 'done' | 'error' | 'cancelled'), which the browser test waits on.
 */
import { ErrorCodes, ImgkitError, inlinePool, withSink, type ImgkitWarning, type WorkerPool } from '@imgkit/core';
import { createBrowserPool } from '@imgkit/core/browser';
import { OUTPUTS, SOURCE_FIELDS, CPIO_CODEC, imageCodec, imageOptions, outputDef, type Field, type OutputKind, type Values } from './options.js';
import { outputName, runJob, seekableReason, type JobRequest } from './jobs.js';
import { availableTargets, BlobSink, MEMORY_LIMIT_BYTES, opfsSink, pickFileSink, StreamDownloadSink, type SaveSink, type SaveTarget } from './save.js';
import { fromDirectoryHandle, fromDroppedEntry, fromFileList, fromTarFile, type PickedInput } from './sources.js';
import { decodeCaptured, formatBytes, renderReport } from './report.js';
import { isCancel, newCounters, trackSink, type Counters } from './track.js';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`#${id} missing`);
  return e as T;
};

let input: PickedInput | undefined;
let image: File | undefined;
let kind: OutputKind = 'cpio';
let running: AbortController | undefined;
let downloadUrl: string | undefined;

const TARGET_LABELS: Record<SaveTarget, string> = {
  file: 'Save as… (File System Access API: written to disk as it is built)',
  opfs: 'Browser storage (OPFS), then download',
  memory: `In memory, then download (up to ${formatBytes(MEMORY_LIMIT_BYTES)})`,
  stream: 'Streamed download (no size limit; cannot seek back)',
};

function setState(state: 'idle' | 'running' | 'done' | 'error' | 'cancelled'): void {
  document.body.dataset['state'] = state;
}

// ---- forms ------------------------------------------------------------------------------------

function renderField(f: Field): HTMLElement {
  const label = document.createElement('label');
  const flag = document.createElement('code');
  flag.textContent = f.flag.startsWith('-') ? f.flag : f.flag === 'SOURCE_DATE_EPOCH' ? 'env' : 'page only';
  let control: HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;
  if (f.kind === 'textarea') {
    const t = document.createElement('textarea');
    t.rows = 10;
    t.spellcheck = false;
    if (typeof f.initial === 'string') t.value = f.initial;
    if (f.placeholder) t.placeholder = f.placeholder;
    control = t;
    label.className = 'wide';
  } else if (f.kind === 'select') {
    const s = document.createElement('select');
    for (const c of f.choices ?? []) {
      const o = document.createElement('option');
      o.value = c;
      o.textContent = c === '' ? '(none)' : c;
      s.append(o);
    }
    s.value = typeof f.initial === 'string' ? f.initial : (f.choices?.[0] ?? '');
    control = s;
  } else {
    const i = document.createElement('input');
    i.type = f.kind === 'bool' ? 'checkbox' : f.kind === 'file' || f.kind === 'folder' ? 'file' : 'text';
    if (f.kind === 'folder') {
      i.webkitdirectory = true;
      i.multiple = true;
    }
    if (f.kind === 'int') i.inputMode = 'numeric';
    if (f.kind === 'bool') i.checked = f.initial === true;
    else if (typeof f.initial === 'string') i.value = f.initial;
    if (f.placeholder) i.placeholder = f.placeholder;
    control = i;
  }
  control.dataset['flag'] = f.flag;
  control.addEventListener('change', updateCommand);
  control.addEventListener('input', updateCommand);
  if (f.kind === 'bool') {
    label.className = 'bool';
    label.append(control, ` ${f.label} `, flag);
  } else label.append(`${f.label} `, flag, control);
  if (f.help) label.title = f.help;
  return label;
}

function renderForms(): void {
  const src = $('source-fields');
  src.replaceChildren(...SOURCE_FIELDS.map(renderField));
  const kinds = $('kinds');
  kinds.replaceChildren(
    ...OUTPUTS.map((o) => {
      const l = document.createElement('label');
      const r = document.createElement('input');
      r.type = 'radio';
      r.name = 'kind';
      r.value = o.kind;
      r.checked = o.kind === kind;
      r.addEventListener('change', () => {
        kind = o.kind;
        renderFormat();
      });
      l.append(r, ` ${o.title}`);
      if (o.pending) l.className = 'pending';
      return l;
    }),
  );
  const targets = $('targets');
  const available = availableTargets();
  targets.replaceChildren(
    ...(['file', 'opfs', 'memory', 'stream'] as SaveTarget[]).map((t) => {
      const l = document.createElement('label');
      const r = document.createElement('input');
      r.type = 'radio';
      r.name = 'target';
      r.value = t;
      r.disabled = !available.includes(t);
      r.checked = t === available[0];
      l.append(r, ` ${TARGET_LABELS[t]}${r.disabled ? ' — not available in this browser' : ''}`);
      l.style.display = 'block';
      return l;
    }),
  );
  $('memory-limit').textContent = formatBytes(MEMORY_LIMIT_BYTES);
  renderFormat();
}

function renderFormat(): void {
  const def = outputDef(kind);
  const box = $('format-fields');
  if (def.pending) {
    const p = document.createElement('p');
    p.className = 'muted pending-note';
    p.textContent = def.pending;
    box.replaceChildren(p);
  } else box.replaceChildren(...def.fields.map(renderField));
  $('build-button').toggleAttribute('disabled', def.pending !== undefined);
  // Source fields that the command takes: all for a tree; a layout has its own per partition.
  const applies = (flag: string) => def.input === 'tree' || flag === 'SOURCE_DATE_EPOCH' || (def.input === 'layout' && flag === '--strict');
  for (const c of $('source-fields').querySelectorAll<HTMLElement>('[data-flag]')) c.closest('label')!.hidden = !applies(c.dataset['flag']!);
  updateCommand();
}

function formValues(): Values {
  const v: Record<string, string | boolean | File | readonly File[] | undefined> = {};
  for (const c of document.querySelectorAll<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>('[data-flag]')) {
    const flag = c.dataset['flag']!;
    if (c instanceof HTMLInputElement && c.type === 'checkbox') v[flag] = c.checked;
    else if (c instanceof HTMLInputElement && c.type === 'file' && c.webkitdirectory) v[flag] = Array.from(c.files ?? []);
    else if (c instanceof HTMLInputElement && c.type === 'file') v[flag] = c.files?.[0];
    else v[flag] = c.value;
  }
  return v;
}

/** The command line this form stands for (shown, and handy to reproduce a build outside the page). */
function updateCommand(): void {
  const def = outputDef(kind);
  const v = formValues();
  const layoutFile = v['layout-file'];
  const what = def.input === 'image' ? (image?.name ?? '<image>') : def.input === 'layout' ? `${input?.name ?? '<folder>'}/${layoutFile instanceof File ? layoutFile.name : 'layout.yaml'}` : (input?.name ?? '<folder>');
  const parts = [def.command, what, '<out>'];
  // A layout carries its own source options (manifest, owners, exclude) per partition.
  const fields = def.input === 'tree' ? [...def.fields, ...SOURCE_FIELDS] : def.input === 'layout' ? [...def.fields, ...SOURCE_FIELDS.filter((f) => f.flag === '--strict')] : def.fields;
  const extra: string[] = [];
  for (const f of fields) {
    const x = v[f.flag];
    if (f.flag === 'layout' || f.flag === 'layout-file') continue;
    if (f.flag === '--exclude') {
      if (typeof x === 'string') for (const p of x.split(/\s+/).filter((y) => y !== '')) parts.push(f.flag, p);
      continue;
    }
    if (!f.flag.startsWith('-')) {
      if (typeof x === 'string' && x !== '' && f.flag !== 'SOURCE_DATE_EPOCH') extra.push(`${f.flag}=${x}`);
      continue;
    }
    const flag = def.spelling?.[f.flag] ?? f.flag;
    if (f.kind === 'bool') {
      if (x === true) parts.push(flag);
    } else if (x instanceof File) parts.push(flag, x.name);
    else if (Array.isArray(x)) {
      const first = x[0] as File | undefined;
      if (first) parts.push(flag, (first.webkitRelativePath || first.name).split('/')[0]!);
    } else if (typeof x === 'string' && x !== '' && x !== f.initial) parts.push(flag, /\s/.test(x) ? JSON.stringify(x) : x);
  }
  if (input?.kind === 'tar' && def.input === 'tree') parts.push('--tar');
  const epoch = v['SOURCE_DATE_EPOCH'];
  const env = typeof epoch === 'string' && epoch !== '' ? `SOURCE_DATE_EPOCH=${epoch} ` : '';
  $('command').textContent = `${env}${parts.join(' ')}${extra.length ? `   (page: ${extra.join(', ')})` : ''}`;
}

// ---- sources ----------------------------------------------------------------------------------

function showSource(): void {
  const s = $('source-state');
  const parts: string[] = [];
  if (input) parts.push(input.kind === 'tar' ? `tar file ${input.name} (${formatBytes(input.bytes)})` : `folder ${input.name}: ${input.files} files, ${formatBytes(input.bytes)}`);
  if (image) parts.push(`disk image ${image.name} (${formatBytes(image.size)})`);
  s.textContent = parts.length ? parts.join(' · ') : 'Nothing picked yet.';
  s.dataset['picked'] = String(parts.length > 0);
  updateCommand();
}

function pickFailed(err: unknown): void {
  if (err instanceof DOMException && err.name === 'AbortError') return; // the user closed the picker
  showError(err);
}

function wireSources(): void {
  $<HTMLInputElement>('dir-input').addEventListener('change', (e) => {
    const files = (e.target as HTMLInputElement).files;
    try {
      if (files) input = fromFileList(files);
      showSource();
    } catch (err) {
      pickFailed(err);
    }
  });
  $<HTMLInputElement>('tar-input').addEventListener('change', (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) input = fromTarFile(f);
    showSource();
  });
  $<HTMLInputElement>('image-input').addEventListener('change', (e) => {
    image = (e.target as HTMLInputElement).files?.[0];
    showSource();
  });
  const picker = () => (globalThis as { showDirectoryPicker?: () => Promise<Parameters<typeof fromDirectoryHandle>[0]> }).showDirectoryPicker;
  const handleButton = $<HTMLButtonElement>('dir-handle');
  if (picker()) {
    handleButton.hidden = false;
    handleButton.addEventListener('click', () => {
      picker()!()
        .then(fromDirectoryHandle)
        .then((x) => {
          input = x;
          showSource();
        })
        .catch(pickFailed);
    });
  }
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    drop.classList.add('over');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    const item = e.dataTransfer?.items[0];
    const entry = item?.webkitGetAsEntry();
    const file = item?.getAsFile();
    (async () => {
      if (entry?.isDirectory) input = await fromDroppedEntry(entry);
      else if (file && /\.tar$/i.test(file.name)) input = fromTarFile(file);
      else if (file) image = file;
      showSource();
    })().catch(pickFailed);
  });
}

// ---- build ------------------------------------------------------------------------------------

function showError(err: unknown): void {
  const box = $('error');
  if (err instanceof ImgkitError) {
    // The CLI's line (packages/cli/src/common.ts runCommand): message, then the code.
    box.textContent = `imgkit: ${err.message} [${err.code}]`;
    box.dataset['code'] = err.code;
  } else {
    box.textContent = `imgkit: ${err instanceof Error ? err.message : String(err)}`;
    box.dataset['code'] = '';
  }
  box.hidden = false;
}

function clearResult(): void {
  $('error').hidden = true;
  $('error').textContent = '';
  $('report').replaceChildren();
  $('download-row').hidden = true;
  if (downloadUrl) URL.revokeObjectURL(downloadUrl);
  downloadUrl = undefined;
}

function progressText(c: Counters, total: number, files: number): string {
  const read = total > 0 ? `read ${formatBytes(c.bytesRead)} of ${formatBytes(total)}` : `read ${formatBytes(c.bytesRead)}`;
  const entries = kind === 'convert' ? '' : `${c.entries} entries walked · ${c.filesRead}${files ? `/${files}` : ''} files read · `;
  return `${entries}${read} · wrote ${formatBytes(c.bytesWritten)}`;
}

async function openSink(target: SaveTarget, name: string): Promise<SaveSink> {
  switch (target) {
    case 'file':
      return pickFileSink(name);
    case 'opfs':
      return opfsSink(name);
    case 'memory':
      return new BlobSink(name);
    case 'stream':
      return StreamDownloadSink.open(name);
  }
}

function poolFor(req: JobRequest): WorkerPool {
  const workers = Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2));
  const url = new URL('worker.js', location.href);
  let compress: boolean;
  if (req.kind === 'cpio') compress = CPIO_CODEC[String(req.values['--compress'] ?? 'gzip')] !== undefined;
  else if (req.kind === 'squashfs') compress = true;
  else if (req.kind === 'convert') compress = imageCodec(imageOptions(req.values)).compress;
  else if (req.kind === 'disk') compress = true; // squashfs partitions, compressed containers (as the CLI: a pool)
  else compress = false; // ISO, FAT and ext4 compress nothing: no workers to start (as the CLI)
  return compress ? createBrowserPool({ workers, workerUrl: url }) : inlinePool();
}

async function build(): Promise<void> {
  if (running) return;
  clearResult();
  const target = (document.querySelector<HTMLInputElement>('input[name=target]:checked')?.value ?? 'memory') as SaveTarget;
  const values = formValues();
  const req: JobRequest = { kind, values };
  if (input) req.input = input;
  if (image) req.image = image;
  const name = outputName(req);
  const controller = new AbortController();
  running = controller;
  setState('running');
  $<HTMLButtonElement>('build-button').disabled = true;
  $<HTMLButtonElement>('cancel-button').disabled = false;
  const counters = newCounters();
  const total = outputDef(kind).input === 'image' ? (image?.size ?? 0) : (input?.bytes ?? 0);
  const bar = $<HTMLProgressElement>('progress');
  const text = $('progress-text');
  const tick = () => {
    bar.value = total > 0 ? Math.min(1, counters.bytesRead / total) : 0;
    text.textContent = progressText(counters, total, input?.files ?? 0);
  };
  const timer = setInterval(tick, 100);
  const warnings: string[] = [];
  const seen = new Map<string, number>();
  const onWarning = (w: ImgkitWarning) => {
    // The CLI's printWarning: ten of each code, then one line.
    const n = (seen.get(w.code) ?? 0) + 1;
    seen.set(w.code, n);
    const where = w.path !== undefined ? `${w.path}${w.line !== undefined ? `:${w.line}` : ''}: ` : w.line !== undefined ? `line ${w.line}: ` : '';
    if (n <= 10) warnings.push(`imgkit: warning: ${where}${w.detail}`);
    else if (n === 11) warnings.push(`imgkit: warning: more warnings like the last (${w.code}) are not printed; pass --strict to stop at the first`);
  };
  let pool: WorkerPool | undefined;
  const started = performance.now();
  try {
    if (target === 'stream') {
      const why = seekableReason(req);
      if (why) {
        throw new ImgkitError(ErrorCodes.SINK_UNSUPPORTED, {
          format: kind,
          detail: `this writer needs a seekable output: ${why}; a streamed download only appends`,
          hint: "save with 'Save as…', to the browser's storage (OPFS) or in memory",
        });
      }
    }
    const sink = await openSink(target, name); // first: the save picker needs the click's activation
    // Test hook (test/web.test.ts, cancel): a test may hold the job here until it has clicked
    // Cancel, so the cancel is proved without racing the build. Unset in normal use.
    await (globalThis as { __imgkitTestGate?: Promise<void> }).__imgkitTestGate;
    pool = poolFor(req);
    const { sink: tracked, captured } = trackSink(sink, counters, controller.signal);
    const result = await withSink(tracked, (s) => runJob(req, s, { pool: pool!, signal: controller.signal, counters, onWarning }));
    tick();
    const saved = await sink.saved();
    const decoded = decodeCaptured(captured, result);
    $('report').replaceChildren(renderReport(result, decoded, saved.name, (performance.now() - started) / 1000, warnings));
    if (!saved.inPlace && saved.file) {
      downloadUrl = URL.createObjectURL(saved.file);
      const a = $<HTMLAnchorElement>('download');
      a.href = downloadUrl;
      a.download = saved.name;
      a.textContent = `Download ${saved.name} (${formatBytes(saved.file.size)})`;
      $('download-note').textContent = target === 'opfs' ? 'from the browser’s storage' : 'from memory';
      $('download-row').hidden = false;
    } else if (saved.inPlace) {
      $('download-note').textContent = target === 'file' ? `saved as ${saved.name}` : 'the browser is downloading it';
    }
    setState('done');
  } catch (err) {
    tick();
    if (isCancel(err)) {
      $('error').textContent = 'Cancelled: nothing was saved.';
      $('error').dataset['code'] = 'cancelled';
      $('error').hidden = false;
      setState('cancelled');
    } else {
      showError(err);
      if (warnings.length) $('report').replaceChildren(Object.assign(document.createElement('pre'), { className: 'warnings', textContent: warnings.join('\n') }));
      setState('error');
    }
  } finally {
    clearInterval(timer);
    await pool?.close().catch(() => {});
    running = undefined;
    $<HTMLButtonElement>('build-button').disabled = outputDef(kind).pending !== undefined;
    $<HTMLButtonElement>('cancel-button').disabled = true;
  }
}

function wireRun(): void {
  $('build-button').addEventListener('click', () => void build());
  $('cancel-button').addEventListener('click', () => running?.abort());
}

// ---- offline ----------------------------------------------------------------------------------

function registerServiceWorker(): void {
  const state = $('offline-state');
  const sw = navigator.serviceWorker;
  if (!sw) {
    state.textContent = 'offline: this browser has no service workers';
    return;
  }
  const show = () => {
    const ready = sw.controller !== null;
    state.textContent = ready ? 'offline: ready (this page works without the network now)' : 'offline: preparing…';
    document.body.dataset['offline'] = String(ready);
    if (ready) renderTargetsOnly();
  };
  sw.addEventListener('controllerchange', show);
  sw.register('sw.js').then(show, (err: unknown) => (state.textContent = `offline: not available (${err instanceof Error ? err.message : String(err)})`));
  show();
}

/** The stream target appears once the service worker controls the page. */
function renderTargetsOnly(): void {
  const available = availableTargets();
  for (const r of document.querySelectorAll<HTMLInputElement>('input[name=target]')) {
    const ok = available.includes(r.value as SaveTarget);
    if (ok && r.disabled) {
      r.disabled = false;
      r.parentElement!.lastChild!.textContent = ` ${TARGET_LABELS[r.value as SaveTarget]}`;
    }
  }
}

renderForms();
wireSources();
wireRun();
registerServiceWorker();
setState('idle');

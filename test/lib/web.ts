/**
 * Driving the web page (apps/web) in Debian's Chromium through playwright-core: build the page
 * into a temporary folder, serve it from 127.0.0.1 with the app's own static server, launch
 * /usr/bin/chromium headless with the flags of test/browser.test.ts, and work the page the way a
 * person does — the real file inputs, the form fields by their CLI flags, the Build button, the
 * Download link.
 */
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildWeb, type BuiltWeb } from '../../apps/web/scripts/build.ts';
import { serveDir, type Served } from '../../apps/web/scripts/serve.ts';
import { requireTool, tempDir } from './tools.ts';

export { CHROMIUM_FLAGS } from './chromium.ts';
import { CHROMIUM_FLAGS } from './chromium.ts';

export interface WebSession {
  built: BuiltWeb;
  served: Served;
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console lines and page errors, for failure messages. */
  log: string[];
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  const executablePath = requireTool('chromium', 'chromium');
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_FLAGS, timeout: 60_000 });
}

/** Build, serve, open the page, and wait until it is idle. */
export async function openWebPage(): Promise<WebSession> {
  const dir = await tempDir('web');
  const built = await buildWeb(join(dir, 'site'));
  const served = await serveDir(built.outdir);
  const browser = await launchChromium();
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1100, height: 1400 } });
  const page = await context.newPage();
  const log: string[] = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  await page.goto(served.url);
  await page.waitForSelector('body[data-state=idle]');
  return {
    built,
    served,
    browser,
    context,
    page,
    log,
    async close() {
      await browser.close().catch(() => {});
      await served.close();
    },
  };
}

/** The real `<input webkitdirectory>`: Chromium lists the folder's files (not its empty folders or symlinks). */
export async function pickFolder(page: Page, dir: string): Promise<void> {
  await page.setInputFiles('#dir-input', dir);
  await page.waitForSelector('#source-state[data-picked=true]');
}

export async function pickFile(page: Page, selector: string, file: string | null): Promise<void> {
  await page.setInputFiles(selector, file === null ? [] : file);
}

export async function chooseKind(page: Page, kind: string): Promise<void> {
  await page.check(`input[name=kind][value=${kind}]`);
}

export async function chooseTarget(page: Page, target: 'file' | 'opfs' | 'memory' | 'stream'): Promise<void> {
  await page.check(`input[name=target][value=${target}]`);
}

/** Set form fields by CLI flag: text and selects take strings, checkboxes booleans, file inputs paths (null clears). */
export async function setFields(page: Page, fields: Record<string, string | boolean | { file: string | null }>): Promise<void> {
  for (const [flag, value] of Object.entries(fields)) {
    const sel = `[data-flag="${flag}"]`;
    const tag = await page.$eval(sel, (e) => `${e.tagName}:${(e as HTMLInputElement).type}`);
    if (typeof value === 'boolean') await page.setChecked(sel, value);
    else if (typeof value === 'object') await page.setInputFiles(sel, value.file === null ? [] : value.file);
    else if (tag.startsWith('SELECT')) await page.selectOption(sel, value);
    else await page.fill(sel, value);
  }
}

export interface BuildOutcome {
  state: string;
  /** The error box's text and code, when the build failed. */
  error: string;
  code: string;
  /** Whether the page offers a download link. */
  downloadOffered: boolean;
  report: string;
}

/** Click Build and wait until the page is done, failed or cancelled. */
export async function clickBuild(page: Page, timeoutMs = 300_000): Promise<BuildOutcome> {
  await page.click('#build-button');
  await page.waitForSelector('body:not([data-state=running]):not([data-state=idle])', { timeout: timeoutMs });
  return outcome(page);
}

export async function outcome(page: Page): Promise<BuildOutcome> {
  return page.evaluate(() => {
    const err = document.getElementById('error')!;
    return {
      state: document.body.dataset['state'] ?? '',
      error: err.hidden ? '' : (err.textContent ?? ''),
      code: err.hidden ? '' : (err.dataset['code'] ?? ''),
      downloadOffered: !document.getElementById('download-row')!.hidden,
      report: document.getElementById('report')!.innerText,
    };
  });
}

/** Click the Download link and save what the browser downloads. */
export async function saveDownload(page: Page, to: string): Promise<string> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await download.saveAs(to);
  return download.suggestedFilename();
}

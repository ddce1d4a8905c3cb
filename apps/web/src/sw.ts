/**
 * The page's service worker: makes the page work offline once loaded, and serves streamed downloads.
 *
 * Offline: on install it caches every file of the build (the list and a version hash are put in
 * by scripts/build.ts), then answers same-origin GETs from that cache first (the page, its worker
 * bundle, liblzma.wasm); a new build has a new hash, so a new cache replaces the old one.
 *
 * Streamed downloads (save.ts StreamDownloadSink): the page posts { type: 'imgkit-download', id,
 * name } with a MessagePort, then opens /imgkit-download/<id>/<name>; the answer is a
 * ReadableStream whose pull() asks the page for one more chunk, so the page writes only as fast
 * as the download manager takes the bytes.
 */
declare const __IMGKIT_ASSETS__: string[];
declare const __IMGKIT_VERSION__: string;

interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends Event {
  readonly request: Request;
  respondWith(r: Response | Promise<Response>): void;
}
interface Scope {
  addEventListener(type: 'install' | 'activate', f: (e: ExtendableEvent) => void): void;
  addEventListener(type: 'fetch', f: (e: FetchEvent) => void): void;
  addEventListener(type: 'message', f: (e: MessageEvent<{ type?: string; id?: string; name?: string }>) => void): void;
  skipWaiting(): Promise<void>;
  readonly clients: { claim(): Promise<void> };
  readonly registration: { readonly scope: string };
}
const scope = self as unknown as Scope;
const CACHE = `imgkit-${__IMGKIT_VERSION__}`;
const base = new URL(scope.registration.scope);

scope.addEventListener('install', (e) => {
  e.waitUntil(
    caches
      .open(CACHE)
      .then((c) => c.addAll(__IMGKIT_ASSETS__.map((a) => new Request(new URL(a, base), { cache: 'reload' }))))
      .then(() => scope.skipWaiting()),
  );
});

scope.addEventListener('activate', (e) => {
  e.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith('imgkit-') && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => scope.clients.claim()),
  );
});

const downloads = new Map<string, { port: MessagePort; name: string }>();

scope.addEventListener('message', (e) => {
  const port = e.ports[0];
  if (e.data?.type !== 'imgkit-download' || !port || !e.data.id) return;
  downloads.set(e.data.id, { port, name: e.data.name ?? 'image' });
  port.postMessage({ ready: true });
});

function streamDownload(id: string): Response {
  const d = downloads.get(id);
  if (!d) return new Response('this download is over or unknown', { status: 404 });
  downloads.delete(id);
  let next: (() => void) | undefined;
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        d.port.onmessage = (m: MessageEvent<{ chunk?: Uint8Array; done?: boolean; error?: string }>) => {
          if (m.data.chunk) controller.enqueue(m.data.chunk);
          else if (m.data.done) controller.close();
          else if (m.data.error) controller.error(new Error(m.data.error));
          next?.();
          next = undefined;
        };
      },
      pull() {
        d.port.postMessage({ pull: 1 });
        return new Promise<void>((r) => (next = r));
      },
      cancel() {
        d.port.postMessage({ cancelled: true });
      },
    },
    { highWaterMark: 4 },
  );
  const quoted = d.name.replace(/["\\\r\n]/g, '_');
  return new Response(body, {
    headers: {
      'content-type': 'application/octet-stream',
      'content-disposition': `attachment; filename="${quoted}"; filename*=UTF-8''${encodeURIComponent(d.name)}`,
    },
  });
}

scope.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (url.origin !== base.origin || e.request.method !== 'GET') return;
  const rel = url.pathname.slice(base.pathname.length);
  if (rel.startsWith('imgkit-download/')) {
    e.respondWith(streamDownload(rel.split('/')[1] ?? ''));
    return;
  }
  const key = rel === '' ? new URL('index.html', base).href : url.href;
  e.respondWith(
    caches.match(key, { ignoreSearch: true, cacheName: CACHE }).then((hit) => hit ?? fetch(e.request)),
  );
});

/**
 * The peer's HTTP side of content distribution, mounted on its GraphQL
 * server (same host and port):
 *   GET /torrents/<infohash>.torrent   a torrent this peer seeds, with its trackers and web seeds
 *   GET|HEAD /content/[<dir>/]<name>   the web seed (BEP 19): a stored file by name, with Range
 *   GET /announce, /scrape             the tracker (publisher and mirrors only)
 */
import { createReadStream } from 'node:fs'
import { stat } from 'node:fs/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'

export interface ContentHttpSource {
  /** The .torrent for an infohash this peer can seed (seeding starts on request), or undefined. */
  torrentFile: (infoHash: string) => Promise<Uint8Array | undefined>
  /** The stored file for a web seed name, or undefined. */
  fileByName: (name: string) => Promise<{ path: string, unit: string } | undefined>
  /** Called with the bytes each web seed response sent (statistics). */
  onServed: (unit: string, bytes: number) => void
  /** The tracker, when this peer runs one. */
  tracker?: { onHttpRequest: (req: IncomingMessage, res: ServerResponse, opts?: { action?: string }) => void }
}

function plain (res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', ...headers })
  res.end(`${message}\n`)
}

/** One `bytes=` range of a file of `size` bytes: [start, end] inclusive, 'bad' when unsatisfiable, undefined for the whole file. */
export function parseRange (header: string | undefined, size: number): { start: number, end: number } | 'bad' | undefined {
  if (header === undefined || header === '') return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  // Several ranges (multipart/byteranges) are not served: the whole file is a valid answer to them.
  if (m === null) return header.includes(',') ? undefined : 'bad'
  const [, a, b] = m
  if (a === '' && b === '') return 'bad'
  if (a === '') {
    const n = Number(b)
    if (n === 0) return 'bad'
    return { start: Math.max(0, size - n), end: size - 1 }
  }
  const start = Number(a)
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1)
  if (start >= size || end < start) return 'bad'
  return { start, end }
}

/** Handles the routes above; false when the path is not one of them (the caller answers it). */
export function handleContentHttp (source: ContentHttpSource, req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://peer')
  const path = url.pathname
  if (path === '/announce' || path === '/scrape') {
    if (source.tracker === undefined) { plain(res, 404, 'this peer runs no tracker (publishers and mirrors do)'); return true }
    source.tracker.onHttpRequest(req, res, { action: path.slice(1) })
    return true
  }
  const t = /^\/torrents\/([0-9a-fA-F]{40})\.torrent$/.exec(path)
  if (t !== null) {
    void (async () => {
      const bytes = await source.torrentFile(t[1].toLowerCase())
      if (bytes === undefined) { plain(res, 404, `no torrent ${t[1]} on this peer`); return }
      res.writeHead(200, { 'content-type': 'application/x-bittorrent', 'content-length': String(bytes.byteLength), 'cache-control': 'no-store' })
      res.end(Buffer.from(bytes))
    })().catch(() => { if (!res.headersSent) plain(res, 500, 'internal error'); else res.destroy() })
    return true
  }
  if (path.startsWith('/content/')) {
    if (req.method !== 'GET' && req.method !== 'HEAD') { plain(res, 405, 'GET or HEAD only', { allow: 'GET, HEAD' }); return true }
    void serveFile(source, req, res, path).catch(() => { if (!res.headersSent) plain(res, 500, 'internal error'); else res.destroy() })
    return true
  }
  return false
}

async function serveFile (source: ContentHttpSource, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  let name: string
  try { name = decodeURIComponent(path.slice(path.lastIndexOf('/') + 1)) } catch { plain(res, 400, 'bad file name encoding'); return }
  const found = name === '' ? undefined : await source.fileByName(name)
  if (found === undefined) { plain(res, 404, `no file named '${name.slice(0, 200)}' on this peer`); return }
  const size = (await stat(found.path)).size
  const range = parseRange(req.headers.range, size)
  if (range === 'bad') { plain(res, 416, `unsatisfiable range '${String(req.headers.range).slice(0, 100)}' for ${size} bytes`, { 'content-range': `bytes */${size}` }); return }
  const start = range?.start ?? 0
  const end = range?.end ?? size - 1
  const length = size === 0 ? 0 : end - start + 1
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'content-length': String(length), 'accept-ranges': 'bytes', 'cache-control': 'public, max-age=31536000, immutable' }
  if (range !== undefined) headers['content-range'] = `bytes ${start}-${end}/${size}`
  res.writeHead(range !== undefined ? 206 : 200, headers)
  if (req.method === 'HEAD' || length === 0) { res.end(); return }
  const stream = createReadStream(found.path, { start, end })
  let sent = 0
  stream.on('data', (c) => { sent += (c as Buffer).length })
  stream.on('close', () => { if (sent > 0) source.onServed(found.unit, sent) })
  stream.on('error', () => { res.destroy() })
  res.on('close', () => { stream.destroy() })
  stream.pipe(res)
}

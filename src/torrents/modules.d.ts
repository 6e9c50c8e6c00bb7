// Types for the untyped BitTorrent packages: only what src/torrents uses.
declare module 'bencode' {
  const bencode: {
    encode: (value: unknown) => Uint8Array
    decode: (data: Uint8Array, start?: number, end?: number, encoding?: string) => unknown
  }
  export default bencode
}

declare module 'bittorrent-tracker' {
  import type { EventEmitter } from 'node:events'
  import type { IncomingMessage, ServerResponse } from 'node:http'
  export interface TrackerServerOptions {
    http?: boolean
    udp?: boolean
    ws?: boolean
    stats?: boolean
    trustProxy?: boolean
    interval?: number
    filter?: (infoHash: string, params: unknown, cb: (err: Error | null) => void) => void
  }
  export class Server extends EventEmitter {
    constructor (opts?: TrackerServerOptions)
    onHttpRequest (req: IncomingMessage, res: ServerResponse, opts?: { action?: string }): void
    close (cb?: () => void): void
    torrents: Record<string, { peers: { length: number } }>
  }
}

declare module 'fs-chunk-store' {
  export default class FSChunkStore {
    constructor (chunkLength: number, opts: { files: Array<{ path: string, length: number, offset: number }>, length?: number, name?: string })
  }
}

declare module 'webtorrent' {
  import type { EventEmitter } from 'node:events'
  export interface WebTorrentOptions {
    peerId?: string
    dht?: boolean
    lsd?: boolean
    utPex?: boolean
    natUpnp?: boolean
    natPmp?: boolean
    utp?: boolean
    tracker?: boolean | Record<string, unknown>
    torrentPort?: number
    maxConns?: number
    downloadLimit?: number
    uploadLimit?: number
    webSeeds?: boolean
    /** BEP 8 encryption: 0 off, 1 (default) with plaintext fallback, 2 required. */
    secure?: number
  }
  export interface AddOptions {
    path?: string
    announce?: string[]
    urlList?: string[]
    skipVerify?: boolean
    deselect?: boolean
    store?: unknown
    storeCacheSlots?: number
    private?: boolean
    strategy?: string
    /** Unchoked upload slots (rechoke). Default 10. */
    uploads?: number
  }
  export interface Wire {
    remoteAddress?: string
    remotePort?: number
    type?: string
    uploaded: number
    downloaded: number
  }
  export interface TorrentFile {
    name: string
    path: string
    length: number
    offset: number
    downloaded: number
    progress: number
    done: boolean
    select: (priority?: number) => void
    deselect: () => void
    on: (event: 'done', cb: () => void) => void
    once: (event: 'done', cb: () => void) => void
  }
  export interface Torrent extends EventEmitter {
    infoHash: string
    magnetURI: string
    name: string
    files: TorrentFile[]
    length: number
    pieceLength: number
    downloaded: number
    uploaded: number
    received: number
    downloadSpeed: number
    uploadSpeed: number
    numPeers: number
    progress: number
    done: boolean
    ready: boolean
    wires: Wire[]
    torrentFile: Uint8Array
    addPeer: (peer: string) => boolean
    addWebSeed: (url: string) => void
    deselect: (start: number, end: number) => void
    select: (start: number, end: number, priority?: number) => void
    destroy: (opts?: { destroyStore?: boolean }, cb?: (err?: Error) => void) => void
  }
  export default class WebTorrent extends EventEmitter {
    constructor (opts?: WebTorrentOptions)
    torrents: Torrent[]
    torrentPort: number
    add: (torrentId: Uint8Array | string, opts?: AddOptions, onTorrent?: (t: Torrent) => void) => Torrent
    get: (torrentId: string) => Promise<Torrent | null>
    remove: (torrentId: string | Torrent, opts?: { destroyStore?: boolean }, cb?: (err?: Error) => void) => Promise<void>
    address: () => { address: string, family: string, port: number } | null
    destroy: (cb?: (err?: Error) => void) => void
  }
}

declare module 'parse-torrent' {
  export default function parseTorrent (torrentId: Uint8Array | string): Promise<Record<string, unknown>>
}

/**
 * A hostile seeder for the e2e test: joins a unit's swarm (same torrent,
 * so the same infohash) with a copy whose bytes are flipped in places, and
 * claims every piece (skipVerify), announcing to the given trackers.
 * node bin/run-ts.js test/e2e/corrupt-seeder.ts TORRENT_FILE CORRUPT_FILE TRACKER_URL...
 * Prints `port N` once listening and `uploaded N` every second.
 */
import '../../src/shims/index.ts'
import { readFile } from 'node:fs/promises'
import WebTorrent from 'webtorrent'
import FSChunkStore from 'fs-chunk-store'

const [torrentFile, corruptFile, ...trackers] = process.argv.slice(2)
const client = new WebTorrent({ dht: false, lsd: false, natUpnp: false, natPmp: false, utp: false, webSeeds: false })
client.on('error', (err) => { process.stderr.write(`corrupt seeder: ${String(err)}\n`) })
client.once('listening', () => { process.stdout.write(`port ${client.address()?.port ?? 0}\n`) })
const store = function (this: unknown, chunkLength: number, opts: { files: Array<{ length: number, offset: number }>, length: number }) {
  return new FSChunkStore(chunkLength, { files: [{ path: corruptFile, length: opts.files[0].length, offset: 0 }], length: opts.length })
}
const torrent = client.add(new Uint8Array(await readFile(torrentFile)), { announce: trackers, urlList: [], skipVerify: true, store, storeCacheSlots: 0 })
torrent.on('error', (err) => { process.stderr.write(`corrupt seeder torrent: ${String(err)}\n`) })
setInterval(() => { process.stdout.write(`uploaded ${torrent.uploaded}\n`) }, 1000)

/**
 * The landing page at `/`: who this peer is and where GraphiQL lives. Plain
 * HTML with no external resource, like everything this server sends.
 */
import type { PeerInfo } from '../actors/types.ts'

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

export function landingPage (info: PeerInfo, graphqlPath: string, consolePath?: string): string {
  const addresses = info.addresses.length === 0 ? '(none until the distributed index)' : info.addresses.map(escapeHtml).join('<br>')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edos peer</title>
<style>body{font:15px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}code{background:#eee;padding:0 .2em}</style>
</head><body>
<h1>edos peer</h1>
<p>Role: <b>${escapeHtml(info.role)}</b><br>Peer id: <code>${escapeHtml(info.id)}</code><br>Addresses: ${addresses}</p>
${consolePath === undefined ? '' : `<p><a href="${consolePath}">Console</a>: the Publisher and Client/Mirror views of this peer (publish, channels, queries, downloads, network).</p>\n`}<p><a href="${graphqlPath}">GraphiQL</a>: query this peer in the browser (works offline).</p>
<p>GraphQL endpoint: <code>${graphqlPath}</code> (HTTP POST/GET, SSE with <code>Accept: text/event-stream</code>,
graphql-ws over WebSocket on the same path). Health: <a href="/healthz">/healthz</a>.</p>
</body></html>
`
}

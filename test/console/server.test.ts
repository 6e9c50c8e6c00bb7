import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'

describe('console route', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let origin: string
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-console-route-'))
    peer = await EmbeddedPeer.start({ data })
    server = await startServer({ peer, port: 0 })
    origin = new URL(server.url).origin
  })
  afterAll(async () => {
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  it('is linked from the landing page and its URL is the server\'s', async () => {
    expect(server.consoleUrl).toBe(`${origin}/console/`)
    const landing = await (await fetch(`${origin}/`)).text()
    expect(landing).toContain('<a href="/console/">Console</a>')
  })

  it('serves the page, its stylesheet and its bundled script from this origin only', async () => {
    const page = await fetch(server.consoleUrl)
    expect(page.status).toBe(200)
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const csp = page.headers.get('content-security-policy') ?? ''
    expect(csp).toContain("default-src 'self'")
    expect(csp).toContain(`connect-src 'self' ws://${new URL(origin).host} wss://${new URL(origin).host};`)
    const html = await page.text()
    expect(html).toContain('<script type="module" src="console.js">')
    // Nothing in the page names another host: no CDN, no web font, no analytics.
    expect(html).not.toMatch(/(?:src|href)="(?:https?:)?\/\//)

    const css = await fetch(`${server.consoleUrl}console.css`)
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8')
    expect(await css.text()).not.toMatch(/url\(\s*['"]?(?:https?:)?\/\//)

    const js = await fetch(`${server.consoleUrl}console.js`)
    expect(js.status).toBe(200)
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    const code = await js.text()
    // Bundled: no bare import left for the browser to resolve, graphql-ws's client inside.
    expect(code).not.toMatch(/^\s*import\s/m)
    expect(code).toContain('graphql-transport-ws')
    expect(code).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)[a-z]/i)
  })

  it('redirects /console, refuses writes and unknown files', async () => {
    const r = await fetch(`${origin}/console`, { redirect: 'manual' })
    expect(r.status).toBe(308)
    expect(r.headers.get('location')).toBe('/console/')
    expect((await fetch(`${server.consoleUrl}`, { method: 'POST', body: 'x' })).status).toBe(405)
    expect((await fetch(`${server.consoleUrl}nope.js`)).status).toBe(404)
    expect((await fetch(`${server.consoleUrl}../package.json`)).status).toBe(404)
    expect((await fetch(`${server.consoleUrl}main.ts`)).status).toBe(404)
    expect((await fetch(`${server.consoleUrl}toString`)).status).toBe(404)
    const head = await fetch(server.consoleUrl, { method: 'HEAD' })
    expect(head.status).toBe(200)
  })
})

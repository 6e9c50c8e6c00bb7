import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser } from 'playwright-core'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'

const CHROMIUM = '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM) console.warn(`GraphiQL offline test skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`)

/** Requests the page may make: this server, and the in-page blob:/data: URLs GraphiQL builds for its workers. */
function isLocal (url: string, origin: string): boolean {
  return url.startsWith(origin) || url.startsWith('blob:') || url.startsWith('data:')
}

describe.skipIf(!HAVE_CHROMIUM)('GraphiQL with no internet (headless Chromium)', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let browser: Browser
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-graphiql-'))
    peer = await EmbeddedPeer.start({ data })
    server = await startServer({ peer, port: 0 })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000
    })
  })
  afterAll(async () => {
    await browser?.close()
    await server?.close()
    await peer?.stop()
    await rm(data, { recursive: true, force: true })
  })

  it('loads from the peer alone, runs a typed query and shows the answer', async () => {
    const origin = new URL(server.url).origin
    const context = await browser.newContext()
    const page = await context.newPage()
    const requests: string[] = []
    page.on('request', (r) => { requests.push(r.url()) })
    // Anything leaving the machine fails at once instead of hanging (and is counted above).
    await context.route((url) => !isLocal(url.toString(), origin), async (route) => { await route.abort('internetdisconnected') })
    try {
      const landing = await page.goto(`${origin}/`, { timeout: 15_000 })
      expect(landing?.status()).toBe(200)
      await page.click('a[href="/graphql"]', { timeout: 15_000 })
      await page.waitForSelector('.graphiql-query-editor', { timeout: 30_000 })
      expect(await page.title()).toBe('edos GraphiQL')

      // Type a query over the default one, then run it (Ctrl+Enter).
      await page.click('.graphiql-query-editor .view-lines', { timeout: 15_000 })
      await page.keyboard.press('Control+A')
      await page.keyboard.press('Delete')
      // The editor closes braces itself, and its autocomplete (from the
      // schema, introspected over loopback) pops up: dismiss it.
      await page.keyboard.type('{ stats { terms documents', { delay: 10 })
      // On a busy machine the suggestions can open after the Escape meant for them, and then they cover the run button:
      // dismiss them until none shows for a moment (bounded).
      for (let i = 0; i < 20; i++) {
        await page.keyboard.press('Escape')
        await page.waitForTimeout(250)
        if (await page.locator('.suggest-widget.visible').count() === 0) break
      }
      await page.click('.graphiql-execute-button', { timeout: 15_000 })
      const shown = async (): Promise<string> => await page.evaluate(() => document.querySelector('.graphiql-response')?.textContent ?? '')
      await page.waitForFunction(() => {
        const text = document.querySelector('.graphiql-response')?.textContent ?? ''
        return /"terms":\s*0/.test(text) && /"documents":\s*0/.test(text)
      }, undefined, { timeout: 30_000 }).catch(async (err: Error) => { throw new Error(`${err.message}; the response panel shows: ${await shown()}`) })

      const outside = requests.filter((u) => !isLocal(u, origin))
      expect(outside).toEqual([])
      expect(requests.some((u) => u.startsWith(server.url))).toBe(true)
    } finally {
      await context.close()
    }
  })
})

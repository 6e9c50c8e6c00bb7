/**
 * The console in headless Chromium against one embedded peer holding real
 * Debian metadata: every view opens, a query runs from the structured form,
 * a syntax error shows at its position, a channel is created, a release is
 * published from the console with its bar at 100%, a download ends FAILED
 * with its reason shown (no content distribution yet), a channel
 * notification reaches the feed, and nothing leaves the machine. Screenshots
 * of each view go to test-results/console/.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type Page } from 'playwright-core'
import { EmbeddedPeer } from '../../src/actors/index.ts'
import { startServer, type EdosServer } from '../../src/server/index.ts'
import { buildPattern } from '../../src/server/console/web/pattern.ts'

const CHROMIUM = '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM) console.warn(`console browser test skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`)

const FIXTURES = resolve('test/fixtures')
const SHOTS = resolve('test-results/console')
const T = { timeout: 20_000 }

/** The page's own origin, and the blob:/data: URLs a page may build itself. */
function isLocal (url: string, origin: string): boolean {
  return url.startsWith(origin + '/') || url === origin || url.startsWith('blob:') || url.startsWith('data:')
}

describe.skipIf(!HAVE_CHROMIUM)('web console (headless Chromium, one embedded peer)', () => {
  let data: string
  let peer: EmbeddedPeer
  let server: EdosServer
  let browser: Browser
  let origin: string
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'edos-console-'))
    peer = await EmbeddedPeer.start({ data })
    await peer.publish([{ kind: 'path', path: join(FIXTURES, 'bookworm-slice.Packages.xz') }], { release: 'bookworm', format: 'debian' })
    server = await startServer({ peer, port: 0 })
    origin = new URL(server.url).origin
    await mkdir(SHOTS, { recursive: true })
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

  async function view (page: Page, name: string): Promise<void> {
    await page.click(`nav a[data-view="${name}"]`, T)
    await page.waitForSelector(`body[data-view="${name}"][data-ready="true"]`, T)
    await page.waitForSelector(`#view-${name}:not([hidden])`, T)
  }

  it('publishes, queries, shows errors and failures, and makes no external request', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
    const page = await context.newPage()
    const requests: string[] = []
    const sockets: string[] = []
    const pageErrors: string[] = []
    page.on('request', (r) => { requests.push(r.url()) })
    page.on('websocket', (ws) => { sockets.push(ws.url()) })
    page.on('pageerror', (e) => { pageErrors.push(e.message) })
    // Anything leaving the machine fails at once instead of hanging (and is counted above).
    await context.route((url) => !isLocal(url.toString(), origin), async (route) => { await route.abort('internetdisconnected') })
    try {
      // The landing page links the console; a publisher opens on the Publisher view.
      await page.goto(`${origin}/`, T)
      await page.click('a[href="/console/"]', T)
      await page.waitForSelector('body[data-view="publisher"][data-ready="true"]', T)
      expect(await page.textContent('#peer-line')).toContain('publisher')
      await page.waitForSelector('#releases [data-release="bookworm"]', T)

      // A mutation without the token is refused, with the way out named.
      await page.fill('#ch-name', 'net')
      await page.fill('#ch-description', 'Network tools')
      await page.fill('#ch-filter', '/package[section = "net"]')
      await page.click('#channel-form button[type=submit]')
      await page.waitForSelector('#channel-status.error', T)
      expect(await page.textContent('#channel-status')).toMatch(/API token/)

      // With the token (typed in the header, kept for the tab), the channel is created.
      const token = (await readFile(join(data, 'api-token'), 'utf8')).trim()
      await page.fill('#token', token)
      await page.press('#token', 'Enter')
      await page.click('#channel-form button[type=submit]')
      await page.waitForSelector('#channel-table tr[data-channel="net"]', T)
      expect(await page.textContent('#channel-table tr[data-channel="net"]')).toContain('/package[section = "net"]')

      // Publish a small real release from an uploaded file: the bar ends at 100%.
      await page.fill('#pub-name', 'bookworm-updates')
      await page.setInputFiles('#pub-files', join(FIXTURES, 'bookworm-updates.Packages.xz'))
      await page.click('#publish-form button[type=submit]')
      await page.waitForSelector('#publish-status.ok', T)
      expect(await page.textContent('#publish-status')).toMatch(/^Published 38 units into bookworm-updates \(0 rejected, \d+ replaced\)/)
      const bar = await page.$eval('#publish-progress progress', (p) => ({ value: (p as HTMLProgressElement).value, max: (p as HTMLProgressElement).max }))
      expect(bar.max).toBeGreaterThan(1)
      expect(bar.value).toBe(bar.max)
      expect(await page.textContent('#publish-progress .pct')).toBe('100%')
      // Units and bytes come from publishProgress events over graphql-ws, not from the mutation's answer.
      expect(await page.textContent('#publish-progress')).toMatch(/done, 6\.\d KiB of 6\.\d KiB read, 38 units/)
      expect(await page.textContent('#live')).toBe('live updates: on')
      await page.waitForSelector('#releases [data-release="bookworm-updates"]', T)
      // The same form publishes from a path on the peer's machine (an RPM repository this time).
      await page.check('#publish-form input[name=source][value=paths]')
      await page.fill('#pub-name', 'dnf-test')
      await page.fill('#pub-path-list', join(FIXTURES, 'rpm', 'dnf-tests-repos-rpm-primary.xml.gz'))
      await page.click('#publish-form button[type=submit]')
      await page.waitForFunction(() => /^Published \d+ units into dnf-test/.test(document.querySelector('#publish-status.ok')?.textContent ?? ''), undefined, T)
      expect(await page.textContent('#publish-progress .pct')).toBe('100%')
      await page.waitForSelector('#releases [data-release="dnf-test"]', T)

      // The collection tree opens from the keyboard.
      await page.focus('#releases [data-release="bookworm-updates"] > details > summary')
      await page.keyboard.press('Enter')
      await page.waitForSelector('#releases [data-release="bookworm-updates"] details[open] details summary', T)
      await page.screenshot({ path: join(SHOTS, 'publisher.png'), fullPage: true })

      // Client view: the structured form writes the pattern and runs it.
      await view(page, 'client')
      await page.fill('#f-section', 'libs')
      await page.fill('#f-words', 'library')
      await page.selectOption('#f-select', 'name')
      await page.click('#build-form button[type=submit]')
      await page.waitForSelector('#result-table tbody tr', T)
      expect(await page.inputValue('#pattern')).toBe(buildPattern({ section: 'libs', words: 'library', select: 'name' }))
      const count = await page.textContent('#result-count')
      const total = Number(/of ([\d,]+)/.exec(count ?? '')?.[1].replace(/,/g, ''))
      const expected = await peer.search(buildPattern({ section: 'libs', words: 'library', select: 'name' }), 1)
      expect(total).toBe(expected.total)
      expect(total).toBeGreaterThan(20)
      // Paging: the second page starts where the first ended.
      await page.click('text=Next page')
      await page.waitForFunction(() => /^Answers 21–/.test(document.querySelector('#result-count')?.textContent ?? ''), undefined, T)
      await page.click('text=Previous page')
      await page.waitForFunction(() => /^Answers 1–20 /.test(document.querySelector('#result-count')?.textContent ?? ''), undefined, T)

      // A result opens to its package's metadata; Explain shows the plan of the pattern.
      await page.click('#result-table tbody tr:first-child details.doc > summary')
      await page.waitForSelector('#result-table tbody tr:first-child details.doc dl.kv', T)
      expect(await page.textContent('#result-table tbody tr:first-child details.doc')).toMatch(/SectionlibsPriority/)
      await page.click('#explain-button')
      await page.waitForSelector('#explain table', T)
      expect(await page.textContent('#explain')).toContain(`${total} answers`)

      // Select two packages and download them: with no content network yet, it fails and says why.
      const boxes = await page.$$('#result-table input[type=checkbox]')
      await boxes[0].check()
      await boxes[1].check()
      await page.click('#download-selected')
      await page.waitForSelector('#downloads .download[data-state="FAILED"] .download-error', T)
      expect(await page.textContent('#downloads .download[data-state="FAILED"]')).toMatch(/Failed: .+/)
      expect(await page.textContent('#throughput-summary')).toMatch(/No bytes transferred yet/)

      // A syntax error is shown at its position, with the caret in the pattern box there.
      await page.fill('#pattern', '//package[name = ')
      await page.click('#query-form button[type=submit]')
      await page.waitForSelector('#pattern-error .pattern-error[data-position="17"]', T)
      expect(await page.textContent('#pattern-error')).toMatch(/Syntax error at line 1, column 18 \(position 17\)Expected a path, a string or a number/)
      expect(await page.getAttribute('#pattern', 'aria-invalid')).toBe('true')
      expect(await page.$eval('#pattern', (t) => (t as HTMLTextAreaElement).selectionStart)).toBe(17)
      expect(await page.evaluate(() => document.activeElement?.id)).toBe('pattern')

      // Subscribing to the channel replays its log: bookworm-updates' net packages arrive in the feed.
      await page.click('#channel-subscriptions button:has-text("Subscribe to net")', T)
      await page.waitForSelector('#feed .feed-item[data-channel="net"]', T)
      expect(await page.textContent('#feed .feed-item[data-channel="net"]')).toMatch(/net #1 bookworm-updates/)
      await page.screenshot({ path: join(SHOTS, 'client.png'), fullPage: true })

      // The flash-crowd view is a marked place, not a pretend one.
      await view(page, 'flash-crowd')
      expect(await page.getAttribute('#flash-crowd', 'data-placeholder')).toBe('flash-crowd')
      await page.screenshot({ path: join(SHOTS, 'flash-crowd.png'), fullPage: true })

      expect(pageErrors).toEqual([])
      expect(requests.filter((u) => !isLocal(u, origin))).toEqual([])
      expect(sockets.length).toBeGreaterThan(0)
      expect(sockets.every((u) => u === server.wsUrl)).toBe(true)
      expect(requests.some((u) => u === server.url)).toBe(true)
    } catch (err) {
      await page.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true }).catch(() => {})
      throw err
    } finally {
      await context.close()
    }
  })
})

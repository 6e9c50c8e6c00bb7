/**
 * The console in headless Chromium on a running demo network
 * (scripts/demo-network.ts, the smallest sensible slice: a publisher, a
 * mirror and a client as processes on 127.0.0.1, the httpd section of
 * bookworm, trixie and bookworm-security with synthetic content). R1 and R2
 * are published with their content beforehand; then, in the browser:
 * the publisher creates channel `security` (refused without the token
 * first), the client subscribes to it, the publisher publishes R3 from the
 * console (its Packages file and content uploaded through the form) and the
 * notification arrives in the client's feed; the client finds packages with
 * the query form (paging, Explain, a syntax error shown at its position),
 * selects two and downloads them with visible progress to 100%; the
 * publisher opens a flash crowd of R2, the client sends its wish list from
 * its flash-crowd panel, its cluster bars reach 100% and the publisher's
 * view shows the clusters and the cluster map. Screenshots of each view go
 * to test-results/console/; neither page makes a request to any host other
 * than its own peer's.
 */
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core'
import { DEFAULT_DATA, startDemoNetwork, type DemoNetwork, type DemoPeer } from '../../scripts/demo-network.ts'
import { buildPattern } from '../../src/server/console/web/pattern.ts'

const CHROMIUM = '/usr/bin/chromium'
const HAVE_CHROMIUM = existsSync(CHROMIUM)
if (!HAVE_CHROMIUM) console.warn(`console browser test skipped: ${CHROMIUM} is missing (apt-get install chromium; .ci/run does)`)
const HAVE_DATA = existsSync(join(DEFAULT_DATA, 'debian-bookworm-security-main-amd64.Packages.xz'))
if (!HAVE_DATA) console.warn(`console browser test skipped: no Debian Packages files in ${DEFAULT_DATA} (see README, "Demo")`)

const FIXTURES = resolve('test/fixtures')
const SHOTS = resolve('test-results/console')
const T = { timeout: 30_000 }
/** Waits on the network (a publish, a download, a flash crowd) on a loaded 2-core machine. */
const SLOW = { timeout: 120_000 }
const SECTION = 'httpd'
const t0 = Date.now()
const log = (m: string): void => { process.stderr.write(`[e2e console ${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}\n`) }

/** The page's own origin, and the blob:/data: URLs a page may build itself. */
function isLocal (url: string, origin: string): boolean {
  return url.startsWith(origin + '/') || url === origin || url.startsWith('blob:') || url.startsWith('data:')
}

/** A page on one peer's console that records every request and socket, and aborts anything leaving that peer. */
interface Tab { page: Page, origin: string, requests: string[], sockets: string[], errors: string[] }
async function open (context: BrowserContext, peer: DemoPeer): Promise<Tab> {
  const page = await context.newPage()
  const tab: Tab = { page, origin: new URL(peer.url).origin, requests: [], sockets: [], errors: [] }
  page.on('request', (r) => { tab.requests.push(r.url()) })
  page.on('websocket', (ws) => { tab.sockets.push(ws.url()) })
  page.on('pageerror', (e) => { tab.errors.push(e.message) })
  return tab
}

async function view (page: Page, name: string): Promise<void> {
  await page.click(`nav a[data-view="${name}"]`, T)
  await page.waitForSelector(`body[data-view="${name}"][data-ready="true"]`, T)
  await page.waitForSelector(`#view-${name}:not([hidden])`, T)
}

describe.skipIf(!HAVE_CHROMIUM || !HAVE_DATA)('web console on a demo network (headless Chromium)', () => {
  let root: string
  let net: DemoNetwork
  let browser: Browser
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'edos-e2e-console-'))
    await mkdir(SHOTS, { recursive: true })
    net = await startDemoNetwork({ root, sections: [SECTION], limit: 40, mirrors: 1, clients: 1, log })
    log(`peers up: ${net.peers.map((p) => `${p.name} ${p.consoleUrl}`).join(', ')}`)
    for (const r of [net.releases.r1, net.releases.r2]) {
      const s = await net.publish(r, { content: true })
      log(`${s.release}: ${s.units} units, ${s.contentStored} content files at the publisher`)
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000
    })
  }, 420_000)
  afterAll(async () => {
    await browser?.close()
    await net?.stop()
    if (root !== undefined && process.env.EDOS_E2E_KEEP !== '1') await rm(root, { recursive: true, force: true })
  }, 60_000)

  it('publishes, notifies, queries, downloads, runs a flash crowd, and never leaves its peer', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
    const pub = await open(context, net.publisher)
    const cli = await open(context, net.clients[0])
    // Anything leaving the machine fails at once instead of hanging (and is counted above).
    await context.route((url) => !isLocal(url.toString(), pub.origin) && !isLocal(url.toString(), cli.origin), async (route) => { await route.abort('internetdisconnected') })
    const { page: p } = pub
    const { page: c } = cli
    try {
      // The landing page links the console; a publisher opens on the Publisher view with R1 and R2 listed.
      await p.goto(`${pub.origin}/`, T)
      await p.click('a[href="/console/"]', T)
      await p.waitForSelector('body[data-view="publisher"][data-ready="true"]', T)
      expect(await p.textContent('#peer-line')).toContain('publisher')
      await p.waitForSelector('#releases [data-release="bookworm"]', T)
      await p.waitForSelector('#releases [data-release="trixie"]', T)

      // A mutation without the token is refused, with the way out named; with it, channel security exists.
      const filter = `/package[section = "${SECTION}"]`
      await p.fill('#ch-name', 'security')
      await p.fill('#ch-description', 'Security updates')
      await p.fill('#ch-filter', filter)
      await p.click('#channel-form button[type=submit]')
      await p.waitForSelector('#channel-status.error', T)
      expect(await p.textContent('#channel-status')).toMatch(/API token/)
      await p.fill('#token', net.publisher.token)
      await p.press('#token', 'Enter')
      await p.click('#channel-form button[type=submit]')
      await p.waitForSelector('#channel-table tr[data-channel="security"]', T)
      expect(await p.textContent('#channel-table tr[data-channel="security"]')).toContain(filter)

      // The client's console (token handed over in the fragment) subscribes to security once it knows the channel.
      await c.goto(`${net.clients[0].consoleWithToken}`, T)
      await c.waitForSelector('body[data-view="client"][data-ready="true"]', T)
      expect(await c.textContent('#peer-line')).toContain('client')
      await c.waitForFunction(() => document.querySelector('#token-status')?.textContent === 'set', undefined, T)
      const subscribeButton = '#channel-subscriptions button:has-text("Subscribe to security")'
      // The definition reaches the client over gossipsub; a reload reads its channel list again.
      for (let i = 0; i < 30 && await c.$(subscribeButton) === null; i++) {
        await c.waitForTimeout(1000)
        await c.reload(T)
        await c.waitForSelector('body[data-view="client"][data-ready="true"]', T)
      }
      await c.click(subscribeButton, T)
      await c.waitForSelector('#channel-subscriptions button[aria-pressed="true"]', T)
      await c.waitForFunction(() => document.querySelector('#live')?.textContent === 'live updates: on', undefined, T)

      // R3 published from the console: its Packages file and its content files uploaded; the bar ends at 100%.
      const r3 = net.releases.r3.synthetic
      await p.fill('#pub-name', 'bookworm-security')
      await p.setInputFiles('#pub-files', r3.packagesFile)
      const content = (await readdir(r3.filesDir)).map((f) => join(r3.filesDir, f))
      await p.setInputFiles('#pub-content', content)
      await p.click('#publish-form button[type=submit]')
      await p.waitForSelector('#publish-status.ok', SLOW)
      expect(await p.textContent('#publish-status')).toMatch(new RegExp(`^Published ${r3.units.length} units into bookworm-security \\(0 rejected, \\d+ replaced\\).*; ${content.length} content files stored and seeded`))
      const bar = await p.$eval('#publish-progress progress', (x) => ({ value: (x as HTMLProgressElement).value, max: (x as HTMLProgressElement).max }))
      expect(bar.max).toBeGreaterThan(1)
      expect(bar.value).toBe(bar.max)
      expect(await p.textContent('#publish-progress .pct')).toBe('100%')
      expect(await p.textContent('#live')).toBe('live updates: on')
      await p.waitForSelector('#releases [data-release="bookworm-security"]', T)
      // The same form publishes from a path on the peer's machine (an RPM repository this time).
      await p.check('#publish-form input[name=source][value=paths]')
      await p.fill('#pub-name', 'dnf-test')
      await p.fill('#pub-path-list', join(FIXTURES, 'rpm', 'dnf-tests-repos-rpm-primary.xml.gz'))
      await p.click('#publish-form button[type=submit]')
      await p.waitForFunction(() => /^Published \d+ units into dnf-test/.test(document.querySelector('#publish-status.ok')?.textContent ?? ''), undefined, SLOW)
      // The collection tree opens from the keyboard.
      await p.focus('#releases [data-release="bookworm-security"] > details > summary')
      await p.keyboard.press('Enter')
      await p.waitForSelector('#releases [data-release="bookworm-security"] details[open] details summary', T)
      await p.screenshot({ path: join(SHOTS, 'publisher.png'), fullPage: true })
      log('publisher view: channel created, R3 and an RPM repository published')

      // The notification reaches the client's feed over the network.
      await c.waitForSelector('#feed .feed-item[data-channel="security"]', SLOW)
      expect(await c.textContent('#feed .feed-item[data-channel="security"]')).toMatch(/^security #1 bookworm-security, /)

      // The structured form writes the pattern and runs it; paging, Explain.
      const form = { section: SECTION, select: 'name' as const }
      await c.fill('#f-section', SECTION)
      await c.selectOption('#f-select', 'name')
      await c.click('#build-form button[type=submit]')
      await c.waitForSelector('#result-table tbody tr', T)
      expect(await c.inputValue('#pattern')).toBe(buildPattern(form))
      const total = Number(/of ([\d,]+)/.exec(await c.textContent('#result-count') ?? '')?.[1].replace(/,/g, ''))
      const expected = await net.clients[0].gql<{ search: { totalCount: number } }>('query ($p: String!) { search(pattern: $p, first: 1) { totalCount } }', { p: buildPattern(form) })
      expect(total).toBe(expected.search.totalCount)
      expect(total).toBeGreaterThan(20)
      await c.click('text=Next page')
      await c.waitForFunction(() => /^Answers 21–/.test(document.querySelector('#result-count')?.textContent ?? ''), undefined, T)
      await c.click('text=Previous page')
      await c.waitForFunction(() => /^Answers 1–20 /.test(document.querySelector('#result-count')?.textContent ?? ''), undefined, T)
      await c.click('#explain-button')
      await c.waitForSelector('#explain table', T)
      expect(await c.textContent('#explain')).toContain(`${total} answers`)

      // A syntax error is shown at its position, with the caret in the pattern box there.
      await c.fill('#pattern', '//package[name = ')
      await c.click('#query-form button[type=submit]')
      await c.waitForSelector('#pattern-error .pattern-error[data-position="17"]', T)
      expect(await c.textContent('#pattern-error')).toMatch(/Syntax error at line 1, column 18 \(position 17\)Expected a path, a string or a number/)
      expect(await c.$eval('#pattern', (t) => (t as HTMLTextAreaElement).selectionStart)).toBe(17)

      // Two packages of R1, selected and downloaded: the bars go to 100% and the download completes.
      const packages = `/package[section = "${SECTION}"]`
      await c.fill('#pattern', packages)
      await c.click('#query-form button[type=submit]')
      // The answers of the earlier search stay until the new ones are drawn: wait for the table of this pattern.
      await c.waitForFunction((want) => document.querySelector('#result-table caption')?.textContent === want, packages, T)
      const boxes = await c.$$('#result-table input[type=checkbox]')
      await boxes[0].check()
      await boxes[1].check()
      await c.click('#download-selected')
      await c.waitForSelector('#downloads .download[data-state="COMPLETED"]', SLOW)
      const done = '#downloads .download[data-state="COMPLETED"]'
      expect(await c.textContent(`${done} .pct`)).toBe('100%')
      const dl = await c.$eval(`${done} progress`, (x) => ({ value: (x as HTMLProgressElement).value, max: (x as HTMLProgressElement).max }))
      expect(dl.max).toBeGreaterThan(1)
      expect(dl.value).toBe(dl.max)
      expect(await c.textContent(done)).toMatch(/COMPLETED 2 units: /)
      await c.screenshot({ path: join(SHOTS, 'client.png'), fullPage: true })
      log('client view: notification, queries, two packages downloaded')

      // Flash crowd of R2: the publisher opens the window from its console ...
      await view(p, 'flash-crowd')
      expect(await p.isVisible('#fc-start-card')).toBe(true)
      await p.selectOption('#fc-release', 'trixie')
      await p.fill('#fc-window', '120')
      await p.fill('#fc-k', '2')
      await p.fill('#fc-expect', '1')
      await p.click('#fc-start-form button[type=submit]')
      await p.waitForSelector('#fc-start-status.ok', SLOW)
      await p.waitForSelector('#fc-list article[data-release="trixie"][data-side="PUBLISHER"]', T)
      // ... the client hears it and sends its wish list from its flash-crowd panel ...
      await view(c, 'flash-crowd')
      expect(await c.isVisible('#fc-wish-card')).toBe(true)
      await c.waitForSelector('#fc-open .fc-window[data-release="trixie"]', SLOW)
      await c.selectOption('#fc-wish-release', 'trixie')
      await c.click('#fc-wish-form button[type=submit]')
      await c.waitForSelector('#fc-wish-status.ok', SLOW)
      // ... its cluster downloads reach 100% ...
      await c.waitForSelector('#fc-list article[data-release="trixie"][data-state="COMPLETED"]', SLOW)
      const clusters = await c.$$eval('#fc-list .fc-cluster-progress li', (lis) => lis.map((li) => ({ state: li.getAttribute('data-state'), pct: li.querySelector('.pct')?.textContent })))
      expect(clusters.length).toBeGreaterThan(0)
      expect(clusters.every((x) => x.state === 'DONE' && x.pct === '100%')).toBe(true)
      expect(await c.textContent('#fc-list article[data-release="trixie"] .fc-total .pct')).toBe('100%')
      await c.screenshot({ path: join(SHOTS, 'flash-crowd-client.png'), fullPage: true })
      // ... and the publisher's view shows the clusters, their torrents and the cluster map.
      await p.waitForSelector('#fc-list article[data-release="trixie"][data-state="ANNOUNCED"]', SLOW)
      const rows = await p.$$eval('#fc-list .fc-clusters tbody tr', (trs) => trs.map((tr) => tr.querySelector('td.mono')?.textContent ?? ''))
      expect(rows.length).toBeGreaterThan(0)
      expect(rows.length).toBeLessThanOrEqual(2)
      expect(rows.every((ih) => /^[0-9a-f]{40}$/.test(ih))).toBe(true)
      expect(await p.$$eval('#fc-list svg.cluster-map g.cluster-block', (gs) => gs.length)).toBe(rows.length)
      expect(await p.getAttribute('#fc-list svg.cluster-map g.cluster-block', 'aria-label')).toMatch(/^Cluster \S+: \d+ units?, .* wanted by 1 peer, waste /)
      // The table shows peer ids cut to their ends; the cell's title keeps the whole id.
      expect(await p.$$eval('#fc-list .fc-requesters tbody td.mono', (tds) => tds.map((td) => td.getAttribute('title')))).toContain(net.clients[0].peerId)
      await p.focus('#fc-list svg.cluster-map g.cluster-block')
      await p.screenshot({ path: join(SHOTS, 'flash-crowd.png'), fullPage: true })
      log('flash crowd: window opened, wish list sent, clusters downloaded')

      for (const tab of [pub, cli]) {
        expect(tab.errors).toEqual([])
        expect(tab.requests.filter((u) => !isLocal(u, tab.origin))).toEqual([])
        expect(tab.sockets.length).toBeGreaterThan(0)
        expect(tab.sockets.every((u) => u === tab.origin.replace(/^http/, 'ws') + '/graphql')).toBe(true)
        expect(tab.requests).toContain(`${tab.origin}/graphql`)
      }
    } catch (err) {
      await p.screenshot({ path: join(SHOTS, 'failure-publisher.png'), fullPage: true }).catch(() => {})
      await c.screenshot({ path: join(SHOTS, 'failure-client.png'), fullPage: true }).catch(() => {})
      throw err
    } finally {
      await context.close()
    }
  })
})

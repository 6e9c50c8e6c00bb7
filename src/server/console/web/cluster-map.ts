/**
 * The cluster map of a flash crowd: one block per cluster torrent, its area
 * proportional to the cluster's bytes (a squarified treemap, Bruls, Huizing
 * and van Wijk 2000: blocks stay close to squares, so sizes compare at a
 * glance), shaded by how many peers want it, with a red band whose height is
 * the share of the cluster's bytes its requesters receive without wanting
 * them. DOM-free: the layout is tested in Node, the view turns blocks into
 * SVG elements.
 */
import { formatBytes } from './throughput.ts'

export interface MapCluster {
  id: string
  bytes: number
  units: number
  requesters: number
  waste: number
  infoHash?: string | null
}

export interface Rect { x: number, y: number, w: number, h: number }

export interface MapBlock extends Rect {
  id: string
  /** Fill colour (CSS). */
  fill: string
  /** Colour of the text drawn on it. */
  textFill: string
  /** Height of the waste band at the block's top, in the map's units. */
  wasteBand: number
  /** The cluster described in words: the block's accessible name and tooltip. */
  label: string
  /** Short text drawn inside the block, or '' when it does not fit. */
  text: string
}

interface Sized<T> { item: T, area: number }

/** The worst aspect ratio of a row of areas laid along a side of length `side`. */
function worst (areas: readonly number[], side: number): number {
  const sum = areas.reduce((s, a) => s + a, 0)
  const max = Math.max(...areas)
  const min = Math.min(...areas)
  const s2 = side * side
  return Math.max(s2 * max / (sum * sum), (sum * sum) / (s2 * min))
}

/** Lays a finished row along the shorter side of `box`; returns the rest of the box. */
function place<T> (row: Array<Sized<T>>, box: Rect, out: Array<Rect & { item: T }>): Rect {
  const sum = row.reduce((s, r) => s + r.area, 0)
  if (box.w >= box.h) {
    // A column on the left, as wide as the row's area needs.
    const w = sum / box.h
    let y = box.y
    for (const r of row) { const h = r.area / w; out.push({ item: r.item, x: box.x, y, w, h }); y += h }
    return { x: box.x + w, y: box.y, w: box.w - w, h: box.h }
  }
  const h = sum / box.w
  let x = box.x
  for (const r of row) { const w = r.area / h; out.push({ item: r.item, x, y: box.y, w, h }); x += w }
  return { x: box.x, y: box.y + h, w: box.w, h: box.h - h }
}

/**
 * Squarified treemap of `items` in a width × height box: areas proportional
 * to `size(item)`, largest first (ties by the order given). Items of size 0
 * get no rectangle. Deterministic: the same input gives the same layout.
 */
export function squarify<T> (items: readonly T[], size: (item: T) => number, width: number, height: number): Array<Rect & { item: T }> {
  const positive = items.map((item, i) => ({ item, i, s: Math.max(0, size(item)) })).filter((x) => x.s > 0 && Number.isFinite(x.s))
  const total = positive.reduce((s, x) => s + x.s, 0)
  if (total === 0 || width <= 0 || height <= 0) return []
  const scale = (width * height) / total
  const queue: Array<Sized<T>> = positive.sort((a, b) => b.s - a.s || a.i - b.i).map((x) => ({ item: x.item, area: x.s * scale }))
  const out: Array<Rect & { item: T }> = []
  let box: Rect = { x: 0, y: 0, w: width, h: height }
  let row: Array<Sized<T>> = []
  for (const next of queue) {
    const side = Math.min(box.w, box.h)
    if (row.length === 0 || worst([...row.map((r) => r.area), next.area], side) <= worst(row.map((r) => r.area), side)) {
      row.push(next)
    } else {
      box = place(row, box, out)
      row = [next]
    }
  }
  if (row.length > 0) place(row, box, out)
  return out
}

/** Lightness (%) of a cluster's block: 85 for one peer (or none), down to 35 for the most requesters. */
function lightness (requesters: number, maxRequesters: number): number {
  const f = maxRequesters <= 1 ? 0 : Math.min(1, Math.max(0, (requesters - 1) / (maxRequesters - 1)))
  return Math.round(85 - f * 50)
}

/** Darker for clusters more peers want. */
export function requesterShade (requesters: number, maxRequesters: number): string {
  return `hsl(214 62% ${lightness(requesters, maxRequesters)}%)`
}

/** Text on a block: white or near-black, whichever contrasts more with its shade (they cross near 53% lightness). */
export function textColour (requesters: number, maxRequesters: number): string {
  return lightness(requesters, maxRequesters) < 53 ? '#ffffff' : '#0d1b33'
}

export function clusterLabel (c: MapCluster): string {
  const pct = c.bytes > 0 ? c.waste / c.bytes * 100 : 0
  return `Cluster ${c.id}: ${c.units.toLocaleString('en')} unit${c.units === 1 ? '' : 's'}, ${formatBytes(c.bytes)}, ` +
    `wanted by ${c.requesters} peer${c.requesters === 1 ? '' : 's'}, waste ${formatBytes(c.waste)} (${pct.toFixed(1)}%)` +
    (c.infoHash != null ? `, torrent ${c.infoHash.slice(0, 12)}…` : ', not seeded yet')
}

/** Text fits when the block is at least this wide and tall (map units, ~px). */
const TEXT_W = 64
const TEXT_H = 30

/** The blocks of the map, in the treemap's order (largest first). */
export function clusterMap (clusters: readonly MapCluster[], width: number, height: number): MapBlock[] {
  const maxReq = clusters.reduce((m, c) => Math.max(m, c.requesters), 0)
  return squarify(clusters, (c) => c.bytes, width, height).map(({ item: c, x, y, w, h }) => ({
    id: c.id,
    x: round(x),
    y: round(y),
    w: round(w),
    h: round(h),
    fill: requesterShade(c.requesters, maxReq),
    textFill: textColour(c.requesters, maxReq),
    wasteBand: round(c.bytes > 0 ? Math.min(1, c.waste / c.bytes) * h : 0),
    label: clusterLabel(c),
    text: w >= TEXT_W && h >= TEXT_H ? `${c.id}: ${formatBytes(c.bytes)}` : ''
  }))
}

const round = (n: number): number => Math.round(n * 100) / 100

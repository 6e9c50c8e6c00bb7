/// <reference lib="dom" />
/**
 * A dozen lines instead of a framework: elements built from tag, attributes
 * and children, text always as text nodes (peer data is never parsed as HTML).
 */

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | EventListener | null | undefined>

export function h<K extends keyof HTMLElementTagNameMap> (tag: K, attrs: Attrs = {}, ...children: Array<Child | Child[]>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, String(v))
  }
  append(el, children)
  return el
}

export function append (el: Node, children: Array<Child | Child[]>): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue
    el.appendChild(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c)
  }
}

/** Replaces an element's children. */
export function fill (el: Element, ...children: Array<Child | Child[]>): void {
  el.replaceChildren()
  append(el, children)
}

export function byId<T extends HTMLElement = HTMLElement> (id: string): T {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`console: no element #${id}`)
  return el as T
}

/** A labelled <progress> with its percentage as text, for screen readers and eyes. */
export function progressBar (label: string, value: number, max: number): HTMLElement {
  const pct = max > 0 ? Math.min(100, Math.round(value / max * 100)) : 0
  return h('div', { class: 'progress' },
    h('progress', { value: max > 0 ? value : 0, max: max > 0 ? max : 1, 'aria-label': label }),
    h('span', { class: 'pct' }, `${pct}%`))
}

/** Shows a message in a live region; kind 'error' also marks it as an alert. */
export function status (el: HTMLElement, message: string, kind: 'info' | 'ok' | 'error' = 'info'): void {
  el.className = `status ${kind}`
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status')
  el.textContent = message
}

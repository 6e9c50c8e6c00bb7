import { describe, expect, it } from 'vitest'
import { EventBus } from '../../src/roles/events.ts'

describe('EventBus', () => {
  it('delivers to every subscriber in order, filtered', async () => {
    const bus = new EventBus<number>()
    const all = bus.subscribe()
    const even = bus.subscribe({ filter: (n) => n % 2 === 0 })
    for (let i = 1; i <= 4; i++) bus.publish(i)
    const got: number[] = []
    for (let i = 0; i < 4; i++) got.push((await all.next()).value as number)
    expect(got).toEqual([1, 2, 3, 4])
    expect([(await even.next()).value, (await even.next()).value]).toEqual([2, 4])
  })

  it('drops the oldest events of a slow subscriber and counts them; publishers never wait', async () => {
    const bus = new EventBus<number>({ capacity: 3 })
    const slow = bus.subscribe()
    for (let i = 1; i <= 10; i++) bus.publish(i)
    expect(slow.dropped).toBe(7)
    expect(slow.buffered).toBe(3)
    expect([(await slow.next()).value, (await slow.next()).value, (await slow.next()).value]).toEqual([8, 9, 10])
  })

  it('wakes a waiting reader and ends on abort, on break and on close', async () => {
    const bus = new EventBus<string>()
    const ac = new AbortController()
    const sub = bus.subscribe({ signal: ac.signal })
    const pending = sub.next()
    bus.publish('a')
    expect(await pending).toEqual({ value: 'a', done: false })
    const waiting = sub.next()
    ac.abort()
    expect((await waiting).done).toBe(true)
    expect(bus.subscriberCount).toBe(0)

    const other = bus.subscribe()
    bus.publish('x')
    for await (const e of other) { expect(e).toBe('x'); break }
    expect(bus.subscriberCount).toBe(0)

    const last = bus.subscribe()
    bus.close()
    expect((await last.next()).done).toBe(true)
    const pre = new AbortController(); pre.abort()
    expect((await bus.subscribe({ signal: pre.signal }).next()).done).toBe(true)
  })
})

/**
 * Gathers the single-key lookups made in one tick into one batched call:
 * the engine and the roles ask key by key, the network answers a batch in
 * one request per holder.
 */
export class Coalescer<K, V> {
  private pending: Map<K, Array<{ resolve: (v: V) => void, reject: (e: unknown) => void }>> | undefined

  constructor (private readonly batch: (keys: K[]) => Promise<V[]>) {}

  get (key: K): Promise<V> {
    return new Promise<V>((resolve, reject) => {
      let pending = this.pending
      if (pending === undefined) {
        pending = this.pending = new Map()
        const mine = pending
        queueMicrotask(() => {
          this.pending = undefined
          const keys = [...mine.keys()]
          this.batch(keys).then(
            (values) => keys.forEach((k, i) => { for (const w of mine.get(k) ?? []) w.resolve(values[i]) }),
            (err: unknown) => { for (const ws of mine.values()) for (const w of ws) w.reject(err) }
          )
        })
      }
      const waiting = pending.get(key)
      if (waiting === undefined) pending.set(key, [{ resolve, reject }]); else waiting.push({ resolve, reject })
    })
  }
}

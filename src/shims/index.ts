/**
 * Runtime shims for Node 20, imported first by every entry point (CLI,
 * benchmarks, tests). The libp2p v3 stack calls Promise.withResolvers,
 * which Node 20 lacks (it arrived in Node 22).
 *
 * Also: libp2p makes a `debug` logger scope for every stream it opens, and
 * `debug` asks isatty(2) for each one unless DEBUG_COLORS says whether to
 * colour (read once, when it loads). Unless set, colours are off: a
 * system call less per logger, ~1% of a peer's time (set DEBUG_COLORS=1
 * for coloured DEBUG logs on a terminal).
 */
process.env.DEBUG_COLORS ??= 'false'

interface Resolvers<T> { promise: Promise<T>, resolve: (value: T | PromiseLike<T>) => void, reject: (reason?: unknown) => void }

const P = Promise as unknown as { withResolvers?: <T>() => Resolvers<T> }
if (typeof P.withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T> (): Resolvers<T> {
      let resolve!: Resolvers<T>['resolve']
      let reject!: Resolvers<T>['reject']
      const promise = new Promise<T>((res, rej) => { resolve = res; reject = rej })
      return { promise, resolve, reject }
    }
  })
}

export {}

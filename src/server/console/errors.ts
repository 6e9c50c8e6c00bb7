/** The console could not be built (a broken ./web source): answered as HTTP 500 with this message. */
export class ConsoleBuildError extends Error {
  readonly code = 'ERR_CONSOLE_BUILD'
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ConsoleBuildError'
  }
}

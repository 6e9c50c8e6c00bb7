import { fileURLToPath } from 'node:url'
import { join, resolve } from 'node:path'

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)))
const FIXTURES = join(ROOT, 'test', 'fixtures')

/** The bundled sample that `npm start` publishes: real Debian metadata cut from ../shared/data (see test/fixtures/README.md). */
export const SAMPLE_RELEASES = [
  { release: 'bookworm', files: [join(FIXTURES, 'bookworm-slice.Packages.xz')], translations: [join(FIXTURES, 'bookworm-slice.Translation-en.xz')] },
  { release: 'bookworm-updates', files: [join(FIXTURES, 'bookworm-updates.Packages.xz')], translations: [] }
]

/** The embedded default's peer folder. */
export const DEFAULT_DATA = join(ROOT, '.edos', 'peer')

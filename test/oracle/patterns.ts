/**
 * Patterns for differential tests (edos evaluator vs an XPath 3.1 engine).
 * Together they cover every construct of the language; each one is also
 * meaningful on real Debian metadata in DESIGN.md's document shape (the
 * lead's full-store test runs them over 2,000 imported packages), so most
 * have answers there, and a few are chosen to have none.
 */
export const DIFFERENTIAL_PATTERNS: string[] = [
  // Child and descendant steps, absolute and top-level relative.
  '/package/name',
  'package/version',
  '//package/arch',
  '/*/name',
  '//release//package',
  '/package//dep',
  // The DESIGN.md examples.
  '//package[section = "editors"][.//dep/@name = "libc6"]/name',
  '//package[contains-word(description, "editor") and priority = "optional"]',
  '//release[@name = "trixie"]//package[@name = "vim"]',
  '/package[size > 1000000]/checksum',
  // Attributes and wildcards.
  '//dep/@name',
  '//anyOf/dep/@*',
  '//@op',
  '//checksum[@type = "sha256"]/text()',
  '//*[@name = "libc6"]',
  '//package/*[contains-word(., "library")]',
  '//collection[@name = "editors"]/package/@version',
  '//collection/collection/@name',
  '//package[.//@name = "zlib1g"]/name',
  // text() and string functions.
  '//package[contains(name, "lib")]/name/text()',
  '//package[starts-with(name, "python3-")]/version',
  '//package[contains(maintainer, "@debian.org")]/maintainer',
  '//package[location[starts-with(., "pool/main/")]]/location',
  '//text()[contains-word(., "python")]',
  '//package[tags/tag[starts-with(., "implemented-in::")]]/name',
  '/package/tags/tag[contains(., "::")]',
  '//package[contains(summary, "")]/name',
  '//package[.//text()[contains-word(., "daemon")]]/name',
  '//package[contains-word(., "GNU")]/name',
  // String comparisons, = and !=.
  '//tag[. = "role::program"]',
  '//package[arch = "all"]/name',
  '//package[arch != "all"]/arch',
  "//package[priority = 'optional' and section = 'libs' and arch = 'amd64']/name",
  '//package[tags/tag = "role::program"][priority = "optional"]/name',
  '//package[tags[tag = "role::program" and tag = "interface::commandline"]]/name',
  '//package[.//dep/@op = "<<"]/name',
  '//package[version = "2:9.0.1378-2"]/arch',
  // Numeric comparisons, literal on either side.
  '//package[installedSize < 400]/name',
  '//package[installedSize >= 4096 and installedSize <= 65536]/name',
  '//package[5000 > installedSize]/name',
  '//package[size != 0]/size',
  '//package[installedSize = 168]/name',
  '//package[size > 1000000 or installedSize > 10000]/size',
  '//dep[@version > 2.30]/@name',
  '//package[.//dep[@name = "libc6" and @op = ">=" and 2.30 <= @version]]/name',
  // and / or / not / parentheses / nested predicates / intermediate steps.
  '//package[section = "libs" or section = "libdevel"]/name',
  '//package[(section = "utils" or section = "admin") and not(arch = "all")]/name',
  '//package[not(depends/dep)]/name',
  '//package[not(.//dep/@name = "libc6")]/name',
  '//package[depends/anyOf]/name',
  '//package[depends[anyOf[dep/@name = "install-info"]]]/name',
  '//package[depends/dep/@name = "libc6"][not(recommends/dep)]/name',
  '//package[not(contains-word(description, "library") or contains-word(description, "development"))]/name',
  '//package[section = "python" and contains-word(summary, "python")]/name',
  '//package[name = "vim"]//dep[@op = "="]/@name',
  '//package[priority = "important" or priority = "required"]/name',
  '//package/depends[dep/@name = "libc6"]/dep[@name != "libc6"]/@name',
  // The self step.
  '//package[./homepage]/homepage/text()',
  '//package/name/.',
  '//tag/.[contains-word(., "program")]',
]

/** Patterns beyond the shared list, aimed at what the index decides on its own (values, numbers, words, negation). */
export const INDEX_PATTERNS = [
  '//package[section = "editors"]/name',
  '//package[priority = "important"]/name',
  '//package[size > 10000000]/name',
  '//package[installedSize <= 20]/name',
  '//package[size != 0]/checksum/@type',
  '//package[starts-with(name, "python3-")]/version',
  '//package[contains(name, "font")]/name',
  '//package[contains(description, "Python 3")]/name',
  '//package[starts-with(description, "This package")]/name',
  '//package[contains-word(description, "python")][section != "python"]/name',
  '//package[not(.//dep)]/name',
  '//package[depends/dep/@name = "libc6" and not(depends/dep/@op)]/name',
  '//package[.//anyOf/dep/@name = "debconf"]/name',
  '//package[tags/tag = "role::program" or tags/tag = "role::shared-lib"]/name',
  '//package[maintainer = "Debian Python Team <team+python@tracker.debian.org>"]/name',
  '//package/section/text()',
  '//release/collection/collection[@name = "libs"]/package[starts-with(@name, "lib")]/@version',
  '//release[@name = "bookworm-updates"]//package/@name',
  '//dep[@name = "libc6"][@op = ">="]/@version',
  '//package[homepage][not(summary)]/name'
]

/** The engine's whole differential suite: what every peer of the distributed index must answer exactly as the local store. */
export const ENGINE_SUITE: string[] = [...new Set([...DIFFERENTIAL_PATTERNS, ...INDEX_PATTERNS])]

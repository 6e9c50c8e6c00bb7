/**
 * Metadata documents (DESIGN.md "Metadata documents"): builders that turn
 * validated fields into compact `<package>`, `<utility>` and `<release>`
 * trees. Importers produce fields; the indexer numbers and indexes the trees.
 */
export type {
  UnitKind, RelationOp, Relation, RelationGroup, RelationField, Checksum, PackageFields,
  UtilityFields, ImportedUnit, UnitRejection, ReleaseEntry, ReleaseFields
} from './types.ts'
export { RELATION_FIELDS } from './types.ts'
export { packageId, utilityId, releaseId, rpmEvr, buildPackage, buildUtility, unitChecksum } from './package.ts'
export { buildRelease, releaseEntryKey } from './release.ts'
export { illegalXmlCharAt, detach, CHECKSUM_HEX_LENGTH, MAX_FIELD_LENGTH } from './validate.ts'

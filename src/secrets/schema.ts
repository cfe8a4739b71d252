// Config schema for the `secrets:` section (owned by the secrets room).
import { Type } from '@sinclair/typebox'

export const SecretsSchema = Type.Object({
  /** Encrypted store file (relative to the config file's folder). */
  store: Type.Optional(Type.String({ minLength: 1 }))
}, { additionalProperties: false })

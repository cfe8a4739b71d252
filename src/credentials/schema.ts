// Config schema for the `credentials:` section and per-container auth fields (owned by the credentials room).
import { Type } from '@sinclair/typebox'

export const CredentialsSchema = Type.Object({
  /** tollgate keys file (hashes only), managed by `tollgate keys`. */
  keys: Type.Optional(Type.String({ minLength: 1 }))
}, { additionalProperties: false })

/** Extra fields allowed under `containers.NAME` for authentication. */
export const ContainerAuthFields = {}

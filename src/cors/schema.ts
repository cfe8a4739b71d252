// Config schema for `containers.NAME.cors`. Reference: docs/traffic.md.
import { Type, type Static } from '@sinclair/typebox'

const strict = { additionalProperties: false } as const
const Token = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^`|~-]+$" })

export const CorsSchema = Type.Object({
  /** Exact origins (`https://app.example.com`, scheme://host[:port]), or ["*"] (never with credentials). */
  origins: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
  /** Access-Control-Allow-Methods on preflights. */
  methods: Type.Array(Token, { minItems: 1, default: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] }),
  /** Access-Control-Allow-Headers on preflights; absent: the headers the preflight asks for (as Kong does). */
  headers: Type.Optional(Type.Array(Token)),
  /** Access-Control-Expose-Headers on actual responses. */
  exposeHeaders: Type.Optional(Type.Array(Token)),
  /** Access-Control-Allow-Credentials: true (cookies, Authorization from a browser). */
  credentials: Type.Boolean({ default: false }),
  /** Access-Control-Max-Age on preflights, seconds; absent: none (the browser's default). */
  maxAge: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 }))
}, strict)

export type CorsConfig = Static<typeof CorsSchema>

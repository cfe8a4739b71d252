// Where the CLI's writers (`tollgate secrets`, `tollgate keys`, the demo) find the secret store and
// the keys file of a config: a file, or a Scaleway Secret Manager secret (`scw:…`), through the
// same backends the gateway reads. Secret Manager needs the IAM key of `secrets.scaleway.secretKey`
// (default ${env:SCW_SECRET_KEY}), resolved the way the gateway resolves it.
import type { RuntimeConfig } from '../config/load.js'
import { withDefaults } from '../config/schema-values.js'
import { SecretsSchema, type SecretsConfig } from '../secrets/schema.js'
import { createSecretResolver, stateContext } from '../secrets/index.js'
import { storeBackend } from '../secrets/store.js'
import { keysBackend } from '../credentials/keyfile.js'
import type { ScwStateContext } from '../secrets/scaleway-state.js'
import type { StateBackend } from '../files/state.js'
import type { SecretResolver } from '../secrets/types.js'

export interface StateAccess {
  /** `secrets.store` as configured (an absolute path or `scw:…`), `secrets.storeId`, `credentials.keys`. */
  readonly storeLocation: string | undefined
  readonly storeId: string | undefined
  readonly keysLocation: string | undefined
  store (location: string): StateBackend
  keys (location: string): StateBackend
  /** Stops what resolving the IAM key started (file watches, timers). */
  close (): Promise<void>
}

export function stateAccess (config: RuntimeConfig, env: NodeJS.ProcessEnv): StateAccess {
  const secrets = withDefaults(SecretsSchema, config.secrets ?? {}) as SecretsConfig
  let resolver: SecretResolver | undefined
  let scw: ScwStateContext | undefined
  const context = (): ScwStateContext => {
    resolver ??= createSecretResolver({ baseDir: config.baseDir, secrets, env })
    scw ??= stateContext({ secrets, resolver, env })
    return scw
  }
  return {
    storeLocation: config.secrets?.store,
    storeId: config.secrets?.storeId,
    keysLocation: config.credentials?.keys,
    store: (location) => storeBackend(location, location.startsWith('scw:') ? context() : undefined),
    keys: (location) => keysBackend(location, location.startsWith('scw:') ? context() : undefined),
    async close () { await resolver?.close() }
  }
}

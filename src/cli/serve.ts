// `tollgate serve --config FILE`: run the gateway in the foreground. SIGHUP reloads the config
// (a failing reload keeps the old config serving); SIGTERM/SIGINT drain, then exit 0.
import { buildApp } from '../app.js'
import { loadConfig } from '../config/load.js'
import { TollgateError } from '../errors.js'
import { parseFlags, oneLine, type Io } from './main.js'

export async function serve (args: string[], io: Io): Promise<number> {
  const { values } = parseFlags(args, { config: { type: 'string' }, workers: { type: 'string' } })
  if (values.config === undefined) throw new TollgateError('TG_ERR_USAGE', 'serve needs --config FILE')
  const file = values.config
  const config = await loadConfig(file, io.env)
  const app = await buildApp(config, { env: io.env })
  const addr = await app.listen()
  app.logger.info({ https: addr.https, http: addr.http, admin: addr.admin, containers: Object.keys(config.containers) }, 'tollgate listening')

  let reloading: Promise<void> = Promise.resolve()
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      try {
        await app.reload(await loadConfig(file, io.env))
        app.logger.info({ file }, 'config reloaded')
      } catch (err) {
        app.logger.error({ file, error: oneLine(err), code: (err as TollgateError).code }, 'config reload failed; the previous config keeps serving')
      }
    })
  }
  process.on('SIGHUP', onHup)
  return await new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGHUP', onHup)
      app.logger.info({ signal }, 'draining')
      app.close().then(() => resolve(0), (err) => {
        io.stderr.write(`tollgate: ${oneLine(err)}\n`)
        resolve(1)
      })
    }
    process.once('SIGTERM', () => stop('SIGTERM'))
    process.once('SIGINT', () => stop('SIGINT'))
  })
}

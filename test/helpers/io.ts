// Captured stdout/stderr for running a CLI function (runKeys, runPolicy, runSecrets) in-process.
import { PassThrough } from 'node:stream'

export interface CapturedIo {
  stdout: PassThrough
  stderr: PassThrough
  out (): string
  err (): string
}

export function captureIo (): CapturedIo {
  const stdout = new PassThrough()
  const stderr = new PassThrough()
  let out = ''
  let err = ''
  stdout.on('data', (c: Buffer) => { out += c.toString() })
  stderr.on('data', (c: Buffer) => { err += c.toString() })
  return { stdout, stderr, out: () => out, err: () => err }
}

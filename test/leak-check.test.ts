// The never-leaked check that every test gateway runs on close must itself be able to fail.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { registerSecretValue, assertNoSecretInLogs } from './helpers/gateway.js'

test('a log line carrying a registered secret value fails the check, without repeating the value', () => {
  const secret = 'leak-canary-' + Math.random().toString(36).slice(2)
  registerSecretValue(secret)
  assert.doesNotThrow(() => assertNoSecretInLogs(['{"msg":"fine"}']))
  assert.throws(() => assertNoSecretInLogs([`{"token":"${secret}"}`]), (err: Error) => !err.message.includes(secret.slice(12)))
})

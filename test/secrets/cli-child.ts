// Runs `tollgate secrets …` in a child process (used by cli.test.ts to race real processes).
import { runSecrets } from '../../src/cli/secrets.js'

process.exitCode = await runSecrets(process.argv.slice(2), { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env })

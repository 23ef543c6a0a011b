import { ConfigInvalidError, formatProblem, loadConfig, redactSecrets, type Env } from '../config/index.js'
import { ConfigError } from '../pipeline/errors.js'

/** Where validateCommand() writes; process.stdout and process.stderr in the CLI. */
export interface TextOut {
  write(text: string): unknown
}

/**
 * `sluice validate -c FILE`: loads FILE exactly as `sluice run` would, without connecting
 * anywhere. Prints `ok: FILE: N pipelines (names)` and returns 0, or prints every problem,
 * one per line as `file:line:col: path: message`, and returns 1. Interpolated values are
 * never printed.
 */
export async function validateCommand(
  file: string,
  out: TextOut = process.stdout,
  err: TextOut = process.stderr,
  env: Env = process.env,
): Promise<number> {
  try {
    const { config, secrets } = await loadConfig(file, env)
    // A name may itself come from `${...}`; it is masked like any other interpolated value.
    const names = redactSecrets(config.pipelines.map((p) => p.name).join(', '), secrets)
    const n = config.pipelines.length
    out.write(`ok: ${file}: ${n} pipeline${n === 1 ? '' : 's'} (${names})\n`)
    return 0
  } catch (e) {
    if (e instanceof ConfigInvalidError) {
      // Problem messages are already redacted by the loader.
      for (const p of e.problems) err.write(`${formatProblem(p)}\n`)
      return 1
    }
    // An unreadable file; anything else is a bug and keeps its stack trace.
    if (e instanceof ConfigError) {
      err.write(`${e.message}\n`)
      return 1
    }
    throw e
  }
}

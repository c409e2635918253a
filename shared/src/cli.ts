/**
 * Command-line and environment configuration, parsed once at start-up into a typed object.
 * Every option may also come from an environment variable (for compose and the runner); a flag
 * wins over the variable. Each bad value raises a ConfigError that names the flag and the variable.
 */
import { parseArgs } from 'node:util'

interface BaseSpec {
  description: string
  /** Environment variable read when the flag is absent. */
  env?: string
}
export interface IntSpec extends BaseSpec {
  type: 'int'
  default?: number
  min?: number
  max?: number
}
export interface NumberSpec extends BaseSpec {
  type: 'number'
  default?: number
  min?: number
  max?: number
}
export interface StringSpec extends BaseSpec {
  type: 'string'
  default?: string
  choices?: readonly string[]
}
export interface BooleanSpec extends BaseSpec {
  type: 'boolean'
  default?: boolean
}
export type OptionSpec = IntSpec | NumberSpec | StringSpec | BooleanSpec
export type OptionSpecs = Record<string, OptionSpec>

type ValueOf<S extends OptionSpec> = S extends BooleanSpec
  ? boolean
  : S extends IntSpec | NumberSpec
    ? S extends { default: number }
      ? number
      : number | undefined
    : S extends { default: string }
      ? string
      : string | undefined

export type OptionValues<S extends OptionSpecs> = { [K in keyof S]: ValueOf<S[K]> }

export class ConfigError extends Error {
  override name = 'ConfigError'
}

export interface CommandSpec<S extends OptionSpecs> {
  /** e.g. "npm run simulator -- run" */
  usage: string
  summary: string
  options: S
  /** Names of positional arguments, for the help text. */
  positionals?: string
}

function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

function source(key: string, spec: OptionSpec, fromEnv: boolean): string {
  return fromEnv && spec.env ? `${spec.env} (environment)` : flagName(key)
}

function convert(key: string, spec: OptionSpec, raw: string, fromEnv: boolean): number | string | boolean {
  const where = source(key, spec, fromEnv)
  switch (spec.type) {
    case 'boolean': {
      if (/^(1|true|yes)$/i.test(raw)) return true
      if (/^(0|false|no|)$/i.test(raw)) return false
      throw new ConfigError(`${where} must be true or false, got "${raw}"`)
    }
    case 'int':
    case 'number': {
      const value = Number(raw)
      if (raw.trim() === '' || !Number.isFinite(value)) {
        throw new ConfigError(`${where} must be a number, got "${raw}"`)
      }
      if (spec.type === 'int' && !Number.isInteger(value)) {
        throw new ConfigError(`${where} must be a whole number, got "${raw}"`)
      }
      if (spec.min !== undefined && value < spec.min) {
        throw new ConfigError(`${where} must be at least ${spec.min}, got ${raw}`)
      }
      if (spec.max !== undefined && value > spec.max) {
        throw new ConfigError(`${where} must be at most ${spec.max}, got ${raw}`)
      }
      return value
    }
    case 'string': {
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new ConfigError(`${where} must be one of ${spec.choices.join(', ')}, got "${raw}"`)
      }
      return raw
    }
  }
}

export interface Parsed<S extends OptionSpecs> {
  options: OptionValues<S>
  positionals: string[]
  help: boolean
}

export function parseCommand<S extends OptionSpecs>(
  spec: CommandSpec<S>,
  argv: string[],
  env: NodeJS.ProcessEnv = process.env,
): Parsed<S> {
  const parseOptions: Record<string, { type: 'string' | 'boolean' }> = { help: { type: 'boolean' } }
  for (const [key, option] of Object.entries(spec.options)) {
    parseOptions[flagName(key).slice(2)] = { type: option.type === 'boolean' ? 'boolean' : 'string' }
  }
  let parsed: ReturnType<typeof parseArgs>
  try {
    parsed = parseArgs({ args: argv, options: parseOptions, allowPositionals: true, strict: true })
  } catch (err) {
    throw new ConfigError((err as Error).message.replace(/\. To specify a positional.*$/s, ''))
  }
  const options: Record<string, unknown> = {}
  for (const [key, option] of Object.entries(spec.options)) {
    const flagValue = parsed.values[flagName(key).slice(2)]
    if (flagValue !== undefined) {
      options[key] =
        typeof flagValue === 'boolean' ? flagValue : convert(key, option, String(flagValue), false)
    } else if (option.env && env[option.env] !== undefined) {
      options[key] = convert(key, option, env[option.env]!, true)
    } else {
      options[key] = option.default ?? (option.type === 'boolean' ? false : undefined)
    }
  }
  return {
    options: options as OptionValues<S>,
    positionals: parsed.positionals,
    help: parsed.values.help === true,
  }
}

export function formatHelp<S extends OptionSpecs>(spec: CommandSpec<S>): string {
  const rows = Object.entries(spec.options).map(([key, option]) => {
    const flag =
      flagName(key) + (option.type === 'boolean' ? '' : ' <' + option.type.replace('int', 'n') + '>')
    const extras: string[] = []
    if ('choices' in option && option.choices) extras.push(`one of: ${option.choices.join(', ')}`)
    if (option.default !== undefined && option.default !== false) extras.push(`default ${option.default}`)
    if (option.env) extras.push(`env ${option.env}`)
    return [flag, option.description + (extras.length ? ` (${extras.join('; ')})` : '')] as const
  })
  rows.push(['--help', 'show this help'])
  const width = Math.max(...rows.map(([flag]) => flag.length)) + 2
  return [
    `Usage: ${spec.usage}${spec.positionals ? ' ' + spec.positionals : ''} [options]`,
    '',
    spec.summary,
    '',
    'Options:',
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`),
    '',
  ].join('\n')
}

/**
 * Parses argv for a command, prints help for --help, and turns a ConfigError into one clear line
 * and exit code 2, so a bad flag never ends in a stack trace.
 */
export function parseOrExit<S extends OptionSpecs>(spec: CommandSpec<S>, argv: string[]): Parsed<S> {
  try {
    const parsed = parseCommand(spec, argv)
    if (parsed.help) {
      process.stdout.write(formatHelp(spec))
      process.exit(0)
    }
    return parsed
  } catch (err) {
    exitOnConfigError(err, spec.usage)
  }
}

export function exitOnConfigError(err: unknown, usage?: string): never {
  if (err instanceof ConfigError) {
    process.stderr.write(`error: ${err.message}\n${usage ? `Run ${usage} --help for usage.\n` : ''}`)
    process.exit(2)
  }
  throw err
}

/** "host:port,host:port" into a list, each checked. */
export function parseHostPortList(text: string, name: string): string[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (items.length === 0) throw new ConfigError(`${name} must list at least one host:port`)
  for (const item of items) {
    const match = /^(.+):(\d{1,5})$/.exec(item)
    if (!match || Number(match[2]) < 1 || Number(match[2]) > 65535) {
      throw new ConfigError(`${name}: "${item}" is not host:port`)
    }
  }
  return items
}

/** The options as they are with no flags and no environment: every default. */
export function defaultOptions<S extends OptionSpecs>(options: S): OptionValues<S> {
  return parseCommand({ usage: '', summary: '', options }, [], {}).options
}

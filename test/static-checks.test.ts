/**
 * The repository's static checks, run by `npm test` so CI enforces them: types, lint, format,
 * and that the generated types still match the Avro schema.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { REPO_ROOT } from '@drone-pipeline/shared/paths.ts'

function run(command: string, args: string[]): void {
  const bin = path.join(REPO_ROOT, 'node_modules', '.bin', command)
  const result = spawnSync(bin, args, { cwd: REPO_ROOT, encoding: 'utf8' })
  assert.equal(result.status, 0, `${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`)
}

test('types check (tsc --noEmit, strict)', () => run('tsc', ['-p', 'tsconfig.json', '--noEmit']))
test('lint is clean (eslint)', () => run('eslint', ['.']))
test('formatting is clean (prettier --check)', () => run('prettier', ['--check', '.']))
test('generated types match schemas/ (npm run codegen -- --check)', () =>
  run('tsx', [path.join('shared', 'scripts', 'codegen.ts'), '--check']))

import { fileURLToPath } from 'node:url'
import path from 'node:path'

/** The repository root, found from this file's location so every service agrees on it. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')

export const SCHEMAS_DIR = path.join(REPO_ROOT, 'schemas')
export const DEPLOY_DIR = path.join(REPO_ROOT, 'deploy')

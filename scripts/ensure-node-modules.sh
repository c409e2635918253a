#!/bin/sh
# Installs the npm packages on a fresh clone (or after package-lock.json changed), so that
# `npm start` and `npm test` need no other step. npm runs it before those scripts (pre*).
set -e
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] installing npm packages (npm ci)" >&2
  npm ci --no-audit --no-fund --loglevel=error
fi

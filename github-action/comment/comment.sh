#!/usr/bin/env bash
# Run ../comment.py with the inputs (environment variables only); python3 from PATH, standard library only.
set -euo pipefail

py="$(command -v python3 || command -v python || true)"
if [ -z "$py" ]; then
  echo "::warning title=pivot-ci comment::no python3 on PATH: no comment posted"
  exit 0
fi
args=(--body-file "${PIVOT_CI_BODY_FILE:?input body-file is required}" --key "${PIVOT_CI_COMMENT_KEY:-}"
      --author "${PIVOT_CI_COMMENT_AUTHOR:-}" --head-sha "${PIVOT_CI_HEAD_SHA:-}")
if [ -n "${PIVOT_CI_PR:-}" ]; then args+=(--pr "$PIVOT_CI_PR"); fi
if [ -n "${PIVOT_CI_PR_FILE:-}" ]; then args+=(--pr-file "$PIVOT_CI_PR_FILE"); fi
exec "$py" "$GITHUB_ACTION_PATH/../comment.py" "${args[@]}"

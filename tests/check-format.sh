#!/usr/bin/env bash
# Fails when a C source or header differs from .clang-format's layout.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.c' -o -name '*.h')
[ -z "$files" ] && exit 0
clang-format --dry-run --Werror $files
echo "format: $(echo "$files" | wc -w) files ok"

#!/usr/bin/env bash
# expect.sh EXIT_CODE REGEX COMMAND...: runs COMMAND, passes when it exits with EXIT_CODE and its
# output (stdout+stderr) matches the extended REGEX. Prints the output either way.
set -u
want=$1 re=$2
shift 2
out=$("$@" 2>&1)
rc=$?
printf '%s\n' "$out"
if [ "$rc" -ne "$want" ]; then echo "expect: exit code $rc, wanted $want" >&2; exit 1; fi
if ! printf '%s\n' "$out" | grep -Eq -- "$re"; then echo "expect: output lacks /$re/" >&2; exit 1; fi
echo "expect: ok (exit $rc, output matches)"

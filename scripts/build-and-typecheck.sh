#!/usr/bin/env bash
# npm test's compile step: the build (dist/, which the CLI tests run) and the type check of src and
# test are two independent tsc runs, each single-threaded; on two cores they run side by side.
# Fails when either fails, after both have finished (so neither's errors are cut short).
set -u
npx tsc -p tsconfig.json & build=$!
npx tsc -p test/tsconfig.json & check=$!
status=0
wait "$build" || { echo "build-and-typecheck: the build (tsc -p tsconfig.json) failed" >&2; status=1; }
wait "$check" || { echo "build-and-typecheck: the type check (tsc -p test/tsconfig.json) failed" >&2; status=1; }
exit "$status"

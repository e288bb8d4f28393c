#!/bin/sh
# make check: integration suites against a throwaway PostgreSQL, then the unit suites, whose
# Check summary lines close the output. Exits non-zero when anything failed.
cd "$(dirname "$0")/../.."
./tests/harness/run-integration.sh; irc=$?
./tests/harness/run-unit.sh "$@"; urc=$?
[ $irc = 0 ] && [ $urc = 0 ]

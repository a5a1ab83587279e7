#!/bin/sh
# run.sh — the real Apache Kafka suite: three KRaft brokers fetched from Maven Central,
# the harness's own proof and kplane against them. Exit 77 (skip) without Java/Maven.
set -u
cd "$(dirname "$0")"
if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
        echo "!!! SKIP: real Apache Kafka tests need java (17+) and mvn, not found"
        exit 77
fi
./brokers.sh fetch || exit 1
exec python3 -m pytest -q -x -p no:cacheprovider --durations=12 .

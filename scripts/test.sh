#!/bin/sh
# test.sh — runs kplane's test suites; `make test` calls it. Args: suites to run
# (default: all). A suite exits 0 (pass), 77 (skipped: something it needs is missing)
# or anything else (fail). With KPLANE_TEST_REQUIRE=1 (CI) a skip is a failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export KPLANE_BIN="$PWD/$BUILD/kplane"
# librdkafka (scripts/rdkafka.sh) is not built with TSan: its internal refcounts would be reported.
export TSAN_OPTIONS="${TSAN_OPTIONS:-suppressions=$PWD/tests/unit/tsan-librdkafka.supp}"
suites=${*:-format unit integration kafka parity web}
failed=""
skipped=""

run_suite() {
        name=$1
        shift
        echo "==> $name"
        start=$(date +%s)
        "$@"
        rc=$?
        took=$(($(date +%s) - start))
        case $rc in
        0) echo "<== $name: PASS (${took}s)" ;;
        77) echo "<== $name: SKIPPED (${took}s) !!!"; skipped="$skipped $name" ;;
        *) echo "<== $name: FAIL rc=$rc (${took}s)"; failed="$failed $name" ;;
        esac
}

unit() {
        rc=0
        for t in "$BUILD"/tests/test_*; do
                [ -x "$t" ] || continue
                echo "--- $(basename "$t")"
                t0=$(date +%s)
                "$t" || rc=1
                echo "--- $(basename "$t"): $(($(date +%s) - t0))s"
        done
        return $rc
}

for s in $suites; do
        case $s in
        format) run_suite format make --no-print-directory format-check structure-check ;;
        unit) run_suite unit unit ;;
        integration) run_suite integration python3 -m pytest -q -x -p no:cacheprovider --durations=12 tests/integration ;;
        kafka) run_suite kafka tests/kafka/run.sh ;;
        parity) run_suite parity tests/parity/run.sh "$KPLANE_BIN" ;;
        web) run_suite web tests/web/run.sh ;;
        image) run_suite image scripts/image-test.sh ;;
        *) echo "unknown suite $s"; failed="$failed $s" ;;
        esac
done

echo
if [ -n "$skipped" ]; then
        echo "!!! SKIPPED:$skipped (something they need is missing; see above)"
        if [ "${KPLANE_TEST_REQUIRE:-0}" = 1 ]; then failed="$failed$skipped"; fi
fi
if [ -n "$failed" ]; then
        echo "FAILED:$failed"
        exit 1
fi
echo "all test suites passed"

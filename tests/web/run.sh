#!/bin/sh
# run.sh — runs the browser tests of the web page: installs playwright-core (never a browser), then
# drives Debian's headless chromium against KPLANE_URL, or against a `kplane serve --demo` it starts.
# Exit 77 (skip) when node or chromium is missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$here"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        echo "################################################################" >&2
        echo "SKIP: web tests need node and npm (apt-get install nodejs npm)" >&2
        echo "################################################################" >&2
        exit 77
fi
if [ ! -x "$CHROMIUM" ]; then
        echo "################################################################" >&2
        echo "SKIP: web tests need Debian's chromium at $CHROMIUM (apt-get install chromium)" >&2
        echo "################################################################" >&2
        exit 77
fi

# A tool must never fetch a browser of its own: the tests use Debian's chromium only.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
export CHROMIUM

# Installed already at the locked version: nothing to fetch (works offline). Otherwise npm ci.
want=$(node -p "require('./package-lock.json').packages['node_modules/playwright-core'].version")
have=$(node -p "try { require('./node_modules/playwright-core/package.json').version } catch (e) { '' }")
if [ "$have" != "$want" ]; then
        npm ci --prefer-offline --no-audit --no-fund --loglevel=error
fi

server_pid=""
tmp=""
cleanup() {
        if [ -n "$server_pid" ]; then
                kill "$server_pid" 2>/dev/null || true
                wait "$server_pid" 2>/dev/null || true
        fi
        if [ -n "$tmp" ]; then rm -rf "$tmp"; fi
}
trap cleanup EXIT INT TERM

if [ -z "${KPLANE_URL:-}" ]; then
        bin=${KPLANE_BIN:-$root/${BUILD:-build}/kplane}
        if [ ! -x "$bin" ]; then
                echo "SKIP: no KPLANE_URL and no kplane binary at $bin (run make first)" >&2
                exit 77
        fi
        tmp=$(mktemp -d)
        port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
        "$bin" serve --demo --listen "127.0.0.1:$port" --db "$tmp/kplane.db" >"$tmp/server.log" 2>&1 &
        server_pid=$!
        KPLANE_URL="http://127.0.0.1:$port"
        export KPLANE_URL
        i=0
        until node -e "fetch(process.env.KPLANE_URL + '/readyz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"; do
                i=$((i + 1))
                if [ "$i" -ge 100 ] || ! kill -0 "$server_pid" 2>/dev/null; then
                        echo "FAIL: kplane did not become ready at $KPLANE_URL; its log:" >&2
                        cat "$tmp/server.log" >&2
                        exit 1
                fi
                sleep 0.2
        done
fi

echo "web tests against $KPLANE_URL with $CHROMIUM"
node --test --test-concurrency=1 --test-reporter=spec web.test.mjs

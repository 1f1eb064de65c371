#!/usr/bin/env bash
# Scale benchmark: a small site and a large one, every page, API call and
# command that reads them, side by side.
#
#   small: 1,000 subscribers,     30 sent editions (30,000 ledger rows),      500 waiting articles
#   large: 1,000,000 subscribers, 30 sent editions (30,000,000 ledger rows), 50,000 waiting articles
#
#   bash bench/scale.sh                       # build newsbrief from this tree
#   BIN=/path/to/newsbrief bash bench/scale.sh # another build (an older commit, say)
#   LARGE=100000 N=20 bash bench/scale.sh     # a smaller large site, fewer requests
#
# The sites are made by bench/scale (bulk SQL into a schema newsbrief made:
# see its package comment for the shortcut); each operation runs N times
# (40) against `newsbrief serve` on 127.0.0.1, p50 and p95 in ms; commands
# run once each, wall ms and peak RSS. Nothing is asserted: compare columns.
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL=${SMALL:-1000}
LARGE=${LARGE:-1000000}
N=${N:-40}
EDITIONS=${EDITIONS:-30}
work=${WORK:-$(mktemp -d)}
mkdir -p "$work"
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; [ -z "${KEEP:-}" ] && rm -rf "$work"; true; }
trap cleanup EXIT
if [ -z "${BIN:-}" ]; then
  go build -o "$work/newsbrief" ./cmd/newsbrief
  BIN=$work/newsbrief
fi
go build -o "$work/scale" ./bench/scale
token=scale-bench-token-0123456789abcdef

run_site() { # name subscribers waiting
  local name=$1 subs=$2 waiting=$3 dir=$work/$1
  mkdir -p "$dir"
  export NEWSBRIEF_DB=$dir/nb.db NEWSBRIEF_ARTICLES_DIR= NEWSBRIEF_LOG_LEVEL=warn NEWSBRIEF_ADMIN_TOKEN=$token \
    NEWSBRIEF_SCHEDULE="0 3 1 1 *" NEWSBRIEF_COLLECT_SCHEDULE="0 3 1 1 *" NEWSBRIEF_MAX_ARTICLES=20 \
    NEWSBRIEF_BASE_URL=http://127.0.0.1:18091 NEWSBRIEF_HTTP_ADDR=127.0.0.1:18091
  "$BIN" editions list >/dev/null # the schema, by newsbrief's own migrations
  "$work/scale" build -db "$dir/nb.db" -subscribers "$subs" -editions "$EDITIONS" -waiting "$waiting"
  "$BIN" editions list >/dev/null # migrations newer than the schema, if any, and their backfills
  : > "$dir/results"
  cli() { # label command...: wall ms (the best of 3) and peak RSS
    local label=$1 best=; shift
    for _ in 1 2 3; do
      local t0 t1
      t0=$(date +%s%N)
      /usr/bin/time -f "%M" -o "$dir/time" "$BIN" "$@" > "$dir/out" 2>/dev/null || true
      t1=$(date +%s%N)
      local ms=$(( (t1 - t0) / 100000 ))
      if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    awk -v l="$label" -v d="$best" -v r="$(cat "$dir/time")" 'BEGIN{printf "%s|%.1f|%.1f|%.0f\n", l, d/10, d/10, r/1024}' >> "$dir/results"
  }
  cli "cli: send --dry-run" send --dry-run
  cli "cli: articles list" articles list
  cli "cli: editions list" editions list
  cli "cli: editions show 1" editions show 1
  # the first rows of a million: time to them, with the rest cut off by head
  local t0 t1
  t0=$(date +%s%N)
  ( "$BIN" subscribers list 2>/dev/null || true ) | head -5 > /dev/null
  t1=$(date +%s%N)
  awk -v l="cli: subscribers list, first 5 rows" -v d=$(( (t1 - t0) / 1000 )) 'BEGIN{printf "%s|%.1f|%.1f|-\n", l, d/1000, d/1000}' >> "$dir/results"
  cli "cli: subscribers list (all rows)" subscribers list

  "$BIN" serve > "$dir/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -fsS http://127.0.0.1:18091/readyz >/dev/null 2>&1 && break; sleep 0.2; done
  "$work/scale" measure -url http://127.0.0.1:18091 -token "$token" -n "$N" \
    /admin /admin/send /admin/preview /admin/editions /admin/editions/1 /admin/sources \
    /api/articles /api/preview /api/editions /api/editions/1 \
    "/api/subscribers?limit=50" "/api/subscribers?q=reader5" "/api/subscribers?status=unsubscribed" /api/subscribers/reader500@example.com "/api/subscribers?q=Reader%205" \
    /admin/subscribers "/admin/subscribers?q=Reader+5" /admin/subscribers/reader500@example.com \
    /archive /archive/1 /archive/feed.atom /subscribe /healthz /readyz /metrics |
    awk '{ p=$1; sub(/^\/api\//, "api: GET /api/", p); sub(/^\/admin/, "desk: /admin", p);
           if (p ~ /^\/(archive|subscribe)/) p = "public: " p; else if (p ~ /^\/(healthz|readyz|metrics)/) p = "ops: " p;
           printf "%s|%s|%s|-\n", p, $2, $3 }' >> "$dir/results"
  # 50 clients flood public pages while an editor loads the desk
  "$work/scale" measure -url http://127.0.0.1:18091 -token "$token" -n "$N" flood:/archive/1 > "$dir/flood" &
  local fpid=$!
  sleep 0.3
  "$work/scale" measure -url http://127.0.0.1:18091 -token "$token" -n "$N" /admin > "$dir/during"
  wait "$fpid"
  awk '{printf "flood: 50 clients on /archive/1|%s|%s|%s req/s, %s failed\n", $2, $3, $4, $5}' "$dir/flood" >> "$dir/results"
  awk '{printf "flood: desk /admin meanwhile|%s|%s|-\n", $2, $3}' "$dir/during" >> "$dir/results"
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
  echo "serve peak RSS (MB)|-|-|$((hwm / 1024))" >> "$dir/results"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  du -m "$dir/nb.db" | awk '{print "database size (MB)|-|-|" $1}' >> "$dir/results"
}

run_site small "$SMALL" 500
run_site large "$LARGE" 50000
printf "%-40s %9s %9s %8s | %9s %9s %8s | %s\n" operation small_p50 small_p95 small_mb large_p50 large_p95 large_mb "p95 large/small"
paste -d'|' "$work/small/results" "$work/large/results" | awk -F'|' '{
  r = ($7 + 0 > 0 && $3 + 0 > 0) ? sprintf("%.2f", $7 / $3) : "-"
  printf "%-40s %9s %9s %8s | %9s %9s %8s | %s\n", $1, $2, $3, $4, $6, $7, $8, r }'

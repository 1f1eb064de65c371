#!/usr/bin/env bash
# Import benchmark: N generated subscribers (default 1,000,000) imported
# with `newsbrief subscribers import`, against the sqlite3 shell's .import of
# the same file into a bare table in the same run. Prints rows/s, CPU
# seconds and peak RSS for both, and the ratio.
#
#   bash bench/import.sh
#   N=100000 bash bench/import.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
command -v sqlite3 >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq sqlite3 >/dev/null; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/newsbrief" ./cmd/newsbrief
awk -v n="$N" 'BEGIN { print "email,name"; for (i = 1; i <= n; i++) printf "reader%d@example.com,Reader %d\n", i, i }' > "$work/subs.csv"

timed() {
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null
  awk '{printf "%s %.2f %d\n", $1, $2+$3, $4}' "$work/time"
}
read -r e cpu rss < <(timed env NEWSBRIEF_DB="$work/nb.db" NEWSBRIEF_LOG_LEVEL=warn "$work/newsbrief" subscribers import --consent bench "$work/subs.csv")
n=$(sqlite3 "$work/nb.db" "SELECT COUNT(*) FROM subscribers")
[ "$n" = "$N" ] || { echo "imported $n of $N" >&2; exit 1; }
sqlite3 "$work/base.db" "CREATE TABLE t (email TEXT UNIQUE, name TEXT)"
read -r be bcpu brss < <(timed sqlite3 "$work/base.db" ".mode csv" ".import --skip 1 $work/subs.csv t")
printf "%-10s %10s %8s %8s | %12s %8s %8s | %6s\n" rows nb_rows/s cpu_s rss_MB sqlite_rows/s cpu_s rss_MB ratio
awk -v n="$N" -v e="$e" -v c="$cpu" -v r="$rss" -v be="$be" -v bc="$bcpu" -v br="$brss" \
  'BEGIN{printf "%-10d %10.0f %8.2f %8.1f | %12.0f %8.2f %8.1f | %6.2f\n", n, n/e, c, r/1024, n/be, bc, br/1024, (n/e)/(n/be)}'

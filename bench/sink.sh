#!/usr/bin/env bash
# Delivery benchmark against Postfix's smtp-sink on 127.0.0.1.
#
#   bash bench/sink.sh                       # 10k and 100k subscribers
#   SIZES="10000 100000 1000000" bash bench/sink.sh
#   DKIM_RUNS= CONCS=4 bash bench/sink.sh   # no DKIM runs, one concurrency
#   PROFILE_DIR=/tmp/prof bash bench/sink.sh # also a CPU profile of each send
#   REPEAT=5 bash bench/sink.sh              # runs of each cell (default 3)
#
# For each of three editions (small: ~6.6 KB, brief: ~10 KB, large: ~30 KB a
# message) and
# each audience size it sends the edition with newsbrief at
# concurrency 1, 4 and 16 (and at 4 with DKIM RSA-2048 and Ed25519), and, in
# the same run, the same number of messages of newsbrief's size with
# Postfix's smtp-source at the same session count: messages/s, CPU seconds,
# CPU µs a message and peak RSS for both, the speed ratio newsbrief /
# smtp-source and the CPU ratio (cpu_x). Each cell is the median of REPEAT
# runs, newsbrief's and smtp-source's taken in turn (both vary from run to
# run on a shared machine), with the lowest and highest ratio beside it.
# KINDS="small large" (the default) runs two of them. After the table: the
# DKIM runs against the machine's signing capacity (BenchmarkSignatureOnly ×
# cores).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES=${SIZES:-"10000 100000"}
CONCS=${CONCS:-"1 4 16"}
REPEAT=${REPEAT:-3}
PORT=${PORT:-25250}

if ! command -v smtp-sink >/dev/null || ! command -v smtp-source >/dev/null; then
  if [ ! -x /usr/sbin/smtp-sink ]; then
    echo "installing postfix (smtp-sink, smtp-source)…" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
  fi
  export PATH=$PATH:/usr/sbin
fi
command -v openssl >/dev/null || { apt-get update -qq >/dev/null; apt-get install -y -qq openssl >/dev/null; }

work=$(mktemp -d)
sink_pid=""
cleanup() { [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

go build -o "$work/newsbrief" ./cmd/newsbrief
smtp-sink -u nobody 127.0.0.1:$PORT 1024 >/dev/null 2>&1 &
sink_pid=$!
sleep 0.5

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$work/rsa.pem" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$work/ed25519.pem" 2>/dev/null

# three editions: "large", 20 articles with long summaries (~30 KB a
# message), "brief", five short articles (~10 KB), and "small", one short
# article (~6.6 KB): the header, footer and template are most of it
mkdir -p "$work/articles-large" "$work/articles-brief" "$work/articles-small"
for i in $(seq 1 20); do
  {
    echo "---"; echo "title: Benchmark story number $i about the city and its council"
    echo "url: https://news.example/story/$i"; echo "---"
    for p in 1 2 3; do echo "Paragraph $p of story $i. The council met again on Monday to discuss the plan, and the debate ran late into the evening with many speakers."; echo; done
  } > "$work/articles-large/story$i.md"
done
for i in $(seq 1 5); do
  {
    echo "---"; echo "title: Short story $i"; echo "url: https://news.example/short/$i"; echo "---"
    echo "The council met on Monday."
  } > "$work/articles-brief/story$i.md"
done
cp "$work/articles-brief/story1.md" "$work/articles-small/"

export NEWSBRIEF_SMTP_HOST=127.0.0.1 NEWSBRIEF_SMTP_PORT=$PORT NEWSBRIEF_SMTP_TLS=none \
  NEWSBRIEF_LOG_LEVEL=warn NEWSBRIEF_SMTP_MAX_PER_CONN=0 \
  NEWSBRIEF_BASE_URL=https://brief.example NEWSBRIEF_FROM="Bench <bench@news.example>" \
  NEWSBRIEF_POSTAL_ADDRESS="Bench, 1 Example Street, 12345 Example City"

# timed CMD…: prints "elapsed user+sys maxrss_kb"
timed() {
  /usr/bin/time -f "%e %U %S %M" -o "$work/time" "$@" >/dev/null
  awk '{printf "%s %.2f %d\n", $1, $2+$3, $4}' "$work/time"
}

# median of the numbers on standard input
median() { sort -g | awk '{v[NR]=$1} END{if (NR%2) print v[(NR+1)/2]; else printf "%.4f\n", (v[NR/2]+v[NR/2+1])/2}'; }

printf "%-9s %-6s %-12s %5s %10s %8s %9s %9s %10s %8s %10s %10s %7s %11s %7s\n" subs size run conc nb_msg/s nb_cpu_s nb_us/msg nb_rss_MB \
  src_msg/s src_cpu_s src_us/msg src_rss_MB ratio ratio_range cpu_x
dkim_rates=()
for kind in ${KINDS:-small large}; do
  # the message size smtp-source sends: newsbrief's own for this edition
  probe="$work/probe-$kind.db"
  { echo "email,name"; echo "size@example.com,Size Probe"; } > "$work/probe.csv"
  NEWSBRIEF_DB="$probe" "$work/newsbrief" subscribers import --consent bench "$work/probe.csv" >/dev/null
  NEWSBRIEF_DB="$probe" NEWSBRIEF_ARTICLES_DIR="$work/articles-$kind" "$work/newsbrief" collect >/dev/null
  rm -rf "$work/ob"
  NEWSBRIEF_DB="$probe" NEWSBRIEF_ARTICLES_DIR="$work/articles-$kind" NEWSBRIEF_SMTP_HOST= NEWSBRIEF_OUTBOX_DIR="$work/ob" \
    "$work/newsbrief" send --test size@example.com >/dev/null
  bytes=$(stat -c %s "$work"/ob/*.eml)
  echo "== $kind edition: newsbrief's message is $bytes bytes; smtp-source sends $bytes-byte messages (-l $bytes)"
for n in $SIZES; do
  base="$work/base-$kind-$n.db"
  { echo "email,name"; for i in $(seq 1 "$n"); do echo "reader$i@example.com,Reader $i"; done; } > "$work/subs-$n.csv"
  NEWSBRIEF_DB="$base" "$work/newsbrief" subscribers import --consent bench "$work/subs-$n.csv" >/dev/null
  NEWSBRIEF_DB="$base" NEWSBRIEF_ARTICLES_DIR="$work/articles-$kind" "$work/newsbrief" collect >/dev/null
  for variant in $CONCS ${DKIM_RUNS-dkim-rsa dkim-ed25519}; do
    case $variant in
      dkim-rsa) conc=4; dk=(NEWSBRIEF_DKIM_DOMAIN=news.example NEWSBRIEF_DKIM_SELECTOR=b NEWSBRIEF_DKIM_KEY_FILE="$work/rsa.pem") ;;
      dkim-ed25519) conc=4; dk=(NEWSBRIEF_DKIM_DOMAIN=news.example NEWSBRIEF_DKIM_SELECTOR=b NEWSBRIEF_DKIM_KEY_FILE="$work/ed25519.pem") ;;
      *) conc=$variant; dk=() ;;
    esac
    : > "$work/runs"
    for rep in $(seq 1 "$REPEAT"); do
      prof=(); [ -n "${PROFILE_DIR:-}" ] && [ "$rep" = 1 ] && mkdir -p "$PROFILE_DIR" && prof=(NEWSBRIEF_CPU_PROFILE="$PROFILE_DIR/$kind-$n-$variant.pprof")
      cp "$base" "$work/run.db"
      rm -f "$work/run.db-wal" "$work/run.db-shm" "$work/run.db-sends"*
      read -r e cpu rss < <(timed env "${dk[@]}" "${prof[@]}" NEWSBRIEF_DB="$work/run.db" NEWSBRIEF_ARTICLES_DIR="$work/articles-$kind" \
        NEWSBRIEF_SEND_CONCURRENCY=$conc "$work/newsbrief" send)
      sent=$(NEWSBRIEF_DB="$work/run.db" "$work/newsbrief" editions list | awk 'NR==2{print $5}')
      [ "$sent" = "$n" ] || { echo "newsbrief sent $sent of $n" >&2; exit 1; }
      read -r se scpu srss < <(timed smtp-source -d -c -l "$bytes" -m "$n" -s "$conc" -f bench@news.example -t sink@example.com 127.0.0.1:$PORT)
      echo "$e $cpu $rss $se $scpu $srss" >> "$work/runs"
    done
    col() { awk -v c="$1" '{print $c}' "$work/runs" | median; }
    e=$(col 1); cpu=$(col 2); rss=$(col 3); se=$(col 4); scpu=$(col 5); srss=$(col 6)
    range=$(awk '{r=$4/$1; if (NR==1||r<lo) lo=r; if (NR==1||r>hi) hi=r} END{printf "%.2f-%.2f", lo, hi}' "$work/runs")
    ratio=$(awk '{print $4/$1}' "$work/runs" | median)
    cpux=$(awk '{print $2/$5}' "$work/runs" | median)
    label=$variant; [[ $variant =~ ^[0-9]+$ ]] && label=plain
    awk -v n="$n" -v k="$kind" -v l="$label" -v c="$conc" -v e="$e" -v cpu="$cpu" -v rss="$rss" -v se="$se" -v scpu="$scpu" -v srss="$srss" \
      -v ratio="$ratio" -v range="$range" -v cpux="$cpux" \
      'BEGIN{printf "%-9d %-6s %-12s %5d %10.0f %8.2f %9.1f %9.1f %10.0f %8.2f %10.1f %10.1f %7.2f %11s %7.2f\n", n, k, l, c, n/e, cpu, cpu/n*1e6, rss/1024, n/se, scpu, scpu/n*1e6, srss/1024, ratio, range, cpux}'
    rate=$(awk -v n="$n" -v e="$e" 'BEGIN{printf "%.0f", n/e}')
    if [ "$label" != plain ] || [ "$conc" = 4 ]; then dkim_rates+=("$kind $n $label $rate"); fi
  done
done
done

if [ -n "${DKIM_RUNS-x}" ]; then
  # the machine's signing capacity: one signature's time (Go's own
  # benchmark, in this run) over every core
  cores=$(nproc)
  sig=$(go test ./mailer -run '^$' -bench 'SignatureOnly' -count 3 2>/dev/null | awk '/rsa2048/{print "rsa", $3} /ed25519/{print "ed", $3}')
  rsa_ns=$(echo "$sig" | awk '$1=="rsa"{print $2}' | median); ed_ns=$(echo "$sig" | awk '$1=="ed"{print $2}' | median)
  echo "== DKIM: BenchmarkSignatureOnly rsa2048 $rsa_ns ns, ed25519 $ed_ns ns a signature; $cores cores:" \
    "$(awk -v t="$rsa_ns" -v c="$cores" 'BEGIN{printf "%.0f", c*1e9/t}') RSA or $(awk -v t="$ed_ns" -v c="$cores" 'BEGIN{printf "%.0f", c*1e9/t}') Ed25519 signatures/s"
  plain_rate=""
  for r in "${dkim_rates[@]}"; do
    read -r kind n label rate <<<"$r"
    case $label in
      plain) plain_rate=$rate ;;
      dkim-rsa) echo "$kind $n dkim-rsa: $rate msg/s = $(awk -v r="$rate" -v t="$rsa_ns" -v c="$cores" 'BEGIN{printf "%.2f", r/(c*1e9/t)}') of the RSA signing capacity" ;;
      dkim-ed25519) echo "$kind $n dkim-ed25519: $rate msg/s against $plain_rate unsigned at 4 connections: the send takes $(awk -v r="$rate" -v p="$plain_rate" 'BEGIN{printf "%.2f", p/r}')x as long" ;;
    esac
  done
fi

#!/usr/bin/env bash
# The curation report: what newsbrief makes of real material it did not
# write (testdata/curation: captured feeds of real outlets, real closing
# paragraphs in six languages and genuine look-alikes, labelled headlines
# of the same stories): closings removed, genuine paragraphs kept, junk
# images, summaries with stray spaces, proxy and tracked links, videos and
# episodes, grouping precision and recall.
#
#   bash bench/curation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./pipeline/collect ./pipeline -run 'Curation' -count=1 -v 2>&1 |
  grep -E 'curation report|endings removed|genuine paragraphs|feeds: |source footers|links through|grouping: ' |
  sed -E 's/^\s+curation_test.go:[0-9]+: //'

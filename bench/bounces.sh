#!/usr/bin/env bash
# How newsbrief reads real returned mail (Sisimai's set-of-emails, see
# testdata/bounces/README.md) against Sisimai's published readings: per
# MTA, how many mails it recognises, how many it reads as Sisimai does, the
# delay warnings it declines to count, and the hard bounces Sisimai calls
# soft (which would suppress an address too early).
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 -run 'TestBounceCorpus$' -v ./inbound | sed -n 's/^ *corpus_test.go:[0-9]*: //p'

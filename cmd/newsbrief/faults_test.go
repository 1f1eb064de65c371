package main

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/newsbrief/newsbrief/internal/smtptest"
	"github.com/newsbrief/newsbrief/pipeline"
)

// TestDeliveryUnderFaults sends to 600 subscribers through a relay that
// answers random 451s, some 550s, drops connections mid-DATA, stalls, and
// shuts down with 421; runs are repeated (as cron would) until the edition
// is finished. The relay must then hold exactly one message for every
// address that did not fail permanently, and the ledger must agree with the
// relay address by address.
func TestDeliveryUnderFaults(t *testing.T) {
	const n = 600
	relay := smtptest.Start(t)
	rng := rand.New(rand.NewPCG(1, 2))
	type plan struct {
		fault    smtptest.Fault
		times    int // how many attempts get the fault; -1 for every one
		attempts int
	}
	plans := map[string]*plan{}
	perm := map[string]bool{}
	for i := range n {
		addr := fmt.Sprintf("user%03d@example.com", i)
		switch r := rng.IntN(100); {
		case r < 15:
			plans[addr] = &plan{fault: smtptest.Fault{Err: &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}}, times: 1 + rng.IntN(3)}
		case r < 20:
			plans[addr] = &plan{fault: smtptest.Fault{Err: &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}}, times: -1}
			perm[addr] = true
		case r < 27:
			plans[addr] = &plan{fault: smtptest.Fault{DropData: true}, times: 1}
		case r < 29:
			plans[addr] = &plan{fault: smtptest.Fault{DelayData: 1200 * time.Millisecond}, times: 1}
		case r < 32:
			plans[addr] = &plan{fault: smtptest.Fault{Err: &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "shutting down"}}, times: 1}
		case r < 35:
			plans[addr] = &plan{fault: smtptest.Fault{DataErr: &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 3, 1}, Message: "queue full"}}, times: 2}
		}
	}
	var mu sync.Mutex
	relay.Script = func(rcpt string) smtptest.Fault {
		mu.Lock()
		defer mu.Unlock()
		p := plans[rcpt]
		if p == nil {
			return smtptest.Fault{}
		}
		p.attempts++
		if p.times < 0 || p.attempts <= p.times {
			return p.fault
		}
		return smtptest.Fault{}
	}
	e := newEnv(t, "NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none", "NEWSBRIEF_SEND_CONCURRENCY", "4", "NEWSBRIEF_RETRY_BASE", "20ms",
		"NEWSBRIEF_SMTP_TIMEOUT", "10s")
	e.seed(n, "user%03d@example.com", "A story under faults")
	done := false
	for round := 0; round < 40 && !done; round++ {
		e.must("send")
		out := e.must("editions", "show", "1")
		done = strings.HasPrefix(out, "edition 1: sent")
		time.Sleep(100 * time.Millisecond) // let the backoff of deferred messages run out
	}
	if !done {
		t.Fatalf("edition not finished after 40 runs:\n%s", e.must("editions", "show", "1"))
	}
	got := relay.ByRecipient()
	a := openTestApp(t)
	defer a.Close()
	ctx := context.Background()
	for i := range n {
		addr := fmt.Sprintf("user%03d@example.com", i)
		st, err := a.store.DeliveryState(ctx, 1, addr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case perm[addr]:
			if got[addr] != 0 || st.State != pipeline.StateFailed || st.Code != 550 {
				t.Errorf("%s: relay has %d, ledger %s %d; want 0 and failed 550", addr, got[addr], st.State, st.Code)
			}
		default:
			if got[addr] != 1 || st.State != pipeline.StateSent {
				t.Errorf("%s: relay has %d, ledger %s (%s); want exactly 1 and sent", addr, got[addr], st.State, st.Detail)
			}
		}
	}
	if len(got) != n-len(perm) {
		t.Errorf("relay holds messages for %d addresses, want %d", len(got), n-len(perm))
	}
	checkKeptCounts(t, a)
}

// checkKeptCounts fails t when the store's kept delivery counts (what the
// desk, the API and /metrics read) differ from a count of the ledger rows.
func checkKeptCounts(t *testing.T, a *app) {
	t.Helper()
	ctx := context.Background()
	eds, err := a.store.Editions(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ed := range eds {
		rows, err := a.db.QueryContext(ctx, `SELECT state, COUNT(*) FROM deliveries WHERE edition_id = ? GROUP BY state`, ed.ID)
		if err != nil {
			t.Fatal(err)
		}
		real := map[string]int{}
		for rows.Next() {
			var st string
			var n int
			if err := rows.Scan(&st, &n); err != nil {
				t.Fatal(err)
			}
			real[st] = n
		}
		rows.Close()
		if !maps.Equal(real, ed.Counts) {
			t.Errorf("edition %d: kept counts %v, the ledger holds %v", ed.ID, ed.Counts, real)
		}
	}
}

package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
)

// startServe starts `newsbrief serve` from the test's environment, its
// schedule ticking every second.
func startServe(t *testing.T, bin, dir string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "NEWSBRIEF_HTTP_ADDR=127.0.0.1:0", "NEWSBRIEF_SCHEDULE=@every 1s",
		"NEWSBRIEF_COLLECT_SCHEDULE=@every 1h", "NEWSBRIEF_LOG_LEVEL=info")
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, out
}

// waitFor polls cond every 50 ms until it holds or the time is up.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func editionStatus(t *testing.T, a *app) string {
	ed, err := a.store.Edition(context.Background(), 1)
	if err != nil {
		return ""
	}
	return ed.Status
}

// stopServe sends SIGTERM and returns how long the process took to exit
// and its exit error.
func stopServe(cmd *exec.Cmd) (time.Duration, error) {
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	err := cmd.Wait()
	return time.Since(start), err
}

// TestSigtermDuringSend: SIGTERM in the middle of a 10,000-subscriber send
// to a slow relay: serve exits 0 within the grace period, leaves no message
// in flight, and a restart completes the send with nobody mailed twice or
// skipped.
func TestSigtermDuringSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and sends 10,000 messages")
	}
	const n = 10000
	bin, relay, e := slowRelaySetup(t, n, "user%05d@example.com", "A story sent across a restart", "NEWSBRIEF_SHUTDOWN_GRACE", "10s")

	cmd, out := startServe(t, bin, e.dir)
	waitFor(t, "the send to be under way", 60*time.Second, func() bool { return len(relay.Messages()) >= 1000 })
	took, err := stopServe(cmd)
	if err != nil {
		t.Fatalf("serve after SIGTERM: %v\n%s", err, out.String())
	}
	if took > 10*time.Second {
		t.Errorf("serve took %s to stop, over the 10s grace", took)
	}
	a := openTestApp(t)
	defer a.Close()
	ed, err := a.store.Edition(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	sentAtStop := len(relay.Messages())
	t.Logf("stopped in %s with %d of %d sent; ledger %v", took.Round(time.Millisecond), sentAtStop, n, ed.Counts)
	if ed.Status != pipeline.EditionSending || ed.Counts[pipeline.StateSending] != 0 || ed.Counts[pipeline.StateUnknown] != 0 ||
		ed.Counts[pipeline.StateSent] != sentAtStop {
		t.Fatalf("after a clean stop: status %s, counts %v, relay %d; want sending, none in flight or unknown, sent = relay",
			ed.Status, ed.Counts, sentAtStop)
	}
	if !strings.Contains(out.String(), "shutting down") || !strings.Contains(out.String(), "stopped") {
		t.Errorf("shutdown not logged:\n%s", out.String())
	}

	cmd, out = startServe(t, bin, e.dir)
	waitFor(t, "the restarted daemon to finish the edition", 90*time.Second, func() bool { return editionStatus(t, a) == pipeline.EditionSent })
	if _, err := stopServe(cmd); err != nil {
		t.Fatalf("second serve: %v\n%s", err, out.String())
	}
	onceEach(t, relay, n, "user%05d@example.com")
}

// TestTwoServesOneDatabase: two daemons on one database tick during the
// same send; the lease lets one send, the other stands by, and every
// subscriber gets exactly one message.
func TestTwoServesOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs two daemons")
	}
	const n = 3000
	bin, relay, e := slowRelaySetup(t, n, "user%05d@example.com", "A story two daemons share")
	one, out1 := startServe(t, bin, e.dir)
	two, out2 := startServe(t, bin, e.dir)
	a := openTestApp(t)
	defer a.Close()
	waitFor(t, "the edition to be sent", 90*time.Second, func() bool { return editionStatus(t, a) == pipeline.EditionSent })
	time.Sleep(1500 * time.Millisecond) // another tick of each, with nothing new
	for _, c := range []*exec.Cmd{one, two} {
		if _, err := stopServe(c); err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	onceEach(t, relay, n, "user%05d@example.com")
	if eds, _ := a.store.Editions(context.Background(), 0); len(eds) != 1 {
		t.Errorf("%d editions, want 1", len(eds))
	}
	logs := out1.String() + out2.String()
	if !strings.Contains(logs, "another process is sending") {
		t.Errorf("neither daemon stood by for the other:\n%s", logs)
	}
}

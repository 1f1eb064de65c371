package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/smtptest"
	"github.com/newsbrief/newsbrief/pipeline"
)

// testBinary is the newsbrief binary, built once per test run by
// buildBinary and removed by TestMain.
var testBinary struct {
	once sync.Once
	dir  string
	path string
	out  []byte
	err  error
}

// buildBinary compiles newsbrief once per test run and returns its path.
func buildBinary(t *testing.T) string {
	t.Helper()
	testBinary.once.Do(func() {
		if testBinary.dir, testBinary.err = os.MkdirTemp("", "newsbrief-test-bin-"); testBinary.err != nil {
			return
		}
		testBinary.path = filepath.Join(testBinary.dir, "newsbrief")
		testBinary.out, testBinary.err = exec.Command("go", "build", "-o", testBinary.path, ".").CombinedOutput()
	})
	if testBinary.err != nil {
		t.Fatalf("go build: %v\n%s", testBinary.err, testBinary.out)
	}
	return testBinary.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBinary.dir != "" {
		os.RemoveAll(testBinary.dir)
	}
	os.Exit(code)
}

// slowRelaySetup builds the binary and seeds n subscribers (addresses from
// format) and one article, in an environment that sends over 4 connections
// to an SMTP server on 127.0.0.1 taking 2 ms a message.
func slowRelaySetup(t *testing.T, n int, format, title string, vars ...string) (string, *smtptest.Server, *env) {
	t.Helper()
	bin := buildBinary(t)
	relay := smtptest.Start(t)
	relay.Script = func(string) smtptest.Fault { return smtptest.Fault{DelayData: 2 * time.Millisecond} }
	e := newEnv(t, append([]string{"NEWSBRIEF_SMTP_HOST", relay.Host, "NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port),
		"NEWSBRIEF_SMTP_TLS", "none", "NEWSBRIEF_SEND_CONCURRENCY", "4"}, vars...)...)
	e.seed(n, format, title)
	return bin, relay, e
}

// onceEach fails the test unless the relay got exactly one message for
// each of the n addresses made from format.
func onceEach(t *testing.T, relay *smtptest.Server, n int, format string) {
	t.Helper()
	got := relay.ByRecipient()
	for i := range n {
		if addr := fmt.Sprintf(format, i); got[addr] != 1 {
			t.Errorf("%s got %d messages", addr, got[addr])
		}
	}
}

// TestKill9MidSend SIGKILLs the real binary at random moments of a
// 20,000-subscriber send, at least 10 times, restarting it each time, then
// lets it finish. Nobody may get two messages: a message whose end of
// data was being written at a kill is unknown (and reached the relay, but
// for a kill between the journal's record and the dot's write); every
// other message left in flight is sent again.
func TestKill9MidSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary")
	}
	const n = 20000
	bin, relay, e := slowRelaySetup(t, n, "user%05d@example.com", "A story that survives crashes")

	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "send")
		cmd.Dir = e.dir
		cmd.Env = os.Environ()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	rng := rand.New(rand.NewPCG(7, 9))
	kills := 0
	for try := 0; kills < 12 && try < 40; try++ {
		cmd := start()
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		select {
		case <-time.After(time.Duration(50+rng.IntN(400)) * time.Millisecond):
			cmd.Process.Signal(syscall.SIGKILL)
			<-exited
			kills++
		case err := <-exited:
			if err != nil {
				t.Fatalf("send exited by itself with %v", err)
			}
		}
	}
	if kills < 10 {
		t.Fatalf("only %d kills landed", kills)
	}
	// now let it finish
	for try := 0; try < 5; try++ {
		out, err := exec.Command(bin, "send").CombinedOutput()
		_ = out
		if err != nil {
			t.Fatalf("final send: %v\n%s", err, out)
		}
		if strings.HasPrefix(e.must("editions", "show", "1"), "edition 1: sent") {
			break
		}
	}
	a := openTestApp(t)
	defer a.Close()
	ed, err := a.store.Edition(context.Background(), 1)
	if err != nil || ed.Status != pipeline.EditionSent {
		t.Fatalf("edition after the kills: %+v, %v", ed, err)
	}
	got := relay.ByRecipient()
	unknown, lost := 0, 0
	for i := range n {
		addr := fmt.Sprintf("user%05d@example.com", i)
		st, err := a.store.DeliveryState(context.Background(), 1, addr)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case got[addr] > 1:
			t.Errorf("%s got %d messages (ledger %s)", addr, got[addr], st.State)
		case st.State == pipeline.StateSent && got[addr] != 1:
			t.Errorf("%s is sent in the ledger but the relay has %d", addr, got[addr])
		case st.State == pipeline.StateUnknown:
			unknown++
			if got[addr] == 0 {
				lost++
			}
		case st.State != pipeline.StateSent:
			t.Errorf("%s ends %s", addr, st.State)
		}
	}
	t.Logf("%d kills; %d unknown (%d of them never reached the relay); %d sessions", kills, unknown, lost, relay.Sessions())
	checkKeptCounts(t, a)
	// with the send journal, only a message whose end of data was being
	// written when the process died stays unknown (at most one per
	// connection per kill), and such a message reached the relay, except
	// when the kill lands in the one write between the journal's record
	// and the dot's write (then resend-unknown sends it): a handful at
	// most, never one per message in flight
	if lost > kills {
		t.Errorf("%d of %d unknown never reached the relay after %d kills: the journal records too early", lost, unknown, kills)
	}
	if unknown > kills*4 {
		t.Errorf("%d unknown after %d kills: more than one per connection per kill", unknown, kills)
	}
}

package deliver

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/brief"
)

func TestBackoff(t *testing.T) {
	for attempts, want := range map[int]time.Duration{1: 5 * time.Minute, 2: 10 * time.Minute, 3: 20 * time.Minute, 10: 4 * time.Hour} {
		got := Backoff(0, attempts)
		if got < want || got > want+want/5 {
			t.Errorf("Backoff(%d) = %v, want %v plus up to 20%%", attempts, got, want)
		}
	}
}

// answer is a relay's answer as a Conn reports it.
type answer struct {
	code int
	perm bool
}

func (a answer) Error() string   { return "simulated answer" }
func (a answer) Permanent() bool { return a.perm }
func (a answer) StatusCode() int { return a.code }

func TestClassify(t *testing.T) {
	now := time.Date(2026, 12, 1, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		name  string
		err   error
		state string
		code  int
		retry bool
	}{
		{"accepted", nil, StateSent, 0, false},
		{"unknown mailbox", answer{550, true}, StateFailed, 550, false},
		{"greylisted", answer{451, false}, StateDeferred, 451, true},
		{"dropped connection", errors.New("connection reset by peer"), StateDeferred, 0, true},
		{"wrapped permanent", fmt.Errorf("send: %w", answer{554, true}), StateFailed, 554, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := classify(Job{Recipient: brief.Recipient{ID: 7}, Attempts: 2}, tt.err, now, time.Minute)
			if r.SubscriberID != 7 || r.State != tt.state || r.Code != tt.code || r.Next.After(now) != tt.retry {
				t.Errorf("classify = %+v, want %s %d retry=%v", r, tt.state, tt.code, tt.retry)
			}
			if tt.retry && r.Next.Sub(now) < 2*time.Minute { // second attempt: base doubled
				t.Errorf("next attempt in %v, want at least 2m", r.Next.Sub(now))
			}
		})
	}
}

// newJournal is an empty send journal in a temporary folder, closed when
// the test ends, and its file's path.
func newJournal(t *testing.T) (*journal, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sends")
	j, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.close() })
	if err := j.reset(); err != nil {
		t.Fatal(err)
	}
	return j, path
}

func TestJournalProgress(t *testing.T) {
	j, path := newJournal(t)
	w := j.writer()
	a, b, c, d := Key{1, 10}, Key{1, 11}, Key{1, 12}, Key{2, 10}
	w.Record(a.Edition, a.Subscriber)
	w.Accepted(a.Edition, a.Subscriber) // written with the next record
	w.Record(b.Edition, b.Subscriber)   // b: end written, no answer yet
	// a torn record at the end (the process died inside a store): its
	// kind written, its key not (the kind goes last, so this cannot
	// happen, but a damaged file reads as safely)
	j.mu.Lock()
	j.ensure(recordSize)
	j.mem[j.off] = byte(EndWritten)
	j.mu.Unlock()
	got, trusted, err := j.progress([]Key{a, b, c, d})
	if err != nil || !trusted {
		t.Fatalf("progress: %v, trusted %v", err, trusted)
	}
	want := map[Key]Progress{a: Accepted, b: EndWritten, c: NotSent, d: NotSent}
	for k, p := range want {
		if got[k] != p {
			t.Errorf("%v: %v, want %v", k, got[k], p)
		}
	}
	// after a reboot the journal speaks for nothing
	j.boot = "another-boot"
	if _, trusted, _ := j.progress([]Key{a}); trusted {
		t.Error("a journal from another boot was trusted")
	}
	// what was stored survives the process: a new open reads it, and
	// knows where to go on
	j.boot = bootID()
	j2, err := openJournal(path)
	if err != nil {
		t.Fatal(err)
	}
	if got, trusted, _ := j2.progress([]Key{a, b}); !trusted || got[a] != Accepted || got[b] != EndWritten {
		t.Errorf("reopened: %v %v", got, trusted)
	}
	j2.writer().Record(c.Edition, c.Subscriber)
	if got, _, _ := j2.progress([]Key{a, c}); got[a] != Accepted || got[c] != EndWritten {
		t.Errorf("a record after reopening: %v", got)
	}
	j2.close()
	// an empty or foreign file is not trusted either
	os.WriteFile(path, []byte("not a journal"), 0o600)
	j3, _ := openJournal(path)
	defer j3.close()
	if _, trusted, _ := j3.progress([]Key{a}); trusted {
		t.Error("a damaged journal was trusted")
	}
}

// TestJournalMemoryFlat: a send of many messages keeps no more than a
// chunk or two of its journal mapped, and every record stays readable.
func TestJournalMemoryFlat(t *testing.T) {
	j, path := newJournal(t)
	w := j.writer()
	// 7.8 MB of records: the file is mapped afresh as it doubles (4 MB,
	// 8 MB), so without the dropping nearly 4 MB would be resident now
	const n = 230_000
	for i := range int64(n) {
		w.Accepted(1, i) // the previous message's answer, with this record
		if err := w.Record(1, i+1); err != nil {
			t.Fatal(err)
		}
	}
	rss := mappedRSS(t, path)
	if rss > 2*journalChunk+64<<10 {
		t.Errorf("%d KB of the journal mapped after %d records, want at most about %d KB", rss>>10, n, 2*journalChunk>>10)
	}
	got, trusted, err := j.progress([]Key{{1, 1}, {1, n / 2}, {1, n}})
	if err != nil || !trusted || got[Key{1, 1}] != Accepted || got[Key{1, n / 2}] != Accepted || got[Key{1, n}] != EndWritten {
		t.Fatalf("progress after dropping pages: %v, %v, %v", got, trusted, err)
	}
}

// mappedRSS is how much of the file at path this process has resident in
// its mappings, from /proc/self/smaps.
func mappedRSS(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	total, in := 0, false
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			in = f[len(f)-1] == path
		case in && len(f) == 3 && f[0] == "Rss:":
			kb, _ := strconv.Atoi(f[1])
			total += kb << 10
		}
	}
	return total
}

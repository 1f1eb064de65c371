package deliver

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
)

// Key names one ledger row.
type Key struct {
	Edition    int64
	Subscriber int64
}

// Progress is how far a message left in flight is known to have gone.
type Progress uint8

const (
	// NotSent: its end of data was never written; it is sent again.
	NotSent Progress = iota
	// EndWritten: its end of data was (being) written, with no answer
	// recorded; it may have arrived, so it is not resent (unknown).
	EndWritten
	// Accepted: the relay took it; it is sent.
	Accepted
)

// journal is the send journal: before a message's end of data goes to the
// relay, its key is stored in a file next to the database, mapped into
// memory (mmap, MAP_SHARED: a store is in the kernel's page cache at once,
// so it survives the death of the process, and costs no system call), and
// the relay's acceptance of the connection's previous message goes with
// it. A record's kind byte is stored after its key, so a record cut short
// by a kill reads as no record. So after a kill -9 the rows left sending split exactly:
// accepted ones are sent, the one message per connection whose end of data
// was being written is unknown (it may have arrived), and the others
// certainly did not arrive and are sent again. A machine crash can lose
// the journal's last writes; the journal names the boot it was written in,
// and after a reboot every row left sending is taken as unknown, so even
// then nobody is mailed twice.
type journal struct {
	mu   sync.Mutex
	f    *os.File
	boot string
	mem  []byte // the file mapped, len(mem) bytes of it; nil until the first write
	off  int    // where the next record goes
	// released is where the pages this process still maps begin: the
	// ones below, written, are dropped from the mapping every
	// journalChunk (they stay in the page cache and the file), so that
	// the process's memory stays flat however many messages a send has
	released int
}

// journalChunk is how much the mapped file grows at a time.
const journalChunk = 1 << 20

// journalWriter is one worker's (one connection's) view of the journal: the
// acceptance of its last message waits for its next record, so each
// message costs one write.
type journalWriter struct {
	j       *journal
	pending []byte
}

// writer returns a writer for one connection.
func (j *journal) writer() *journalWriter {
	return &journalWriter{j: j, pending: make([]byte, 0, 2*recordSize)}
}

// recordSize is one record: a kind byte, the edition and the subscriber.
const recordSize = 17

func appendRecord(b []byte, kind Progress, editionID, subscriberID int64) []byte {
	b = append(b, byte(kind))
	b = binary.LittleEndian.AppendUint64(b, uint64(editionID))
	return binary.LittleEndian.AppendUint64(b, uint64(subscriberID))
}

// Record appends the end-of-data record of one message, with whatever this
// connection accepted before, in one write; it satisfies brief.Journal.
func (w *journalWriter) Record(editionID, subscriberID int64) error {
	w.pending = appendRecord(w.pending, EndWritten, editionID, subscriberID)
	err := w.j.write(w.pending)
	w.pending = w.pending[:0]
	return err
}

// Accepted notes that the relay took a message; it is written with the
// connection's next record (or at flush).
func (w *journalWriter) Accepted(editionID, subscriberID int64) {
	w.pending = appendRecord(w.pending, Accepted, editionID, subscriberID)
}

// flush writes what the writer holds; called when its connection closes.
func (w *journalWriter) flush() {
	if len(w.pending) > 0 {
		w.j.write(w.pending)
		w.pending = w.pending[:0]
	}
}

// write stores records (recordSize bytes each) at the journal's end: for
// each, its key first and its kind byte last.
func (j *journal) write(b []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.ensure(len(b)); err != nil {
		return err
	}
	for k := 0; k+recordSize <= len(b); k += recordSize {
		copy(j.mem[j.off+1:j.off+recordSize], b[k+1:k+recordSize])
		j.mem[j.off] = b[k]
		j.off += recordSize
	}
	if j.off-j.released >= journalChunk {
		// records are never written again: the pages wholly below off go
		// (MADV_DONTNEED on a shared file mapping keeps their contents)
		end := j.off &^ (os.Getpagesize() - 1)
		if err := syscall.Madvise(j.mem[j.released:end], syscall.MADV_DONTNEED); err == nil {
			j.released = end
		}
	}
	return nil
}

// ensure maps the file far enough for n more bytes at off.
func (j *journal) ensure(n int) error {
	if j.off+n <= len(j.mem) {
		return nil
	}
	size := max(2*len(j.mem), (j.off+n+journalChunk-1)/journalChunk*journalChunk)
	if err := j.unmap(); err != nil {
		return err
	}
	if err := j.f.Truncate(int64(size)); err != nil {
		return fmt.Errorf("send journal: %w", err)
	}
	mem, err := syscall.Mmap(int(j.f.Fd()), 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("send journal: map: %w", err)
	}
	j.mem = mem
	return nil
}

func (j *journal) unmap() error {
	if j.mem == nil {
		return nil
	}
	err := syscall.Munmap(j.mem)
	j.mem = nil
	if err != nil {
		return fmt.Errorf("send journal: unmap: %w", err)
	}
	return nil
}

const journalMagic = "newsbrief-send-journal-1\n"

// bootID identifies the running boot of the machine ("" when unknown, in
// which case a journal is never trusted across restarts).
func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// openJournal opens (or creates) the journal at path.
func openJournal(path string) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("send journal: %w", err)
	}
	j := &journal{f: f, boot: bootID()}
	// the end of what it holds: past the header, the first record without
	// a kind (the file grows in chunks of zeros)
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("send journal: %w", err)
	}
	j.off = int(st.Size())
	r := bufio.NewReaderSize(io.NewSectionReader(f, 0, st.Size()), 64<<10)
	head := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, head); err == nil && string(head) == journalMagic {
		if boot, err := r.ReadString('\n'); err == nil {
			off := len(journalMagic) + len(boot)
			var rec [recordSize]byte
			for {
				if _, err := io.ReadFull(r, rec[:]); err != nil || rec[0] == 0 {
					break
				}
				off += recordSize
			}
			j.off = off
		}
	}
	return j, nil
}

// progress tells how far each of keys got, by the journal. trusted is
// false when the journal cannot speak for them: it is missing, damaged or
// from another boot of the machine (its last writes may be lost). It reads
// the file once, keeping only the keys asked about.
func (j *journal) progress(keys []Key) (found map[Key]Progress, trusted bool, err error) {
	if len(keys) == 0 {
		return nil, true, nil
	}
	want := make(map[Key]Progress, len(keys))
	for _, k := range keys {
		want[k] = NotSent
	}
	if _, err := j.f.Seek(0, io.SeekStart); err != nil {
		return nil, false, fmt.Errorf("send journal: %w", err)
	}
	r := bufio.NewReaderSize(j.f, 64<<10)
	head := make([]byte, len(journalMagic))
	if _, err := io.ReadFull(r, head); err != nil || string(head) != journalMagic {
		return nil, false, nil
	}
	boot, err := r.ReadString('\n')
	if err != nil || j.boot == "" || strings.TrimSpace(boot) != j.boot {
		return nil, false, nil
	}
	var rec [recordSize]byte
	for {
		if _, err := io.ReadFull(r, rec[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // a torn last record was never followed by its end of data
			}
			return nil, false, fmt.Errorf("send journal: %w", err)
		}
		kind := Progress(rec[0])
		k := Key{int64(binary.LittleEndian.Uint64(rec[1:9])), int64(binary.LittleEndian.Uint64(rec[9:]))}
		if cur, ok := want[k]; ok && kind > cur && kind <= Accepted {
			want[k] = kind
		}
	}
	return want, true, nil
}

// reset empties the journal and starts it for this boot. Called when no row
// is left sending: everything it said is in the ledger.
func (j *journal) reset() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.unmap(); err != nil {
		return err
	}
	if err := j.f.Truncate(0); err != nil {
		return fmt.Errorf("send journal: %w", err)
	}
	var b bytes.Buffer
	b.WriteString(journalMagic)
	b.WriteString(j.boot + "\n")
	if _, err := j.f.WriteAt(b.Bytes(), 0); err != nil {
		return fmt.Errorf("send journal: %w", err)
	}
	j.off, j.released = b.Len(), 0
	return nil
}

// close unmaps the journal and cuts the file to what it holds.
func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	err := j.unmap()
	if terr := j.f.Truncate(int64(j.off)); err == nil && terr != nil {
		err = fmt.Errorf("send journal: %w", terr)
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	return err
}

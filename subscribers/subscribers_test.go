package subscribers

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/newsbrief/newsbrief/internal/sqlite"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "subs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := Open(context.Background(), db, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNormalizeEmail(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{"ada@example.com", "ada@example.com", ""},
		{"  Ada@EXAMPLE.Com ", "Ada@example.com", ""},
		{"user+tag@sub.example.org", "user+tag@sub.example.org", ""},
		{"jörg@bücher.example", "jörg@xn--bcher-kva.example", ""}, // SMTPUTF8 local part kept
		{"joerg@bücher.example", "joerg@xn--bcher-kva.example", ""},
		{"", "", "empty"},
		{"no-at-sign", "", "local-part@domain"},
		{"a@b", "", "no dot"},
		{"Ada <ada@example.com>", "", "white space"},
		{"a@example.com\r\nBcc: x@y.z", "", "white space"},
		{"a b@example.com", "", "white space"},
		{"@example.com", "", "local-part@domain"},
		{"a@", "", "local-part@domain"},
		{strings.Repeat("a", 250) + "@example.com", "", "254"},
	}
	for _, tt := range tests {
		got, err := NormalizeEmail(tt.in)
		if tt.err != "" {
			if !errors.Is(err, ErrInvalidEmail) || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("NormalizeEmail(%q) = %q, %v; want an error mentioning %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestAddIsCaseInsensitive(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Add(ctx, "Ada@Example.com", "Ada", "", "cli"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "ada@example.COM", "", "", "cli"); !errors.Is(err, ErrExists) {
		t.Fatalf("second add = %v, want ErrExists", err)
	}
	if _, err := s.Add(ctx, "x@example.com", "Eve\r\nBcc: v@example.com", "", "cli"); err == nil {
		t.Fatal("a name with CR/LF was accepted")
	}
	got, err := s.GetByEmail(ctx, "ADA@example.com")
	if err != nil || got.Email != "Ada@example.com" || got.Status != Active {
		t.Fatalf("GetByEmail = %+v, %v", got, err)
	}
	if err := s.Unsubscribe(ctx, got.ID); err != nil {
		t.Fatal(err)
	}
	inactive, _ := s.Inactive(ctx, []int64{got.ID, 999})
	if !inactive[got.ID] || !inactive[999] {
		t.Errorf("Inactive = %v", inactive)
	}
	if err := s.Remove(ctx, "nobody@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Remove unknown = %v", err)
	}
}

func TestImport(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	s.Add(ctx, "old@example.com", "Old Name", "", "cli")
	s.Add(ctx, "left@example.com", "", "", "cli")
	left, _ := s.GetByEmail(ctx, "left@example.com")
	s.Unsubscribe(ctx, left.ID)
	csv := "\ufeffName,E-mail,City\r\n" +
		"Ada,ada@example.com,London\r\n" + // 2
		"Bad,not-an-address,Paris\r\n" + // 3: bad
		"ADA again,ADA@example.com,London\r\n" + // 4: duplicate of 2
		"\"Eve\nBcc: x@y.z\",eve@example.com,\r\n" + // 5-6: CR/LF in the name
		"New Old,old@example.com,\r\n" + // 7: update
		",left@example.com,\r\n" + // 8: unsubscribed stays so
		"\r\n" + // 9: blank
		"Short\r\n" + // 10: no email column
		"\"unterminated,x@example.com\r\n" // 11: malformed
	for _, dry := range []bool{true, false} {
		rep, err := s.Import(ctx, strings.NewReader(csv), ImportOptions{DryRun: dry, Consent: "signed up at the fair"})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Added != 1 || rep.Updated != 1 || rep.Unchanged != 1 {
			t.Errorf("dry=%v: %+v", dry, rep)
		}
		var lines []int
		for _, b := range rep.Bad {
			lines = append(lines, b.Line)
		}
		if len(lines) != 5 || lines[0] != 3 || lines[1] != 4 || lines[2] != 5 || lines[3] != 10 || lines[4] != 11 {
			t.Errorf("dry=%v: bad lines %v (%+v)", dry, lines, rep.Bad)
		}
		all, _ := s.List(ctx, "", 0, 0)
		if n := len(all); dry && n != 2 {
			t.Fatalf("dry run stored rows: %d subscribers", n)
		}
	}
	ada, err := s.GetByEmail(ctx, "ada@example.com")
	if err != nil || ada.Name != "Ada" || ada.Consent != "signed up at the fair" || ada.Via != "import" {
		t.Errorf("ada = %+v, %v", ada, err)
	}
	old, _ := s.GetByEmail(ctx, "old@example.com")
	if old.Name != "New Old" {
		t.Errorf("old not updated: %+v", old)
	}
	left, _ = s.GetByEmail(ctx, "left@example.com")
	if left.Status != Unsubscribed {
		t.Errorf("an import re-activated an unsubscribed address: %+v", left)
	}
}

func TestImportNeedsEmailHeader(t *testing.T) {
	s := newStore(t)
	for _, in := range []string{"", "ada@example.com,Ada\n", "name,city\nx,y\n"} {
		if _, err := s.Import(context.Background(), strings.NewReader(in), ImportOptions{}); !errors.Is(err, ErrBadHeader) {
			t.Errorf("Import(%q) = %v, want ErrBadHeader", in, err)
		}
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 11, 23, 7, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tok, err := NewTokens([]byte("0123456789abcdef0123456789abcdef"), clock)
	if err != nil {
		t.Fatal(err)
	}
	good := tok.Sign(PurposeUnsubscribe, 42)
	if id, err := tok.Verify(PurposeUnsubscribe, good, 0); err != nil || id != 42 {
		t.Fatalf("Verify(good) = %d, %v", id, err)
	}
	other, _ := NewTokens([]byte("another-secret-another-secret!!"), clock)
	flipped := []byte(good)
	flipped[3] ^= 1
	tests := []struct {
		name, purpose, token string
		maxAge               time.Duration
		want                 error
	}{
		{"wrong purpose", PurposeConfirm, good, 0, ErrBadToken},
		{"altered", PurposeUnsubscribe, string(flipped), 0, ErrBadToken},
		{"truncated", PurposeUnsubscribe, good[:20], 0, ErrBadToken},
		{"garbage", PurposeUnsubscribe, "!!not base64!!", 0, ErrBadToken},
		{"other key", PurposeUnsubscribe, other.Sign(PurposeUnsubscribe, 42), 0, ErrBadToken},
		{"empty", PurposeUnsubscribe, "", 0, ErrBadToken},
	}
	for _, tt := range tests {
		if _, err := tok.Verify(tt.purpose, tt.token, tt.maxAge); !errors.Is(err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
		}
	}
	now = now.Add(49 * time.Hour)
	if _, err := tok.Verify(PurposeUnsubscribe, good, 48*time.Hour); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("expired: %v", err)
	}
	if _, err := NewTokens([]byte("short"), nil); err == nil {
		t.Error("a short secret was accepted")
	}
}

func TestGeneratedSecretSurvivesRestart(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	a, err := s.Secret(ctx, "")
	if err != nil || len(a) != 32 {
		t.Fatalf("Secret = %x, %v", a, err)
	}
	b, _ := s.Secret(ctx, "")
	if string(a) != string(b) {
		t.Error("the generated secret changed between calls")
	}
	c, _ := s.Secret(ctx, "configured-secret-value")
	if string(c) != "configured-secret-value" {
		t.Error("the configured secret was not used")
	}
}

func TestRecordBounce(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	hard, _ := s.Add(ctx, "gone@example.com", "", "", "cli")
	soft, _ := s.Add(ctx, "full@example.com", "", "", "cli")
	if b, err := s.RecordBounce(ctx, hard.ID, "550 5.1.1 no such user", true, 3); err != nil || !b {
		t.Fatalf("hard bounce: %v, %v", b, err)
	}
	for i := 1; i <= 3; i++ {
		b, err := s.RecordBounce(ctx, soft.ID, "552 5.2.2 mailbox full", false, 3)
		if err != nil || b != (i == 3) {
			t.Fatalf("soft bounce %d: bounced=%v, %v", i, b, err)
		}
	}
	got, _ := s.GetByEmail(ctx, "full@example.com")
	if got.Status != Bounced || got.Bounces != 3 || got.BouncedAt.IsZero() || got.LastBounce != "552 5.2.2 mailbox full" {
		t.Errorf("after soft bounces: %+v", got)
	}
	inactive, _ := s.Inactive(ctx, []int64{hard.ID, soft.ID})
	if !inactive[hard.ID] || !inactive[soft.ID] {
		t.Error("bounced addresses are still active")
	}
	// an import does not bring a bounced address back
	if _, err := s.Import(ctx, strings.NewReader("email,name\ngone@example.com,Back\n"), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.GetByEmail(ctx, "gone@example.com"); got.Status != Bounced {
		t.Errorf("import re-activated a bounced address: %+v", got)
	}
	if _, err := s.RecordBounce(ctx, 999, "x", true, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}

func TestForget(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	sub, _ := s.Add(ctx, "Private@Example.com", "Pat Private", "form", "cli")
	id, err := s.Forget(ctx, "private@example.com")
	if err != nil || id != sub.ID {
		t.Fatalf("Forget = %d, %v", id, err)
	}
	if _, err := s.GetByEmail(ctx, "private@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the erased subscriber is still there: %v", err)
	}
	if _, err := s.Add(ctx, "PRIVATE@example.com", "", "", "cli"); !errors.Is(err, ErrSuppressed) {
		t.Errorf("re-adding an erased address = %v, want ErrSuppressed", err)
	}
	for _, dry := range []bool{true, false} {
		rep, err := s.Import(ctx, strings.NewReader("email\nprivate@example.com\nnew@example.com\n"), ImportOptions{DryRun: dry})
		if err != nil || rep.Added != 1 || len(rep.Bad) != 1 || rep.Bad[0].Line != 2 || !strings.Contains(rep.Bad[0].Reason, "erased") {
			t.Errorf("dry=%v: import of an erased address: %+v, %v", dry, rep, err)
		}
	}
	// nothing personal is left in the database file
	var n int
	s.db.QueryRow(`SELECT COUNT(*) FROM subscribers WHERE email_key LIKE '%private%' OR name LIKE '%Pat%'`).Scan(&n)
	if n != 0 {
		t.Error("personal data left behind")
	}
	// forgetting an address that is not on the list still suppresses it
	if _, err := s.Forget(ctx, "never@example.com"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Forget unknown = %v", err)
	}
	if _, err := s.Add(ctx, "never@example.com", "", "", "cli"); !errors.Is(err, ErrSuppressed) {
		t.Errorf("an address forgotten before it subscribed can be added: %v", err)
	}
}

func TestImportKeepsOtherColumnsAsAttributes(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	in := "email,name,City,Plan\nada@example.com,Ada,London,gold\nbob@example.com,Bob,,\n"
	if _, err := s.Import(ctx, strings.NewReader(in), ImportOptions{Consent: "x"}); err != nil {
		t.Fatal(err)
	}
	ada, _ := s.GetByEmail(ctx, "ada@example.com")
	bob, _ := s.GetByEmail(ctx, "bob@example.com")
	if ada.Attributes != `{"City":"London","Plan":"gold"}` || bob.Attributes != "{}" {
		t.Fatalf("attributes: %q, %q", ada.Attributes, bob.Attributes)
	}
	rep, err := s.Import(ctx, strings.NewReader("email,Plan\nada@example.com,platinum\n"), ImportOptions{Consent: "x"})
	if err != nil || rep.Updated != 1 {
		t.Fatalf("update: %+v %v", rep, err)
	}
	ada, _ = s.GetByEmail(ctx, "ada@example.com")
	if ada.Attributes != `{"City":"London","Plan":"platinum"}` || ada.Name != "Ada" {
		t.Errorf("after the update: %q %q", ada.Attributes, ada.Name)
	}
}

// TestCountsKeptCurrent: the kept counts by status agree with a count of
// the table after every kind of change.
func TestCountsKeptCurrent(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	check := func(step string) {
		t.Helper()
		for _, st := range Statuses {
			var real int
			if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM subscribers WHERE status = ?`, st).Scan(&real); err != nil {
				t.Fatal(err)
			}
			kept, err := s.Count(ctx, st)
			if err != nil {
				t.Fatal(err)
			}
			if kept != real {
				t.Errorf("after %s: %d %s kept, %d in the table", step, kept, st, real)
			}
		}
	}
	check("nothing")
	for i := range 5 {
		if _, err := s.Add(ctx, fmt.Sprintf("a%d@example.com", i), "", "test", "cli"); err != nil {
			t.Fatal(err)
		}
	}
	check("add")
	csv := "email,name\nb1@example.com,B\nb2@example.com,C\na1@example.com,Renamed\n"
	if _, err := s.Import(ctx, strings.NewReader(csv), ImportOptions{Consent: "test list"}); err != nil {
		t.Fatal(err)
	}
	check("import")
	id, _, err := s.RequestSubscription(ctx, "p@example.com", "P", Consent{Wording: "w", Via: "form"})
	if err != nil {
		t.Fatal(err)
	}
	check("opt-in request")
	if err := s.Confirm(ctx, id); err != nil {
		t.Fatal(err)
	}
	check("confirm")
	a0, _ := s.GetByEmail(ctx, "a0@example.com")
	if err := s.Unsubscribe(ctx, a0.ID); err != nil {
		t.Fatal(err)
	}
	check("unsubscribe")
	a2, _ := s.GetByEmail(ctx, "a2@example.com")
	if _, err := s.RecordBounce(ctx, a2.ID, "550 5.1.1 no such user", true, 3); err != nil {
		t.Fatal(err)
	}
	check("bounce")
	if err := complain(ctx, s, "a3@example.com"); err != nil {
		t.Fatal(err)
	}
	check("complaint")
	if err := s.Remove(ctx, "a4@example.com"); err != nil {
		t.Fatal(err)
	}
	check("remove")
	if _, err := s.Forget(ctx, "b1@example.com"); err != nil {
		t.Fatal(err)
	}
	check("forget")
}

// TestExportIsSpreadsheetSafe: names and user agents typed into the public
// form cannot become formulas in an operator's spreadsheet, and an export
// imports back to the same values.
func TestExportIsSpreadsheetSafe(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	hostile := []string{`=cmd|' /C calc'!A0`, `=HYPERLINK("http://evil.example","x")`, "+1+1", "-2+3", "@SUM(A1)", "\tTab", "\rCR"}
	for i, name := range hostile {
		if _, _, err := s.RequestSubscription(ctx, fmt.Sprintf("h%d@example.com", i), name,
			Consent{Wording: "w", Via: "form", UserAgent: name}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Add(ctx, "=1+2@example.com", "Plain Name", "test", "cli"); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := s.Export(ctx, &out); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows[1:] {
		for j, cell := range row {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("column %s starts a formula: %q", rows[0][j], cell)
			}
		}
	}
	// the export imports back unchanged
	s2 := newStore(t)
	if _, err := s2.Import(ctx, strings.NewReader(out.String()), ImportOptions{Consent: "re-import"}); err != nil {
		t.Fatal(err)
	}
	for i, name := range hostile {
		sub, err := s2.GetByEmail(ctx, fmt.Sprintf("h%d@example.com", i))
		want, _ := CleanName(name)
		if err != nil || sub.Name != want {
			t.Errorf("re-imported name %q, want %q (%v)", sub.Name, want, err)
		}
	}
	if _, err := s2.GetByEmail(ctx, "=1+2@example.com"); err != nil {
		t.Errorf("the address starting with = did not come back: %v", err)
	}
}

// TestImportRefusesAnEndlessLine: a line longer than 1 MiB stops the import
// with its line number, in bounded memory; the rows before it are kept.
func TestImportRefusesAnEndlessLine(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	r := io.MultiReader(strings.NewReader("email,name\nok@example.com,Fine\nlong@example.com,"),
		io.LimitReader(neverEnding('x'), 64<<20), strings.NewReader("\nafter@example.com,After\n"))
	_, err := s.Import(ctx, r, ImportOptions{Consent: "test"})
	if !errors.Is(err, ErrLineTooLong) || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("import = %v, want ErrLineTooLong at line 3", err)
	}
	if _, err := s.GetByEmail(ctx, "ok@example.com"); err != nil {
		t.Errorf("the row before the long line was lost: %v", err)
	}
}

// neverEnding is an endless stream of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// TestIDsNeverReused: after the newest subscriber is erased or removed, the
// next one gets a new ID, so the old person's signed links (which name the
// ID) act on nobody.
func TestIDsNeverReused(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tok, err := NewTokens([]byte("0123456789abcdef0123456789abcdef"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add(ctx, "first@example.com", "", "test", "cli"); err != nil {
		t.Fatal(err)
	}
	old, _, err := s.RequestSubscription(ctx, "gone@example.com", "Gone", Consent{Wording: "w", Via: "form"})
	if err != nil {
		t.Fatal(err)
	}
	confirm := tok.Sign(PurposeConfirm, old)
	if _, err := s.Forget(ctx, "gone@example.com"); err != nil {
		t.Fatal(err)
	}
	next, _, err := s.RequestSubscription(ctx, "next@example.com", "Next", Consent{Wording: "w", Via: "form"})
	if err != nil {
		t.Fatal(err)
	}
	if next == old {
		t.Fatalf("the erased subscriber's ID %d was given again", old)
	}
	id, err := tok.Verify(PurposeConfirm, confirm, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, id); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old confirm link: %v, want ErrNotFound", err)
	}
	if sub, _ := s.GetByEmail(ctx, "next@example.com"); sub.Status != Pending {
		t.Errorf("the next subscriber was confirmed by someone else's old link: %s", sub.Status)
	}
	if err := s.Remove(ctx, "next@example.com"); err != nil {
		t.Fatal(err)
	}
	third, err := s.Add(ctx, "third@example.com", "", "test", "cli")
	if err != nil {
		t.Fatal(err)
	}
	if third.ID == next {
		t.Errorf("a removed subscriber's ID %d was given again", next)
	}
}

// TestImportCapsExtraColumns: an extra column's value over 1,000
// characters makes its row bad, with the line, instead of being stored.
func TestImportCapsExtraColumns(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	csv := "email,company\nok@example.com,Acme\nbig@example.com," + strings.Repeat("x", 2000) + "\n"
	rep, err := s.Import(ctx, strings.NewReader(csv), ImportOptions{Consent: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Added != 1 || len(rep.Bad) != 1 || rep.Bad[0].Line != 3 || !strings.Contains(rep.Bad[0].Reason, `"company" is longer than 1000`) {
		t.Errorf("report %+v", rep)
	}
}

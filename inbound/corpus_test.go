package inbound

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// expectation is Sisimai's reading of one corpus file: one entry a
// recipient.
type expectation struct {
	reasons []string
	hard    []bool
	fbtype  string
}

func loadExpected(t *testing.T) (map[string]*expectation, []string) {
	t.Helper()
	f, err := os.Open("../testdata/bounces/expected.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]*expectation{}
	var names []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		c := strings.Split(line, "\t")
		e := out[c[0]]
		if e == nil {
			e = &expectation{}
			out[c[0]] = e
			names = append(names, c[0])
		}
		e.reasons = append(e.reasons, c[3])
		e.hard = append(e.hard, c[4] == "1")
		e.fbtype = c[5]
	}
	sort.Strings(names)
	return out, names
}

// verdict compares newsbrief's reading of a file with Sisimai's: whether
// newsbrief claims to know what it is, whether the reading agrees, and
// whether it would wrongly suppress someone (hard where Sisimai says soft
// or not a bounce).
func verdict(rep *Report, e *expectation) (claimed, agree, wrongHard bool) {
	claimed = rep.Kind != Unknown && rep.Kind != Human
	nHard := 0
	for _, f := range rep.Failures {
		if f.Hard {
			nHard++
		}
	}
	wantHard := 0
	for _, h := range e.hard {
		if h {
			wantHard++
		}
	}
	switch e.reasons[0] {
	case "feedback":
		if e.fbtype == "opt-out" && rep.Kind == Unsubscribe {
			return claimed, true, false
		}
		return claimed, rep.Kind == Complaint && rep.FeedbackType == e.fbtype, nHard > 0
	case "vacation":
		return claimed, rep.Kind == AutoReply, nHard > 0
	case "notbounce":
		return claimed, rep.Kind != Bounce && rep.Kind != Complaint, nHard > 0
	case "delivered":
		return claimed, rep.Kind != Bounce, nHard > 0
	case "onhold", "undefined":
		// Sisimai cannot tell either: agreeing means not suppressing
		return claimed, nHard == 0, nHard > 0
	}
	if rep.Kind == Delayed {
		// the mail says itself that delivery is still tried (a DSN's
		// "Action: delayed", "THIS IS A WARNING MESSAGE ONLY"), where
		// Sisimai reports a soft bounce: nobody is suppressed or counted
		// either way; tallied apart as "warnings"
		return claimed, false, false
	}
	return claimed, rep.Kind == Bounce && len(rep.Failures) == len(e.hard) && nHard == wantHard, nHard > wantHard
}

// TestBounceCorpus reads a subset of Sisimai's set-of-emails (real bounce
// mails of many MTAs and providers, testdata/bounces) and compares each
// reading with Sisimai's published expected results: what kind of mail it
// is, how many recipients failed, and which of them were hard bounces.
func TestBounceCorpus(t *testing.T) {
	exp, names := loadExpected(t)
	type tally struct{ n, claimed, agree, warning, wrongHard int }
	byFormat := map[string]*tally{}
	var all tally
	var disagreements []string
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join("../testdata/bounces/mail", name))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Parse(raw)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		claimed, agree, wrongHard := verdict(rep, exp[name])
		group := name[:strings.LastIndexByte(name, '-')]
		tl := byFormat[group]
		if tl == nil {
			tl = &tally{}
			byFormat[group] = tl
		}
		for _, x := range []*tally{tl, &all} {
			x.n++
			if claimed {
				x.claimed++
				if agree {
					x.agree++
				} else if rep.Kind == Delayed && !exp[name].hard[0] {
					x.warning++
				}
			}
			if wrongHard {
				x.wrongHard++
			}
		}
		if claimed && !agree && rep.Kind != Delayed || wrongHard {
			var got []string
			for _, f := range rep.Failures {
				got = append(got, fmt.Sprintf("%s %s hard=%v", f.Email, f.Status, f.Hard))
			}
			disagreements = append(disagreements, fmt.Sprintf("%s: sisimai %v %v %s; newsbrief %s %s %v", name,
				exp[name].reasons, exp[name].hard, exp[name].fbtype, rep.Kind, rep.FeedbackType, got))
		}
	}
	var groups []string
	for g := range byFormat {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	t.Logf("%-20s %5s %8s %6s %8s %10s", "corpus", "mails", "claimed", "agree", "warning", "wrong-hard")
	for _, g := range groups {
		x := byFormat[g]
		t.Logf("%-20s %5d %8d %6d %8d %10d", g, x.n, x.claimed, x.agree, x.warning, x.wrongHard)
	}
	t.Logf("%-20s %5d %8d %6d %8d %10d", "all", all.n, all.claimed, all.agree, all.warning, all.wrongHard)
	strict := float64(all.agree) / float64(max(all.claimed, 1))
	rate := float64(all.agree+all.warning) / float64(max(all.claimed, 1))
	t.Logf("recognised %d/%d = %.1f%%; of those, read as Sisimai does: %d = %.1f%%; with the %d delay warnings "+
		"(Sisimai: soft bounce; newsbrief: still being tried, nothing counted): %.1f%%; hard where Sisimai says soft: %d",
		all.claimed, all.n, 100*float64(all.claimed)/float64(all.n), all.agree, 100*strict, all.warning, 100*rate, all.wrongHard)
	for _, d := range disagreements {
		t.Log(d)
	}
	if rate < 0.95 {
		t.Errorf("agreement %.1f%% < 95%%", 100*rate)
	}
	if float64(all.claimed) < 0.8*float64(all.n) {
		t.Errorf("recognised only %d of %d", all.claimed, all.n)
	}
}

package pipeline

import "testing"

// TestSameStory: pairs of headlines that are or are not one story,
// grouped as an edition's candidates are.
func TestSameStory(t *testing.T) {
	tests := []struct {
		a, b string
		same bool
	}{
		{"Bridge repairs close the river crossing for two weeks", "River crossing closed for two weeks as bridge repairs begin", true},
		{"Council approves the new tram line", "City council approves tram line extension", true},
		{"Council approves the new tram line", "Council rejects the budget", false},
		{"Storm warning", "Storm warning issued", false}, // too few words to tell
		{"Home side wins the derby", "Away side wins the cup final", false},
		// the failures found in the issue: short tokens count, numbers and institutions that differ mean different stories
		{"UK inflation falls to 3.2%", "US inflation falls to 3.5%", false},
		{"UK inflation falls to 3.2% in October", "Inflation in the UK falls to 3.2%", true},
		{"European Central Bank keeps interest rates unchanged", "Fed keeps interest rates unchanged", false},
		{"ECB keeps interest rates on hold", "Fed keeps interest rates on hold as inflation cools", false},
		{"EBay rejects Icahn board nominees, asks investors to do same", "UPDATE 1-EBay rejects Icahn board nominees, asks investors to do same", true},
		{"G7 leaders agree on climate finance", "G20 leaders agree on climate finance", false},
	}
	for _, tt := range tests {
		arts := []Article{{ID: 1, Title: tt.a, SourceID: 1, Origin: "feed"}, {ID: 2, Title: tt.b, SourceID: 2, Origin: "feed"}}
		if got := len(groupStories(arts, nil)) == 1; got != tt.same {
			t.Errorf("%q ~ %q: same = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// TestSourceRules: an editor's selector and regex rules for one source
// remove what they match from that source's articles only; a rule that
// does not compile is refused.

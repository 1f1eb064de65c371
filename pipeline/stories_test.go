package pipeline

import "testing"

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
	}
	for _, tt := range tests {
		if got := sameStory(storyWords(tt.a), storyWords(tt.b)); got != tt.same {
			t.Errorf("sameStory(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.same)
		}
	}
}

// TestSourceRules: an editor's selector and regex rules for one source
// remove what they match from that source's articles only; a rule that
// does not compile is refused.

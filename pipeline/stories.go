package pipeline

import (
	"strings"
	"unicode"
)

// Grouping of the same story reported by several sources ("also reported
// by"). Two articles from different sources are the same story when their
// titles share at least minShared significant words and at least half of
// the words either has (Jaccard similarity ≥ 0.5). Titles are what outlets
// rewrite least; bodies differ too much between outlets to compare cheaply.
const minShared = 3

// stopwords are left out of title comparisons (English and the other
// languages the boilerplate rules know, their most common short words).
var stopwords = map[string]bool{
	"the": true, "and": true, "for": true, "with": true, "from": true, "that": true, "this": true,
	"are": true, "was": true, "were": true, "has": true, "have": true, "will": true, "its": true,
	"after": true, "over": true, "into": true, "about": true, "says": true, "said": true, "new": true,
	"der": true, "die": true, "das": true, "und": true, "mit": true, "für": true, "von": true,
	"les": true, "des": true, "une": true, "pour": true, "dans": true, "avec": true,
	"los": true, "las": true, "del": true, "por": true, "con": true, "una": true,
	"het": true, "een": true, "van": true, "voor": true, "met": true,
	"gli": true, "della": true, "per": true,
}

// storyWords are the significant words of a title, lower case.
func storyWords(title string) map[string]bool {
	words := strings.FieldsFunc(strings.ToLower(title), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := make(map[string]bool, len(words))
	for _, w := range words {
		if len([]rune(w)) >= 3 && !stopwords[w] {
			out[w] = true
		}
	}
	return out
}

// sameStory says whether two titles tell the same story.
func sameStory(a, b map[string]bool) bool {
	shared := 0
	for w := range a {
		if b[w] {
			shared++
		}
	}
	union := len(a) + len(b) - shared
	return shared >= minShared && union > 0 && 2*shared >= union
}

// sameSource says whether two articles come from the same place: the same
// feed, or both from the articles folder or editors.
func sameSource(a, b Article) bool {
	if a.SourceID != 0 || b.SourceID != 0 {
		return a.SourceID == b.SourceID
	}
	return a.Origin == b.Origin
}

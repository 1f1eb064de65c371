package pipeline

import (
	"math"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Grouping of the same story reported by several sources ("also reported
// by"), and of a source's own updated re-post. Headlines (and the start of
// the lead, at half weight) become sets of terms: lower case, English
// plurals and tenses folded, stop words and newsroom labels ("UPDATE 1",
// "REFILE") left out, acronyms (UK, US, EU, G7) and numbers kept. Terms
// are weighted by how rare they are among the articles compared (a name or
// a place counts more than "stocks"), and two articles are the same story
// when the weighted cosine of their terms reaches sameStoryAt with at
// least two terms shared, unless they conflict: both give numbers and
// share none ("3.2%" against "3.5%"), or both name acronyms and share none
// ("UK inflation" against "US inflation", "ECB" against "EU").

// minShared is how many headline terms two articles of one story share at
// least: two words are too few to tell.
const minShared = 3

// sameStoryAt is the similarity from which two articles tell one story;
// sameSourceAt the higher one a source's own two articles need (outlets
// post follow-ups in like words); mergeAt the one of two groups' average
// terms (see mergeGroups). Measured on testdata/curation/grouping.tsv.
const (
	sameStoryAt  = 0.3
	mergeAt      = 0.3
	sameSourceAt = 0.6
	leadWords    = 25 // words of the lead compared, at half a headline term's weight
	idfPrior     = 50
)

// stopwords are left out of comparisons: the commonest short words of the
// languages the boilerplate rules know, and headline labels.
var stopwords = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`a an the and or but for nor of in on at to from by with as is are was were be been being has have had
	do does did will would can could should may might must it its this that these those there here than then so not no yes
	after over into about amid against before up down out off via per vs his her their our your my we you they he she them us
	says said say new news today update updated refile rpt exclusive breaking live video watch report reports analysis opinion
	how why what who when where which while also just more most now still again first last next week year day
	der die das und mit für von den dem des ein eine ist im zu auf nach bei
	les des une pour dans avec sur par est aux du de la le et en un au
	los las del por con una para como el y en es al lo
	het een van voor met op te
	gli della per il di che con
	os as um uma do da dos das em no na para com`) {
		stopwords[w] = true
	}
}

// months folds month abbreviations.
var months = map[string]string{"jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june",
	"jul": "july", "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november", "dec": "december"}

// stem folds English plurals and tenses ("rejects", "rejected" → "reject";
// "nominees" → "nominee"; "sterilisation" → "sterilization").
func stem(w string) string {
	w = strings.TrimSuffix(strings.TrimSuffix(w, "'s"), "’s")
	if m, ok := months[w]; ok {
		return m
	}
	w = strings.ReplaceAll(w, "isation", "ization")
	n := utf8.RuneCountInString(w)
	switch {
	case n > 5 && strings.HasSuffix(w, "ies"):
		return strings.TrimSuffix(w, "ies") + "y"
	case n > 6 && strings.HasSuffix(w, "ing"):
		return strings.TrimSuffix(w, "ing")
	case n > 5 && strings.HasSuffix(w, "ed") && !strings.HasSuffix(w, "eed"):
		return strings.TrimSuffix(w, "ed")
	case n > 4 && (strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes") || strings.HasSuffix(w, "xes")):
		return strings.TrimSuffix(w, "es")
	case n > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") && !strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		return strings.TrimSuffix(w, "s")
	}
	return w
}

// storyTerms are an article's terms: its headline's (weight 1) and its
// lead's first leadWords words' (weight ½), with the numbers and
// acronyms of the headline apart for the conflict checks.
type storyTerms struct {
	terms    map[string]float64 // term → weight factor
	numbers  map[string]bool
	acronyms map[string]bool
	names    map[string]bool // the headline's capitalized words (as terms): names of people, places, institutions
	norm     float64         // squared length of the weighted terms, once the weights are known (0: compute)
}

func termsOf(a Article) storyTerms {
	st := storyTerms{terms: map[string]float64{}, numbers: map[string]bool{}, acronyms: map[string]bool{}, names: map[string]bool{}}
	add := func(text string, weight float64, limit int, apart bool) {
		text = dotted.Replace(text)
		n := 0
		for _, raw := range strings.FieldsFunc(text, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '\'' && r != '’' && r != '.' && r != '%'
		}) {
			raw = strings.Trim(raw, ".'’")
			if raw == "" {
				continue
			}
			if limit > 0 && n >= limit {
				return
			}
			n++
			hasDigit := strings.IndexFunc(raw, unicode.IsDigit) >= 0
			upper := raw == strings.ToUpper(raw) && strings.IndexFunc(raw, unicode.IsLetter) >= 0
			w := strings.ToLower(raw)
			switch {
			case hasDigit:
				w = strings.TrimSuffix(strings.ReplaceAll(w, ",", ""), "%")
				if apart {
					st.numbers[w] = true
				}
			case upper && utf8.RuneCountInString(raw) >= 2 && utf8.RuneCountInString(raw) <= 5 && !stopwords[w]:
				if apart && !allCaps(text) {
					st.acronyms[w] = true
					st.names[w] = true
				}
			case utf8.RuneCountInString(w) < 3 || stopwords[w]:
				continue
			default:
				w = stem(strings.Trim(w, "."))
				if stopwords[w] || utf8.RuneCountInString(w) < 3 {
					continue
				}
				if r, _ := utf8.DecodeRuneInString(raw); apart && unicode.IsUpper(r) {
					st.names[w] = true
				}
			}
			if weight > st.terms[w] {
				st.terms[w] = weight
			}
		}
	}
	add(a.Title, 1, 0, true)
	add(a.Summary, 0.5, leadWords, false)
	return st
}

// dotted spells dotted acronyms as others do: "U.S." is "US".
var dotted = strings.NewReplacer("U.S.", "US", "U.K.", "UK", "E.U.", "EU", "U.N.", "UN")

// allCaps says whether a headline is written in capitals throughout, where
// capitals mark no acronym.
func allCaps(s string) bool {
	letters, upper := 0, 0
	for _, r := range s {
		if unicode.IsLetter(r) {
			letters++
			if unicode.IsUpper(r) {
				upper++
			}
		}
	}
	return letters > 0 && upper*10 >= letters*8
}

// conflict says whether two articles name different numbers or different
// acronyms, which different stories do.
func conflict(a, b storyTerms) bool {
	disjoint := func(x, y map[string]bool) bool {
		if len(x) == 0 || len(y) == 0 {
			return false
		}
		for k := range x {
			if y[k] {
				return false
			}
		}
		return true
	}
	if disjoint(a.numbers, b.numbers) || disjoint(a.acronyms, b.acronyms) {
		return true
	}
	// each names someone or something the other does not mention at all
	if len(a.names) == 0 || len(b.names) == 0 {
		return false
	}
	for n := range a.names {
		if _, ok := b.terms[n]; ok {
			return false
		}
	}
	for n := range b.names {
		if _, ok := a.terms[n]; ok {
			return false
		}
	}
	return true
}

// similarity is the cosine of two articles' terms, each weighted by its
// factor and its rarity (idf), and the number of headline terms they
// share.
func similarity(a, b storyTerms, idf func(string) float64) (float64, int) {
	na, nb := a.norm, b.norm
	if na == 0 {
		na = norm2(a, idf)
	}
	if nb == 0 {
		nb = norm2(b, idf)
	}
	if len(b.terms) < len(a.terms) {
		a, b = b, a
	}
	var dot float64
	shared := 0
	for t, fa := range a.terms {
		if fb, ok := b.terms[t]; ok {
			w := idf(t)
			dot += fa * fb * w * w
			if fa == 1 && fb == 1 {
				shared++
			}
		}
	}
	if na == 0 || nb == 0 {
		return 0, 0
	}
	return dot / math.Sqrt(na*nb), shared
}

// norm2 is the squared length of an article's weighted terms.
func norm2(a storyTerms, idf func(string) float64) float64 {
	var n float64
	for t, f := range a.terms {
		w := f * idf(t)
		n += w * w
	}
	return n
}

// groupStories groups arts, in the order given (each group's first is its
// lead), and returns each group's indexes. An article joins the group
// holding the article it is most like, when that is the same story (see
// the comment above); rarity is counted among arts. An article alone says
// true for stands by itself (an editor split its group).
func groupStories(arts []Article, alone func(Article) bool) [][]int {
	terms := make([]storyTerms, len(arts))
	df := map[string]int{}
	for i, a := range arts {
		terms[i] = termsOf(a)
		for t := range terms[i].terms {
			df[t]++
		}
	}
	// rarity among arts, smoothed as if idfPrior more articles had none
	// of the terms: in a handful of articles, a shared term is not made
	// to count less than one only a single article has
	n := float64(len(arts))
	weight := make(map[string]float64, len(df))
	for t, d := range df {
		weight[t] = math.Log((n + idfPrior) / (float64(d) + 0.5))
	}
	idf := func(t string) float64 { return weight[t] }
	for i := range terms {
		terms[i].norm = norm2(terms[i], idf)
	}
	var groups [][]int
	groupOf := make([]int, len(arts))
	byTerm := map[string][]int{} // headline term → the earlier articles that have it
	sharedWith := map[int]int{}  // earlier article → headline terms shared with this one
	for i, a := range arts {
		if alone != nil && alone(a) {
			groupOf[i] = len(groups)
			groups = append(groups, []int{i})
			continue
		}
		clear(sharedWith)
		for t, f := range terms[i].terms {
			if f == 1 {
				for _, j := range byTerm[t] {
					sharedWith[j]++
				}
			}
		}
		best, bestSim := -1, 0.0
		for j, k := range sharedWith {
			if k < minShared {
				continue // too little in common to compare further
			}
			sim, _ := similarity(terms[i], terms[j], idf)
			at := sameStoryAt
			if sameSource(arts[j], a) {
				at = sameSourceAt
			}
			lead := groups[groupOf[j]][0]
			if sim >= at && (sim > bestSim || sim == bestSim && groupOf[j] < best) && !conflict(terms[i], terms[j]) && !conflict(terms[i], terms[lead]) {
				best, bestSim = groupOf[j], sim
			}
		}
		if best >= 0 {
			groups[best] = append(groups[best], i)
			groupOf[i] = best
		} else {
			groupOf[i] = len(groups)
			groups = append(groups, []int{i})
		}
		for t, f := range terms[i].terms {
			if f == 1 {
				byTerm[t] = append(byTerm[t], i)
			}
		}
	}
	return mergeGroups(groups, terms, idf)
}

// mergeGroups joins groups that tell one story in different words (each
// member like some of the other group's, none alike enough alone): the
// average terms of two groups, one of several articles, reach mergeAt,
// they share minShared headline terms, and no member of one conflicts
// with a member of the other. Only groups sharing a headline term are
// compared.
func mergeGroups(groups [][]int, terms []storyTerms, idf func(string) float64) [][]int {
	centroid := func(g []int) storyTerms {
		c := storyTerms{terms: map[string]float64{}}
		for _, m := range g {
			for t, f := range terms[m].terms {
				c.terms[t] += f / float64(len(g))
			}
		}
		return c
	}
	cents := make([]storyTerms, len(groups))
	byTerm := map[string][]int{} // headline term → groups
	for g, members := range groups {
		cents[g] = centroid(members)
		seen := map[string]bool{}
		for _, m := range members {
			for t, f := range terms[m].terms {
				if f == 1 && !seen[t] {
					seen[t] = true
					byTerm[t] = append(byTerm[t], g)
				}
			}
		}
	}
	dead := make([]bool, len(groups))
	for pass := 0; pass < 2; pass++ {
		for i := range groups {
			if dead[i] || len(groups[i]) < 2 {
				continue
			}
			tried := map[int]bool{i: true}
			for t, f := range cents[i].terms {
				if f == 0 {
					continue
				}
				for _, j := range byTerm[t] {
					if dead[j] || tried[j] {
						continue
					}
					tried[j] = true
					sim, _ := similarity(cents[i], cents[j], idf)
					if sim < mergeAt || sharedTerms(groups[i], groups[j], terms) < minShared || anyConflict(groups[i], groups[j], terms) {
						continue
					}
					groups[i] = append(groups[i], groups[j]...)
					cents[i] = centroid(groups[i])
					dead[j] = true
					for t2 := range cents[j].terms {
						byTerm[t2] = append(byTerm[t2], i)
					}
				}
			}
		}
	}
	var out [][]int
	for g, members := range groups {
		if !dead[g] {
			sort.Ints(members) // the lead is the first in the order given
			out = append(out, members)
		}
	}
	// in the order of their leads
	sort.Slice(out, func(a, b int) bool { return out[a][0] < out[b][0] })
	return out
}

// sharedTerms counts the headline terms both groups have.
func sharedTerms(a, b []int, terms []storyTerms) int {
	in := map[string]bool{}
	for _, m := range a {
		for t, f := range terms[m].terms {
			if f == 1 {
				in[t] = true
			}
		}
	}
	shared := map[string]bool{}
	for _, m := range b {
		for t, f := range terms[m].terms {
			if f == 1 && in[t] {
				shared[t] = true
			}
		}
	}
	return len(shared)
}

func anyConflict(a, b []int, terms []storyTerms) bool {
	for _, x := range a {
		for _, y := range b {
			if conflict(terms[x], terms[y]) {
				return true
			}
		}
	}
	return false
}

// sameSource says whether two articles come from the same place: the same
// feed, or both from the articles folder or editors.
func sameSource(a, b Article) bool {
	if a.SourceID != 0 || b.SourceID != 0 {
		return a.SourceID == b.SourceID
	}
	return a.Origin == b.Origin
}

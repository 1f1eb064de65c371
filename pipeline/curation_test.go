package pipeline

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestCurationGrouping measures the grouping of the same story reported by
// several outlets on the labelled headlines of testdata/curation
// (grouping.tsv: real headlines of the UCI News Aggregator set, by story,
// look-alikes among them), pair by pair: precision (of the pairs grouped
// together, how many are one story) and recall (of the pairs that are one
// story, how many were grouped).
func TestCurationGrouping(t *testing.T) {
	f, err := os.Open("../testdata/curation/grouping.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var arts []Article
	var story []string
	sources := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		c := strings.Split(sc.Text(), "\t")
		if len(c) != 4 {
			t.Fatalf("grouping.tsv: %q", sc.Text())
		}
		id, _ := strconv.ParseInt(c[1], 10, 64)
		if sources[c[2]] == 0 {
			sources[c[2]] = int64(len(sources) + 1)
		}
		arts = append(arts, Article{ID: id, Title: c[3], SourceID: sources[c[2]], SourceName: c[2], Origin: "feed"})
		story = append(story, c[0])
	}
	stories := map[string]bool{}
	for _, s := range story {
		stories[s] = true
	}
	if len(arts) < 40 || len(stories) < 10 {
		t.Fatalf("the corpus: %d headlines of %d stories", len(arts), len(stories))
	}
	// in the order the aggregator saw them (its IDs), as a collect would
	order := make([]int, len(arts))
	for i := range order {
		order[i] = i
	}
	for i := 1; i < len(order); i++ {
		for j := i; j > 0 && arts[order[j]].ID < arts[order[j-1]].ID; j-- {
			order[j], order[j-1] = order[j-1], order[j]
		}
	}
	in := make([]Article, len(arts))
	label := make([]string, len(arts))
	for k, i := range order {
		in[k], label[k] = arts[i], story[i]
	}
	groups := groupStories(in, nil)
	group := make([]int, len(in))
	for g, members := range groups {
		for _, m := range members {
			group[m] = g
		}
	}
	var tp, fp, fn int
	var wrong, missed []string
	for i := range in {
		for j := i + 1; j < len(in); j++ {
			same, together := label[i] == label[j], group[i] == group[j]
			switch {
			case same && together:
				tp++
			case together:
				fp++
				wrong = append(wrong, in[i].Title+"  ~  "+in[j].Title)
			case same:
				fn++
				missed = append(missed, in[i].Title+"  ~  "+in[j].Title)
			}
		}
	}
	precision := float64(tp) / float64(max(tp+fp, 1))
	recall := float64(tp) / float64(max(tp+fn, 1))
	t.Logf("grouping: %d headlines of %d stories in %d groups; pairs: precision %.2f (%d of %d), recall %.2f (%d of %d)",
		len(in), len(stories), len(groups), precision, tp, tp+fp, recall, tp, tp+fn)
	if precision < 0.95 || recall < 0.7 {
		t.Errorf("grouping below the bar (precision ≥ 0.95, recall ≥ 0.7); run with -v for the pairs")
	}
	if testing.Verbose() {
		for _, w := range wrong {
			t.Logf("  grouped apart stories: %s", w)
		}
		for i, m := range missed {
			if i < 40 {
				t.Logf("  not grouped: %s", m)
			}
		}
	}
}

// benchArticles is a selection's worth of candidates: the labelled
// headlines ten times over, 1,030 articles from ten times the sources.
func benchArticles(b *testing.B) []Article {
	f, err := os.ReadFile("../testdata/curation/grouping.tsv")
	if err != nil {
		b.Fatal(err)
	}
	var arts []Article
	for rep := range 10 {
		for i, line := range strings.Split(string(f), "\n") {
			c := strings.Split(line, "\t")
			if len(c) != 4 || strings.HasPrefix(line, "#") {
				continue
			}
			arts = append(arts, Article{ID: int64(rep*1000 + i), Title: c[3], SourceID: int64(rep*100 + i%50), Origin: "feed"})
		}
	}
	return arts
}

// BenchmarkGroupStories groups benchArticles as Select does.
func BenchmarkGroupStories(b *testing.B) {
	arts := benchArticles(b)
	b.ReportAllocs()
	for b.Loop() {
		groupStories(arts, nil)
	}
}

// BenchmarkStoryTermsOnly is the baseline: only reading each article's
// terms, which any comparison of headlines needs.
func BenchmarkStoryTermsOnly(b *testing.B) {
	arts := benchArticles(b)
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range arts {
			termsOf(a)
		}
	}
}

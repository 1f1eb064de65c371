package templates

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"github.com/newsbrief/newsbrief/brief"
)

// Renderer renders issues with a template set for one list: the pipeline's
// renderer. A zero Log logs nothing.
type Renderer struct {
	Set      *Set
	ListName string
	BaseURL  string // for each stored edition's "view in browser" link
	Log      *slog.Logger
	// Greeting is how messages greet their readers; the rest is the
	// list's identity every footer shows (see Edition).
	Greeting      brief.Greeting
	LogoURL       string
	PostalAddress string
	Contact       string
	// ArticleURL is the brief's own page of a story that links nowhere
	// else (an article file, an editor's article); nil for none.
	ArticleURL func(id int64) string
}

// edition is the template data of an issue.
func (r Renderer) edition(is brief.Issue) Edition {
	e := Edition{ID: is.ID, ListName: r.ListName, Date: is.Date, Note: is.Note,
		LogoURL: r.LogoURL, PostalAddress: r.PostalAddress, Contact: r.Contact, SiteURL: r.BaseURL}
	if is.ID != 0 && r.BaseURL != "" {
		e.ArchiveURL = r.BaseURL + "/archive/" + strconv.FormatInt(is.ID, 10)
	}
	for _, st := range is.Stories {
		a := Article{Title: st.Title, URL: st.URL, Source: st.Source, Author: st.Author, Summary: st.Summary,
			ImageURL: st.ImageURL, Published: st.Published, Tags: st.Tags, ListenURL: st.Audio.URL, Duration: duration(st.Audio.Seconds)}
		if a.URL == "" && st.ID > 0 && r.ArticleURL != nil {
			a.URL, a.OwnPage = r.ArticleURL(st.ID), true
		}
		if st.ImageWidth > 0 && st.ImageWidth < columnWidth {
			a.ImageWidth = st.ImageWidth
		}
		for _, o := range st.Also {
			a.Also = append(a.Also, Link{Source: o.Source, URL: o.URL})
		}
		e.Articles = append(e.Articles, a)
	}
	return e
}

// Render renders an issue's subject and both bodies, warning when the HTML
// is over Gmail's clipping limit. Errors wrap ErrTemplate.
func (r Renderer) Render(_ context.Context, is brief.Issue) (brief.Rendered, error) {
	out, err := r.Set.Render(r.edition(is))
	if err != nil {
		return out, err
	}
	out.Greeting = r.Greeting
	if out.HTMLSize > GmailClipBytes && r.Log != nil {
		r.Log.Warn("the HTML body is over Gmail's clipping limit; Gmail will show only its start (lower NEWSBRIEF_MAX_ARTICLES)",
			"bytes", out.HTMLSize, "limit", GmailClipBytes, "articles", len(is.Stories))
	}
	return out, nil
}

// Subject renders an issue's subject alone.
func (r Renderer) Subject(_ context.Context, is brief.Issue) (string, error) {
	return r.Set.RenderSubject(r.edition(is))
}

// Page renders a stored issue as its public web page: the HTML template
// with Web set, nobody's personal parts, a subscribe call and the tags a
// link preview reads (Open Graph). Errors wrap ErrTemplate.
func (r Renderer) Page(_ context.Context, is brief.Issue) (string, error) {
	e := r.edition(is)
	e.Subject = is.Subject
	if r.BaseURL != "" {
		e.SubscribeURL, e.ArchiveIndexURL = r.BaseURL+"/subscribe", r.BaseURL+"/archive"
	}
	e.Description = describe(is)
	for _, st := range is.Stories {
		if st.ImageURL != "" {
			e.Image = st.ImageURL
			break
		}
	}
	return r.Set.RenderPage(e)
}

// describe is a page's sharing description: the note's start, or the
// stories' titles, cut at about 200 characters on a word.
func describe(is brief.Issue) string {
	d := strings.Join(strings.Fields(is.Note), " ")
	if d == "" {
		titles := make([]string, 0, len(is.Stories))
		for _, st := range is.Stories {
			titles = append(titles, st.Title)
		}
		d = strings.Join(titles, " · ")
	}
	if r := []rune(d); len(r) > 200 {
		cut := string(r[:200])
		if i := strings.LastIndex(cut, " "); i > 100 {
			cut = cut[:i]
		}
		d = cut + "…"
	}
	return d
}

// columnWidth is the e-mail's content width in pixels: a lead image this
// wide or wider fills it.
const columnWidth = 576

// duration reads seconds as "32 min" or "1 h 5 min"; "" for 0.
func duration(seconds int) string {
	if seconds <= 0 {
		return ""
	}
	m := (seconds + 30) / 60
	if m < 1 {
		m = 1
	}
	if m < 60 {
		return strconv.Itoa(m) + " min"
	}
	if m%60 == 0 {
		return strconv.Itoa(m/60) + " h"
	}
	return strconv.Itoa(m/60) + " h " + strconv.Itoa(m%60) + " min"
}

package templates

import (
	"context"
	"log/slog"
	"strconv"

	"github.com/newsbrief/newsbrief/brief"
)

// Renderer renders issues with a template set for one list: the pipeline's
// renderer. A zero Log logs nothing.
type Renderer struct {
	Set      *Set
	ListName string
	BaseURL  string // for each stored edition's "view in browser" link
	Log      *slog.Logger
}

// edition is the template data of an issue.
func (r Renderer) edition(is brief.Issue) Edition {
	e := Edition{ID: is.ID, ListName: r.ListName, Date: is.Date}
	if is.ID != 0 && r.BaseURL != "" {
		e.ArchiveURL = r.BaseURL + "/archive/" + strconv.FormatInt(is.ID, 10)
	}
	for _, st := range is.Stories {
		a := Article{Title: st.Title, URL: st.URL, Source: st.Source, Author: st.Author, Summary: st.Summary,
			ImageURL: st.ImageURL, Published: st.Published, Tags: st.Tags}
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

package web

import (
	"encoding/xml"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
)

// archiveSize is how many past editions the archive index and feed list.
const archiveSize = 50

// sentEditions are the newest sent editions, newest first.
func (s *Server) sentEditions(r *http.Request) ([]pipeline.Edition, error) {
	eds, err := s.svc.Store.Editions(r.Context(), 0)
	if err != nil {
		return nil, err
	}
	var out []pipeline.Edition
	for _, e := range eds {
		if e.Status == pipeline.EditionSent {
			out = append(out, e)
			if len(out) == archiveSize {
				break
			}
		}
	}
	return out, nil
}

var archiveIndex = template.Must(template.New("archive").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.List}}: past editions</title>
<link rel="alternate" type="application/atom+xml" title="{{.List}}" href="{{.Base}}/archive/feed.atom">
<style>body{font-family:Georgia,serif;max-width:640px;margin:0 auto;padding:16px;color:#1f2328}li{margin:8px 0}.d{color:#666;font-size:.9em}</style>
</head><body><h1>{{.List}}: past editions</h1>
{{if .Editions}}<ul>{{range .Editions}}<li><a href="{{$.Base}}/archive/{{.ID}}">{{.Subject}}</a> <span class="d">{{.FinishedAt.UTC.Format "2 January 2006"}}</span></li>{{end}}</ul>
{{else}}<p>No edition has been sent yet.</p>{{end}}
<p><a href="{{.Base}}/archive/feed.atom">Atom feed</a> · <a href="{{.Base}}/subscribe">Subscribe</a></p>
</body></html>
`))

// archiveList serves the archive's index page.
func (s *Server) archiveList(w http.ResponseWriter, r *http.Request) {
	eds, err := s.sentEditions(r)
	if err != nil {
		http.Error(w, "editions could not be loaded", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	archiveIndex.Execute(w, map[string]any{"List": s.cfg.ListName, "Base": s.cfg.BaseURL, "Editions": eds})
}

type archiveAtom struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	Title   string   `xml:"title"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Link    atomLink `xml:"link"`
	Summary string   `xml:"summary"`
}

// archiveFeed serves the past editions as an Atom feed, each entry linking
// to its "view in browser" page.
func (s *Server) archiveFeed(w http.ResponseWriter, r *http.Request) {
	eds, err := s.sentEditions(r)
	if err != nil {
		http.Error(w, "editions could not be loaded", http.StatusInternalServerError)
		return
	}
	base := s.cfg.BaseURL
	f := archiveAtom{Title: s.cfg.ListName, ID: base + "/archive", Author: atomAuthor{Name: s.cfg.ListName},
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339),
		Links: []atomLink{{Href: base + "/archive/feed.atom", Rel: "self", Type: "application/atom+xml"},
			{Href: base + "/archive", Rel: "alternate", Type: "text/html"}}}
	for i, e := range eds {
		updated := e.FinishedAt.UTC().Format(time.RFC3339)
		if i == 0 {
			f.Updated = updated
		}
		full, err := s.svc.Store.Edition(r.Context(), e.ID)
		if err != nil {
			http.Error(w, "edition could not be loaded", http.StatusInternalServerError)
			return
		}
		var titles []string
		for _, art := range full.Articles {
			titles = append(titles, art.Title)
		}
		link := base + "/archive/" + strconv.FormatInt(e.ID, 10)
		f.Entries = append(f.Entries, atomEntry{Title: e.Subject, ID: link, Updated: updated,
			Link: atomLink{Href: link, Rel: "alternate", Type: "text/html"}, Summary: strings.Join(titles, " · ")})
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Write([]byte(xml.Header))
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	enc.Encode(f)
}

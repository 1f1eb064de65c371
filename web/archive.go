package web

import (
	"encoding/xml"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
)

// archiveSize is how many past editions the archive index and feed list.
const archiveSize = 50

// archiveList serves the archive's index page, archiveSize editions a
// page, older pages by ?before=ID (keyset: the cost is the same on every
// page).
func (s *Server) archiveList(w http.ResponseWriter, r *http.Request) {
	before, _ := strconv.ParseInt(r.URL.Query().Get("before"), 10, 64)
	eds, err := s.svc.Store.SentEditions(r.Context(), before, archiveSize+1)
	if err != nil {
		s.internal(w, r, "archive", err)
		return
	}
	var older int64
	if len(eds) > archiveSize {
		eds = eds[:archiveSize]
		older = eds[len(eds)-1].ID
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := s.archiveIndex.Execute(w, map[string]any{"List": s.cfg.ListName, "Base": s.cfg.BaseURL, "Editions": eds,
		"Older": older, "Before": before}); err != nil {
		s.log.Error("archive page", "request", requestID(r), slog.Any("error", err))
	}
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
	eds, err := s.svc.Store.SentEditions(r.Context(), 0, archiveSize)
	if err != nil {
		s.internal(w, r, "archive feed", err)
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
			s.internal(w, r, "archive feed", err)
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

// article serves the brief's own page of a story that links nowhere else
// (an article file, an editor's article): its whole cleaned text, byline
// and date. The link is signed, so only readers of a message (or of the
// public page of its edition) find it.
func (s *Server) article(w http.ResponseWriter, r *http.Request) {
	id, err := s.svc.Tokens.Verify(subscribers.PurposeArticle, r.PathValue("token"), 0)
	if err != nil {
		http.Error(w, "no such story", http.StatusNotFound)
		return
	}
	a, err := s.svc.Store.Article(r.Context(), id)
	if errors.Is(err, pipeline.ErrNotFound) {
		http.Error(w, "no such story", http.StatusNotFound)
		return
	}
	if err != nil {
		s.internal(w, r, "article page", err)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; form-action 'none'")
	// the body was sanitized when it was collected (bluemonday)
	if err := s.articlePage.Execute(w, map[string]any{"List": s.cfg.ListName, "Base": s.cfg.BaseURL, "A": a,
		"Body": template.HTML(a.HTML)}); err != nil {
		s.log.Error("article page", "request", requestID(r), slog.Any("error", err))
	}
}

// Package templates renders an edition into the subject, HTML body and text
// body of its e-mails.
//
// Templates flow in from the embedded defaults (default/) or from an
// operator's folder that overrides any of them; they are parsed and
// test-rendered once at start-up, so a broken template stops the binary
// before any send. An edition is rendered once (CSS inlined into the HTML);
// the per-subscriber parts (greeting, address, unsubscribe link) are
// slots between static pieces (brief.Body), filled in per message.
// Renderer renders a brief.Issue for the pipeline.
package templates

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/vanng822/go-premailer/premailer"

	"github.com/newsbrief/newsbrief/brief"
)

//go:embed default
var defaults embed.FS

// The template files a Set is made of; an override folder may hold any of them.
const (
	SubjectFile = "subject.txt"
	HTMLFile    = "digest.html"
	TextFile    = "digest.txt"
	PageFile    = "page.html" // the public pages (unsubscribe and the like)
)

// GmailClipBytes is the size past which Gmail clips a message's HTML.
const GmailClipBytes = 102 * 1024

// ErrTemplate wraps every error about a template file.
var ErrTemplate = errors.New("template")

// Article is one story as templates see it.
type Article struct {
	Title    string
	URL      string
	Source   string
	Author   string
	Summary  string
	ImageURL string // lead image, absolute http(s), or ""
	// ImageWidth is the width to show the image at: its own when narrower
	// than the column (576 px), else 0 for the column's width.
	ImageWidth int
	// ListenURL is a podcast episode's audio, Duration its length as
	// read ("32 min", "1 h 5 min"; "" unknown).
	ListenURL string
	Duration  string
	// OwnPage says URL is the brief's own page of the story (it links
	// nowhere else).
	OwnPage   bool
	Published time.Time
	Tags      []string // lower case
	Also      []Link   // the same story from other sources ("also reported by")
}

// Link is another source's report of an article's story.
type Link struct {
	Source string
	URL    string
}

// Section is a group of an edition's articles, for templates that ask for
// sections with .BySource or .ByTag.
type Section struct {
	Name     string
	Articles []Article
}

// BySource groups the articles by source, in the order each source first
// appears; articles without a source (files, editors) are in a section with
// an empty name.
func (e Edition) BySource() []Section {
	return sections(e.Articles, func(a Article) string { return a.Source })
}

// ByTag groups the articles by their first tag, in the order each tag first
// appears; untagged articles are in a section with an empty name.
func (e Edition) ByTag() []Section {
	return sections(e.Articles, func(a Article) string {
		if len(a.Tags) > 0 {
			return a.Tags[0]
		}
		return ""
	})
}

func sections(arts []Article, key func(Article) string) []Section {
	var out []Section
	index := map[string]int{}
	for _, a := range arts {
		k := key(a)
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, Section{Name: k})
		}
		out[i].Articles = append(out[i].Articles, a)
	}
	return out
}

// Edition is the data every template is executed with.
type Edition struct {
	ID         int64 // 0 before the edition is stored
	ListName   string
	Subject    string // set for the HTML and text bodies; empty while the subject itself renders
	Date       time.Time
	Articles   []Article
	ArchiveURL string // "view in browser" link, empty when unknown
	Note       string // the editor's note for the top, "" for none (.Paragraphs splits it)
	Subscriber Subscriber
	// Web is set when the edition renders as its public page: no personal
	// parts (greeting, address, unsubscribe link, link to itself); a
	// subscribe call (SubscribeURL), the archive (ArchiveIndexURL) and the
	// sharing tags (Description, Image) instead.
	Web             bool
	SubscribeURL    string
	ArchiveIndexURL string
	Description     string
	Image           string
	// The list's identity in every footer: its logo (an https URL, ""
	// for none), its postal address (CAN-SPAM), a contact address, and
	// the site readers subscribed at.
	LogoURL       string
	PostalAddress string
	Contact       string
	SiteURL       string
}

// Top is the edition's top story: the one most sources carry (the first
// of them), else the first.
func (e Edition) Top() Article {
	if len(e.Articles) == 0 {
		return Article{}
	}
	top := 0
	for i, a := range e.Articles {
		if len(a.Also) > len(e.Articles[top].Also) {
			top = i
		}
	}
	return e.Articles[top]
}

// Rest is every article but the top story, in order.
func (e Edition) Rest() []Article {
	top := e.Top()
	var out []Article
	skipped := false
	for _, a := range e.Articles {
		if !skipped && a.Title == top.Title && a.URL == top.URL {
			skipped = true
			continue
		}
		out = append(out, a)
	}
	return out
}

// RestByTag is Rest in sections by first tag when any article has a tag
// (untagged ones last, in a section without a name), else one section
// without a name.
func (e Edition) RestByTag() []Section {
	rest := e.Rest()
	tagged := false
	for _, a := range rest {
		tagged = tagged || len(a.Tags) > 0
	}
	if !tagged {
		if len(rest) == 0 {
			return nil
		}
		return []Section{{Articles: rest}}
	}
	secs := sections(rest, func(a Article) string {
		if len(a.Tags) > 0 {
			return a.Tags[0]
		}
		return ""
	})
	// the untagged section last
	for i, sec := range secs {
		if sec.Name == "" && i != len(secs)-1 {
			secs = append(append(secs[:i:i], secs[i+1:]...), sec)
			break
		}
	}
	return secs
}

// Preheader is the inbox preview: the headlines after the top story, up to
// about 140 characters.
func (e Edition) Preheader() string {
	var b strings.Builder
	for _, a := range e.Rest() {
		t := strings.TrimSpace(a.Title)
		if b.Len() > 0 {
			if b.Len()+3+len(t) > 140 {
				break
			}
			b.WriteString(" · ")
		}
		b.WriteString(t)
	}
	if b.Len() == 0 {
		return e.Top().Summary
	}
	return b.String()
}

// subjectMax is the longest subject an inbox line shows whole.
const subjectMax = 60

// Headline is a subject that leads with the top story and fits an inbox
// line: the top story's headline with "+N more" when both fit in
// subjectMax characters, the headline alone when it fits, else the
// headline cut at a word with an ellipsis.
func (e Edition) Headline() string {
	t := strings.Join(strings.Fields(e.Top().Title), " ")
	n := utf8.RuneCountInString(t)
	more := ""
	if len(e.Articles) > 1 {
		more = " (+" + strconv.Itoa(len(e.Articles)-1) + " more)"
	}
	switch {
	case n+utf8.RuneCountInString(more) <= subjectMax:
		return t + more
	case n <= subjectMax:
		return t
	}
	cut := []rune(t)[:subjectMax-1]
	if i := strings.LastIndex(string(cut), " "); i > subjectMax/2 {
		return strings.TrimRight(string(cut)[:i], ",;:–—- ") + "…"
	}
	return string(cut) + "…"
}

// NoteParagraphs is the editor's note split into paragraphs at blank lines.
func (e Edition) NoteParagraphs() []string {
	var out []string
	for _, p := range strings.Split(strings.ReplaceAll(e.Note, "\r\n", "\n"), "\n\n") {
		if p = strings.Join(strings.Fields(p), " "); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Subscriber holds the per-message parts. While an edition renders, each
// field holds a placeholder: a slot of the rendered bodies.
type Subscriber struct {
	Name           string
	Email          string
	Greeting       string // "Hello Ada," or "Hello,"
	UnsubscribeURL string
}

// Set is the parsed subject, HTML and text templates.
type Set struct {
	subject *texttemplate.Template
	html    *htmltemplate.Template
	text    *texttemplate.Template
	page    *htmltemplate.Template
	sources map[string]string // file name → where it was loaded from
}

var funcs = map[string]any{
	"add":  func(a, b int) int { return a + b },
	"wrap": Wrap,
	// hang wraps s at width with every line after the first indented
	// by indent (the first is not: it follows a label)
	"hang": func(s string, width int, indent string) string {
		return strings.TrimPrefix(Wrap(s, width, indent), indent)
	},
}

// Load parses the embedded default templates, replacing each with the file
// of the same name in dir when dir is not empty and holds one. Every
// template is then rendered once with sample data, so that a template that
// fails to parse or to execute is reported here, naming the file, rather
// than at send time. Errors wrap ErrTemplate.
func Load(dir string) (*Set, error) {
	s := &Set{sources: map[string]string{}}
	read := func(name string) (string, error) {
		if dir != "" {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err == nil {
				s.sources[name] = filepath.Join(dir, name)
				if !utf8.Valid(b) {
					return "", fmt.Errorf("%w %s: not valid UTF-8", ErrTemplate, filepath.Join(dir, name))
				}
				return string(b), nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("%w: %w", ErrTemplate, err)
			}
		}
		b, err := defaults.ReadFile("default/" + name)
		s.sources[name] = "embedded default/" + name
		return string(b), err
	}
	src, err := read(SubjectFile)
	if err != nil {
		return nil, err
	}
	if s.subject, err = texttemplate.New(SubjectFile).Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[SubjectFile], err)
	}
	if src, err = read(HTMLFile); err != nil {
		return nil, err
	}
	if s.html, err = htmltemplate.New(HTMLFile).Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	if src, err = read(TextFile); err != nil {
		return nil, err
	}
	if s.text, err = texttemplate.New(TextFile).Funcs(funcs).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[TextFile], err)
	}
	if src, err = read(PageFile); err != nil {
		return nil, err
	}
	if s.page, err = htmltemplate.New(PageFile).Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[PageFile], err)
	}
	if _, err := s.Render(Sample()); err != nil {
		return nil, fmt.Errorf("test render: %w", err)
	}
	if err := s.WritePage(io.Discard, "The Daily Brief", "Title", "Message", "/action", "Button"); err != nil {
		return nil, fmt.Errorf("test render: %w", err)
	}
	return s, nil
}

// WritePage renders the public page template: a title, a message and, when
// action is not empty, a form that POSTs to action with one button.
func (s *Set) WritePage(w io.Writer, listName, title, message, action, button string) error {
	return s.writePage(w, listName, title, message, action, button, false)
}

// WriteForm renders the public page template with the subscribe form's
// fields (e-mail address, name, and a hidden field that bots fill in).
func (s *Set) WriteForm(w io.Writer, listName, title, message, action, button string) error {
	return s.writePage(w, listName, title, message, action, button, true)
}

// WritePageWithLink is WritePage with one more way out: a link under the
// button (the subscription page's "erase my data").
func (s *Set) WritePageWithLink(w io.Writer, listName, title, message, action, button, linkURL, linkLabel string) error {
	return s.writePageData(w, map[string]any{"ListName": listName, "Title": title, "Message": message,
		"Action": action, "Button": button, "Fields": false, "LinkURL": linkURL, "LinkLabel": linkLabel})
}

func (s *Set) writePage(w io.Writer, listName, title, message, action, button string, fields bool) error {
	return s.writePageData(w, map[string]any{"ListName": listName, "Title": title, "Message": message,
		"Action": action, "Button": button, "Fields": fields, "LinkURL": "", "LinkLabel": ""})
}

func (s *Set) writePageData(w io.Writer, data map[string]any) error {
	var b bytes.Buffer
	if err := s.page.Execute(&b, data); err != nil {
		return fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[PageFile], err)
	}
	_, err := b.WriteTo(w)
	return err
}

// Sources tells where each template was loaded from.
func (s *Set) Sources() map[string]string { return s.sources }

// Sample is an edition with one of every field filled in, used to check
// templates at start-up and for previews with no articles.
func Sample() Edition {
	return Edition{
		ID: 1, ListName: "The Daily Brief", Date: time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC),
		ArchiveURL: "https://example.com/archive/1", Note: "A word from the desk.\n\nA second paragraph.",
		PostalAddress: "The Daily Brief, 1 Harbour Street, Portsmouth PO1 2AB, United Kingdom", Contact: "editors@example.com",
		SiteURL: "https://example.com",
		Articles: []Article{
			{Title: "A sample story", URL: "https://example.com/a", Source: "Example Times", Author: "A. Writer", Summary: "A first sentence. A second one.", ImageURL: "https://example.com/a.jpg",
				ListenURL: "https://example.com/a.mp3", Duration: "32 min",
				Tags: []string{"city"}, Also: []Link{{Source: "Other Post", URL: "https://other.example/a"}}},
			{Title: "Another story", Summary: "No link, no source.", Tags: []string{"weather", "city"}},
		},
	}
}

type marks struct{ name, email, greeting, unsub string }

func newMarks() marks {
	b := make([]byte, 8)
	rand.Read(b)
	n := "nb" + hex.EncodeToString(b)
	return marks{name: n + "name", email: n + "email", greeting: n + "greeting", unsub: n + "unsub"}
}

// split cuts s at every placeholder of m into pieces and slots.
func split(s string, m marks) brief.Body {
	var b brief.Body
	order := [brief.SlotCount]string{brief.SlotName: m.name, brief.SlotEmail: m.email, brief.SlotGreeting: m.greeting, brief.SlotUnsubscribeURL: m.unsub}
	for {
		at, which, n := -1, 0, 0
		for i, mk := range order {
			if j := strings.Index(s, mk); j >= 0 && (at < 0 || j < at) {
				at, which, n = j, i, len(mk)
			}
		}
		if at < 0 {
			b.Static = append(b.Static, s)
			return b
		}
		b.Static = append(b.Static, s[:at])
		b.Slots = append(b.Slots, which)
		s = s[at+n:]
	}
}

// RenderSubject executes the subject template alone for e.
func (s *Set) RenderSubject(e Edition) (string, error) {
	m := newMarks()
	subject, err := s.renderSubject(e, m)
	return subject, err
}

func (s *Set) renderSubject(e Edition, m marks) (subject string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while rendering: %v", ErrTemplate, p)
		}
	}()
	if len(e.Articles) == 0 {
		return "", fmt.Errorf("%w: an edition needs at least one article", ErrTemplate)
	}
	e.Subscriber = Subscriber{Name: m.name, Email: m.email, Greeting: m.greeting, UnsubscribeURL: m.unsub}
	e.Subject = ""
	var b bytes.Buffer
	if err := s.subject.Execute(&b, e); err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[SubjectFile], err)
	}
	subject = strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return "", fmt.Errorf("%w %s: the subject is empty", ErrTemplate, s.sources[SubjectFile])
	}
	if strings.Contains(subject, m.name) || strings.Contains(subject, m.email) || strings.Contains(subject, m.unsub) || strings.Contains(subject, m.greeting) {
		return "", fmt.Errorf("%w %s: the subject may not use .Subscriber (it is the same for everyone)", ErrTemplate, s.sources[SubjectFile])
	}
	return subject, nil
}

// Render executes the templates for e (e.Subscriber is ignored): the
// subject on one line, the HTML body with its CSS inlined, and the text
// body, as pieces around the per-subscriber slots. It returns an error
// wrapping ErrTemplate if a template fails or the subject comes out empty;
// it never panics.
func (s *Set) Render(e Edition) (r brief.Rendered, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while rendering: %v", ErrTemplate, p)
		}
	}()
	m := newMarks()
	subject, err := s.renderSubject(e, m)
	if err != nil {
		return r, err
	}
	e.Subscriber = Subscriber{Name: m.name, Email: m.email, Greeting: m.greeting, UnsubscribeURL: m.unsub}
	e.Subject = subject
	var b bytes.Buffer
	if err := s.html.Execute(&b, e); err != nil {
		return r, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	inlined, err := inlineCSS(b.String())
	if err != nil {
		return r, fmt.Errorf("%w %s: inline css: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	b.Reset()
	if err := s.text.Execute(&b, e); err != nil {
		return r, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[TextFile], err)
	}
	h := split(inlined, m)
	return brief.Rendered{Subject: subject, HTML: h, Text: split(b.String(), m), HTMLSize: h.Size()}, nil
}

// RenderPage executes the HTML template for e as its public web page
// (e.Web set, no subscriber): one HTML document, no slots. e.Subject must
// be set. Errors wrap ErrTemplate; it never panics.
func (s *Set) RenderPage(e Edition) (page string, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while rendering: %v", ErrTemplate, p)
		}
	}()
	e.Web, e.Subscriber = true, Subscriber{}
	var b bytes.Buffer
	if err := s.html.Execute(&b, e); err != nil {
		return "", fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	return b.String(), nil
}

func inlineCSS(doc string) (string, error) {
	p, err := premailer.NewPremailerFromString(doc, premailer.NewOptions())
	if err != nil {
		return "", err
	}
	return p.Transform()
}

// Wrap breaks s into lines of at most width runes at spaces, each line
// after the first starting with indent (the first is indented too).
func Wrap(s string, width int, indent string) string {
	var b strings.Builder
	line := 0
	for i, w := range strings.Fields(s) {
		n := utf8.RuneCountInString(w)
		switch {
		case i == 0:
			b.WriteString(indent)
			line = utf8.RuneCountInString(indent)
		case line+1+n > width:
			b.WriteString("\n" + indent)
			line = utf8.RuneCountInString(indent)
		default:
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}

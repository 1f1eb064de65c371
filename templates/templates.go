// Package templates renders an edition into the subject, HTML body and text
// body of its e-mails.
//
// Templates flow in from the embedded defaults (default/) or from an
// operator's folder that overrides any of them; they are parsed and
// test-rendered once at start-up, so a broken template stops the binary
// before any send. An edition is rendered once (CSS inlined into the HTML);
// the per-subscriber parts (greeting, address, unsubscribe link) are
// placeholders filled in per message by Rendered.Personalize.
package templates

import (
	"bytes"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode/utf8"

	"github.com/vanng822/go-premailer/premailer"
)

//go:embed default
var defaults embed.FS

// The template files a Set is made of; an override folder may hold any of them.
const (
	SubjectFile = "subject.txt"
	HTMLFile    = "digest.html"
	TextFile    = "digest.txt"
)

// GmailClipBytes is the size past which Gmail clips a message's HTML.
const GmailClipBytes = 102 * 1024

// ErrTemplate wraps every error about a template file.
var ErrTemplate = errors.New("template")

// Article is one story as templates see it.
type Article struct {
	Title     string
	URL       string
	Source    string
	Author    string
	Summary   string
	Published time.Time
}

// Edition is the data every template is executed with.
type Edition struct {
	ID         int64 // 0 before the edition is stored
	ListName   string
	Subject    string // set for the HTML and text bodies; empty while the subject itself renders
	Date       time.Time
	Articles   []Article
	ArchiveURL string // "view in browser" link, empty when unknown
	Subscriber Subscriber
}

// Subscriber holds the per-message parts. While an edition renders, each
// field holds a placeholder that Rendered.Personalize replaces.
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
	sources map[string]string // file name → where it was loaded from
}

var funcs = map[string]any{
	"add":  func(a, b int) int { return a + b },
	"wrap": Wrap,
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
	if _, err := s.Render(Sample()); err != nil {
		return nil, fmt.Errorf("test render: %w", err)
	}
	return s, nil
}

// Sources tells where each template was loaded from.
func (s *Set) Sources() map[string]string { return s.sources }

// Sample is an edition with one of every field filled in, used to check
// templates at start-up and for previews with no articles.
func Sample() Edition {
	return Edition{
		ID: 1, ListName: "The Daily Brief", Date: time.Date(2026, 1, 2, 7, 0, 0, 0, time.UTC),
		ArchiveURL: "https://example.com/archive/1",
		Articles: []Article{
			{Title: "A sample story", URL: "https://example.com/a", Source: "Example Times", Author: "A. Writer", Summary: "A first sentence. A second one."},
			{Title: "Another story", Summary: "No link, no source."},
		},
	}
}

// Rendered is an edition rendered once. Its bodies hold placeholders for
// the per-subscriber parts; Personalize fills them in.
type Rendered struct {
	Subject string
	html    string
	text    string
	marks   marks
	// HTMLSize is the size of the HTML body in bytes (placeholders
	// counted at their own length); over GmailClipBytes Gmail clips it.
	HTMLSize int
}

type marks struct{ name, email, greeting, unsub string }

func newMarks() marks {
	b := make([]byte, 8)
	rand.Read(b)
	n := "nb" + hex.EncodeToString(b)
	return marks{name: n + "name", email: n + "email", greeting: n + "greeting", unsub: n + "unsub"}
}

// Render executes the templates for e (e.Subscriber is ignored): the
// subject on one line, the HTML body with its CSS inlined, and the text
// body. It returns an error wrapping ErrTemplate if a template fails or
// the subject comes out empty; it never panics.
func (s *Set) Render(e Edition) (r *Rendered, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic while rendering: %v", ErrTemplate, p)
		}
	}()
	if len(e.Articles) == 0 {
		return nil, fmt.Errorf("%w: an edition needs at least one article", ErrTemplate)
	}
	m := newMarks()
	e.Subscriber = Subscriber{Name: m.name, Email: m.email, Greeting: m.greeting, UnsubscribeURL: m.unsub}
	var b bytes.Buffer
	e.Subject = ""
	if err := s.subject.Execute(&b, e); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[SubjectFile], err)
	}
	subject := strings.Join(strings.Fields(b.String()), " ")
	if subject == "" {
		return nil, fmt.Errorf("%w %s: the subject is empty", ErrTemplate, s.sources[SubjectFile])
	}
	if strings.Contains(subject, m.name) || strings.Contains(subject, m.email) || strings.Contains(subject, m.unsub) {
		return nil, fmt.Errorf("%w %s: the subject may not use .Subscriber (it is the same for everyone)", ErrTemplate, s.sources[SubjectFile])
	}
	e.Subject = subject
	b.Reset()
	if err := s.html.Execute(&b, e); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	inlined, err := inlineCSS(b.String())
	if err != nil {
		return nil, fmt.Errorf("%w %s: inline css: %w", ErrTemplate, s.sources[HTMLFile], err)
	}
	b.Reset()
	if err := s.text.Execute(&b, e); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrTemplate, s.sources[TextFile], err)
	}
	return &Rendered{Subject: subject, html: inlined, text: b.String(), marks: m, HTMLSize: len(inlined)}, nil
}

func inlineCSS(doc string) (string, error) {
	p, err := premailer.NewPremailerFromString(doc, premailer.NewOptions())
	if err != nil {
		return "", err
	}
	return p.Transform()
}

// Personal is one subscriber's parts of a message.
type Personal struct {
	Name           string
	Email          string
	UnsubscribeURL string
}

// Greeting is "Hello Ada," for a subscriber with a name and "Hello," otherwise.
func (p Personal) Greeting() string {
	if n := strings.TrimSpace(p.Name); n != "" {
		return "Hello " + n + ","
	}
	return "Hello,"
}

// Personalize returns the HTML and text bodies for one subscriber, with
// their parts escaped for HTML in the HTML body.
func (r *Rendered) Personalize(p Personal) (htmlBody, textBody string) {
	g := p.Greeting()
	h := strings.NewReplacer(
		r.marks.greeting, html.EscapeString(g),
		r.marks.name, html.EscapeString(p.Name),
		r.marks.email, html.EscapeString(p.Email),
		r.marks.unsub, html.EscapeString(p.UnsubscribeURL),
	)
	t := strings.NewReplacer(r.marks.greeting, g, r.marks.name, p.Name, r.marks.email, p.Email, r.marks.unsub, p.UnsubscribeURL)
	return h.Replace(r.html), t.Replace(r.text)
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

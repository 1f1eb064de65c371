package collect

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/newsbrief/newsbrief/pipeline"

	"github.com/yuin/goldmark"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"gopkg.in/yaml.v3"
)

// maxArticleFile is the largest article file read, in bytes.
const maxArticleFile = 4 << 20

// ErrUnsupportedFile is returned for an article file whose extension is not
// .md, .markdown, .txt, .html or .htm.
var ErrUnsupportedFile = errors.New("unsupported article file type (want .md, .txt or .html)")

// FileError is a problem with one article file: its name, the line when it
// is known, and what is wrong.
type FileError struct {
	Path string
	Line int // 0 when unknown
	Err  error
}

// Error renders "path:line: problem".
func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

// Unwrap returns the underlying problem.
func (e *FileError) Unwrap() error { return e.Err }

// yamlLine finds the line number in a YAML error message.
var yamlLine = regexp.MustCompile(`line (\d+)`)

// frontMatter is the YAML header an article file may start with.
type frontMatter struct {
	Title   string  `yaml:"title"`
	URL     string  `yaml:"url"`
	Author  string  `yaml:"author"`
	Date    string  `yaml:"date"`
	Summary string  `yaml:"summary"`
	Pinned  bool    `yaml:"pinned"`
	Tags    tagList `yaml:"tags"`
}

// tagList reads front matter tags as a YAML list or a comma-separated string.
type tagList []string

// UnmarshalYAML accepts "tags: [a, b]" and "tags: a, b".
func (t *tagList) UnmarshalYAML(unmarshal func(any) error) error {
	var list []string
	if err := unmarshal(&list); err == nil {
		*t = list
		return nil
	}
	var one string
	if err := unmarshal(&one); err != nil {
		return errors.New("tags: want a list or a comma-separated string")
	}
	*t = strings.Split(one, ",")
	return nil
}

// ParseArticleFile turns the contents of an article file into an article,
// by its extension: Markdown with optional YAML front matter (title, url,
// author, date, summary, pinned, tags), plain text whose first line is the title,
// or HTML whose <title> (or first heading) is the title. Errors are
// *FileError values naming the file and, where known, the line.
func (c *Cleaner) ParseArticleFile(name string, data []byte) (pipeline.Article, error) {
	fail := func(line int, err error) (pipeline.Article, error) {
		return pipeline.Article{}, &FileError{Path: name, Line: line, Err: err}
	}
	if !utf8.Valid(data) {
		return fail(0, errors.New("not valid UTF-8 text"))
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	data = bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	var a pipeline.Article
	var fm frontMatter
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown":
		body := data
		if bytes.HasPrefix(data, []byte("---\n")) {
			end := bytes.Index(data[4:], []byte("\n---"))
			if end < 0 {
				return fail(1, errors.New("front matter opened with --- is never closed"))
			}
			head := data[4 : 4+end]
			body = data[4+end+4:]
			if err := yaml.Unmarshal(head, &fm); err != nil {
				line := 0
				if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
					line, _ = strconv.Atoi(m[1])
					line++ // the opening --- is line 1 of the file
				}
				return fail(line, fmt.Errorf("front matter: %w", err))
			}
		}
		var buf bytes.Buffer
		if err := goldmark.Convert(body, &buf); err != nil {
			return fail(0, fmt.Errorf("markdown: %w", err))
		}
		if fm.Title == "" {
			// a leading "# Heading" is the title
			trimmed := strings.TrimLeft(string(body), "\n")
			if first, rest, _ := strings.Cut(trimmed, "\n"); strings.HasPrefix(first, "# ") {
				fm.Title = strings.TrimPrefix(first, "# ")
				buf.Reset()
				if err := goldmark.Convert([]byte(rest), &buf); err != nil {
					return fail(0, fmt.Errorf("markdown: %w", err))
				}
			}
		}
		a.HTML, a.Text = c.Clean(buf.String(), fm.URL)
	case ".txt", ".text":
		head, rest := textHeader(strings.TrimLeft(string(data), "\n"))
		if head != nil {
			fm = *head
		} else {
			first, after, _ := strings.Cut(strings.TrimLeft(string(data), "\n"), "\n")
			fm.Title, rest = first, after
		}
		var paras []string
		for _, p := range textParagraphs(rest) {
			paras = append(paras, "<p>"+html.EscapeString(p)+"</p>")
		}
		a.HTML, a.Text = c.Clean(strings.Join(paras, "\n"), "")
	case ".html", ".htm":
		doc, err := html.Parse(bytes.NewReader(data))
		if err != nil {
			return fail(0, fmt.Errorf("html: %w", err))
		}
		title, heading, body := htmlParts(doc)
		fm.Title = title
		if fm.Title == "" {
			fm.Title = heading
		}
		// what the page says of itself, where it reads: a page's odd
		// metadata never keeps its article out
		meta := htmlMeta(doc)
		if _, err := pipeline.ValidateFeedURL(meta.url); err == nil {
			fm.URL = meta.url
		}
		if _, err := parseDate(meta.date); err == nil {
			fm.Date = meta.date
		}
		fm.Author = meta.author
		a.HTML, a.Text = c.Clean(body, "")
	default:
		return fail(0, ErrUnsupportedFile)
	}
	a.Title = CleanText(fm.Title)
	if a.Title == "" {
		return fail(1, errors.New("no title: give one in the front matter, the first line or <title>"))
	}
	if fm.URL != "" {
		u, err := pipeline.ValidateFeedURL(fm.URL)
		if err != nil {
			return fail(0, fmt.Errorf("front matter url: %w", err))
		}
		a.URL = pipeline.CleanURL(u)
	}
	a.Author = CleanText(fm.Author)
	if fm.Date != "" {
		t, err := parseDate(fm.Date)
		if err != nil {
			return fail(0, fmt.Errorf("front matter date %q: %w", fm.Date, err))
		}
		a.PublishedAt = t
	}
	a.Summary = Summarize(CleanText(fm.Summary))
	if a.Summary == "" {
		a.Summary = Summarize(a.Text)
	}
	a.Pinned = fm.Pinned
	a.Tags = fm.Tags
	sum := sha256.Sum256(data)
	a.FileHash = hex.EncodeToString(sum[:])
	return a, nil
}

// textField matches a line of a text file's header: "Title: …".
var textField = regexp.MustCompile(`(?i)^(title|url|link|author|by|date|summary|tags|pinned):\s*(.*)$`)

// textHeader reads the header a plain-text file may open with: lines of
// Title:, URL:, Author:, Date:, Summary:, Tags: or Pinned:, up to a blank
// line; nil when the file opens with none (its first line is the title).
// It returns the fields and the rest of the file.
func textHeader(data string) (*frontMatter, string) {
	lines := strings.SplitAfter(data, "\n")
	var fm frontMatter
	n := 0
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" {
			n++
			break
		}
		m := textField.FindStringSubmatch(t)
		if m == nil {
			if n == 0 {
				return nil, data
			}
			break
		}
		v := strings.TrimSpace(m[2])
		switch strings.ToLower(m[1]) {
		case "title":
			fm.Title = v
		case "url", "link":
			fm.URL = v
		case "author", "by":
			fm.Author = v
		case "date":
			fm.Date = v
		case "summary":
			fm.Summary = v
		case "tags":
			for _, tag := range strings.Split(v, ",") {
				if tag = strings.ToLower(strings.TrimSpace(tag)); tag != "" {
					fm.Tags = append(fm.Tags, tag)
				}
			}
		case "pinned":
			fm.Pinned = strings.EqualFold(v, "true") || strings.EqualFold(v, "yes")
		}
		n++
	}
	if fm.Title == "" {
		return nil, data // fields without a title: the first line is the title after all
	}
	return &fm, strings.Join(lines[n:], "")
}

type htmlMetaData struct{ url, author, date string }

// htmlMeta reads what an HTML file says of itself: its address
// (<link rel="canonical">, else og:url), its author (<meta name="author">,
// else article:author) and date (article:published_time, else
// <meta name="date">).
func htmlMeta(doc *html.Node) htmlMetaData {
	var m htmlMetaData
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			attr := func(k string) string {
				for _, a := range n.Attr {
					if strings.EqualFold(a.Key, k) {
						return strings.TrimSpace(a.Val)
					}
				}
				return ""
			}
			switch n.DataAtom {
			case atom.Link:
				if strings.EqualFold(attr("rel"), "canonical") && m.url == "" {
					m.url = attr("href")
				}
			case atom.Meta:
				key := strings.ToLower(attr("name") + attr("property"))
				v := attr("content")
				switch key {
				case "og:url":
					if m.url == "" {
						m.url = v
					}
				case "author", "article:author":
					if m.author == "" && !strings.HasPrefix(v, "http") {
						m.author = v
					}
				case "article:published_time", "date", "dc.date":
					if m.date == "" {
						m.date = v
					}
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return m
}

// wrapWidth is the longest line of a hard-wrapped text file: a file with
// longer lines writes one paragraph a line.
const wrapWidth = 100

// textParagraphs splits a plain-text body into paragraphs the way the file
// writes them: a file with lines longer than wrapWidth puts a paragraph on
// each line (blank lines or not between them); a hard-wrapped file (every
// line short) separates paragraphs by blank lines, and its lines are
// joined.
func textParagraphs(body string) []string {
	lines := strings.Split(strings.TrimSpace(body), "\n")
	long := false
	for _, l := range lines {
		if utf8.RuneCountInString(strings.TrimSpace(l)) > wrapWidth {
			long = true
			break
		}
	}
	var out []string
	var cur []string
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.Join(cur, " "))
			cur = nil
		}
	}
	for _, l := range lines {
		l = strings.TrimSpace(l)
		switch {
		case l == "":
			flush()
		case long:
			flush()
			cur = append(cur, l)
			flush()
		default:
			cur = append(cur, l)
		}
	}
	flush()
	return out
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02", time.RFC1123Z, time.RFC1123} {
		if t, err := time.Parse(layout, strings.TrimSpace(s)); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, errors.New("want a date like 2026-11-23 or 2026-11-23T07:00:00Z")
}

// htmlParts finds the <title>, the first heading and the body's inner HTML.
func htmlParts(doc *html.Node) (title, heading, body string) {
	var bodyNode *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			switch n.DataAtom {
			case atom.Title:
				if title == "" {
					title = textOf(n)
				}
			case atom.H1, atom.H2:
				if heading == "" {
					heading = textOf(n)
				}
			case atom.Body:
				bodyNode = n
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if bodyNode != nil {
		var b strings.Builder
		for c := bodyNode.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.ElementNode && c.DataAtom == atom.H1 && textOf(c) == heading && (title == "" || title == heading) {
				continue // the heading repeats the title
			}
			html.Render(&b, c)
		}
		body = b.String()
	}
	return title, heading, body
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// collectFolder reads every article file under ArticlesDir. Files that fail
// are reported and left where they are; files already read and unchanged
// are skipped; edited files update their article.
func (c *Collector) collectFolder(ctx context.Context) []SourceResult {
	dir := c.ArticlesDir
	var out []SourceResult
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && path == dir {
				return fs.SkipAll // no folder, nothing to read
			}
			out = append(out, SourceResult{Source: path, Err: err})
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		base := d.Name()
		if strings.HasPrefix(base, ".") && path != dir {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isArticleFile(base) {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		rel = filepath.ToSlash(rel)
		res := SourceResult{Source: path, Seen: 1}
		var a pipeline.Article
		if !d.Type().IsRegular() {
			// a link could bring any file of the machine into every
			// subscriber's inbox; a FIFO or device would hang the read
			err = &FileError{Path: path, Err: fmt.Errorf("%w (%s); skipped", ErrNotRegular, d.Type())}
		} else {
			a, err = c.Cleaner.readArticleFile(path, false)
		}
		if err == nil {
			a.Origin, a.SourceName, a.FilePath = "file", "articles folder", rel
			var stored bool
			stored, err = c.Store.SaveArticle(ctx, &a)
			if stored {
				res.New = 1
			}
		}
		if err != nil {
			res.Err = err
			c.logger().Debug("article file failed", "file", path, slog.Any("error", err)) // the caller reports it, once
		}
		out = append(out, res)
		return nil
	})
	if err != nil {
		out = append(out, SourceResult{Source: dir, Err: err})
	}
	return out
}

func isArticleFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".md", ".markdown", ".txt", ".text", ".html", ".htm":
		return !strings.EqualFold(name, "README.md")
	}
	return false
}

// ReadArticleFile reads and parses one article file (at most 4 MB) that an
// editor names; a link to a file is followed, but only a regular file is
// read (a FIFO or a device never hangs it). A file that cannot be read or
// parsed is a *FileError naming it.
func (c *Cleaner) ReadArticleFile(path string) (pipeline.Article, error) {
	return c.readArticleFile(path, true)
}

// ErrNotRegular is wrapped by the error for an article file that is a
// symbolic link (in the articles folder), a FIFO, a device or a socket.
var ErrNotRegular = errors.New("not a regular file")

// readArticleFile reads one article file, following a symbolic link only
// when follow is set. It opens without blocking (a FIFO returns at once)
// and checks the opened file is regular before reading it.
func (c *Cleaner) readArticleFile(path string, follow bool) (pipeline.Article, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = fmt.Errorf("%w (a symbolic link); skipped", ErrNotRegular)
		}
		return pipeline.Article{}, &FileError{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return pipeline.Article{}, &FileError{Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return pipeline.Article{}, &FileError{Path: path, Err: fmt.Errorf("%w (%s); skipped", ErrNotRegular, st.Mode().Type())}
	}
	if st.Size() > maxArticleFile {
		return pipeline.Article{}, &FileError{Path: path, Err: fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, st.Size(), maxArticleFile)}
	}
	data := make([]byte, st.Size())
	if _, err := io.ReadFull(f, data); err != nil {
		return pipeline.Article{}, &FileError{Path: path, Err: err}
	}
	a, err := c.ParseArticleFile(path, data)
	if err == nil && a.PublishedAt.IsZero() {
		// a file that gives no date is dated by when it was written, not
		// by when it was collected: an old file dropped in late does not
		// lead the edition as the newest story
		a.PublishedAt = st.ModTime().UTC()
	}
	return a, err
}

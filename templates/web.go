package templates

import (
	"embed"
	"fmt"
	htmltemplate "html/template"
)

//go:embed web
var webPages embed.FS

// DeskPages parses the editors' desk pages (web/desk.html) with funcs. A
// broken page fails here, at start-up.
func DeskPages(funcs htmltemplate.FuncMap) (*htmltemplate.Template, error) {
	t, err := htmltemplate.New("desk").Funcs(funcs).ParseFS(webPages, "web/desk.html")
	if err != nil {
		return nil, fmt.Errorf("%w web/desk.html: %w", ErrTemplate, err)
	}
	return t, nil
}

// ArchivePage parses the public archive's index page (web/archive.html).
func ArchivePage() (*htmltemplate.Template, error) {
	t, err := htmltemplate.ParseFS(webPages, "web/archive.html")
	if err != nil {
		return nil, fmt.Errorf("%w web/archive.html: %w", ErrTemplate, err)
	}
	return t, nil
}

// ArticlePage parses the page of a story without a link elsewhere
// (web/article.html).
func ArticlePage() (*htmltemplate.Template, error) {
	t, err := htmltemplate.ParseFS(webPages, "web/article.html")
	if err != nil {
		return nil, fmt.Errorf("%w web/article.html: %w", ErrTemplate, err)
	}
	return t, nil
}

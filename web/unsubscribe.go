package web

import (
	"github.com/newsbrief/newsbrief/subscribers"

	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// PageWriter renders a public page: a title, a message and, when action is
// not empty, a form posting to action with one button. The templates
// package satisfies it.
type PageWriter interface {
	WritePage(w io.Writer, listName, title, message, action, button string) error
	// WriteForm is WritePage with the subscribe form's fields: email,
	// name, and "website", a hidden field only bots fill in.
	WriteForm(w io.Writer, listName, title, message, action, button string) error
}

// UnsubscribeHandler serves /unsubscribe?token=…: GET shows a page with a
// button (it never unsubscribes, because mail scanners prefetch links);
// POST unsubscribes at once, with or without the RFC 8058 body
// "List-Unsubscribe=One-Click", needing no cookie or login. A forged,
// altered or wrong-purpose token gets a plain 400 page.
type UnsubscribeHandler struct {
	Store    *subscribers.Store
	Tokens   *subscribers.Tokens
	Pages    PageWriter
	ListName string
	Log      *slog.Logger
}

func (h *UnsubscribeHandler) page(w http.ResponseWriter, status int, title, msg, action, button string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	if err := h.Pages.WritePage(w, h.ListName, title, msg, action, button); err != nil && h.Log != nil {
		h.Log.Error("unsubscribe page", slog.Any("error", err))
	}
}

// ServeHTTP handles GET (a page with a button) and POST (unsubscribe now).
func (h *UnsubscribeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	token := r.URL.Query().Get("token")
	if token == "" && r.Method == http.MethodGet {
		h.page(w, http.StatusOK, "Unsubscribe", "To unsubscribe, use the link at the bottom of any of our e-mails: it says who you are, so nobody else can unsubscribe you.", "", "")
		return
	}
	id, err := h.Tokens.Verify(subscribers.PurposeUnsubscribe, token, 0)
	if err != nil {
		h.page(w, http.StatusBadRequest, "This link does not work", subscribers.ErrBadToken.Error()+". Use the unsubscribe link of a recent e-mail from us.", "", "")
		return
	}
	if r.Method != http.MethodPost {
		action := "/unsubscribe?token=" + url.QueryEscape(token)
		h.page(w, http.StatusOK, "Unsubscribe?", "Press the button and you will receive no more e-mails from "+h.ListName+".", action, "Unsubscribe")
		return
	}
	// RFC 8058: the body is "List-Unsubscribe=One-Click"; a press of our
	// own button posts an empty form. Anything else is refused.
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		h.page(w, http.StatusBadRequest, "This request does not work", "The form could not be read.", "", "")
		return
	}
	if v, ok := r.PostForm["List-Unsubscribe"]; ok && (len(v) != 1 || !strings.EqualFold(v[0], "One-Click")) {
		h.page(w, http.StatusBadRequest, "This request does not work", "Unexpected List-Unsubscribe value.", "", "")
		return
	}
	err = h.Store.Unsubscribe(r.Context(), id)
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
		// removed or erased already: the outcome the person wants
	case err != nil:
		if h.Log != nil {
			h.Log.Error("unsubscribe", "subscriber", id, slog.Any("error", err))
		}
		h.page(w, http.StatusInternalServerError, "Something went wrong", "Your request could not be saved. Please try again in a minute.", "", "")
		return
	default:
		if h.Log != nil {
			h.Log.Info("unsubscribed", "subscriber", id)
		}
	}
	h.page(w, http.StatusOK, "You are unsubscribed", "You will receive no more e-mails from "+h.ListName+".", "", "")
}

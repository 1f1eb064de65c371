package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/subscribers"
)

// PageWriter renders a public page: a title, a message and, when action is
// not empty, a form posting to action with one button. The templates
// package satisfies it.
type PageWriter interface {
	WritePage(w io.Writer, listName, title, message, action, button string) error
	// WriteForm is WritePage with the subscribe form's fields: email,
	// name, and "website", a hidden field only bots fill in.
	WriteForm(w io.Writer, listName, title, message, action, button string) error
	// WritePageWithLink is WritePage with a link under the button.
	WritePageWithLink(w io.Writer, listName, title, message, action, button, linkURL, linkLabel string) error
}

// UnsubscribeHandler serves /unsubscribe?token=…: GET shows a page with a
// button (it never unsubscribes, because mail scanners prefetch links);
// POST unsubscribes at once, with or without the RFC 8058 body
// "List-Unsubscribe=One-Click", needing no cookie or login. A forged,
// altered or wrong-purpose token gets a plain 400 page.
//
// With manage=1 the GET is the reader's subscription page (the "manage
// your subscription" link of every message): the address, its status,
// the unsubscribe button and a way to have the data erased; erase=1 asks
// for that and its POST erases (as `subscribers forget`).
type UnsubscribeHandler struct {
	Store    *subscribers.Store
	Tokens   *subscribers.Tokens
	Pages    PageWriter
	ListName string
	Log      *slog.Logger
	// Erase erases a subscriber everywhere (the editions service's Erase);
	// nil offers no erasure.
	Erase func(ctx context.Context, email string) error
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
	q := r.URL.Query()
	action := "/unsubscribe?token=" + url.QueryEscape(token)
	// the edition the link came in (unsigned: it only says which
	// edition an unsubscribe is counted against)
	edition, _ := strconv.ParseInt(q.Get("e"), 10, 64)
	if edition > 0 {
		action += "&e=" + strconv.FormatInt(edition, 10)
	} else {
		edition = 0
	}
	erase := q.Get("erase") == "1" && h.Erase != nil
	if r.Method != http.MethodPost {
		switch {
		case erase:
			h.page(w, http.StatusOK, "Erase your data?", "Press the button and your address, name and consent record are deleted from "+h.ListName+
				" and from the record of every edition sent to you. Only a keyed fingerprint of the address is kept, so that it is never added again by mistake.",
				action+"&erase=1", "Erase my data")
		case q.Get("manage") == "1":
			h.manage(w, r, id, action)
		default:
			h.page(w, http.StatusOK, "Unsubscribe?", "Press the button and you will receive no more e-mails from "+h.ListName+".", action, "Unsubscribe")
		}
		return
	}
	if erase {
		h.erase(w, r, id)
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
	_, err = subscribers.Feedback{Store: h.Store}.Apply(r.Context(), brief.Feedback{Kind: brief.FeedbackUnsubscribe,
		SubscriberID: id, EditionID: edition, Source: "link", Key: "link:" + strconv.FormatInt(edition, 10)})
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

// manage shows the reader's subscription: address, name, status, with the
// unsubscribe button and the way to erasure.
func (h *UnsubscribeHandler) manage(w http.ResponseWriter, r *http.Request, id int64, action string) {
	sub, err := h.Store.Get(r.Context(), id)
	if errors.Is(err, subscribers.ErrNotFound) {
		h.page(w, http.StatusOK, "Your subscription", "This address is no longer on the list of "+h.ListName+": nothing is kept of it but a keyed fingerprint.", "", "")
		return
	}
	if err != nil {
		h.page(w, http.StatusInternalServerError, "Something went wrong", "Please try again in a minute.", "", "")
		return
	}
	msg := "You receive " + h.ListName + " at " + sub.Email
	if sub.Name != "" {
		msg += " as " + sub.Name
	}
	msg += " (" + sub.Status + ", since " + sub.CreatedAt.UTC().Format("2 January 2006") + ")."
	if sub.Status != subscribers.Active {
		msg = sub.Email + " is " + sub.Status + ": no more e-mails from " + h.ListName + " go to it."
		action = ""
	}
	setPageHeaders(w)
	var link, label string
	if h.Erase != nil {
		link, label = action+"&erase=1", "Erase my data"
		if action == "" {
			link = "/unsubscribe?token=" + url.QueryEscape(r.URL.Query().Get("token")) + "&erase=1"
		}
	}
	if err := h.Pages.WritePageWithLink(w, h.ListName, "Your subscription", msg, action, "Unsubscribe", link, label); err != nil && h.Log != nil {
		h.Log.Error("subscription page", slog.Any("error", err))
	}
}

// erase erases the reader who asked, everywhere.
func (h *UnsubscribeHandler) erase(w http.ResponseWriter, r *http.Request, id int64) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	sub, err := h.Store.Get(r.Context(), id)
	if err == nil {
		err = h.Erase(r.Context(), sub.Email)
	}
	switch {
	case errors.Is(err, subscribers.ErrNotFound):
	case err != nil:
		if h.Log != nil {
			h.Log.Error("erase on request", "subscriber", id, slog.Any("error", err))
		}
		h.page(w, http.StatusInternalServerError, "Something went wrong", "Your request could not be saved. Please try again in a minute.", "", "")
		return
	default:
		if h.Log != nil {
			h.Log.Info("erased on the subscriber's request", "subscriber", id)
		}
	}
	h.page(w, http.StatusOK, "Your data is erased", "Nothing is kept of your address but a keyed fingerprint, so that it is never added again by mistake. You will receive no more e-mails from "+h.ListName+".", "", "")
}

package web

import (
	"strconv"
	"sync"

	"github.com/newsbrief/newsbrief/subscribers"
	"golang.org/x/time/rate"

	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ConfirmationMailer sends the double opt-in mail: one message to one
// address with the link that confirms it. cmd satisfies it with the mailer.
type ConfirmationMailer interface {
	SendConfirmation(ctx context.Context, toEmail, toName, confirmURL string) error
}

// OptIn serves the double opt-in routes: GET/POST /subscribe (an HTML form,
// or JSON {"email", "name"}) and GET/POST /confirm?token=. The answer to a
// subscription request is the same whether the address was new, pending,
// active or suppressed, so the form reveals nothing about who is on the
// list; a GET of the confirmation link only shows a button (link scanners
// prefetch GETs), and its POST confirms.
type OptIn struct {
	Store      *subscribers.Store
	Tokens     *subscribers.Tokens
	Pages      PageWriter
	Mailer     ConfirmationMailer
	BaseURL    string
	ListName   string
	Wording    string        // the consent text recorded with each subscription
	ConfirmTTL time.Duration // how long a confirmation link works
	Log        *slog.Logger
	// PerClient is how many subscription requests one client (IP address)
	// may make per hour (0: 5); PerMinute is how many confirmation mails go
	// out per minute in all (0: 30). Confirmations wait in a queue of
	// QueueSize (0: 256) for one background sender, never inside the
	// request; Background is that sender's lifetime (nil: the process's).
	PerClient  int
	PerMinute  int
	QueueSize  int
	Background context.Context

	once     sync.Once
	clients  perClient
	queue    chan confirmation
	sendRate *rate.Limiter
}

// confirmation is one double opt-in mail waiting to be sent.
type confirmation struct {
	id               int64
	addr, name, link string
}

// init makes the limits and starts the sender, once.
func (o *OptIn) init() {
	o.once.Do(func() {
		if o.PerClient <= 0 {
			o.PerClient = 5
		}
		if o.PerMinute <= 0 {
			o.PerMinute = 30
		}
		if o.QueueSize <= 0 {
			o.QueueSize = 256
		}
		o.clients = perClient{every: time.Hour / time.Duration(o.PerClient), burst: o.PerClient}
		o.queue = make(chan confirmation, o.QueueSize)
		o.sendRate = rate.NewLimiter(rate.Every(time.Minute/time.Duration(o.PerMinute)), max(1, o.PerMinute/6))
		ctx := o.Background
		if ctx == nil {
			ctx = context.Background()
		}
		go o.sender(ctx)
	})
}

// sender mails the queued confirmations, at most PerMinute a minute, until
// ctx ends.
func (o *OptIn) sender(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-o.queue:
			if err := o.sendRate.Wait(ctx); err != nil {
				return
			}
			sctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := o.Mailer.SendConfirmation(sctx, c.addr, c.name, c.link)
			cancel()
			if o.Log != nil {
				if err != nil {
					o.Log.Error("confirmation not sent", "subscriber", c.id, slog.Any("error", err))
				} else {
					o.Log.Info("confirmation sent", "subscriber", c.id)
				}
			}
		}
	}
}

// Register mounts the routes on mux.
func (o *OptIn) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /subscribe", o.form)
	mux.HandleFunc("POST /subscribe", o.subscribe)
	mux.HandleFunc("GET /confirm", o.confirmPage)
	mux.HandleFunc("POST /confirm", o.confirm)
}

const checkInbox = "If the address can receive e-mail, a message with a confirmation link is on its way. Your subscription starts when you press the button behind that link."

func (o *OptIn) page(w http.ResponseWriter, status int, title, msg, action, button string) {
	setPageHeaders(w)
	w.WriteHeader(status)
	if err := o.Pages.WritePage(w, o.ListName, title, msg, action, button); err != nil && o.Log != nil {
		o.Log.Error("page", slog.Any("error", err))
	}
}

func setPageHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
}

func (o *OptIn) form(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	if err := o.Pages.WriteForm(w, o.ListName, "Subscribe", "One e-mail a day with the stories that matter. You can unsubscribe with one click from any of them.", "/subscribe", "Subscribe"); err != nil && o.Log != nil {
		o.Log.Error("subscribe form", slog.Any("error", err))
	}
}

type subscribeRequest struct {
	Email   string `json:"email"`
	Name    string `json:"name"`
	Website string `json:"website"` // the honeypot
}

func (o *OptIn) subscribe(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	isJSON := ct == "application/json"
	var req subscribeRequest
	if isJSON {
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON like {\"email\": \"you@example.com\"}"})
			return
		}
	} else {
		if err := r.ParseForm(); err != nil {
			o.page(w, http.StatusBadRequest, "That did not work", "The form could not be read.", "", "")
			return
		}
		req = subscribeRequest{Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name"), Website: r.PostForm.Get("website")}
	}
	answer := func() {
		if isJSON {
			writeJSON(w, http.StatusAccepted, map[string]string{"status": "check your inbox"})
			return
		}
		o.page(w, http.StatusOK, "Check your inbox", checkInbox, "", "")
	}
	if req.Website != "" { // a bot filled in the hidden field: answer as usual, do nothing
		answer()
		return
	}
	o.init()
	host := clientIP(r)
	// one client cannot make the server mail strangers: a few requests an
	// hour each, and a full queue refuses before anything is recorded
	if !o.clients.get(host).Allow() {
		w.Header().Set("Retry-After", strconv.Itoa(int((time.Hour / time.Duration(o.PerClient)).Seconds())))
		if isJSON {
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many requests from your address; try again later"})
			return
		}
		o.page(w, http.StatusTooManyRequests, "Please wait", "Too many requests came from your address. Try again in a while.", "", "")
		return
	}
	if len(o.queue) >= cap(o.queue) {
		w.Header().Set("Retry-After", "300")
		if isJSON {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "busy; try again in a few minutes"})
			return
		}
		o.page(w, http.StatusServiceUnavailable, "Please try again soon", "Many people are subscribing right now. Try again in a few minutes.", "", "")
		return
	}
	via := "form"
	if isJSON {
		via = "api"
	}
	id, send, err := o.Store.RequestSubscription(r.Context(), req.Email, req.Name,
		subscribers.Consent{Wording: o.Wording, IP: host, UserAgent: r.UserAgent(), Via: via})
	if errors.Is(err, subscribers.ErrInvalidEmail) || (err != nil && strings.Contains(err.Error(), "name contains")) {
		msg := strings.TrimPrefix(err.Error(), "invalid e-mail address ")
		if isJSON {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		o.page(w, http.StatusBadRequest, "Please check the address", "That does not look like an e-mail address: "+msg, "", "")
		return
	}
	if err != nil {
		o.fail(w, isJSON, err)
		return
	}
	if send {
		link := o.BaseURL + "/confirm?token=" + url.QueryEscape(o.Tokens.Sign(subscribers.PurposeConfirm, id))
		addr, _ := subscribers.NormalizeEmail(req.Email)
		name, _ := subscribers.CleanName(req.Name)
		select {
		case o.queue <- confirmation{id: id, addr: addr, name: name, link: link}:
		default:
			if o.Log != nil {
				o.Log.Warn("confirmation queue full; the request can be repeated after the confirmation interval", "subscriber", id)
			}
		}
	}
	answer()
}

func (o *OptIn) fail(w http.ResponseWriter, isJSON bool, err error) {
	if o.Log != nil {
		o.Log.Error("subscribe", slog.Any("error", err))
	}
	if isJSON {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "try again in a minute"})
		return
	}
	o.page(w, http.StatusInternalServerError, "Something went wrong", "Your request could not be saved. Please try again in a minute.", "", "")
}

func (o *OptIn) confirmPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	if _, err := o.Tokens.Verify(subscribers.PurposeConfirm, token, o.ConfirmTTL); err != nil {
		o.badToken(w, err)
		return
	}
	o.page(w, http.StatusOK, "Confirm your subscription", "Press the button to start receiving "+o.ListName+".",
		"/confirm?token="+url.QueryEscape(token), "Confirm")
}

func (o *OptIn) badToken(w http.ResponseWriter, err error) {
	msg := subscribers.ErrBadToken.Error() + "."
	if errors.Is(err, subscribers.ErrExpiredToken) {
		msg = "This confirmation link has expired. Subscribe again to get a new one."
	}
	o.page(w, http.StatusBadRequest, "This link does not work", msg, "", "")
}

func (o *OptIn) confirm(w http.ResponseWriter, r *http.Request) {
	id, err := o.Tokens.Verify(subscribers.PurposeConfirm, r.URL.Query().Get("token"), o.ConfirmTTL)
	if err != nil {
		o.badToken(w, err)
		return
	}
	if err := o.Store.Confirm(r.Context(), id); errors.Is(err, subscribers.ErrNotFound) {
		o.page(w, http.StatusBadRequest, "This link does not work", "This subscription no longer exists. Subscribe again to get a new link.", "", "")
		return
	} else if err != nil {
		o.fail(w, false, err)
		return
	}
	if o.Log != nil {
		o.Log.Info("subscription confirmed", "subscriber", id)
	}
	o.page(w, http.StatusOK, "You are subscribed", "Welcome to "+o.ListName+". The next edition will be in your inbox.", "", "")
}

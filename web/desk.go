package web

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	_ "embed"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
	"github.com/newsbrief/newsbrief/templates"
)

// The editors' desk (/admin) and its JSON twin (/api/): both act on the
// next edition through the same functions below; the desk signs editors in
// with NEWSBRIEF_ADMIN_TOKEN and a signed session cookie, the API takes the
// token as a bearer token. Without a token both are off.

const (
	sessionCookie = "newsbrief_session"
	sessionTTL    = 12 * time.Hour
	maxFormBytes  = 64 << 10
)

// desk serves /admin and /api/.
type desk struct {
	s     *Server
	pages *template.Template
	log   *slog.Logger
	tag   string // changes with the admin token: rotating it signs everyone out

	mu      sync.Mutex
	sending bool // a send started here is running
	again   bool // a resume came while it ran: continue once more when it ends
}

func newDesk(s *Server) (*desk, error) {
	sum := sha256.Sum256([]byte("newsbrief desk\x00" + s.cfg.AdminToken))
	funcs := template.FuncMap{
		"when": func(t time.Time) string {
			if t.IsZero() {
				return "–"
			}
			return t.Local().Format("Mon 2 Jan 15:04")
		},
		"state": func(counts map[string]int, s string) int { return counts[s] },
		"remaining": func(c map[string]int) int {
			return c[pipeline.StatePending] + c[pipeline.StateSending] + c[pipeline.StateDeferred]
		},
		"failed": func(c map[string]int) int { return c[pipeline.StateFailed] + c[pipeline.StateUnknown] },
		"add":    func(a, b int) int { return a + b },
		"pct":    func(f float64) float64 { return 100 * f },
		// slot shows a scheduled time in the schedule's own zone
		"slot": func(t time.Time) string { return t.Format("Mon 2 Jan 2006 15:04 MST") },
	}
	pages, err := templates.DeskPages(funcs)
	if err != nil {
		return nil, err
	}
	return &desk{s: s, log: s.log.With("component", "desk"), tag: hex.EncodeToString(sum[:6]), pages: pages}, nil
}

// register adds the desk's and the API's routes to mux.
func (k *desk) register(mux *http.ServeMux) {
	if k.s.cfg.AdminToken == "" {
		off := func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "the editors' desk and the API are off: set NEWSBRIEF_ADMIN_TOKEN", http.StatusNotFound)
		}
		mux.HandleFunc("/admin", off)
		mux.HandleFunc("/admin/", off)
		mux.HandleFunc("/api/", off)
		return
	}
	mux.HandleFunc("GET /admin/login", k.loginPage)
	mux.HandleFunc("POST /admin/login", k.login)
	mux.HandleFunc("POST /admin/logout", k.form(k.logout))
	mux.HandleFunc("GET /admin", k.page(k.edition))
	mux.HandleFunc("GET /admin/{$}", k.page(k.edition))
	mux.HandleFunc("POST /admin/articles/{id}/{action}", k.form(k.articleAction))
	mux.HandleFunc("POST /admin/articles", k.form(k.addArticle))
	mux.HandleFunc("POST /admin/subject", k.form(k.setSubject))
	mux.HandleFunc("POST /admin/note", k.form(k.setNote))
	mux.HandleFunc("POST /admin/groups/{id}/split", k.form(k.splitGroup))
	mux.HandleFunc("GET /admin/preview", k.page(k.preview))
	mux.HandleFunc("GET /admin/preview.html", k.page(k.previewHTML))
	mux.HandleFunc("POST /admin/test", k.form(k.testSend))
	mux.HandleFunc("GET /admin/send", k.page(k.confirmSend))
	mux.HandleFunc("POST /admin/send", k.form(k.sendNow))
	mux.HandleFunc("GET /admin/editions", k.page(k.editions))
	mux.HandleFunc("GET /admin/editions/{id}", k.page(k.editionStatus))
	mux.HandleFunc("POST /admin/editions/{id}/{action}", k.form(k.editionControl))
	mux.HandleFunc("GET /admin/schedule", k.page(k.schedulePage))
	mux.HandleFunc("POST /admin/schedule/{action}", k.form(k.scheduleAction))
	mux.HandleFunc("GET /admin/sources", k.page(k.sources))
	mux.HandleFunc("POST /admin/sources", k.form(k.addSource))
	mux.HandleFunc("GET /admin/sources/{id}", k.page(k.sourcePage))
	mux.HandleFunc("POST /admin/sources/{id}/{action}", k.form(k.sourceAction))
	mux.HandleFunc("POST /admin/sources/{id}/rules/{rule}/remove", k.form(k.removeRuleForm))

	mux.HandleFunc("GET /api/articles", k.api(k.apiArticles))
	mux.HandleFunc("POST /api/articles", k.api(k.apiAddArticle))
	mux.HandleFunc("POST /api/articles/{id}/{action}", k.api(k.apiArticleAction))
	mux.HandleFunc("PUT /api/note", k.api(k.apiNote))
	mux.HandleFunc("GET /api/groups", k.api(k.apiGroups))
	mux.HandleFunc("POST /api/groups/{id}/split", k.api(k.apiSplit))
	mux.HandleFunc("GET /api/preview", k.api(k.apiPreview))
	mux.HandleFunc("POST /api/test", k.api(k.apiTest))
	mux.HandleFunc("POST /api/send", k.api(k.apiSend))
	mux.HandleFunc("GET /api/editions", k.api(k.apiEditions))
	mux.HandleFunc("GET /api/editions/{id}", k.api(k.apiEdition))
	mux.HandleFunc("POST /api/editions/{id}/{action}", k.api(k.apiEditionControl))
	mux.HandleFunc("GET /api/schedule", k.api(k.apiSchedule))
	mux.HandleFunc("POST /api/schedule/skip", k.api(k.apiSkip))
	mux.HandleFunc("DELETE /api/schedule/skip/{slot}", k.api(k.apiUnskip))
	mux.HandleFunc("GET /admin/subscribers", k.page(k.subscribersPage))
	mux.HandleFunc("GET /admin/subscribers/export", k.page(k.exportPage))
	mux.HandleFunc("POST /admin/subscribers/import", k.importPage)
	mux.HandleFunc("GET /admin/subscribers/{email}", k.page(k.subscriberPage))
	mux.HandleFunc("POST /admin/subscribers/{email}/{action}", k.form(k.subscriberAction))
	mux.HandleFunc("GET /api/subscribers", k.api(k.apiSubscribers))
	mux.HandleFunc("POST /api/subscribers/import", k.apiLimit(maxImportBytes, k.apiImport))
	mux.HandleFunc("GET /api/subscribers/export", k.api(k.apiExport))
	mux.HandleFunc("GET /api/subscribers/{email}", k.api(k.apiSubscriber))
	mux.HandleFunc("PATCH /api/subscribers/{email}", k.api(k.apiPatchSubscriber))
	mux.HandleFunc("DELETE /api/subscribers/{email}", k.api(k.apiEraseSubscriber))
	mux.HandleFunc("GET /api/sources", k.api(k.apiSources))
	mux.HandleFunc("POST /api/sources", k.api(k.apiAddSource))
	mux.HandleFunc("PATCH /api/sources/{id}", k.api(k.apiPatchSource))
	mux.HandleFunc("DELETE /api/sources/{id}", k.api(k.apiRemoveSource))
	mux.HandleFunc("GET /api/sources/{id}/rules", k.api(k.apiRules))
	mux.HandleFunc("POST /api/sources/{id}/rules", k.api(k.apiAddRule))
	mux.HandleFunc("DELETE /api/sources/{id}/rules/{rule}", k.api(k.apiRemoveRule))
}

// ---- sessions, CSRF, sign-in ----

func (k *desk) sessionPurpose() string { return "desk-session:" + k.tag }
func (k *desk) csrfPurpose() string    { return "desk-csrf:" + k.tag }

// session returns the session ID of a valid session cookie, or 0.
func (k *desk) session(r *http.Request) int64 {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return 0
	}
	id, err := k.s.svc.Tokens.Verify(k.sessionPurpose(), c.Value, sessionTTL)
	if err != nil || id == 0 {
		return 0
	}
	return id
}

// tokenOK compares a presented admin token with the configured one in
// constant time (over their hashes, so the length leaks nothing either).
func (k *desk) tokenOK(presented string) bool { return tokenEqual(presented, k.s.cfg.AdminToken) }

func (k *desk) loginPage(w http.ResponseWriter, r *http.Request) {
	k.render(w, http.StatusOK, "login", map[string]any{"Next": safeNext(r.URL.Query().Get("next"))})
}

func (k *desk) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if !k.sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	formErr := r.ParseForm()
	switch k.s.guard.check(w, r, func() bool { return formErr == nil && k.tokenOK(r.PostForm.Get("token")) }) {
	case http.StatusTooManyRequests:
		k.log.Warn("sign-in rate limited", "remote", r.RemoteAddr)
		k.render(w, http.StatusTooManyRequests, "login", map[string]any{"Error": "Too many attempts. Wait a minute and try again."})
		return
	case http.StatusUnauthorized:
		k.log.Warn("sign-in refused", "remote", r.RemoteAddr)
		k.render(w, http.StatusUnauthorized, "login", map[string]any{"Error": "That token is not right.", "Next": safeNext(r.PostForm.Get("next"))})
		return
	}
	var b [8]byte
	rand.Read(b[:])
	id := int64(binary.BigEndian.Uint64(b[:]) >> 1)
	if id == 0 {
		id = 1
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: k.s.svc.Tokens.Sign(k.sessionPurpose(), id), Path: "/",
		HttpOnly: true, Secure: strings.HasPrefix(k.s.cfg.BaseURL, "https://"), SameSite: http.SameSiteStrictMode,
		MaxAge: int(sessionTTL.Seconds())})
	k.log.Info("editor signed in", "remote", r.RemoteAddr)
	http.Redirect(w, r, safeNext(r.PostForm.Get("next")), http.StatusSeeOther)
}

func (k *desk) logout(w http.ResponseWriter, r *http.Request, _ int64) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/admin/login", http.StatusSeeOther)
}

// safeNext keeps a post-sign-in redirect on the desk.
func safeNext(next string) string {
	if strings.HasPrefix(next, "/admin") && !strings.HasPrefix(next, "//") && !strings.ContainsAny(next, "\\\r\n") {
		return next
	}
	return "/admin"
}

// sameOrigin refuses a request whose Origin (or, lacking it, Referer) names
// another site. Browsers send Origin on every cross-site POST.
func (k *desk) sameOrigin(r *http.Request) bool {
	src := r.Header.Get("Origin")
	if src == "" {
		src = r.Header.Get("Referer")
	}
	if src == "" {
		return true
	}
	u, err := url.Parse(src)
	if err != nil {
		return false
	}
	if u.Host == r.Host {
		return true
	}
	if b, err := url.Parse(k.s.cfg.BaseURL); err == nil && b.Host == u.Host {
		return true
	}
	return false
}

// page wraps a desk page: no session sends the editor to sign in.
func (k *desk) page(fn func(w http.ResponseWriter, r *http.Request, sid int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid := k.session(r)
		if sid == 0 {
			http.Redirect(w, r, "/admin/login?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Frame-Options", "SAMEORIGIN")
		fn(w, r, sid)
	}
}

// form wraps a desk form post: it needs a session, the session's CSRF token
// and a same-site origin.
func (k *desk) form(fn func(w http.ResponseWriter, r *http.Request, sid int64)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sid := k.postGate(w, r, maxFormBytes)
		if sid == 0 {
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		if id, err := k.s.svc.Tokens.Verify(k.csrfPurpose(), r.PostForm.Get("csrf"), sessionTTL); err != nil || id != sid {
			k.log.Warn("form post without a valid CSRF token refused", "path", r.URL.Path)
			http.Error(w, "this form has expired or was not made by the desk; reload the page", http.StatusForbidden)
			return
		}
		fn(w, r, sid)
	}
}

// postGate admits a desk post of at most limit bytes: it needs a session
// and a same-site origin (the CSRF token is the caller's to check, once
// the form is read). It answers the refusal itself and returns 0.
func (k *desk) postGate(w http.ResponseWriter, r *http.Request, limit int64) int64 {
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	sid := k.session(r)
	if sid == 0 {
		http.Error(w, "sign in first", http.StatusUnauthorized)
		return 0
	}
	if !k.sameOrigin(r) {
		k.log.Warn("cross-site form post refused", "path", r.URL.Path, "origin", r.Header.Get("Origin"))
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return 0
	}
	return sid
}

// api wraps a JSON API handler: bearer token required.
func (k *desk) api(fn func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return k.apiLimit(maxFormBytes, fn)
}

// apiLimit is api with a request body of at most limit bytes.
func (k *desk) apiLimit(limit int64, fn func(w http.ResponseWriter, r *http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		switch k.s.guard.check(w, r, func() bool { return bearerOK(r, k.s.cfg.AdminToken) }) {
		case http.StatusTooManyRequests:
			k.log.Warn("API token guesses rate limited", "remote", r.RemoteAddr)
			writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many wrong tokens; wait and try again"})
			return
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="newsbrief"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "a valid bearer token is required"})
			return
		}
		v, err := fn(w, r)
		if err != nil {
			writeJSON(w, errorStatus(err), map[string]string{"error": k.s.errorText(r, err)})
			return
		}
		if v != nil {
			writeJSON(w, http.StatusOK, v)
		}
	}
}

// ---- actions shared by the desk and the API ----

// nextEdition is what the desk shows of the next edition.
type nextEdition struct {
	pipeline.NextEdition
	Slot time.Time // the slot "send now" takes
	Err  string
}

func (k *desk) next(ctx context.Context) (nextEdition, error) {
	n, err := k.s.svc.Editions.Next(ctx)
	if err != nil {
		return nextEdition{}, err
	}
	out := nextEdition{NextEdition: n}
	if n.Reason != nil {
		out.Err = n.Reason.Error()
	}
	if k.s.svc.Scheduler != nil {
		out.Slot = k.s.svc.Scheduler.NextSlot(k.s.svc.Scheduler.Now())
	}
	return out, nil
}

// doArticleAction pins, unpins, excludes or includes an article; up and
// down move it one place in the next edition.
func (k *desk) doArticleAction(ctx context.Context, idStr, action string) error {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("article %q: %w", idStr, pipeline.ErrNotFound)
	}
	e := k.s.svc.Editions
	switch action {
	case "pin", "unpin":
		return e.Pin(ctx, id, action == "pin")
	case "exclude", "include":
		return e.Exclude(ctx, id, action == "exclude")
	case "up":
		return e.Step(ctx, id, -1)
	case "down":
		return e.Step(ctx, id, +1)
	}
	return fmt.Errorf("%w: unknown action %q (pin, unpin, exclude, include, up, down)", pipeline.ErrBadInput, action)
}

// doTestSend mails the next edition to one address, marked [TEST].
func (k *desk) doTestSend(ctx context.Context, addr string) error {
	a, err := mail.ParseAddress(strings.TrimSpace(addr))
	if err != nil || strings.ContainsAny(addr, "\r\n") {
		return fmt.Errorf("%w: %q is not an e-mail address", pipeline.ErrBadInput, addr)
	}
	return k.s.svc.Editions.Test(ctx, a.Address)
}

// startSend starts the next edition's send in the background: it takes the
// next scheduled slot, so the scheduled send of that slot makes none.
func (k *desk) startSend() (time.Time, error) {
	if k.s.svc.Scheduler == nil || k.s.svc.Start == nil {
		return time.Time{}, errors.New("sending from the desk needs newsbrief serve")
	}
	k.mu.Lock()
	if k.sending {
		k.mu.Unlock()
		return time.Time{}, errSendRunning
	}
	k.sending = true
	k.mu.Unlock()
	slot := k.s.svc.Scheduler.NextSlot(k.s.svc.Scheduler.Now())
	// refused at once, not after the request returned: another process
	// sending, or this slot's edition made already
	if err := k.s.svc.Editions.StartCheck(context.Background(), slot); err != nil {
		k.mu.Lock()
		k.sending = false
		k.mu.Unlock()
		return slot, err
	}
	k.s.svc.Start("send (desk)", func(ctx context.Context) error {
		defer k.sendDone(ctx)
		_, err := k.s.svc.Scheduler.SendNow(ctx)
		return err
	})
	return slot, nil
}

// continueSend continues the editions still sending in the background
// (after a resume). While a send started here runs, it is asked to
// continue once more when it ends, so a resume right after a pause is
// never lost. It reports whether the send continues now.
func (k *desk) continueSend() bool {
	if k.s.svc.Start == nil {
		return false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.sending {
		k.again = true
		return true
	}
	k.sending = true
	k.s.svc.Start("resume (desk)", func(ctx context.Context) error {
		defer k.sendDone(ctx)
		return k.continueEditions(ctx)
	})
	return true
}

func (k *desk) continueEditions(ctx context.Context) error {
	_, err := k.s.svc.Editions.Continue(ctx)
	if errors.Is(err, pipeline.ErrBusy) {
		k.log.Info("resumed edition left to the process that is sending", slog.Any("error", err))
		return nil
	}
	return err
}

// sendDone ends a send started here, continuing once more when a resume
// came while it ran.
func (k *desk) sendDone(ctx context.Context) {
	for {
		k.mu.Lock()
		if !k.again || ctx.Err() != nil {
			k.sending, k.again = false, false
			k.mu.Unlock()
			return
		}
		k.again = false
		k.mu.Unlock()
		if err := k.continueEditions(ctx); err != nil {
			k.log.Error("resumed send", slog.Any("error", err))
		}
	}
}

// ---- desk pages ----

func (k *desk) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; form-action 'self'")
	w.WriteHeader(status)
	data["Page"] = name
	data["List"] = k.s.cfg.ListName
	if err := k.pages.ExecuteTemplate(w, name, data); err != nil {
		k.log.Error("desk page", "page", name, slog.Any("error", err))
	}
}

func (k *desk) data(sid int64) map[string]any {
	return map[string]any{"CSRF": k.s.svc.Tokens.Sign(k.csrfPurpose(), sid)}
}

func (k *desk) fail(w http.ResponseWriter, r *http.Request, sid int64, err error) {
	d := k.data(sid)
	d["Error"] = k.s.errorText(r, err)
	k.render(w, errorStatus(err), "error", d)
}

func (k *desk) edition(w http.ResponseWriter, r *http.Request, sid int64) {
	k.nextPage(w, r, sid, "edition")
}

// nextPage renders a page about the next edition: the desk's front page
// or the send confirmation.
func (k *desk) nextPage(w http.ResponseWriter, r *http.Request, sid int64, page string) {
	n, err := k.next(r.Context())
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["N"] = n
	d["Flash"] = r.URL.Query().Get("done")
	k.render(w, http.StatusOK, page, d)
}

func (k *desk) back(w http.ResponseWriter, r *http.Request, msg string) {
	http.Redirect(w, r, "/admin?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (k *desk) articleAction(w http.ResponseWriter, r *http.Request, sid int64) {
	if err := k.doArticleAction(r.Context(), r.PathValue("id"), r.PathValue("action")); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, "Article "+r.PathValue("id")+": "+r.PathValue("action")+" done.")
}

func (k *desk) addArticle(w http.ResponseWriter, r *http.Request, sid int64) {
	a, err := k.s.svc.Editions.AddArticle(r.Context(), r.PostForm.Get("title"), r.PostForm.Get("url"), r.PostForm.Get("text"))
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, fmt.Sprintf("Article %d added: %s", a.ID, a.Title))
}

func (k *desk) setSubject(w http.ResponseWriter, r *http.Request, sid int64) {
	if err := k.s.svc.Editions.SetSubject(r.Context(), r.PostForm.Get("subject")); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, "Subject saved.")
}

func (k *desk) setNote(w http.ResponseWriter, r *http.Request, sid int64) {
	if err := k.s.svc.Editions.SetNote(r.Context(), r.PostForm.Get("note")); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, "Note saved.")
}

type apiGroup struct {
	ID     int64        `json:"id"` // the article the others are grouped under
	Title  string       `json:"title"`
	Source string       `json:"source,omitempty"`
	Also   []apiArticle `json:"also"`
}

// apiGroups lists the next edition's "also reported by" groups.
func (k *desk) apiGroups(w http.ResponseWriter, r *http.Request) (any, error) {
	groups, err := k.s.svc.Editions.Groups(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]apiGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, apiGroup{ID: g.ID, Title: g.Title, Source: g.SourceName, Also: toAPI(g.Also)})
	}
	return map[string]any{"groups": out}, nil
}

func groupID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("group %q: %w", r.PathValue("id"), pipeline.ErrNotFound)
	}
	return id, nil
}

// apiSplit splits group {id}: its articles stand on their own.
func (k *desk) apiSplit(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := groupID(r)
	if err != nil {
		return nil, err
	}
	if err := k.s.svc.Editions.Split(r.Context(), id); err != nil {
		return nil, err
	}
	return k.apiGroups(w, r)
}

func (k *desk) splitGroup(w http.ResponseWriter, r *http.Request, sid int64) {
	id, err := groupID(r)
	if err == nil {
		err = k.s.svc.Editions.Split(r.Context(), id)
	}
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, "Group split: each story stands on its own.")
}

// apiNote sets the editor's note of the next edition: {"note": "…"} ("" for none).
func (k *desk) apiNote(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct {
		Note *string `json:"note"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.Note == nil {
		return nil, fmt.Errorf(`%w: want {"note": "…"} ("" for none)`, pipeline.ErrBadInput)
	}
	if err := k.s.svc.Editions.SetNote(r.Context(), *in.Note); err != nil {
		return nil, err
	}
	note, err := k.s.svc.Store.NextNote(r.Context())
	return map[string]string{"note": note}, err
}

func (k *desk) preview(w http.ResponseWriter, r *http.Request, sid int64) {
	m, n, err := k.s.svc.Editions.Preview(r.Context(), k.previewRecipient())
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["M"], d["Count"] = m, n
	k.render(w, http.StatusOK, "preview", d)
}

func (k *desk) previewRecipient() pipeline.Recipient {
	return pipeline.Recipient{Email: "reader@example.com", Name: "Reader"}
}

// previewHTML is the HTML body exactly as a subscriber gets it, shown in
// the preview page's frame.
func (k *desk) previewHTML(w http.ResponseWriter, r *http.Request, sid int64) {
	m, _, err := k.s.svc.Editions.Preview(r.Context(), k.previewRecipient())
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'")
	io.WriteString(w, m.HTMLBody())
}

func (k *desk) testSend(w http.ResponseWriter, r *http.Request, sid int64) {
	addr := r.PostForm.Get("address")
	if err := k.doTestSend(r.Context(), addr); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	k.back(w, r, "Test message sent to "+addr+".")
}

func (k *desk) confirmSend(w http.ResponseWriter, r *http.Request, sid int64) {
	k.nextPage(w, r, sid, "confirm")
}

func (k *desk) sendNow(w http.ResponseWriter, r *http.Request, sid int64) {
	if _, err := k.startSend(); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	http.Redirect(w, r, "/admin/editions?started=1", http.StatusSeeOther)
}

func (k *desk) editions(w http.ResponseWriter, r *http.Request, sid int64) {
	eds, err := k.s.svc.Store.Editions(r.Context(), 50)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["Editions"] = eds
	k.mu.Lock()
	d["Sending"] = k.sending
	k.mu.Unlock()
	d["Started"] = r.URL.Query().Get("started") != ""
	sending := d["Sending"].(bool)
	for _, e := range eds {
		sending = sending || e.Status == pipeline.EditionSending
	}
	d["Refresh"] = sending // the page reloads itself while a send runs
	k.render(w, http.StatusOK, "editions", d)
}

func (k *desk) editionStatus(w http.ResponseWriter, r *http.Request, sid int64) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		k.fail(w, r, sid, fmt.Errorf("edition %q: %w", r.PathValue("id"), pipeline.ErrNotFound))
		return
	}
	ed, err := k.s.svc.Store.Edition(r.Context(), id)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	fails, err := k.s.svc.Store.Failures(r.Context(), id, 50)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	fb, err := k.s.svc.Subscribers.EditionFeedback(r.Context(), id)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["E"], d["Failures"], d["Refresh"] = ed, fails, ed.Status == pipeline.EditionSending
	d["Feedback"] = feedbackOf(fb, ed.Counts[pipeline.StateSent])
	d["Base"] = k.s.cfg.BaseURL
	d["Flash"] = r.URL.Query().Get("done")
	k.render(w, http.StatusOK, "status", d)
}

// control runs an edition control (pause, resume, cancel, resend-unknown)
// named by the request's path.
func (k *desk) control(r *http.Request) (int64, string, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, "", fmt.Errorf("edition %q: %w", r.PathValue("id"), pipeline.ErrNotFound)
	}
	action := r.PathValue("action")
	n, err := k.s.svc.Editions.Control(r.Context(), id, action)
	if err != nil {
		return id, "", err
	}
	switch action {
	case "pause":
		return id, "Paused: the send stops after its current batch.", nil
	case "resume":
		if k.continueSend() {
			return id, "Resumed: the send continues now, mailing nobody twice.", nil
		}
		return id, "Resumed: the next send continues it, mailing nobody twice.", nil
	case "cancel":
		return id, fmt.Sprintf("Cancelled: %d messages will not be sent.", n), nil
	}
	return id, fmt.Sprintf("%d messages of unknown outcome queued again.", n), nil
}

func (k *desk) editionControl(w http.ResponseWriter, r *http.Request, sid int64) {
	id, msg, err := k.control(r)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/admin/editions/%d?done=%s", id, url.QueryEscape(msg)), http.StatusSeeOther)
}

func (k *desk) apiEditionControl(w http.ResponseWriter, r *http.Request) (any, error) {
	id, msg, err := k.control(r)
	if err != nil {
		return nil, err
	}
	e, err := k.s.svc.Store.Edition(r.Context(), id)
	if err != nil {
		return nil, err
	}
	return map[string]any{"edition": editionAPI(e), "done": msg}, nil
}

func (k *desk) sources(w http.ResponseWriter, r *http.Request, sid int64) {
	srcs, err := k.s.svc.Store.Sources(r.Context())
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["Sources"] = srcs
	d["Flash"] = r.URL.Query().Get("done")
	k.render(w, http.StatusOK, "sources", d)
}

// addSource adds a source from the desk's form (name="url": a feed, or a
// page that links one), checked by fetching it.
func (k *desk) addSource(w http.ResponseWriter, r *http.Request, sid int64) {
	src, _, err := k.s.svc.Collector.AddSource(r.Context(), r.PostForm.Get("url"), "desk")
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	http.Redirect(w, r, "/admin/sources?done="+url.QueryEscape(fmt.Sprintf("Source %d added: %s", src.ID, src.URL)), http.StatusSeeOther)
}

// ---- JSON API ----

type apiSource struct {
	ID          int64      `json:"id"`
	URL         string     `json:"url"`
	Title       string     `json:"title,omitempty"`
	Priority    int        `json:"priority"`
	Paused      bool       `json:"paused"`
	LastFetched *time.Time `json:"last_fetched,omitempty"`
	Status      string     `json:"status,omitempty"`
	Items       int        `json:"items"`
	New         int        `json:"new"`
	Error       string     `json:"error,omitempty"`
}

func sourceAPI(s pipeline.Source) apiSource {
	v := apiSource{ID: s.ID, URL: s.URL, Title: s.Title, Priority: s.Priority, Paused: s.Paused, Status: s.LastStatus,
		Items: s.LastItems, New: s.LastNewItems, Error: s.LastError}
	if !s.LastFetchedAt.IsZero() {
		v.LastFetched = &s.LastFetchedAt
	}
	return v
}

func (k *desk) apiSources(w http.ResponseWriter, r *http.Request) (any, error) {
	srcs, err := k.s.svc.Store.Sources(r.Context())
	if err != nil {
		return nil, err
	}
	out := make([]apiSource, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, sourceAPI(s))
	}
	return out, nil
}

// apiAddSource adds {"url"}: a feed or a page linking one (422 with the
// reason when no feed is found there).
func (k *desk) apiAddSource(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct{ URL string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	src, _, err := k.s.svc.Collector.AddSource(r.Context(), in.URL, "api")
	if err != nil {
		return nil, err
	}
	w.Header().Set("Location", "/api/sources")
	writeJSON(w, http.StatusCreated, sourceAPI(src))
	return nil, nil
}

type apiArticle struct {
	ID        int64     `json:"id"`
	Title     string    `json:"title"`
	URL       string    `json:"url,omitempty"`
	Source    string    `json:"source,omitempty"`
	Summary   string    `json:"summary,omitempty"`
	Published time.Time `json:"published"`
	Pinned    bool      `json:"pinned"`
	Excluded  bool      `json:"excluded"`
	Also      []int64   `json:"also_reported_by,omitempty"`
}

func toAPI(arts []pipeline.Article) []apiArticle {
	out := make([]apiArticle, 0, len(arts))
	for _, a := range arts {
		v := apiArticle{ID: a.ID, Title: a.Title, URL: a.URL, Source: a.SourceName, Summary: a.Summary,
			Published: a.PublishedAt, Pinned: a.Pinned, Excluded: a.Excluded}
		for _, o := range a.Also {
			v.Also = append(v.Also, o.ID)
		}
		out = append(out, v)
	}
	return out
}

func (k *desk) apiArticles(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := k.next(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"subject": n.Subject, "recipients": n.Recipients, "next_edition": toAPI(n.Articles),
		"waiting": toAPI(n.Left), "reason": n.Err, "note": n.Note}, nil
}

func (k *desk) apiAddArticle(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct{ Title, URL, Text string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	a, err := k.s.svc.Editions.AddArticle(r.Context(), in.Title, in.URL, in.Text)
	if err != nil {
		return nil, err
	}
	w.Header().Set("Location", "/api/articles")
	writeJSON(w, http.StatusCreated, toAPI([]pipeline.Article{a})[0])
	return nil, nil
}

func (k *desk) apiArticleAction(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := k.doArticleAction(r.Context(), r.PathValue("id"), r.PathValue("action")); err != nil {
		return nil, err
	}
	return map[string]string{"status": "ok"}, nil
}

func (k *desk) apiPreview(w http.ResponseWriter, r *http.Request) (any, error) {
	m, n, err := k.s.svc.Editions.Preview(r.Context(), k.previewRecipient())
	if err != nil {
		return nil, err
	}
	return map[string]any{"subject": m.Subject(), "articles": n, "html": m.HTMLBody(), "text": m.TextBody()}, nil
}

func (k *desk) apiTest(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct{ Address string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if err := k.doTestSend(r.Context(), in.Address); err != nil {
		return nil, err
	}
	return map[string]string{"status": "sent", "address": in.Address}, nil
}

func (k *desk) apiSend(w http.ResponseWriter, r *http.Request) (any, error) {
	slot, err := k.startSend()
	if err != nil {
		return nil, err
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "started", "slot": slot})
	return nil, nil
}

type apiEdition struct {
	ID       int64          `json:"id"`
	Subject  string         `json:"subject"`
	Status   string         `json:"status"`
	Created  time.Time      `json:"created"`
	Finished *time.Time     `json:"finished,omitempty"`
	Slot     *time.Time     `json:"slot,omitempty"`
	Counts   map[string]int `json:"counts"`
	Articles []apiArticle   `json:"articles,omitempty"` // one edition's: what it carried, in order
	Page     string         `json:"page,omitempty"`     // its public page, once sent
	Problems []apiProblem   `json:"problems,omitempty"` // one edition's: failed and deferred deliveries (the first 50)
	Feedback *apiFeedback   `json:"feedback,omitempty"` // one edition's: what came back after the send
}

// apiFeedback is what came back about an edition: later bounces,
// complaints (and their share of the messages delivered) and unsubscribes.
type apiFeedback struct {
	Hard          int     `json:"hard_bounces"`
	Soft          int     `json:"soft_bounces"`
	Complaints    int     `json:"complaints"`
	ComplaintRate float64 `json:"complaint_rate"`
	Unsubscribes  int     `json:"unsubscribes"`
	// Warning is set when the complaint rate passes 0.1 %.
	Warning string `json:"warning,omitempty"`
}

func feedbackOf(fb subscribers.FeedbackCounts, delivered int) *apiFeedback {
	v := &apiFeedback{Hard: fb.Hard, Soft: fb.Soft, Complaints: fb.Complaints, ComplaintRate: fb.ComplaintRate(delivered), Unsubscribes: fb.Unsubscribes}
	if fb.TooManyComplaints(delivered) {
		v.Warning = fmt.Sprintf("%.2f%% of the %d messages delivered were reported as spam, over the %.1f%% this list should stay under (Gmail and Yahoo block senders over 0.3%%)",
			100*v.ComplaintRate, delivered, 100*subscribers.ComplaintWarnRate)
	}
	return v
}

type apiProblem struct {
	Email  string `json:"email"`
	State  string `json:"state"`
	Code   int    `json:"code,omitempty"`
	Detail string `json:"detail,omitempty"`
}

func editionAPI(e pipeline.Edition) apiEdition {
	v := apiEdition{ID: e.ID, Subject: e.Subject, Status: e.Status, Created: e.CreatedAt, Counts: e.Counts}
	if len(e.Articles) > 0 {
		v.Articles = toAPI(e.Articles)
	}
	if !e.FinishedAt.IsZero() {
		v.Finished = &e.FinishedAt
	}
	if !e.Slot.IsZero() {
		v.Slot = &e.Slot
	}
	return v
}

func (k *desk) apiEditions(w http.ResponseWriter, r *http.Request) (any, error) {
	eds, err := k.s.svc.Store.Editions(r.Context(), 50)
	if err != nil {
		return nil, err
	}
	out := make([]apiEdition, 0, len(eds))
	for _, e := range eds {
		out = append(out, editionAPI(e))
	}
	return out, nil
}

func (k *desk) apiEdition(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("edition %q: %w", r.PathValue("id"), pipeline.ErrNotFound)
	}
	e, err := k.s.svc.Store.Edition(r.Context(), id)
	if err != nil {
		return nil, err
	}
	v := editionAPI(e)
	fails, err := k.s.svc.Store.Failures(r.Context(), id, 50)
	if err != nil {
		return nil, err
	}
	for _, f := range fails {
		v.Problems = append(v.Problems, apiProblem{f.Email, f.State, f.Code, f.Detail})
	}
	if e.Status == pipeline.EditionSent {
		v.Page = k.s.cfg.BaseURL + "/archive/" + strconv.FormatInt(e.ID, 10)
	}
	fb, err := k.s.svc.Subscribers.EditionFeedback(r.Context(), id)
	if err != nil {
		return nil, err
	}
	v.Feedback = feedbackOf(fb, e.Counts[pipeline.StateSent])
	return v, nil
}

// sourceID is the {id} of a source route: a number, else ErrNotFound.
func sourceID(r *http.Request) (string, error) {
	id := r.PathValue("id")
	if n, err := strconv.ParseInt(id, 10, 64); err != nil || n <= 0 {
		return "", fmt.Errorf("source %q: %w", id, pipeline.ErrNotFound)
	}
	return id, nil
}

// apiPatchSource changes a source's {"priority", "paused"} (either or
// both) and returns it.
func (k *desk) apiPatchSource(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := sourceID(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Priority *int  `json:"priority"`
		Paused   *bool `json:"paused"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	ctx := r.Context()
	if _, err := k.s.svc.Store.Source(ctx, id); err != nil {
		return nil, err
	}
	if in.Priority != nil {
		if err := k.s.svc.Store.SetPriority(ctx, id, *in.Priority); err != nil {
			return nil, err
		}
	}
	if in.Paused != nil {
		if err := k.s.svc.Store.SetPaused(ctx, id, *in.Paused); err != nil {
			return nil, err
		}
	}
	src, err := k.s.svc.Store.Source(ctx, id)
	if err != nil {
		return nil, err
	}
	return sourceAPI(src), nil
}

// apiRemoveSource removes a source; the articles collected from it stay.
func (k *desk) apiRemoveSource(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := sourceID(r)
	if err != nil {
		return nil, err
	}
	if err := k.s.svc.Store.RemoveSource(r.Context(), id); err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil, nil
}

// upcomingSlots is how many slots the schedule page and API show.
const upcomingSlots = 7

// scheduler is serve's schedule, or an error outside serve.
func (k *desk) scheduler() (Scheduler, error) {
	if k.s.svc.Scheduler == nil {
		return nil, fmt.Errorf("%w: the schedule belongs to newsbrief serve", pipeline.ErrNotFound)
	}
	return k.s.svc.Scheduler, nil
}

type apiSlot struct {
	Slot    time.Time `json:"slot"`
	Skipped bool      `json:"skipped"`
}

func (k *desk) slots(ctx context.Context) ([]apiSlot, error) {
	sch, err := k.scheduler()
	if err != nil {
		return nil, err
	}
	up, err := sch.Upcoming(ctx, upcomingSlots)
	if err != nil {
		return nil, err
	}
	out := make([]apiSlot, 0, len(up))
	for _, u := range up {
		out = append(out, apiSlot{Slot: u.Slot, Skipped: u.Skipped})
	}
	return out, nil
}

// parseSlot reads an RFC 3339 time; ErrBadInput otherwise.
func parseSlot(v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, strings.TrimSpace(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: slot %q is not an RFC 3339 time like 2026-12-02T07:00:00+01:00", pipeline.ErrBadInput, v)
	}
	return t, nil
}

func (k *desk) schedulePage(w http.ResponseWriter, r *http.Request, sid int64) {
	slots, err := k.slots(r.Context())
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["Slots"], d["Flash"] = slots, r.URL.Query().Get("done")
	d["Schedule"], d["Catchup"] = k.s.cfg.Schedule, k.s.cfg.Catchup
	k.render(w, http.StatusOK, "schedule", d)
}

// scheduleAction skips a slot or undoes it (the form's "slot").
func (k *desk) scheduleAction(w http.ResponseWriter, r *http.Request, sid int64) {
	sch, err := k.scheduler()
	if err == nil {
		var slot time.Time
		if slot, err = parseSlot(r.PostForm.Get("slot")); err == nil {
			switch r.PathValue("action") {
			case "skip":
				err = sch.Skip(r.Context(), slot)
			case "unskip":
				err = sch.Unskip(r.Context(), slot)
			default:
				err = fmt.Errorf("%w: unknown action %q (skip, unskip)", pipeline.ErrBadInput, r.PathValue("action"))
			}
		}
	}
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	done := "Skipped: no edition for that slot."
	if r.PathValue("action") == "unskip" {
		done = "That slot sends again."
	}
	http.Redirect(w, r, "/admin/schedule?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (k *desk) apiSchedule(w http.ResponseWriter, r *http.Request) (any, error) {
	slots, err := k.slots(r.Context())
	if err != nil {
		return nil, err
	}
	return map[string]any{"slots": slots, "schedule": k.s.cfg.Schedule, "catchup_seconds": int64(k.s.cfg.Catchup / time.Second)}, nil
}

// apiSkip skips {"slot"}.
func (k *desk) apiSkip(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct{ Slot string }
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	slot, err := parseSlot(in.Slot)
	if err != nil {
		return nil, err
	}
	sch, err := k.scheduler()
	if err != nil {
		return nil, err
	}
	if err := sch.Skip(r.Context(), slot); err != nil {
		return nil, err
	}
	return k.apiSchedule(w, r)
}

// apiUnskip undoes the skip of the slot in the path.
func (k *desk) apiUnskip(w http.ResponseWriter, r *http.Request) (any, error) {
	slot, err := parseSlot(r.PathValue("slot"))
	if err != nil {
		return nil, err
	}
	sch, err := k.scheduler()
	if err != nil {
		return nil, err
	}
	if err := sch.Unskip(r.Context(), slot); err != nil {
		return nil, err
	}
	return k.apiSchedule(w, r)
}

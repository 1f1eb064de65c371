package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
)

// The subscribers in the desk (/admin/subscribers) and the API
// (/api/subscribers): search, one subscriber's record, edits, erasure,
// CSV import and export, the list's growth. Both call the subscriber store
// and, for erasure, the editions service.

// maxImportBytes bounds one uploaded CSV (about 700,000 rows); larger
// lists go through `newsbrief subscribers import -`.
const maxImportBytes = 32 << 20

type apiConsent struct {
	Wording   string     `json:"wording,omitempty"`
	Via       string     `json:"via,omitempty"`
	At        *time.Time `json:"at,omitempty"`
	IP        string     `json:"ip,omitempty"`
	UserAgent string     `json:"user_agent,omitempty"`
}

type apiSubscriber struct {
	Email        string          `json:"email"`
	Name         string          `json:"name,omitempty"`
	Status       string          `json:"status"`
	Created      time.Time       `json:"created"`
	Unsubscribed *time.Time      `json:"unsubscribed,omitempty"`
	Consent      apiConsent      `json:"consent"`
	Bounces      int             `json:"bounces"`
	LastBounce   string          `json:"last_bounce,omitempty"`
	Attributes   json.RawMessage `json:"attributes"`
	Editions     []apiReceived   `json:"editions,omitempty"` // one subscriber's: the editions they were sent
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func subscriberAPI(s subscribers.Subscriber) apiSubscriber {
	attrs := json.RawMessage(s.Attributes)
	if !json.Valid(attrs) {
		attrs = json.RawMessage("{}")
	}
	return apiSubscriber{Email: s.Email, Name: s.Name, Status: s.Status, Created: s.CreatedAt, Unsubscribed: optTime(s.UnsubscribedAt),
		Consent: apiConsent{Wording: s.Consent, Via: s.Via, At: optTime(s.ConsentAt), IP: s.ConsentIP, UserAgent: s.ConsentUA},
		Bounces: s.Bounces, LastBounce: s.LastBounce, Attributes: attrs}
}

// apiSubscribers searches (?q= an address's start), filters (?status=) and
// pages (?after= the cursor of the previous page, ?limit=) the list.
func (k *desk) apiSubscribers(w http.ResponseWriter, r *http.Request) (any, error) {
	q := r.URL.Query()
	status := q.Get("status")
	if status != "" && !slices.Contains(subscribers.Statuses, status) {
		return nil, fmt.Errorf("%w: status %q is not one of %s", pipeline.ErrBadInput, status, strings.Join(subscribers.Statuses, ", "))
	}
	limit, _ := strconv.Atoi(q.Get("limit"))
	page, next, err := k.s.svc.Subscribers.Search(r.Context(), q.Get("q"), status, q.Get("after"), limit)
	if errors.Is(err, subscribers.ErrBadCursor) {
		return nil, fmt.Errorf("%w: %v", pipeline.ErrBadInput, err)
	}
	if err != nil {
		return nil, err
	}
	out := make([]apiSubscriber, 0, len(page))
	for _, s := range page {
		out = append(out, subscriberAPI(s))
	}
	return map[string]any{"subscribers": out, "next": next}, nil
}

// apiSubscriber answers one subscriber with the consent record, the
// bounces and the editions they were sent (the newest 50).
func (k *desk) apiSubscriber(w http.ResponseWriter, r *http.Request) (any, error) {
	rec, err := k.subscriberRecord(r.Context(), r.PathValue("email"))
	if err != nil {
		return nil, err
	}
	out := subscriberAPI(rec.Subscriber)
	out.Editions = []apiReceived{}
	for _, e := range rec.Received {
		out.Editions = append(out.Editions, apiReceived{e.EditionID, e.Subject, e.State, e.Code, e.Detail, e.UpdatedAt})
	}
	return out, nil
}

// apiPatchSubscriber changes {"name"}, {"attributes"} (an object of
// strings, replacing the old ones) and, as the one status change an
// editor makes, {"status": "unsubscribed"}.
func (k *desk) apiPatchSubscriber(w http.ResponseWriter, r *http.Request) (any, error) {
	var in struct {
		Name       *string           `json:"name"`
		Attributes map[string]string `json:"attributes"`
		Status     *string           `json:"status"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	if in.Status != nil && *in.Status != subscribers.Unsubscribed {
		return nil, fmt.Errorf("%w: the status an editor sets is %q (a subscriber confirms, bounces and complains by themselves)",
			pipeline.ErrBadInput, subscribers.Unsubscribed)
	}
	if _, err := k.editSubscriber(r.Context(), r.PathValue("email"), in.Name, in.Attributes, in.Status != nil); err != nil {
		return nil, err
	}
	return k.apiSubscriber(w, r)
}

// apiEraseSubscriber erases a subscriber as `subscribers forget` does: only
// a keyed hash of the address is kept, so it stays suppressed.
func (k *desk) apiEraseSubscriber(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := k.s.svc.Editions.Erase(r.Context(), r.PathValue("email")); err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil, nil
}

// badInput marks the subscriber store's refusals of what a client sent.
func badInput(err error) error {
	for _, e := range []error{subscribers.ErrInvalidEmail, subscribers.ErrBadName, subscribers.ErrBadAttributes,
		subscribers.ErrBadCursor, subscribers.ErrBadHeader, subscribers.ErrLineTooLong} {
		if errors.Is(err, e) {
			return fmt.Errorf("%w: %w", pipeline.ErrBadInput, err)
		}
	}
	return err
}

// subscriberRecord is one subscriber with the editions they were sent.
type subscriberRecord struct {
	subscribers.Subscriber
	Attrs    map[string]string
	Received []pipeline.Received
}

func (k *desk) subscriberRecord(ctx context.Context, email string) (subscriberRecord, error) {
	sub, err := k.s.svc.Subscribers.GetByEmail(ctx, email)
	if err != nil {
		return subscriberRecord{}, err
	}
	rec := subscriberRecord{Subscriber: sub}
	json.Unmarshal([]byte(sub.Attributes), &rec.Attrs)
	rec.Received, err = k.s.svc.Store.SentTo(ctx, sub.ID, 50)
	return rec, err
}

type apiReceived struct {
	Edition int64     `json:"edition"`
	Subject string    `json:"subject"`
	State   string    `json:"state"`
	Code    int       `json:"code,omitempty"`
	Detail  string    `json:"detail,omitempty"`
	At      time.Time `json:"at"`
}

// editSubscriber applies an edit of the desk or the API: a new name,
// new attributes, or the unsubscription an editor may make.
func (k *desk) editSubscriber(ctx context.Context, email string, name *string, attrs map[string]string, unsubscribe bool) (subscribers.Subscriber, error) {
	st := k.s.svc.Subscribers
	sub, err := st.GetByEmail(ctx, email)
	if err != nil {
		return sub, err
	}
	if name != nil {
		if err := st.SetName(ctx, sub.ID, *name); err != nil {
			return sub, badInput(err)
		}
	}
	if attrs != nil {
		if err := st.SetAttributes(ctx, sub.ID, attrs); err != nil {
			return sub, badInput(err)
		}
	}
	if unsubscribe && sub.Status != subscribers.Unsubscribed {
		if err := st.Unsubscribe(ctx, sub.ID); err != nil {
			return sub, err
		}
	}
	return st.Get(ctx, sub.ID)
}

// importCSV imports a CSV for the desk or the API. Without consent the new
// subscribers are pending and their confirmation mails go out in the
// background (at shutdown the ones not yet sent stay pending: they can
// subscribe again or be imported with a consent).
func (k *desk) importCSV(ctx context.Context, r io.Reader, consent string, dry bool) (subscribers.ImportReport, error) {
	type pending struct {
		id          int64
		email, name string
	}
	var queue []pending
	opts := subscribers.ImportOptions{DryRun: dry, Consent: strings.TrimSpace(consent)}
	if opts.Consent == "" && !dry {
		opts.Pending = func(id int64, email, name string) error {
			queue = append(queue, pending{id, email, name})
			return nil
		}
	}
	rep, err := k.s.svc.Subscribers.Import(ctx, r, opts)
	if len(queue) > 0 && k.s.svc.Mailer != nil {
		send := func(ctx context.Context) error {
			for i, p := range queue {
				if err := ctx.Err(); err != nil {
					k.log.Warn("import confirmations stopped; the rest stay pending", "left", len(queue)-i)
					return nil
				}
				if err := k.s.svc.Mailer.SendConfirmation(ctx, p.email, p.name, k.s.confirmLink(p.id)); err != nil {
					k.log.Error("import confirmation not sent", "subscriber", p.id, "error", err)
				}
			}
			k.log.Info("import confirmations sent", "count", len(queue))
			return nil
		}
		if k.s.svc.Start != nil {
			k.s.svc.Start("import confirmations", send)
		} else {
			send(ctx)
		}
	}
	return rep, badInput(err)
}

type apiImportReport struct {
	DryRun    bool           `json:"dry_run"`
	Added     int            `json:"added"`
	Pending   int            `json:"pending"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Bad       []apiImportBad `json:"bad"`
	Error     string         `json:"error,omitempty"`
}

type apiImportBad struct {
	Line   int    `json:"line"`
	Email  string `json:"email,omitempty"`
	Reason string `json:"reason"`
}

func importAPI(rep subscribers.ImportReport, dry bool) apiImportReport {
	out := apiImportReport{DryRun: dry, Added: rep.Added, Pending: rep.Pending, Updated: rep.Updated, Unchanged: rep.Unchanged,
		Bad: []apiImportBad{}}
	for _, b := range rep.Bad {
		out.Bad = append(out.Bad, apiImportBad{b.Line, b.Email, b.Reason})
	}
	return out
}

// apiImport reads a CSV body (text/csv) with ?consent= (where the consent
// came from; without it new subscribers get a confirmation mail) and
// ?dry_run=1, and answers the per-line report. A header without an email
// column answers 400; a line over 1 MiB stops the import there and
// answers 400 with the report of the lines before it.
func (k *desk) apiImport(w http.ResponseWriter, r *http.Request) (any, error) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "text/csv" && ct != "text/plain" {
		return nil, fmt.Errorf("%w: send the CSV as the body with Content-Type: text/csv", pipeline.ErrBadInput)
	}
	dry := r.URL.Query().Get("dry_run") == "1" || r.URL.Query().Get("dry_run") == "true"
	rep, err := k.importCSV(r.Context(), r.Body, r.URL.Query().Get("consent"), dry)
	out := importAPI(rep, dry)
	if err != nil {
		if errorStatus(err) == http.StatusInternalServerError || (rep.Added+rep.Updated+rep.Unchanged+len(rep.Bad) == 0) {
			return nil, err
		}
		out.Error = err.Error()
		writeJSON(w, errorStatus(err), out)
		return nil, nil
	}
	return out, nil
}

// apiExport streams every subscriber as CSV, cells safe to open in a
// spreadsheet.
func (k *desk) apiExport(w http.ResponseWriter, r *http.Request) (any, error) {
	k.export(w, r)
	return nil, nil
}

// export writes the CSV; once its first bytes are out an error can only
// cut the file short, and is logged.
func (k *desk) export(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="subscribers-`+time.Now().UTC().Format("2006-01-02")+`.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	if err := k.s.svc.Subscribers.Export(r.Context(), w); err != nil {
		k.log.Error("export stopped", "request", requestID(r), "error", err) // the header is out: the client sees a cut file
	}
}

// ---- desk pages ----

// subscribersPage lists, searches and pages the subscribers, with the
// counts by status, the last 30 days, the import form and the export.
func (k *desk) subscribersPage(w http.ResponseWriter, r *http.Request, sid int64) {
	ctx, q := r.Context(), r.URL.Query()
	status := q.Get("status")
	if status != "" && !slices.Contains(subscribers.Statuses, status) {
		status = ""
	}
	page, next, err := k.s.svc.Subscribers.Search(ctx, q.Get("q"), status, q.Get("after"), 50)
	if err != nil {
		k.fail(w, r, sid, badInput(err))
		return
	}
	counts := make([][2]any, 0, len(subscribers.Statuses))
	for _, st := range subscribers.Statuses {
		n, err := k.s.svc.Subscribers.Count(ctx, st)
		if err != nil {
			k.fail(w, r, sid, err)
			return
		}
		counts = append(counts, [2]any{st, n})
	}
	growth, err := k.s.svc.Subscribers.Growth(ctx, 30)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	var total subscribers.Day
	for _, g := range growth {
		total.Added, total.Confirmed, total.Unsubscribed = total.Added+g.Added, total.Confirmed+g.Confirmed, total.Unsubscribed+g.Unsubscribed
		total.Bounced, total.Complained = total.Bounced+g.Bounced, total.Complained+g.Complained
	}
	d := k.data(sid)
	d["Total"] = total
	d["Q"], d["Status"], d["Statuses"], d["Subs"], d["Counts"], d["Growth"] = q.Get("q"), status, subscribers.Statuses, page, counts, growth
	if next != "" {
		v := url.Values{"q": {q.Get("q")}, "status": {status}, "after": {next}}
		d["NextPage"] = "/admin/subscribers?" + v.Encode()
	}
	d["Flash"] = q.Get("done")
	k.render(w, http.StatusOK, "subscribers", d)
}

func (k *desk) subscriberPage(w http.ResponseWriter, r *http.Request, sid int64) {
	rec, err := k.subscriberRecord(r.Context(), r.PathValue("email"))
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["S"], d["Flash"] = rec, r.URL.Query().Get("done")
	k.render(w, http.StatusOK, "subscriber", d)
}

// parseAttributes reads the desk's attribute box: one "name: value" a line.
func parseAttributes(text string) (map[string]string, error) {
	attrs := map[string]string{}
	for i, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("%w: attributes line %d: write name: value", pipeline.ErrBadInput, i+1)
		}
		attrs[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return attrs, nil
}

// subscriberAction runs a desk form on one subscriber: save (name and
// attributes), unsubscribe, erase (with its confirmation box ticked).
func (k *desk) subscriberAction(w http.ResponseWriter, r *http.Request, sid int64) {
	ctx, email := r.Context(), r.PathValue("email")
	back := "/admin/subscribers/" + url.PathEscape(email)
	var msg string
	switch r.PathValue("action") {
	case "save":
		name := r.PostForm.Get("name")
		attrs, err := parseAttributes(r.PostForm.Get("attributes"))
		if err == nil {
			_, err = k.editSubscriber(ctx, email, &name, attrs, false)
		}
		if err != nil {
			k.fail(w, r, sid, err)
			return
		}
		msg = "Saved."
	case "unsubscribe":
		if _, err := k.editSubscriber(ctx, email, nil, nil, true); err != nil {
			k.fail(w, r, sid, err)
			return
		}
		msg = email + " is unsubscribed: no more editions go to it."
	case "erase":
		if r.PostForm.Get("confirm") != "yes" {
			k.fail(w, r, sid, fmt.Errorf("%w: tick the box to confirm the erasure", pipeline.ErrBadInput))
			return
		}
		if err := k.s.svc.Editions.Erase(ctx, email); err != nil {
			k.fail(w, r, sid, err)
			return
		}
		http.Redirect(w, r, "/admin/subscribers?done="+url.QueryEscape(email+" is erased: only a keyed hash is kept, so it can't be added again."), http.StatusSeeOther)
		return
	default:
		k.fail(w, r, sid, fmt.Errorf("action %q: %w", r.PathValue("action"), pipeline.ErrNotFound))
		return
	}
	http.Redirect(w, r, back+"?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

// importPage takes the desk's upload form as a stream: the CSRF token and
// the options come first, the file last, so nothing is spooled to disk
// and memory stays flat.
func (k *desk) importPage(w http.ResponseWriter, r *http.Request) {
	sid := k.postGate(w, r, maxImportBytes)
	if sid == 0 {
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	fields := map[string]string{}
	for {
		part, err := mr.NextPart()
		if err != nil {
			k.fail(w, r, sid, fmt.Errorf("%w: the form has no file", pipeline.ErrBadInput))
			return
		}
		if part.FormName() != "file" {
			var b bytes.Buffer
			if _, err := io.Copy(&b, io.LimitReader(part, 4<<10)); err != nil {
				http.Error(w, "bad form", http.StatusBadRequest)
				return
			}
			fields[part.FormName()] = b.String()
			continue
		}
		if id, err := k.s.svc.Tokens.Verify(k.csrfPurpose(), fields["csrf"], sessionTTL); err != nil || id != sid {
			http.Error(w, "this form has expired or was not made by the desk; reload the page", http.StatusForbidden)
			return
		}
		dry := fields["dry_run"] == "1"
		rep, err := k.importCSV(r.Context(), part, fields["consent"], dry)
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			err = fmt.Errorf("%w: the file is larger than %d MiB: the rows before the cut were imported; import larger lists with `newsbrief subscribers import -`", pipeline.ErrBadInput, maxImportBytes>>20)
		}
		if err != nil && errorStatus(err) == http.StatusInternalServerError {
			k.fail(w, r, sid, err)
			return
		}
		d := k.data(sid)
		d["R"], d["Dry"], d["File"] = rep, dry, part.FileName()
		if err != nil {
			d["Error"] = err.Error()
		}
		if len(rep.Bad) > 500 {
			d["More"] = len(rep.Bad) - 500
			rep.Bad = rep.Bad[:500]
			d["R"] = rep
		}
		k.render(w, http.StatusOK, "imported", d)
		return
	}
}

func (k *desk) exportPage(w http.ResponseWriter, r *http.Request, sid int64) { k.export(w, r) }

// confirmLink is the link of a double opt-in mail for subscriber id.
func (s *Server) confirmLink(id int64) string {
	return s.cfg.BaseURL + "/confirm?token=" + url.QueryEscape(s.svc.Tokens.Sign(subscribers.PurposeConfirm, id))
}

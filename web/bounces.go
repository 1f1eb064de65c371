package web

import (
	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/subscribers"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
)

// Report is one bounce or complaint a relay reports.
type Report struct {
	Email   string `json:"email"`
	Type    string `json:"type"` // "bounce", "complaint" or "unsubscribe"
	Hard    bool   `json:"hard"` // a bounce: the mailbox does not exist
	Code    int    `json:"code"` // SMTP code, if known
	Detail  string `json:"detail"`
	Edition int64  `json:"edition"` // the edition it is about, if known
	ID      string `json:"id"`      // the report's own identity: one sent again changes nothing
}

// maxReports is the most reports one request may carry.
const maxReports = 1000

// BounceAPI serves POST /api/bounces: bounces and complaints reported by a
// relay or a feedback loop, as one JSON object or an array of them,
// authorised with the admin token as a bearer token. A hard bounce or a
// complaint suppresses the address at once; soft bounces count towards
// SoftLimit.
type BounceAPI struct {
	Store     *subscribers.Store
	Token     string
	SoftLimit int
	Log       *slog.Logger
	Guard     *attempts // limits token guesses; nil: newAttempts()
}

// ServeHTTP handles one report request.
func (api *BounceAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	if api.Token == "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the API is off: set NEWSBRIEF_ADMIN_TOKEN"})
		return
	}
	if api.Guard == nil {
		api.Guard = newAttempts()
	}
	switch api.Guard.check(w, r, func() bool { return bearerOK(r, api.Token) }) {
	case http.StatusTooManyRequests:
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too many wrong tokens; wait and try again"})
		return
	case http.StatusUnauthorized:
		w.Header().Set("WWW-Authenticate", `Bearer realm="newsbrief"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong bearer token"})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	var raw json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be JSON: a report object or an array of them"})
		return
	}
	var reports []Report
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if err := json.Unmarshal(raw, &reports); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad report array: " + err.Error()})
			return
		}
	} else {
		var one Report
		if err := json.Unmarshal(raw, &one); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "bad report: " + err.Error()})
			return
		}
		reports = []Report{one}
	}
	if len(reports) > maxReports {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("at most %d reports a request", maxReports)})
		return
	}
	out := struct {
		Recorded int      `json:"recorded"`
		Unknown  []string `json:"unknown"`
		Invalid  []string `json:"invalid"`
	}{Unknown: []string{}, Invalid: []string{}}
	for i, rep := range reports {
		err := api.record(r, rep)
		switch {
		case err == nil:
			out.Recorded++
		case errors.Is(err, subscribers.ErrNotFound):
			out.Unknown = append(out.Unknown, rep.Email)
		case errors.Is(err, errBadReport):
			out.Invalid = append(out.Invalid, fmt.Sprintf("report %d: %v", i, err))
		default:
			if api.Log != nil {
				api.Log.Error("bounce report", slog.Any("error", err))
			}
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not record; try again"})
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

var errBadReport = errors.New("bad report")

func (api *BounceAPI) record(r *http.Request, rep Report) error {
	detail := strings.TrimSpace(rep.Detail)
	if rep.Code != 0 {
		detail = fmt.Sprintf("%d %s", rep.Code, detail)
	}
	f := brief.Feedback{Email: rep.Email, EditionID: max(rep.Edition, 0), Source: "api", Detail: detail}
	if rep.ID != "" {
		f.Key = "api:" + rep.ID
	}
	switch rep.Type {
	case "complaint":
		f.Kind = brief.FeedbackComplaint
	case "unsubscribe":
		f.Kind = brief.FeedbackUnsubscribe
	case "bounce", "":
		f.Kind = brief.FeedbackSoft
		if rep.Hard || unknownMailbox(detail) {
			f.Kind = brief.FeedbackHard
		}
	default:
		return fmt.Errorf("%w: type %q is not bounce, complaint or unsubscribe", errBadReport, rep.Type)
	}
	_, err := subscribers.Feedback{Store: api.Store, SoftLimit: api.SoftLimit}.Apply(r.Context(), f)
	return err
}

// unknownMailbox reports whether a bounce text says the mailbox does not
// exist: an enhanced status 5.1.1, 5.1.2, 5.1.3, 5.1.6 or 5.1.10.
func unknownMailbox(detail string) bool {
	for _, f := range strings.Fields(detail) {
		switch strings.TrimRight(f, ".,;:") {
		case "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10":
			return true
		}
	}
	return false
}

package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
	"github.com/newsbrief/newsbrief/subscribers"
)

// errSendRunning is returned when a send started here is still running.
var errSendRunning = errors.New("a send started from the desk is still running")

// errorStatus maps a domain error to an HTTP status: unknown things 404,
// bad input 400, conflicts with the state of things (a slot served, another
// process sending, a send running, an edition in the wrong state) 409,
// nothing to send or no feed at an address 422. Anything else is an internal error, 500.
func errorStatus(err error) int {
	switch {
	case errors.Is(err, pipeline.ErrNotFound), errors.Is(err, subscribers.ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, pipeline.ErrBadInput), errors.Is(err, pipeline.ErrBadRule):
		return http.StatusBadRequest
	case errors.Is(err, pipeline.ErrSlotTaken), errors.Is(err, pipeline.ErrBusy), errors.Is(err, errSendRunning),
		errors.Is(err, pipeline.ErrEditionState), errors.Is(err, pipeline.ErrDuplicate):
		return http.StatusConflict
	case errors.Is(err, pipeline.ErrNothingNew), errors.Is(err, collect.ErrNoFeed), errors.Is(err, collect.ErrFetch):
		return http.StatusUnprocessableEntity
	}
	return http.StatusInternalServerError
}

// errorText is what a client is told of err: the domain error's own words,
// or, for an internal error, only that it happened and the request ID.
func (s *Server) errorText(r *http.Request, err error) string {
	if errorStatus(err) != http.StatusInternalServerError {
		return err.Error()
	}
	s.log.Error("internal error", "request", requestID(r), "path", r.URL.Path, slog.Any("error", err))
	return "internal error (request " + requestID(r) + ")"
}

// internal answers 500 without internal text, and logs err whole.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.Error(what, "request", requestID(r), slog.Any("error", err))
	http.Error(w, "internal error (request "+requestID(r)+")", http.StatusInternalServerError)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// readJSON decodes a request body of one JSON object, unknown fields refused.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: request body: %v", pipeline.ErrBadInput, err)
	}
	return nil
}

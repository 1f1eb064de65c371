package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
)

// One source in the desk (/admin/sources/{id}) and the API
// (/api/sources/{id}/rules): pause, resume, priority, removal, and the
// source's boilerplate rules with a preview of what a rule removes from
// the feed's latest items.

// previewItems is how many of a feed's newest items a rule preview reads.
const previewItems = 10

type apiRule struct {
	ID      int64  `json:"id"`
	Kind    string `json:"kind"`
	Pattern string `json:"pattern"`
}

type apiRulePreview struct {
	Title   string   `json:"title"`
	URL     string   `json:"url,omitempty"`
	Removed []string `json:"removed"`
}

func previewAPI(ps []collect.RulePreview) []apiRulePreview {
	out := make([]apiRulePreview, 0, len(ps))
	for _, p := range ps {
		if p.Removed == nil {
			p.Removed = []string{}
		}
		out = append(out, apiRulePreview{p.Title, p.URL, p.Removed})
	}
	return out
}

// sourceRule reads the rule of a desk form or an API body.
func sourceRule(kind, pattern string) (pipeline.Rule, error) {
	r := pipeline.Rule{Kind: strings.TrimSpace(kind), Pattern: strings.TrimSpace(pattern)}
	if r.Pattern == "" {
		return r, fmt.Errorf("%w: a rule needs a pattern", pipeline.ErrBadInput)
	}
	_, _, err := r.Compile()
	return r, err
}

// previewRule fetches the source's feed and applies rule to its newest items.
func (k *desk) previewRule(ctx context.Context, id string, rule pipeline.Rule) ([]collect.RulePreview, error) {
	src, err := k.s.svc.Store.Source(ctx, id)
	if err != nil {
		return nil, err
	}
	return k.s.svc.Collector.PreviewRule(ctx, src, rule, previewItems)
}

func (k *desk) rules(ctx context.Context, id string) (pipeline.Source, []pipeline.Rule, error) {
	src, err := k.s.svc.Store.Source(ctx, id)
	if err != nil {
		return src, nil, err
	}
	rules, err := k.s.svc.Store.Rules(ctx, src.ID)
	return src, rules, err
}

// apiRules lists a source's rules.
func (k *desk) apiRules(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := sourceID(r)
	if err != nil {
		return nil, err
	}
	_, rules, err := k.rules(r.Context(), id)
	if err != nil {
		return nil, err
	}
	out := make([]apiRule, 0, len(rules))
	for _, ru := range rules {
		out = append(out, apiRule{ru.ID, ru.Kind, ru.Pattern})
	}
	return map[string]any{"rules": out}, nil
}

// apiAddRule takes {"kind": "regex"|"selector", "pattern", "preview"}: with
// preview true it only answers what the rule would remove from the feed's
// newest items; else it stores the rule (201) and answers it with that
// preview (or, when the feed cannot be read now, the reason).
func (k *desk) apiAddRule(w http.ResponseWriter, r *http.Request) (any, error) {
	id, err := sourceID(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		Kind    string `json:"kind"`
		Pattern string `json:"pattern"`
		Preview bool   `json:"preview"`
	}
	if err := readJSON(r, &in); err != nil {
		return nil, err
	}
	rule, err := sourceRule(in.Kind, in.Pattern)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	if in.Preview {
		ps, err := k.previewRule(ctx, id, rule)
		if err != nil {
			return nil, err
		}
		return map[string]any{"removes": previewAPI(ps)}, nil
	}
	out := map[string]any{}
	// previewed before it is stored, so the preview shows this rule's work
	if ps, err := k.previewRule(ctx, id, rule); err != nil {
		if errorStatus(err) == http.StatusNotFound {
			return nil, err
		}
		out["preview_error"] = k.s.errorText(r, err)
	} else {
		out["removes"] = previewAPI(ps)
	}
	stored, err := k.s.svc.Store.AddRule(ctx, id, rule.Kind, rule.Pattern)
	if err != nil {
		return nil, err
	}
	out["rule"] = apiRule{stored.ID, stored.Kind, stored.Pattern}
	w.Header().Set("Location", "/api/sources/"+id+"/rules")
	writeJSON(w, http.StatusCreated, out)
	return nil, nil
}

// apiRemoveRule deletes one rule of the source.
func (k *desk) apiRemoveRule(w http.ResponseWriter, r *http.Request) (any, error) {
	if err := k.removeRule(r.Context(), r); err != nil {
		return nil, err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil, nil
}

// removeRule removes the rule {rule} of the source {id}; a rule of another
// source is not found.
func (k *desk) removeRule(ctx context.Context, r *http.Request) error {
	id, err := sourceID(r)
	if err != nil {
		return err
	}
	ruleID, err := strconv.ParseInt(r.PathValue("rule"), 10, 64)
	if err != nil {
		return fmt.Errorf("rule %q: %w", r.PathValue("rule"), pipeline.ErrNotFound)
	}
	_, rules, err := k.rules(ctx, id)
	if err != nil {
		return err
	}
	for _, ru := range rules {
		if ru.ID == ruleID {
			return k.s.svc.Store.RemoveRule(ctx, ruleID)
		}
	}
	return fmt.Errorf("rule %d of source %s: %w", ruleID, id, pipeline.ErrNotFound)
}

// ---- desk ----

// sourcePage shows one source: its state, its controls and its rules,
// with the preview of a rule when the form asked for one.
func (k *desk) sourcePage(w http.ResponseWriter, r *http.Request, sid int64) {
	k.renderSource(w, r, sid, nil)
}

func (k *desk) renderSource(w http.ResponseWriter, r *http.Request, sid int64, extra map[string]any) {
	id, err := sourceID(r)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	src, rules, err := k.rules(r.Context(), id)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	d := k.data(sid)
	d["Src"], d["Rules"], d["Flash"] = src, rules, r.URL.Query().Get("done")
	d["Kind"] = pipeline.RuleRegex
	for k, v := range extra {
		d[k] = v
	}
	k.render(w, http.StatusOK, "source", d)
}

// sourceAction runs a desk form on one source: pause, resume, priority,
// remove, rule (add, or preview with the preview button).
func (k *desk) sourceAction(w http.ResponseWriter, r *http.Request, sid int64) {
	id, err := sourceID(r)
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	ctx, st := r.Context(), k.s.svc.Store
	var msg string
	switch r.PathValue("action") {
	case "pause", "resume":
		err = st.SetPaused(ctx, id, r.PathValue("action") == "pause")
		msg = "Source " + r.PathValue("action") + "d."
	case "priority":
		var p int
		if p, err = strconv.Atoi(strings.TrimSpace(r.PostForm.Get("priority"))); err != nil {
			err = fmt.Errorf("%w: the priority is a whole number", pipeline.ErrBadInput)
			break
		}
		err, msg = st.SetPriority(ctx, id, p), "Priority saved."
	case "remove":
		if err = st.RemoveSource(ctx, id); err == nil {
			http.Redirect(w, r, "/admin/sources?done="+url.QueryEscape("Source "+id+" removed; the articles collected from it stay."), http.StatusSeeOther)
			return
		}
	case "rule":
		rule, rerr := sourceRule(r.PostForm.Get("kind"), r.PostForm.Get("pattern"))
		if rerr != nil {
			err = rerr
			break
		}
		if r.PostForm.Get("preview") != "" {
			extra := map[string]any{"Kind": rule.Kind, "Pattern": rule.Pattern}
			if ps, perr := k.previewRule(ctx, id, rule); perr != nil {
				extra["PreviewError"] = k.s.errorText(r, perr)
			} else {
				extra["Preview"] = ps
			}
			k.renderSource(w, r, sid, extra)
			return
		}
		_, err = st.AddRule(ctx, id, rule.Kind, rule.Pattern)
		msg = "Rule added: it applies from the next collect."
	default:
		err = fmt.Errorf("action %q: %w", r.PathValue("action"), pipeline.ErrNotFound)
	}
	if err != nil {
		k.fail(w, r, sid, err)
		return
	}
	http.Redirect(w, r, "/admin/sources/"+id+"?done="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (k *desk) removeRuleForm(w http.ResponseWriter, r *http.Request, sid int64) {
	if err := k.removeRule(r.Context(), r); err != nil {
		k.fail(w, r, sid, err)
		return
	}
	http.Redirect(w, r, "/admin/sources/"+r.PathValue("id")+"?done="+url.QueryEscape("Rule removed."), http.StatusSeeOther)
}

package web

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/newsbrief/newsbrief/brief"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/subscribers"
)

// storeCollector reads the store's aggregates at each scrape, so the
// figures are right whichever process (serve, a cron `run`) did the work.
type storeCollector struct {
	store *pipeline.Store
	subs  *subscribers.Store

	articles, sources, failing, editions, deliveries, problems, queue, lastSent, lastDuration *prometheus.Desc
	feedback, lastComplaints                                                                  *prometheus.Desc
}

func newStoreCollector(s *pipeline.Store, subs *subscribers.Store) *storeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("newsbrief_"+name, help, labels, nil)
	}
	return &storeCollector{store: s, subs: subs,
		feedback: d("feedback_total", "What came back after sends, all editions: bounces (hard, soft), complaints, unsubscribes.", "kind"),
		lastComplaints: d("last_edition_complaint_rate",
			"Complaints over messages delivered of the last edition sent (warned about over 0.001; Gmail and Yahoo block senders over 0.003)."),
		articles:     d("articles", "Articles in the store."),
		sources:      d("sources", "Feeds configured."),
		failing:      d("sources_failing", "Feeds whose last fetch failed."),
		editions:     d("editions", "Editions by status.", "status"),
		deliveries:   d("deliveries", "Messages in the delivery ledger by state (sent, deferred, failed, …).", "state"),
		problems:     d("delivery_problems", "Deferred and failed messages by the class of the relay's answer (4xx, 5xx, network).", "state", "class"),
		queue:        d("queue_depth", "Messages waiting: pending or deferred."),
		lastSent:     d("last_send_success_timestamp_seconds", "When the last edition finished sending (Unix time)."),
		lastDuration: d("last_send_duration_seconds", "How long the last finished edition took, creation to finish."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.articles, c.sources, c.failing, c.editions, c.deliveries, c.problems, c.queue, c.lastSent, c.lastDuration,
		c.feedback, c.lastComplaints} {
		ch <- d
	}
}

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.store.Stats(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.articles, err)
		return
	}
	g := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	g(c.articles, float64(st.Articles))
	g(c.sources, float64(st.Sources))
	g(c.failing, float64(st.SourcesFailing))
	for _, s := range []string{pipeline.EditionSending, pipeline.EditionPaused, pipeline.EditionSent, pipeline.EditionCancelled} {
		g(c.editions, float64(st.Editions[s]), s)
	}
	for _, s := range pipeline.States {
		g(c.deliveries, float64(st.Deliveries[s]), s)
	}
	for _, state := range []string{pipeline.StateDeferred, pipeline.StateFailed} {
		for _, class := range []string{"4xx", "5xx", "network"} {
			g(c.problems, float64(st.Problems[[2]string{state, class}]), state, class)
		}
	}
	g(c.queue, float64(st.Deliveries[pipeline.StatePending]+st.Deliveries[pipeline.StateDeferred]))
	if !st.LastSentAt.IsZero() {
		g(c.lastSent, float64(st.LastSentAt.Unix()))
		g(c.lastDuration, st.LastSendSeconds)
	}
	if c.subs == nil {
		return
	}
	totals, err := c.subs.FeedbackTotals(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.feedback, err)
		return
	}
	for _, k := range []string{brief.FeedbackHard, brief.FeedbackSoft, brief.FeedbackComplaint, brief.FeedbackUnsubscribe} {
		ch <- prometheus.MustNewConstMetric(c.feedback, prometheus.CounterValue, float64(totals[k]), k)
	}
	if st.LastSentID != 0 {
		fb, err := c.subs.EditionFeedback(ctx, st.LastSentID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.lastComplaints, err)
			return
		}
		delivered, err := c.store.DeliveryCounts(ctx, st.LastSentID)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(c.lastComplaints, err)
			return
		}
		g(c.lastComplaints, fb.ComplaintRate(delivered[pipeline.StateSent]))
	}
}

// metricsHandler serves /metrics from a registry of its own (no globals):
// the store's figures plus the Go runtime and process collectors.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStoreCollector(s.svc.Store, s.svc.Subscribers), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if s.svc.Jobs != nil {
		reg.MustRegister(s.svc.Jobs.duration, s.svc.Jobs.runs)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// JobMetrics are this process's own figures: how long each job (collect,
// send, catch-up, a send from the desk) took and how it ended.
type JobMetrics struct {
	duration *prometheus.HistogramVec
	runs     *prometheus.CounterVec
}

// NewJobMetrics returns empty job figures.
func NewJobMetrics() *JobMetrics {
	return &JobMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "newsbrief_job_duration_seconds",
			Help:    "How long each job of this process took (send: collect, render and deliver an edition).",
			Buckets: []float64{0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 4 * 3600}}, []string{"job"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "newsbrief_jobs_total",
			Help: "Jobs run by this process, by outcome (ok, busy: another process was sending, error)."}, []string{"job", "outcome"}),
	}
}

// Observe counts one run of job that took d and ended with outcome (ok,
// busy, error). A nil *JobMetrics counts nothing.
func (m *JobMetrics) Observe(job string, d time.Duration, outcome string) {
	if m == nil {
		return
	}
	m.duration.WithLabelValues(job).Observe(d.Seconds())
	m.runs.WithLabelValues(job, outcome).Inc()
}

package main

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/newsbrief/newsbrief/pipeline"
)

// storeCollector reads the store's aggregates at each scrape, so the
// figures are right whichever process (serve, a cron `run`) did the work.
type storeCollector struct {
	store *pipeline.Store

	articles, sources, failing, editions, deliveries, queue, lastSent, lastDuration *prometheus.Desc
}

func newStoreCollector(s *pipeline.Store) *storeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("newsbrief_"+name, help, labels, nil)
	}
	return &storeCollector{store: s,
		articles:     d("articles", "Articles in the store."),
		sources:      d("sources", "Feeds configured."),
		failing:      d("sources_failing", "Feeds whose last fetch failed."),
		editions:     d("editions", "Editions by status.", "status"),
		deliveries:   d("deliveries", "Messages in the delivery ledger by state (sent, deferred, failed, …).", "state"),
		queue:        d("queue_depth", "Messages waiting: pending or deferred."),
		lastSent:     d("last_send_success_timestamp_seconds", "When the last edition finished sending (Unix time)."),
		lastDuration: d("last_send_duration_seconds", "How long the last finished edition took, creation to finish."),
	}
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.articles, c.sources, c.failing, c.editions, c.deliveries, c.queue, c.lastSent, c.lastDuration} {
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
	g(c.queue, float64(st.Deliveries[pipeline.StatePending]+st.Deliveries[pipeline.StateDeferred]))
	if !st.LastSentAt.IsZero() {
		g(c.lastSent, float64(st.LastSentAt.Unix()))
		g(c.lastDuration, st.LastSendSeconds)
	}
}

// metricsHandler serves /metrics from a registry of its own (no globals):
// the store's figures plus the Go runtime and process collectors.
func (a *app) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStoreCollector(a.store), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/newsbrief/newsbrief/internal/smtptest"
	"github.com/newsbrief/newsbrief/pipeline"
	"github.com/newsbrief/newsbrief/pipeline/collect"
)

// benchSubscribers is the audience of one benchmarked edition.
const benchSubscribers = 2000

// benchApp wires the real stores, templates and SMTP mailer against an
// in-process SMTP server on 127.0.0.1.
func benchApp(b *testing.B, relay *smtptest.Server, conc int) *app {
	b.Helper()
	dir := b.TempDir()
	if addr := os.Getenv("BENCH_RELAY"); addr != "" {
		// an external relay such as Postfix's smtp-sink: BENCH_RELAY=127.0.0.1:25250
		host, port, _ := strings.Cut(addr, ":")
		relay = &smtptest.Server{Host: host}
		fmt.Sscan(port, &relay.Port)
	}
	for _, kv := range [][2]string{
		{"NEWSBRIEF_DB", filepath.Join(dir, "bench.db")}, {"NEWSBRIEF_ARTICLES_DIR", ""},
		{"NEWSBRIEF_SMTP_HOST", relay.Host}, {"NEWSBRIEF_SMTP_PORT", fmt.Sprint(relay.Port)},
		{"NEWSBRIEF_SMTP_TLS", "none"}, {"NEWSBRIEF_SEND_CONCURRENCY", fmt.Sprint(conc)},
		{"NEWSBRIEF_SMTP_MAX_PER_CONN", "0"}, {"NEWSBRIEF_BASE_URL", "https://brief.example"},
		{"NEWSBRIEF_POSTAL_ADDRESS", "Bench, 1 Example Street, 12345 Example City"},
	} {
		b.Setenv(kv[0], kv[1])
	}
	cfg, err := loadConfig()
	if err != nil {
		b.Fatal(err)
	}
	a, err := openApp(context.Background(), cfg, newLogger(cfg, io.Discard), strings.NewReader(""), io.Discard)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	ctx := context.Background()
	for i := range benchSubscribers {
		if _, err := a.subs.Add(ctx, fmt.Sprintf("reader%05d@example.com", i), fmt.Sprintf("Reader %d", i), "", "cli"); err != nil {
			b.Fatal(err)
		}
	}
	return a
}

// addArticles gives the next edition 12 articles of ~1.5 KB of text each.
func addArticles(b *testing.B, a *app, round int) {
	b.Helper()
	for i := range 12 {
		body := ""
		for range 25 {
			body += fmt.Sprintf("Round %d, story %d: the council met again to discuss the plan in detail. ", round, i)
		}
		if _, err := a.store.AddArticle(context.Background(), pipeline.Article{
			Title: fmt.Sprintf("Story %d of round %d", i, round), URL: fmt.Sprintf("https://example.com/%d/%d", round, i),
			Text: body, Summary: collect.Summarize(body), HTML: "<p>" + body + "</p>"}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSendEdition sends whole editions (render, ledger, SMTP) to
// benchSubscribers addresses; BenchmarkBaselineGoMail sends the same number
// of same-size messages with a bare go-mail loop over as many connections.
// Compare their msgs/s: the ratio is newsbrief's overhead.
func BenchmarkSendEdition(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			a := benchApp(b, smtptest.Start(b), conc)
			d := a.editions()
			var msgs int
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				addArticles(b, a, i)
				b.StartTimer()
				rep, err := d.Send(context.Background(), time.Time{})
				if err != nil {
					b.Fatal(err)
				}
				msgs += rep.Editions[len(rep.Editions)-1].Counts[pipeline.StateSent]
			}
			b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

func BenchmarkBaselineGoMail(b *testing.B) {
	for _, conc := range []int{1, 4} {
		b.Run(fmt.Sprintf("conc=%d", conc), func(b *testing.B) {
			relay := smtptest.Start(b)
			a := benchApp(b, relay, conc)
			addArticles(b, a, 0)
			m, _, err := a.editions().Preview(context.Background(), pipeline.Recipient{Email: "x@example.com", Name: "X"})
			if err != nil {
				b.Fatal(err)
			}
			subject, text, htmlBody := m.Subject(), m.TextBody(), m.HTMLBody()
			b.ResetTimer()
			for range b.N {
				var wg sync.WaitGroup
				per := benchSubscribers / conc
				for w := range conc {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := gomail.NewClient(relay.Host, gomail.WithPort(relay.Port), gomail.WithTLSPolicy(gomail.NoTLS), gomail.WithTimeout(10*time.Second))
						if err != nil {
							b.Error(err)
							return
						}
						if err := c.DialWithContext(context.Background()); err != nil {
							b.Error(err)
							return
						}
						defer c.Close()
						for i := range per {
							// go-mail building each message whole: the baseline
							msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
							msg.From(a.cfg.From)
							msg.To(fmt.Sprintf("r%d-%d@example.com", w, i))
							msg.Subject(subject)
							msg.SetBodyString(gomail.TypeTextPlain, text)
							msg.AddAlternativeString(gomail.TypeTextHTML, htmlBody)
							if err := c.Send(msg); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			b.ReportMetric(float64(benchSubscribers*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

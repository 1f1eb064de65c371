// Command scale builds a newsbrief site of a given size and times HTTP
// requests against a running newsbrief serve; bench/scale.sh drives it.
//
//	scale build -db FILE -subscribers N -editions E -waiting A
//	scale measure -url URL -token T -n 40 PATH...
//
// build fills a database whose schema newsbrief made (run any command on it
// first) with bulk SQL rather than through newsbrief's own commands: N
// subscribers (1 in 100 unsubscribed), E sent editions of 10 articles each
// with a ledger row per active subscriber (1 in 600 failed with a 550), and
// A articles waiting for the next edition from 50 feeds, each with a body
// of about 12 KB. That is the shortcut: a million subscribers imported and
// thirty editions sent through SMTP would take hours; the rows are the
// ones those commands write. Triggers that newsbrief's migrations created
// keep their aggregates current while it runs, and the delivery counts
// (which newsbrief's ledger statements keep) are counted at the end as the
// migration that made them does.
//
// measure signs in to the desk once (POST /admin/login), then GETs each
// path n times with the session cookie and the API's bearer token, and
// prints p50 and p95 in milliseconds. A "flood:" prefix runs the path from
// 50 concurrent clients instead.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	_ "github.com/mattn/go-sqlite3"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: scale build|measure ...")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "build":
		err = build(os.Args[2:])
	case "measure":
		err = measure(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

var words = strings.Fields(`council harbour ferry library budget school river bridge election museum
	hospital tram festival court police market farmers weather storm flood housing rent wages strike union
	railway airport energy solar wind heat water drought forest fire science university students teachers
	football stadium theatre orchestra artist novel history archive mayor minister parliament treaty trade
	export import tariff bank inflation pension doctors nurses clinic vaccine cycling road tunnel port`)

func build(args []string) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	dbPath := fs.String("db", "", "database file (its schema made by newsbrief)")
	subs := fs.Int("subscribers", 1000, "subscribers")
	editions := fs.Int("editions", 30, "sent editions, each with a ledger row per active subscriber")
	waiting := fs.Int("waiting", 500, "articles waiting for the next edition")
	fs.Parse(args)
	db, err := sql.Open("sqlite3", "file:"+*dbPath+"?_busy_timeout=10000&_journal_mode=WAL&_foreign_keys=on")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	exec := func(q string, args ...any) error {
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("%.60s…: %w", strings.TrimSpace(q), err)
		}
		return nil
	}
	day := int64(24 * 3600 * 1000)
	now := time.Now().UnixMilli()
	start := now - int64(*editions+2)*day
	t0 := time.Now()
	if err := exec(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
		INSERT INTO subscribers (id, email, email_key, name, status, consent, via, created_at, updated_at, consent_at)
		SELECT i, 'reader' || i || '@example.com', 'reader' || i || '@example.com', 'Reader ' || i,
			CASE WHEN i % 100 = 0 THEN 'unsubscribed' ELSE 'active' END, 'bench', 'import', ?2, ?2, ?2 FROM n`, *subs, start); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "subscribers: %d in %s\n", *subs, time.Since(t0).Round(time.Millisecond))
	for i := 1; i <= 50; i++ {
		if err := exec(`INSERT INTO sources (id, url, title, created_at, last_fetched_at, last_status) VALUES (?, ?, ?, ?, ?, 'ok')`,
			i, fmt.Sprintf("https://feed%d.example/rss", i), fmt.Sprintf("Outlet %d", i), start, now); err != nil {
			return err
		}
	}
	body := strings.Repeat("<p>"+strings.Join(words[:20], " ")+".</p>\n", 80) // ~12 KB
	text := strings.Repeat(strings.Join(words[:20], " ")+".\n\n", 80)
	article := func(tx *sql.Tx, id int, collected int64) error {
		title := fmt.Sprintf("%s %s %s %s report %d", words[(id*7)%len(words)], words[(id*13+3)%len(words)],
			words[(id*29+5)%len(words)], words[(id*31+11)%len(words)], id)
		_, err := tx.ExecContext(ctx, `INSERT INTO articles (id, source_id, origin, source_name, guid, url, url_key, content_hash,
			title, summary, html, text, published_at, collected_at) VALUES (?, ?, 'feed', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, id%50+1, fmt.Sprintf("Outlet %d", id%50+1), fmt.Sprintf("guid-%d", id),
			fmt.Sprintf("https://feed%d.example/story/%d", id%50+1, id), fmt.Sprintf("feed%d.example/story/%d", id%50+1, id),
			fmt.Sprintf("hash-%d", id), title, "A summary of "+title+".", body, text, collected-3600*1000, collected)
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	next := 1
	for e := 1; e <= *editions; e++ {
		created := start + int64(e)*day
		if _, err := tx.ExecContext(ctx, `INSERT INTO editions (id, subject, status, audience_done, created_at, finished_at)
			VALUES (?, ?, 'sent', 1, ?, ?)`, e, fmt.Sprintf("The Daily Brief · edition %d", e), created, created+600*1000); err != nil {
			return err
		}
		for p := range 10 {
			if err := article(tx, next, created-3600*1000); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO edition_articles (edition_id, article_id, position) VALUES (?, ?, ?)`, e, next, p); err != nil {
				return err
			}
			next++
		}
	}
	last := start + int64(*editions)*day
	for range *waiting {
		if err := article(tx, next, last+int64(next)); err != nil {
			return err
		}
		next++
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "editions and articles: %d editions, %d waiting, in %s\n", *editions, *waiting, time.Since(t0).Round(time.Millisecond))
	for e := 1; e <= *editions; e++ {
		created := start + int64(e)*day
		if err := exec(`INSERT INTO deliveries (edition_id, subscriber_id, email, name, state, attempts, code, detail, first_attempt_at, updated_at)
			SELECT ?1, id, email, name, CASE WHEN id % 600 = 0 THEN 'failed' ELSE 'sent' END, 1,
				CASE WHEN id % 600 = 0 THEN 550 ELSE 0 END, CASE WHEN id % 600 = 0 THEN '5.1.1 no such user' ELSE '' END, ?2, ?2
			FROM subscribers WHERE status = 'active'`, e, created); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "ledger: edition %d of %d, %s\n", e, *editions, time.Since(t0).Round(time.Second))
	}
	// the ledger's statements keep newsbrief's delivery counts; rows put in
	// by hand are counted here, as the migration that made the table does
	var hasCounts int
	db.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE name = 'delivery_counts'`).Scan(&hasCounts)
	if hasCounts == 1 {
		if err := exec(`DELETE FROM delivery_counts`); err != nil {
			return err
		}
		if err := exec(`INSERT INTO delivery_counts (edition_id, state, class, n) SELECT edition_id, state,
			CASE WHEN state NOT IN ('deferred', 'failed') THEN '' WHEN code BETWEEN 400 AND 499 THEN '4xx' WHEN code >= 500 THEN '5xx' ELSE 'network' END,
			COUNT(*) FROM deliveries GROUP BY 1, 2, 3`); err != nil {
			return err
		}
	}
	if err := exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		return err
	}
	return exec(`ANALYZE`)
}

func measure(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	base := fs.String("url", "http://127.0.0.1:8080", "serve's address")
	token := fs.String("token", "", "NEWSBRIEF_ADMIN_TOKEN")
	n := fs.Int("n", 40, "requests per path")
	fs.Parse(args)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 60 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	resp, err := c.PostForm(*base+"/admin/login", url.Values{"token": {*token}})
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	get := func(path string) (time.Duration, error) {
		req, _ := http.NewRequest("GET", *base+path, nil)
		if strings.HasPrefix(path, "/api/") {
			req.Header.Set("Authorization", "Bearer "+*token)
		}
		t := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t)
		if resp.StatusCode >= 400 {
			return d, fmt.Errorf("GET %s: %s", path, resp.Status)
		}
		return d, err
	}
	for _, p := range fs.Args() {
		var ds []time.Duration
		var failed int
		var mu sync.Mutex
		start := time.Now()
		if path, ok := strings.CutPrefix(p, "flood:"); ok {
			var wg sync.WaitGroup
			for range 50 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range *n {
						d, err := get(path)
						mu.Lock()
						if err != nil {
							failed++
						} else {
							ds = append(ds, d)
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
		} else {
			for range *n {
				d, err := get(p)
				if err != nil {
					return err
				}
				ds = append(ds, d)
			}
		}
		if len(ds) == 0 {
			return errors.New(p + ": every request failed")
		}
		slices.Sort(ds)
		ms := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000 }
		fmt.Printf("%s %.1f %.1f %.0f %d\n", p, ms(0.5), ms(0.95), float64(len(ds))/time.Since(start).Seconds(), failed)
	}
	return nil
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// cmdHealth asks the local serve's /readyz (on NEWSBRIEF_HTTP_ADDR) and
// succeeds when it answers 200: the container's HEALTHCHECK. It runs
// before the database is opened, so it costs nothing every 30 s.
func cmdHealth(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	if _, err := parse(newFlags("health", "health", stderr), args, 0, 0); err != nil {
		return err
	}
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return badVar("NEWSBRIEF_HTTP_ADDR", "%q is not host:port", cfg.HTTPAddr)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	url := "http://" + net.JoinHostPort(host, port) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("newsbrief serve does not answer on %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("not ready: %s answers %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	fmt.Fprint(stdout, string(body))
	return nil
}

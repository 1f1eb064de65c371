package web

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// attempts limits guesses of the admin token (desk sign-in, the API's and
// the bounce endpoint's bearer token): each client gets a few tries, then
// one every perClient; failures from everywhere together are capped by a
// slow global ceiling. A client that has used up its tries is refused
// before its token is even looked at; the global ceiling refuses only
// wrong tokens, so an attack from many addresses cannot lock the editors
// (who have the right token) out.
type attempts struct {
	clients perClient
	global  *rate.Limiter
}

func newAttempts() *attempts {
	return &attempts{clients: perClient{every: 12 * time.Second, burst: 5},
		global: rate.NewLimiter(rate.Every(2*time.Second), 30)}
}

// perClient is a rate limiter for each client address, of burst at once
// and then one every every; past 10,000 clients it forgets them all rather
// than grow.
type perClient struct {
	mu    sync.Mutex
	m     map[string]*rate.Limiter
	every time.Duration
	burst int
}

func (p *perClient) get(ip string) *rate.Limiter {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil || len(p.m) > 10000 {
		p.m = map[string]*rate.Limiter{}
	}
	l, ok := p.m[ip]
	if !ok {
		l = rate.NewLimiter(rate.Every(p.every), p.burst)
		p.m[ip] = l
	}
	return l
}

// clientIP is the request's remote address without its port.
func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

// check runs one attempt of r's client: valid says whether the token it
// presents is right (called only when the client may try). It returns the
// HTTP status to answer when the attempt is refused (429 or 401) and 0 when
// it passes; on 429 it sets Retry-After.
func (a *attempts) check(w http.ResponseWriter, r *http.Request, valid func() bool) int {
	l := a.clients.get(clientIP(r))
	if l.Tokens() < 1 {
		w.Header().Set("Retry-After", strconv.Itoa(int(a.clients.every.Seconds())))
		return http.StatusTooManyRequests
	}
	if valid() {
		return 0
	}
	l.Allow()
	if !a.global.Allow() {
		w.Header().Set("Retry-After", "2")
		return http.StatusTooManyRequests
	}
	return http.StatusUnauthorized
}

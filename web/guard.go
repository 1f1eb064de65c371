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
	mu        sync.Mutex
	clients   map[string]*rate.Limiter
	burst     int
	perClient time.Duration
	global    *rate.Limiter
}

func newAttempts() *attempts {
	return &attempts{clients: map[string]*rate.Limiter{}, burst: 5, perClient: 12 * time.Second,
		global: rate.NewLimiter(rate.Every(2*time.Second), 30)}
}

// clientIP is the request's remote address without its port.
func clientIP(r *http.Request) string {
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return ip
}

func (a *attempts) client(ip string) *rate.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.clients) > 10000 {
		a.clients = map[string]*rate.Limiter{} // forget old clients rather than grow
	}
	l, ok := a.clients[ip]
	if !ok {
		l = rate.NewLimiter(rate.Every(a.perClient), a.burst)
		a.clients[ip] = l
	}
	return l
}

// check runs one attempt of r's client: valid says whether the token it
// presents is right (called only when the client may try). It returns the
// HTTP status to answer when the attempt is refused (429 or 401) and 0 when
// it passes; on 429 it sets Retry-After.
func (a *attempts) check(w http.ResponseWriter, r *http.Request, valid func() bool) int {
	l := a.client(clientIP(r))
	if l.Tokens() < 1 {
		w.Header().Set("Retry-After", strconv.Itoa(int(a.perClient.Seconds())))
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

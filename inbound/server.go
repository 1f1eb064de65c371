package inbound

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"golang.org/x/time/rate"
)

// ServerConfig is the inbound listener's settings.
type ServerConfig struct {
	Addr     string      // where to listen, e.g. ":2525"
	Domain   string      // the name it greets with
	TLS      *tls.Config // offered with STARTTLS when set
	MaxBytes int64       // largest message taken
	// PerHour is how many messages one client (IP address) may deliver
	// an hour; 0 for 600.
	PerHour int
	// MaxConns is how many connections are served at once, in all and
	// (a quarter of it) from one IP address; 0 for 64.
	MaxConns int
	Timeout  time.Duration // per command; 0 for a minute
}

// Server receives mail over SMTP for the list's return addresses only
// (the bounce address, the unsubscribe address and their token forms) and
// hands each message to the Processor: it is no open relay. It limits
// message size, connections and messages per client, and answers 451 when
// a message cannot be applied now, so the sender keeps it and tries again.
type Server struct {
	cfg  ServerConfig
	proc *Processor
	log  *slog.Logger
	srv  *smtp.Server

	mu      sync.Mutex
	conns   map[string]int
	total   int
	limits  map[string]*rate.Limiter
	applied sync.WaitGroup
}

// NewServer returns a server for cfg feeding p.
func NewServer(cfg ServerConfig, p *Processor, log *slog.Logger) *Server {
	if cfg.PerHour <= 0 {
		cfg.PerHour = 600
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.Domain == "" {
		cfg.Domain = "localhost"
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, proc: p, log: log, conns: map[string]int{}, limits: map[string]*rate.Limiter{}}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Addr = cfg.Addr
	srv.Domain = cfg.Domain
	srv.TLSConfig = cfg.TLS
	srv.MaxMessageBytes = cfg.MaxBytes
	srv.MaxRecipients = 10
	srv.ReadTimeout = cfg.Timeout
	srv.WriteTimeout = cfg.Timeout
	srv.ErrorLog = slogLogger{log}
	s.srv = srv
	return s
}

// Serve takes connections from l until Close or Shutdown.
func (s *Server) Serve(l net.Listener) error {
	err := s.srv.Serve(l)
	if errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on the configured address and serves.
func (s *Server) ListenAndServe() error {
	l, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("inbound smtp: %w", err)
	}
	return s.Serve(l)
}

// Shutdown stops taking connections and waits for the ones open (and the
// messages being applied) until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.applied.Wait()
	return err
}

// Close closes the listener and every connection.
func (s *Server) Close() error { return s.srv.Close() }

var (
	errBusy   = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many connections, try again later"}
	errRate   = &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many messages from your address, try again later"}
	errNoRcpt = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1},
		Message: "No such user here (this server takes mail for the list's return addresses only)"}
	errBadToken = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such address: its token was not made by this list"}
	errTryLater = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Cannot take the message now, try again later"}
)

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	ip := remoteIP(c.Conn().RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.total >= s.cfg.MaxConns || s.conns[ip] >= max(s.cfg.MaxConns/4, 1) {
		return nil, errBusy
	}
	s.total++
	s.conns[ip]++
	lim := s.limits[ip]
	if lim == nil {
		if len(s.limits) > 10000 { // forget idle clients rather than grow without bound
			for k, l := range s.limits {
				if l.Tokens() >= float64(l.Burst()) {
					delete(s.limits, k)
				}
			}
		}
		lim = rate.NewLimiter(rate.Limit(float64(s.cfg.PerHour)/3600), max(s.cfg.PerHour/10, 10))
		s.limits[ip] = lim
	}
	return &session{s: s, ip: ip, limit: lim}, nil
}

func remoteIP(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	host, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return host
}

type session struct {
	s     *Server
	ip    string
	limit *rate.Limiter
	rcpts []string
}

func (ss *session) Reset() { ss.rcpts = nil }

func (ss *session) Logout() error {
	ss.s.mu.Lock()
	ss.s.total--
	if ss.s.conns[ss.ip]--; ss.s.conns[ss.ip] <= 0 {
		delete(ss.s.conns, ss.ip)
	}
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	// bounces come from the null sender; anything else may be a person
	// writing to the unsubscribe address
	if !ss.limit.Allow() {
		return errRate
	}
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ra, err := ss.s.proc.Addresses.Parse(to)
	switch {
	case ra.Kind == "":
		return errNoRcpt
	case err != nil && ra.Token != "":
		return errBadToken
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err // too large: go-smtp answers 552
	}
	ss.s.applied.Add(1)
	defer ss.s.applied.Done()
	// applying is not cut short by a shutdown: the sender was not yet
	// answered, and a half-applied message is retried whole
	ctx, cancel := context.WithTimeout(context.Background(), ss.s.cfg.Timeout)
	defer cancel()
	if _, err := ss.s.proc.Process(ctx, ss.rcpts, raw, "smtp"); err != nil {
		ss.s.log.Error("inbound message not applied; the sender is asked to try again", "client", ss.ip, slog.Any("error", err))
		return errTryLater
	}
	return nil
}

// slogLogger writes go-smtp's connection errors to the log at debug level
// (dropped connections and scanners are routine on a public port).
type slogLogger struct{ log *slog.Logger }

func (l slogLogger) Printf(format string, v ...any) {
	l.log.Debug("inbound smtp", "msg", strings.TrimSpace(fmt.Sprintf(format, v...)))
}

func (l slogLogger) Println(v ...any) {
	l.log.Debug("inbound smtp", "msg", strings.TrimSpace(fmt.Sprintln(v...)))
}

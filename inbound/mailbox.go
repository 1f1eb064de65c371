package inbound

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
)

// Mailbox is where the poller reads mail: an IMAP server, an account and
// a folder.
type Mailbox struct {
	Addr      string // host:port
	TLS       bool   // imaps (implicit TLS); else STARTTLS is required unless Insecure
	Insecure  bool   // imap:// to a loopback address: no TLS at all (tests, a local Dovecot)
	User      string
	Password  string
	Folder    string // the folder read, INBOX by default
	Processed string // the folder read messages are moved to; "" flags them instead
}

// ParseMailboxURL reads imaps://user:password@host[:port]/Folder[?processed=Folder].
// imap:// (STARTTLS) is accepted too; to a loopback address it may go
// without TLS (imap://…?tls=none).
func ParseMailboxURL(s string) (Mailbox, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Mailbox{}, errors.New("not a URL like imaps://user:password@imap.example.org/INBOX")
	}
	var m Mailbox
	switch u.Scheme {
	case "imaps":
		m.TLS = true
	case "imap":
	default:
		return Mailbox{}, fmt.Errorf("scheme %q: want imaps:// (or imap:// with STARTTLS)", u.Scheme)
	}
	if u.Hostname() == "" {
		return Mailbox{}, errors.New("no host: want imaps://user:password@imap.example.org/INBOX")
	}
	port := u.Port()
	if port == "" {
		port = map[bool]string{true: "993", false: "143"}[m.TLS]
	}
	m.Addr = net.JoinHostPort(u.Hostname(), port)
	if u.User == nil || u.User.Username() == "" {
		return Mailbox{}, errors.New("no user name: want imaps://user:password@host/INBOX")
	}
	m.User = u.User.Username()
	m.Password, _ = u.User.Password()
	m.Folder = strings.Trim(u.Path, "/")
	if m.Folder == "" {
		m.Folder = "INBOX"
	}
	q := u.Query()
	m.Processed = q.Get("processed")
	if q.Get("tls") == "none" {
		if m.TLS {
			return Mailbox{}, errors.New("tls=none with imaps://: pick one")
		}
		ip := net.ParseIP(u.Hostname())
		if u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return Mailbox{}, errors.New("tls=none is for a loopback address only: the password would cross the network in clear")
		}
		m.Insecure = true
	}
	for k := range q {
		if k != "processed" && k != "tls" {
			return Mailbox{}, fmt.Errorf("unknown parameter %q (processed=Folder, tls=none)", k)
		}
	}
	return m, nil
}

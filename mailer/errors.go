package mailer

import (
	"errors"
	"fmt"
	"mime"
	"net/textproto"
	"strconv"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Error is a failed delivery: the SMTP reply code and enhanced status code
// when the server gave them, and whether trying again later may succeed.
type Error struct {
	Code     int    // 3-digit SMTP reply code; 0 for a network or local failure
	Enhanced string // e.g. "5.1.1"; "" when the server gave none
	Msg      string // the server's text, or the local error
	Temp     bool   // a retry may succeed
	Err      error  // the underlying error
}

// Error renders the code and the server's text.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Code != 0 {
		b.WriteString(strconv.Itoa(e.Code) + " ")
	}
	if e.Enhanced != "" && !strings.Contains(e.Msg, e.Enhanced) {
		b.WriteString(e.Enhanced + " ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Temporary reports whether trying again later may succeed (4xx answers,
// dropped connections, timeouts).
func (e *Error) Temporary() bool { return e.Temp }

// Permanent reports whether the failure is final (5xx answers).
func (e *Error) Permanent() bool { return !e.Temp }

// StatusCode returns the SMTP reply code, or 0.
func (e *Error) StatusCode() int { return e.Code }

// UnknownMailbox reports whether the server said the mailbox does not exist
// (5.1.1 and its kin, or a bare 550 with such words).
func (e *Error) UnknownMailbox() bool {
	switch e.Enhanced {
	case "5.1.1", "5.1.2", "5.1.3", "5.1.6", "5.1.10":
		return true
	}
	if e.Code == 550 || e.Code == 551 || e.Code == 553 {
		t := strings.ToLower(e.Msg)
		for _, w := range []string{"unknown user", "no such user", "user unknown", "mailbox unavailable", "does not exist", "mailbox not found", "recipient rejected"} {
			if strings.Contains(t, w) {
				return true
			}
		}
	}
	return false
}

// classify turns whatever go-mail returned into an *Error. A SendError with
// a 4xx code is temporary and a 5xx one permanent; one without a code (a
// dropped connection, a timeout: go-mail v0.8.1 reports those with
// ErrorCode() == 0 and IsTemp() == false) is temporary.
func classify(err error) *Error {
	if err == nil {
		return nil
	}
	var me *Error
	if errors.As(err, &me) {
		return me
	}
	e := &Error{Msg: err.Error(), Temp: true, Err: err}
	var se *gomail.SendError
	if errors.As(err, &se) {
		e.Code = se.ErrorCode()
		e.Enhanced = se.EnhancedStatusCode()
		e.Msg = se.Error()
		if e.Code == 0 {
			e.Code, e.Enhanced = parseReply(se.Error())
		}
		if e.Code >= 500 {
			e.Temp = false
		}
		return e
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		e.Code, e.Msg = te.Code, te.Msg
		if _, enh := parseReply(fmt.Sprintf("%d %s", te.Code, te.Msg)); enh != "" {
			e.Enhanced = enh
		}
		e.Temp = te.Code < 500
		return e
	}
	if code, enh := parseReply(err.Error()); code != 0 {
		e.Code, e.Enhanced, e.Temp = code, enh, code < 500
	}
	return e
}

// parseReply finds an SMTP reply code (and enhanced code) in an error text
// such as "smtp: 550 5.1.1 no such user".
func parseReply(s string) (int, string) {
	for _, f := range strings.Fields(s) {
		f = strings.TrimRight(f, ":,")
		if len(f) == 3 && (f[0] == '4' || f[0] == '5') && f[1] >= '0' && f[1] <= '9' && f[2] >= '0' && f[2] <= '9' {
			code, _ := strconv.Atoi(f)
			enh := ""
			if i := strings.Index(s, f+" "); i >= 0 {
				rest := strings.Fields(s[i+4:])
				if len(rest) > 0 && len(rest[0]) >= 5 && rest[0][0] == f[0] && rest[0][1] == '.' {
					enh = rest[0]
				}
			}
			return code, enh
		}
	}
	return 0, ""
}

// mimeWord encodes a header phrase as an RFC 2047 word when it is not ASCII.
func mimeWord(s string) string {
	return mime.QEncoding.Encode("UTF-8", s)
}

package subscribers

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"

	"golang.org/x/net/idna"
)

// maxEmail is the longest address accepted (RFC 5321's path limit).
const maxEmail = 254

// NormalizeEmail validates a bare address (no display name, no comments)
// and returns it trimmed, with its domain lower-cased and an IDN domain
// converted to its ASCII (punycode) form. Errors wrap ErrInvalidEmail and
// say what is wrong.
func NormalizeEmail(raw string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrInvalidEmail, raw, why)
	}
	s := strings.TrimSpace(raw)
	switch {
	case s == "":
		return bad("empty")
	case strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
		return bad("contains white space or control characters")
	case len(s) > maxEmail:
		return bad("longer than 254 characters")
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return bad("want local-part@domain")
	}
	local, domain := s[:at], strings.TrimSuffix(s[at+1:], ".")
	ascii, err := idna.Lookup.ToASCII(strings.ToLower(domain))
	if err != nil {
		return bad("domain: " + err.Error())
	}
	if !strings.Contains(ascii, ".") {
		return bad("domain has no dot")
	}
	addr := local + "@" + ascii
	parsed, err := mail.ParseAddress(addr)
	if err != nil {
		return bad(strings.TrimPrefix(err.Error(), "mail: "))
	}
	if parsed.Name != "" || parsed.Address != addr {
		return bad("want a bare address without a display name")
	}
	return addr, nil
}

// ErrBadName is returned by CleanName for a name with a line break or
// another control character.
var ErrBadName = errors.New("name contains a line break or control character")

// maxName is the longest display name kept, in runes.
const maxName = 200

// CleanName trims a display name, refuses one with CR, LF or other
// control characters, which would otherwise end up in a To: header, and
// replaces bytes that are not UTF-8 (a file in another encoding) with
// U+FFFD.
func CleanName(name string) (string, error) {
	name = strings.ToValidUTF8(strings.TrimSpace(name), "\uFFFD")
	if strings.ContainsFunc(name, unicode.IsControl) {
		return "", ErrBadName
	}
	if r := []rune(name); len(r) > maxName {
		name = string(r[:maxName])
	}
	return name, nil
}

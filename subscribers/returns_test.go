package subscribers

import (
	"errors"
	"strings"
	"testing"
)

func TestReturnAddresses(t *testing.T) {
	tok, err := NewTokens([]byte("0123456789abcdef0123"), nil)
	if err != nil {
		t.Fatal(err)
	}
	r := Returns{Tokens: tok, Bounce: "bounces@news.example.org", Unsubscribe: "unsubscribe@news.example.org"}
	sender := r.Sender(42, 1000001)
	mailto := r.Mailto(42, 1000001)
	if !strings.HasPrefix(sender, "bounces+") || !strings.HasSuffix(sender, "@news.example.org") {
		t.Fatalf("sender %q", sender)
	}
	if local := sender[:strings.IndexByte(sender, '@')]; len(local) > 64 {
		t.Errorf("local part %q is %d characters", local, len(local))
	}
	for _, c := range []struct {
		addr      string
		kind      string
		ed, sub   int64
		wantErr   error
		wantToken bool
	}{
		{sender, ReturnBounce, 42, 1000001, nil, true},
		{strings.ToUpper(sender), ReturnBounce, 42, 1000001, nil, true}, // a relay folded the case
		{"<" + mailto + ">", ReturnUnsubscribe, 42, 1000001, nil, true},
		{"bounces@news.example.org", ReturnBounce, 0, 0, nil, false},
		{"Unsubscribe@NEWS.example.org", ReturnUnsubscribe, 0, 0, nil, false},
		// a bounce token is not an unsubscribe token
		{"unsubscribe+" + sender[len("bounces+"):], ReturnUnsubscribe, 0, 0, ErrBadToken, true},
		{"bounces+aaaaaaaaaaaaaaaaaaaaaaaa@news.example.org", ReturnBounce, 0, 0, ErrBadToken, true},
		{"bounces+x@news.example.org", ReturnBounce, 0, 0, ErrBadToken, true},
		{"bounces@other.example", "", 0, 0, ErrNotReturnAddress, false},
		{"postmaster@news.example.org", "", 0, 0, ErrNotReturnAddress, false},
		{"not an address", "", 0, 0, ErrNotReturnAddress, false},
	} {
		got, err := r.Parse(c.addr)
		if !errors.Is(err, c.wantErr) || got.Kind != c.kind || got.EditionID != c.ed || got.SubscriberID != c.sub || (got.Token != "") != c.wantToken {
			t.Errorf("Parse(%q) = %+v, %v; want kind %q, %d/%d, %v", c.addr, got, err, c.kind, c.ed, c.sub, c.wantErr)
		}
	}
	// a flipped character anywhere in the token is refused
	at := strings.IndexByte(sender, '@')
	for i := len("bounces+"); i < at; i++ {
		b := []byte(sender)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		if _, err := r.Parse(string(b)); !errors.Is(err, ErrBadToken) {
			t.Fatalf("tampered %q: %v", b, err)
		}
	}
	if r.Sender(7, 0) != "bounces@news.example.org" || (Returns{}).Sender(1, 2) != "" {
		t.Error("a test send (subscriber 0) or no bounce address must give the plain address or none")
	}
}

func TestCheckReturnAddress(t *testing.T) {
	for _, c := range []struct {
		addr string
		ok   bool
	}{
		{"bounces@news.example.org", true},
		{"a+b@news.example.org", false},
		{"Name <b@example.org>", false},
		{strings.Repeat("x", 40) + "@example.org", false},
		{"@example.org", false},
		{"bounces@", false},
	} {
		if err := CheckReturnAddress(c.addr); (err == nil) != c.ok {
			t.Errorf("CheckReturnAddress(%q) = %v", c.addr, err)
		}
	}
}

func FuzzVerifyAddressToken(f *testing.F) {
	tok, _ := NewTokens([]byte("0123456789abcdef0123"), nil)
	f.Add(tok.AddressToken(ReturnBounce, 1, 2))
	f.Add("")
	f.Add("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz")
	f.Fuzz(func(t *testing.T, s string) {
		e, sub, err := tok.VerifyAddressToken(ReturnBounce, s)
		if err == nil && tok.AddressToken(ReturnBounce, e, sub) != strings.ToLower(s) {
			t.Fatalf("accepted %q for %d/%d, which signs differently", s, e, sub)
		}
	})
}

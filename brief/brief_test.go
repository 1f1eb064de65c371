package brief

import "testing"

func TestBodyFill(t *testing.T) {
	b := Body{Static: []string{"<p>", " – ", "</p>"}, Slots: []int{SlotGreeting, SlotUnsubscribeURL}}
	tests := []struct {
		name string
		rcpt Recipient
		url  string
		html string
		text string
	}{
		{"named", Recipient{Name: "Ada"}, "https://x.example/u?t=1&a=2", "<p>Hello Ada, – https://x.example/u?t=1&amp;a=2</p>", "<p>Hello Ada, – https://x.example/u?t=1&a=2</p>"},
		{"unnamed", Recipient{Name: "  "}, "", "<p>Hello, – </p>", "<p>Hello, – </p>"},
		{"hostile name", Recipient{Name: `<b>"x"</b>`}, "u", "<p>Hello &lt;b&gt;&#34;x&#34;&lt;/b&gt;, – u</p>", `<p>Hello <b>"x"</b>, – u</p>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Rendered{Subject: "s", HTML: b, Text: b}
			h, x := r.Personalize(tt.rcpt, tt.url)
			if h != tt.html || x != tt.text {
				t.Errorf("Personalize = %q, %q; want %q, %q", h, x, tt.html, tt.text)
			}
			m := NewMessage(NewEdition(r), 1, tt.rcpt, tt.url)
			if m.HTMLBody() != tt.html || m.TextBody() != tt.text || m.Subject() != "s" {
				t.Errorf("message bodies differ from Personalize: %q, %q", m.HTMLBody(), m.TextBody())
			}
		})
	}
	if n := b.Size(); n != len("<p>")+len(" – ")+len("</p>") {
		t.Errorf("Size = %d", n)
	}
}

func TestPreparedOnce(t *testing.T) {
	e := NewEdition(Rendered{Subject: "s", HTML: Text("h"), Text: Text("t")})
	calls := 0
	for range 3 {
		v, err := e.Prepared(func(*Edition) (any, error) { calls++; return calls, nil })
		if err != nil || v.(int) != 1 {
			t.Fatalf("Prepared = %v, %v", v, err)
		}
	}
	if calls != 1 {
		t.Errorf("prepare ran %d times", calls)
	}
}

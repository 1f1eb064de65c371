package pipeline

import "testing"

func TestCleanURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"https://example.com/a?utm_source=x&utm_medium=y&id=3", "https://example.com/a?id=3"},
		{"https://example.com/a?fbclid=abc", "https://example.com/a"},
		{"https://example.com/a#section", "https://example.com/a"},
		{"https://example.com/a?UTM_Campaign=z&q=go", "https://example.com/a?q=go"},
		{"mailto:a@example.com", "mailto:a@example.com"},
		{"/relative/path", "/relative/path"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := CleanURL(tt.in); got != tt.want {
			t.Errorf("CleanURL(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCanonicalURL(t *testing.T) {
	same := []string{
		"https://www.example.com/story/?b=2&a=1&utm_source=feed",
		"http://example.com/story?a=1&b=2#comments",
		"https://EXAMPLE.com/story?a=1&b=2",
	}
	want := canonicalURL(same[0])
	for _, u := range same[1:] {
		if got := canonicalURL(u); got != want {
			t.Errorf("canonicalURL(%q) = %q, want %q", u, got, want)
		}
	}
	if canonicalURL("https://example.com/other") == want {
		t.Error("different pages share a key")
	}
}

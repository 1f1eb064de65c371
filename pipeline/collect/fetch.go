package collect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/newsbrief/newsbrief/pipeline"

	"golang.org/x/net/html/charset"
)

// FetchOptions bound what one feed request may cost.
type FetchOptions struct {
	Timeout   time.Duration // whole request, headers and body
	MaxBytes  int64         // body size cap
	UserAgent string
	Client    *http.Client // nil for a client with MaxRedirects redirects that refuses link-local addresses
	// Refuse says which addresses a feed is never fetched from, for the
	// first request and every redirect and whatever a name resolves to;
	// nil refuses link-local ones (RefusedAddress).
	Refuse func(netip.Addr) bool
}

// RefusedAddress reports the addresses feeds are never fetched from:
// link-local ones (169.254.0.0/16, where clouds serve instance metadata and
// credentials, and fe80::/10), multicast and the unspecified address. A
// feed on this machine or the local network (loopback, private ranges) is
// allowed: newsbrief is self-hosted.
func RefusedAddress(ip netip.Addr) bool {
	ip = ip.Unmap()
	return ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified()
}

// ErrRefusedAddress is wrapped by the error of a fetch that would connect
// to a refused address.
var ErrRefusedAddress = errors.New("refused to connect to a link-local address (cloud metadata)")

// ErrTooLarge is returned when a feed body exceeds FetchOptions.MaxBytes.
var ErrTooLarge = errors.New("response body too large")

// maxRedirects is how many redirects a feed request follows.
const maxRedirects = 5

// fetchResult is one conditional GET.
type fetchResult struct {
	body         []byte
	notModified  bool
	etag         string
	lastModified string
	retryAfter   time.Time // set on 429 and 503 with a Retry-After header
}

// maxRetryAfter caps how long a server may ask us to stay away.
const maxRetryAfter = 24 * time.Hour

// parseRetryAfter reads a Retry-After value (seconds or an HTTP date).
func parseRetryAfter(v string, now time.Time) time.Time {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}
	}
	var t time.Time
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		t = now.Add(time.Duration(secs) * time.Second)
	} else if d, err := http.ParseTime(v); err == nil {
		t = d
	} else {
		return time.Time{}
	}
	if t.After(now.Add(maxRetryAfter)) {
		t = now.Add(maxRetryAfter)
	}
	return t
}

func (o FetchOptions) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	refuse := o.Refuse
	if refuse == nil {
		refuse = RefusedAddress
	}
	// checked on the address actually dialled, after resolution, before
	// any packet is sent: a redirect or a DNS name cannot get around it
	dialer := &net.Dialer{Timeout: 10 * time.Second, Control: func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("dial %s: %w", address, err)
		}
		if refuse(ap.Addr()) {
			return fmt.Errorf("%s: %w", ap.Addr(), ErrRefusedAddress)
		}
		return nil
	}}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer.DialContext
	return &http.Client{Transport: tr, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		return nil
	}}
}

// fetch performs a conditional GET of src, sending back the validators the
// source stored, and reads at most MaxBytes of the body.
func fetch(ctx context.Context, o FetchOptions, client *http.Client, src pipeline.Source, now time.Time) (fetchResult, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src.URL, nil)
	if err != nil {
		return fetchResult{}, err
	}
	req.Header.Set("User-Agent", o.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
	if src.ETag != "" {
		req.Header.Set("If-None-Match", src.ETag)
	}
	if src.LastModified != "" {
		req.Header.Set("If-Modified-Since", src.LastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return fetchResult{}, fmt.Errorf("no answer within %s", o.Timeout)
		}
		return fetchResult{}, err
	}
	defer resp.Body.Close()
	res := fetchResult{etag: src.ETag, lastModified: src.LastModified}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		res.notModified = true
		return res, nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		res.retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		if !res.retryAfter.IsZero() {
			return res, fmt.Errorf("http status %s; not fetched again before %s", resp.Status, res.retryAfter.UTC().Format(time.RFC3339))
		}
		return res, fmt.Errorf("http status %s", resp.Status)
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return res, fmt.Errorf("http status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, o.MaxBytes+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return res, fmt.Errorf("body not complete within %s", o.Timeout)
		}
		return res, fmt.Errorf("read body: %w", err)
	}
	if int64(len(body)) > o.MaxBytes {
		return res, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, o.MaxBytes)
	}
	if res.body, err = toUTF8(body, resp.Header.Get("Content-Type")); err != nil {
		return res, err
	}
	res.etag = resp.Header.Get("ETag")
	res.lastModified = resp.Header.Get("Last-Modified")
	return res, nil
}

// validUTF8 is b with each invalid byte sequence replaced by U+FFFD.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// xmlEncoding finds the encoding an XML declaration names.
var xmlEncoding = regexp.MustCompile(`^\s*<\?xml[^>]*\sencoding\s*=\s*["']([^"']+)["']`)

// toUTF8 decodes a feed to UTF-8. An XML declaration that names an
// encoding is left to the feed parser, which honours it; otherwise the
// charset of the Content-Type header is used, and a body that is not valid
// UTF-8 and says nothing is read as Windows-1252, the usual culprit. A body
// that says it is UTF-8 (in its declaration or its header) but holds an
// invalid byte has that byte replaced by U+FFFD, so one bad byte does not
// lose the whole feed.
func toUTF8(body []byte, contentType string) ([]byte, error) {
	head := body[:min(len(body), 512)]
	if m := xmlEncoding.FindSubmatch(head); m != nil {
		if _, name := charset.Lookup(string(m[1])); name == "utf-8" {
			return validUTF8(body), nil
		}
		return body, nil
	}
	label := ""
	if _, params, err := mime.ParseMediaType(contentType); err == nil {
		label = params["charset"]
	}
	if label == "" {
		if utf8.Valid(body) {
			return body, nil
		}
		label = "windows-1252"
	}
	enc, name := charset.Lookup(label)
	if enc == nil {
		return nil, fmt.Errorf("unknown charset %q", label)
	}
	if name == "utf-8" {
		return validUTF8(body), nil
	}
	out, err := enc.NewDecoder().Bytes(body)
	if err != nil {
		return nil, fmt.Errorf("decode %s: %w", name, err)
	}
	return out, nil
}

package pipeline

import (
	"net/url"
	"strings"
)

// Links as readers get them: the publisher's own URL, without the
// trackers newsletters, social sites and feed services add.
//
// The lists below are the maintained part: a parameter is added when a
// captured feed or a report shows it in the wild (testdata/curation holds
// the feeds the tests read). Parameter names are compared in lower case.

// trackingPrefixes are prefixes of tracking parameter names: Google
// Analytics' utm_*, Piwik/Matomo's pk_* and mtm_*, Omniture's s_*, HubSpot's
// _hs*, Adobe's at_*, Webtrekk's wt_*, AT Internet's xtor-style ones.
var trackingPrefixes = []string{"utm_", "pk_", "mtm_", "_hs", "hsa_", "at_", "oly_", "vero_", "ga_"}

// trackingParams are whole tracking parameter names: click IDs of ad
// networks (Google gclid/dclid/gbraid/wbraid, Microsoft msclkid, Facebook
// fbclid, Yandex yclid, Twitter twclid, TikTok ttclid, LinkedIn li_fat_id),
// mail tools (Mailchimp mc_cid/mc_eid, Marketo mkt_tok, Vero, Sendgrid),
// social sharing (Instagram igshid, Twitter ref_src/ref_url, NYT smid),
// outlets' own campaign codes (Guardian CMP, AOL/HuffPost ncid, MSN ocid,
// BBC ocid, Washington Post itid, Le Monde/AT Internet xtor, Webtrekk
// wt_mc and wt_zmc), and Google Analytics' _ga/_gl linker.
var trackingParams = map[string]bool{
	"fbclid": true, "gclid": true, "gclsrc": true, "dclid": true, "gbraid": true, "wbraid": true, "msclkid": true,
	"yclid": true, "twclid": true, "ttclid": true, "li_fat_id": true, "igshid": true, "igsh": true,
	"mc_cid": true, "mc_eid": true, "mkt_tok": true, "_hsenc": true, "_hsmi": true, "sc_cid": true,
	"ref_src": true, "ref_url": true, "smid": true, "smtyp": true, "cmp": true, "ncid": true, "ocid": true,
	"itid": true, "xtor": true, "wt_mc": true, "wt.mc_id": true, "wt_zmc": true, "wtmc": true, "_ga": true, "_gl": true,
	"cmpid": true, "s_cid": true, "s_kwcid": true, "icid": true, "soc_src": true, "soc_trk": true,
	"spm": true, "sr_share": true, "share_source": true, "trk": true, "trkcampaign": true, "rss_source": true,
	"guccounter": true, "guce_referrer": true, "guce_referrer_sig": true, "__twitter_impression": true,
}

// feedValues are values of source, ref, from and the like that only say
// the click came from a feed: "?source=rss", "?ref=rss", "?from=rss".
var feedValues = map[string]bool{"rss": true, "feed": true, "feeds": true, "rss2": true, "atom": true, "feedburner": true}

// feedParams are the parameters whose feed value is a tracker.
var feedParams = map[string]bool{"source": true, "ref": true, "from": true, "src": true, "via": true, "utm": true, "rss": true}

// tracking says whether the query parameter name=value is a tracker.
func tracking(name, value string) bool {
	k := strings.ToLower(name)
	if trackingParams[k] {
		return true
	}
	for _, p := range trackingPrefixes {
		if strings.HasPrefix(k, p) {
			return true
		}
	}
	v := strings.ToLower(value)
	return feedParams[k] && (feedValues[v] || strings.HasPrefix(v, "rss") || strings.HasPrefix(v, "feed"))
}

// redirectors are pages that only send the reader on to the URL in one
// of their parameters: Google's search and Alerts links, Facebook's and
// Tumblr's outbound links, href.li.
var redirectors = []struct {
	host  func(string) bool
	path  string
	param []string
}{
	{func(h string) bool { return h == "google.com" || strings.HasPrefix(h, "google.") }, "/url", []string{"url", "q"}},
	{func(h string) bool { return h == "facebook.com" || h == "l.facebook.com" || h == "lm.facebook.com" }, "/l.php", []string{"u"}},
	{func(h string) bool { return h == "t.umblr.com" }, "/redirect", []string{"z"}},
	{func(h string) bool { return h == "l.instagram.com" }, "/", []string{"u"}},
}

// unwrap follows known redirectors to the URL they send the reader to (up
// to a few levels); anything else is returned unchanged.
func unwrap(u *url.URL) *url.URL {
	for range 3 {
		host := strings.TrimPrefix(strings.ToLower(u.Hostname()), "www.")
		next := ""
		for _, r := range redirectors {
			if r.host(host) && (u.Path == r.path || r.path == "/" && u.Path == "") {
				q := u.Query()
				for _, p := range r.param {
					if v := q.Get(p); v != "" {
						next = v
						break
					}
				}
			}
		}
		if host == "href.li" && u.RawQuery != "" {
			next, _ = url.QueryUnescape(u.RawQuery)
		}
		if next == "" {
			return u
		}
		t, err := url.Parse(strings.TrimSpace(next))
		if err != nil || (t.Scheme != "http" && t.Scheme != "https") || t.Host == "" {
			return u
		}
		u = t
	}
	return u
}

// CleanURL is the URL a reader should get for raw: known redirectors
// followed to their target, tracking parameters removed (trackingParams,
// trackingPrefixes, a feed's "source=rss"), the fragment dropped. Anything
// that does not parse as an absolute http(s) URL is returned unchanged.
func CleanURL(raw string) string {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return raw
	}
	u = unwrap(u)
	u.Fragment = ""
	u.RawFragment = ""
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			if tracking(k, strings.Join(vs, "")) {
				q.Del(k)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

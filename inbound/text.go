package inbound

import (
	"net/textproto"
	"regexp"
	"strings"
)

// bounceSenders are the local parts delivery reports come from.
var bounceSenders = []string{"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon", "mdaemon", "bounce", "bounces", "mail delivery"}

// bounceSubjects are words in the subjects of delivery reports.
var bounceSubjects = []string{"undeliver", "undelivered", "delivery status", "delivery failure", "delivery failed",
	"delivery notification", "failure notice", "returned mail", "mail delivery failed", "delivery problem",
	"could not be delivered", "non remis", "unzustellbar", "nicht zustellbar", "non recapitabile", "no entregado",
	"mail system error", "rejected", "not delivered", "delivery has failed", "failed delivery", "nondeliverable"}

// introMarkers start the part of a plain-text bounce that lists the
// failed addresses, as qmail, Exim, Gmail, Yahoo, Exchange and sendmail
// without DSNs write it.
var introMarkers = []string{
	"the following address(es) failed",
	"i'm afraid i wasn't able to deliver your message to the following addresses",
	"delivery to the following recipient failed permanently",
	"delivery to the following recipients failed permanently",
	"delivery to the following recipient failed",
	"sorry, we were unable to deliver your message to the following address",
	"your message did not reach some or all of the intended recipients",
	"the following addresses had permanent fatal errors",
	"could not be delivered to the following recipients",
	"could not be delivered to one or more recipients",
	"message could not be delivered to",
	"unable to deliver your message to the following",
	"this is a permanent error",
	"a message that you sent could not be delivered",
	"your message cannot be delivered to the following recipients",
	"the following recipient(s) could not be reached",
	"undeliverable to the following",
	"delivery has failed to these recipients or groups",
	"your message wasn't delivered to",
	"your message couldn't be delivered to",
}

// delayMarkers say the report is a warning: delivery is still tried.
var delayMarkers = []string{"has been delayed", "delivery to the following recipient has been delayed",
	"will continue trying", "will be retried", "warning: message", "not yet been delivered", "delivery delayed",
	"this is a temporary error", "still trying", "i'll keep trying", "has not been delivered yet"}

// copyMarkers end the report and start the copy of the message.
var copyMarkers = []string{"--- below this line is a copy of the message", "------ this is a copy of the message",
	"----- original message -----", "original message follows", "----- original message", "--- original message",
	"------ original message", "----- transcript of session follows", "the original message was received",
	"----- the header of the original message", "original message headers", "\nreturn-path:", "\nreceived:"}

var (
	addrLine = regexp.MustCompile(`(?i)^\s*<?([a-z0-9.!#$%&'*+/=?^_{|}~-]+@[a-z0-9.-]+\.[a-z]{2,})>?:?\s*(.*)$`)
	anyAddr  = regexp.MustCompile(`(?i)<?([a-z0-9.!#$%&'*+/=?^_{|}~-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+)>?`)
)

// fromDaemon says whether a message comes from a mail system rather than
// a person: its sender's name, X-Failed-Recipients. (A null return path
// says less: automatic replies have one too.)
func fromDaemon(h textproto.MIMEHeader, from string) bool {
	local, _, _ := strings.Cut(from, "@")
	for _, s := range bounceSenders {
		if local == s || strings.HasPrefix(local, s) {
			return true
		}
	}
	return h.Get("X-Failed-Recipients") != ""
}

// looksLikeBounce says whether a message presents itself as a delivery
// report: its sender, its subject or its opening words.
func looksLikeBounce(h textproto.MIMEHeader, from, subject, body string) bool {
	if fromDaemon(h, from) || h.Get("Return-Path") == "<>" && !isAutoReply(h, subject) {
		return true
	}
	ls := strings.ToLower(subject)
	for _, s := range bounceSubjects {
		if strings.Contains(ls, s) {
			return true
		}
	}
	lb := strings.ToLower(body)
	for _, m := range introMarkers {
		if strings.Contains(lb, m) {
			return true
		}
	}
	return false
}

// readText reads a plain-text delivery report: the addresses between a
// known opening and the copy of the message, each with the text after it
// as its diagnostic. It claims the report only when it finds a known
// opening and at least one address there.
func readText(rep *Report, body string) bool {
	low := strings.ToLower(strings.ReplaceAll(body, "\r\n", "\n"))
	start := -1
	for _, m := range introMarkers {
		if i := strings.Index(low, m); i >= 0 && (start < 0 || i < start) {
			start = i
		}
	}
	if start < 0 {
		return false
	}
	head := low[:start]
	end := len(low)
	for _, m := range copyMarkers {
		if i := strings.Index(low[start:], m); i >= 0 && start+i < end {
			end = start + i
		}
	}
	section := low[start:end]
	for _, m := range delayMarkers {
		if strings.Contains(head, m) || strings.Contains(section, m) {
			rep.Kind = Delayed
			return true
		}
	}
	var fails []Failure
	lines := strings.Split(section, "\n")
	for i := 1; i < len(lines); i++ {
		m := addrLine.FindStringSubmatch(lines[i])
		if m == nil || !plausibleAddress(lines[i], m[1]) {
			continue
		}
		diag := m[2]
		j := i + 1
		for ; j < len(lines) && j < i+12; j++ {
			if addrLine.MatchString(lines[j]) && plausibleAddress(lines[j], addrLine.FindStringSubmatch(lines[j])[1]) {
				break
			}
			diag += " " + strings.TrimSpace(lines[j])
		}
		fails = append(fails, Failure{Email: m[1], Detail: oneLine(diag, 300)})
		i = j - 1
	}
	if len(fails) == 0 {
		// "…could not be delivered to user@example.org: 550 …" on one line
		if m := anyAddr.FindStringSubmatch(section); m != nil {
			fails = append(fails, Failure{Email: strings.ToLower(m[1]), Detail: oneLine(section, 300)})
		} else {
			return false
		}
	}
	for i := range fails {
		f := &fails[i]
		f.Status = findStatus(f.Detail)
		f.Code = findReply(f.Detail)
		f.Hard = hardFailure(f.Status, f.Code, f.Detail)
	}
	rep.Kind, rep.Failures = Bounce, fails
	return true
}

// plausibleAddress says whether a line naming addr is a line listing a
// failed recipient (an address on its own, or "<addr>:" and its reason),
// not a sentence that mentions one.
func plausibleAddress(line, addr string) bool {
	t := strings.TrimSpace(line)
	return strings.HasPrefix(t, addr) || strings.HasPrefix(t, "<"+addr+">")
}

// autoReplySubjects open the subjects of out-of-office and other
// automatic answers, in the languages readers write them in.
var autoReplySubjects = []string{"auto:", "automatic reply", "autoreply", "auto-reply", "auto reply", "out of office",
	"out of the office", "away from", "on vacation", "vacation", "abwesend", "abwesenheit", "automatische antwort",
	"réponse automatique", "absence", "respuesta automática", "fuera de la oficina", "risposta automatica",
	"fuori sede", "afwezig", "automatisch antwoord", "automatyczna odpowiedź", "自動応答", "不在"}

// isAutoReply says whether a message is an automatic answer (RFC 3834's
// Auto-Submitted: auto-replied, the headers vacation programs add, or a
// subject that says so).
func isAutoReply(h textproto.MIMEHeader, subject string) bool {
	if strings.HasPrefix(strings.ToLower(h.Get("Auto-Submitted")), "auto-replied") {
		return true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Vacation", "X-Ms-Exchange-Inbox-Rules-Loop"} {
		if h.Get(k) != "" {
			return true
		}
	}
	if p := strings.ToLower(h.Get("Precedence")); p == "auto_reply" {
		return true
	}
	if strings.EqualFold(h.Get("X-Auto-Response-Suppress"), "All") && strings.Contains(strings.ToLower(subject), "reply") {
		return true
	}
	ls := strings.ToLower(strings.TrimSpace(subject))
	for _, s := range autoReplySubjects {
		if strings.HasPrefix(ls, s) || strings.Contains(ls, ": "+s) || strings.Contains(ls, s+":") {
			return true
		}
	}
	return false
}

// isChallenge says whether a message is a challenge-response system's
// request that the sender prove it is a person.
func isChallenge(h textproto.MIMEHeader, subject, body string) bool {
	for _, k := range []string{"X-Boxtrapper", "X-Tmda-Fingerprint", "X-Spamarrest-Noauth", "X-Spamarrest-Challenge",
		"X-Mailprotector-Challenge", "X-Bluebottle-Request", "X-Askme"} {
		if h.Get(k) != "" {
			return true
		}
	}
	ls := strings.ToLower(subject)
	for _, s := range []string{"please confirm your message", "verify your email to complete delivery", "awaiting verification",
		"your message is pending", "confirm that you are a human", "challenge-response", "sender verification"} {
		if strings.Contains(ls, s) {
			return true
		}
	}
	lb := strings.ToLower(body)
	return strings.Contains(lb, "boxtrapper") || strings.Contains(lb, "spam arrest") && strings.Contains(lb, "verify")
}

// isUnsubscribe says whether a message asks to be unsubscribed: its
// subject, or its first words when the subject is empty, say
// "unsubscribe" (as List-Unsubscribe's mailto makes mail agents write).
func isUnsubscribe(subject, body string) bool {
	s := strings.ToLower(strings.TrimSpace(subject))
	if s == "" {
		s = strings.ToLower(strings.TrimSpace(body))
	}
	for _, p := range []string{"re:", "fwd:", "fw:"} {
		s = strings.TrimSpace(strings.TrimPrefix(s, p))
	}
	return s == "unsubscribe" || strings.HasPrefix(s, "unsubscribe ") || strings.HasPrefix(s, "unsubscribe:")
}

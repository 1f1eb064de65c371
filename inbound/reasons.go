package inbound

import (
	"regexp"
	"strconv"
	"strings"
)

// The phrases below that say an address does not exist, and those that
// say a mailbox is full, are Sisimai's (lib/Sisimai/Reason/UserUnknown.pm,
// HostUnknown.pm, HasMoved.pm, NotAccept.pm, MailboxFull.pm of
// github.com/sisimai/p5-sisimai, BSD-2-Clause, Copyright (C) 2014
// azumakuniyuki): years of real bounces went into them. They are matched
// against the lower-cased diagnostic text.

// goneIndex: the mailbox, or its domain, does not exist (a hard bounce).
var goneIndex = []string{
	// UserUnknown
	"#5.1.1 bad address", "550 address invalid", "5.1.0 address rejected.", "address does not exist",
	"address not present in directory", "address unknown", "can't accept user", "does not exist.",
	"destination addresses were unknown", "destination server rejected recipients", "email address does not exist",
	"email address could not be found", "invalid address", "invalid mailbox", "invalid mailbox path",
	"invalid recipient", "is not a known user", "is not a valid mailbox", "is not an active address at this host",
	"mailbox does not exist", "mailbox invalid", "mailbox is inactive", "mailbox is unavailable", "mailbox not present",
	"mailbox not found", "mailbox unavaiable", "nessun utente simile in questo indirizzo", "no account by that name here",
	"no existe dicha persona", "no existe ese usuario ", "no mail box available for this user",
	"no mailbox by that name is currently available", "no mailbox found", "no such address here", "no such mailbox",
	"no such person at this address", "no such recipient", "no such user", "no thank you rejected: account unavailable",
	"no valid recipients, bye", "not a valid recipient", "not a valid user here", "not a local address",
	"not email addresses", "recipient address rejected. (in reply to rcpt to command)",
	"recipient address rejected: access denied", "recipient address rejected: invalid user",
	"recipient address rejected: invalid-recipient", "recipient address rejected: unknown user",
	"recipient address rejected: userunknown", "recipient does not exist", "recipient is not accepted",
	"recipient is not local", "recipient not exist", "recipient not found", "recipient not ok",
	"recipient refuses to accept your mail", "recipient unknown", "requested action not taken: mailbox unavailable",
	"resolver.adr.recipient notfound", "sorry, user unknown", "sorry, badrcptto", "sorry, no mailbox here by that name",
	"sorry, your envelope recipient has been denied", "that domain or user isn't in my list of allowed rcpthosts",
	"the email account that you tried to reach does not exist", "the following recipients was undeliverable",
	"the user's email name is not found", "there is no one at this address", "this address no longer accepts mail",
	"this email address is wrong or no longer valid", "this recipient is in my badrecipientto list",
	"this recipient is not in my validrcptto list", "this spectator does not exist", "unknown mailbox",
	"unknown recipient", "unknown user", "user does not exist", "user missing home directory", "user not active",
	"user not exist", "user not found", "user not known", "user unknown", "utilisateur inconnu !",
	"vdeliver: invalid or unknown virtual user", "your envelope recipient is in my badrcptto list",
	// HostUnknown
	"domain does not exist", "domain is not reachable", "domain must exist", "host or domain name not found",
	"host unknown", "host unreachable", "mail domain mentioned in email address is unknown",
	"name or service not known", "no such domain", "recipient address rejected: unknown domain name",
	"recipient domain must exist", "the account or domain may not exist", "unknown host", "unroutable address",
	"unrouteable address",
	// HasMoved
	" has been replaced by ",
}

// gonePairs: both parts, in this order.
var gonePairs = [][2]string{
	{"<", "> not found"}, {"<", ">... blocked by "}, {"account ", " does not exist at the organization"},
	{"bad", "recipient"}, {"mailbox ", "does not exist"}, {"mailbox ", "unavailable or access denied"},
	{"no ", " in name directory"}, {"non", "existent user"}, {"rcpt <", " does not exist"}, {"rcpt (", "t exist "},
	{"recipient ", " was not found in"}, {"recipient address rejected: user ", "  does not exist"},
	{"recipient address rejected: user unknown in ", "  table"}, {"said: 550-5.1.1 ", " user unknown "},
	{"said: 550 5.1.1 ", " user unknown "}, {"this user doesn't have a ", " account"}, {"unknown e", "mail address"},
	{"unknown local", "part"}, {"user ", " was not found"}, {"user ", " does not exist"}, {"user (", ") unknown"},
	{"553 ", " does not exist"}, {"5.4.4", "invalid domain"},
}

// noMailIndex: the domain takes no mail (hard when permanent).
var noMailIndex = []string{
	"does not accept mail (nullmx)", "host/domain does not accept mail", "host does not accept mail",
	"mail receiving disabled", "name server: .: host not found", "no mx record found for domain=",
	"no route for current request", "couldn't find a mail exchanger or ip address", // qmail
}

// fullIndex: the mailbox exists but is full (soft, whatever the code).
var fullIndex = []string{
	"452 insufficient disk space", "account disabled temporarly for exceeding receiving limits",
	"account is exceeding their quota", "account is over quota", "account is temporarily over quota",
	"boite du destinataire pleine", "delivery failed: over quota", "disc quota exceeded", "diskspace quota",
	"does not have enough space", "exceeded storage allocation", "exceeding its mailbox quota", "full mailbox",
	"is over disk quota", "is over quota temporarily", "mail file size exceeds the maximum size allowed for mail delivery",
	"mail quota exceeded", "mailbox exceeded the local limit", "mailbox full", "mailbox has exceeded its disk space limit",
	"mailbox is full", "mailbox over quota", "mailbox quota usage exceeded", "mailbox size limit exceeded",
	"maildir over quota", "maildir delivery failed: userdisk quota ", "maildir delivery failed: domaindisk quota ",
	"mailfolder is full", "no space left on device", "not enough storage space in", "not sufficient disk space",
	"over the allowed quota", "quota exceeded", "quota violation for", "recipient reached disk quota",
	"recipient rejected: mailbox would exceed maximum allowed storage", "the recipient mailbox has exceeded its disk space limit",
	"the user's space has been used up", "the user you are trying to reach is over quota", "too much mail data",
	"user has exceeded quota, bouncing mail", "user has too many messages on the server", "user is over quota",
	"user is over the quota", "user over quota", "was automatically rejected: quota exceeded",
	"would be over the allowed quota",
}

// aboutUs: phrases that put the failure on the sender or the message
// (reputation, policy, authentication, content, relaying): the address
// may well exist, so such a failure is never hard, whatever else it says.
var aboutUs = []string{
	"spam", "blocked", "blacklist", "black list", "blocklist", "block list", "denylist", "reputation", "policy",
	"rate limit", "too many", "dmarc", " spf", "spf ", "dkim", "authentication", "not authorized", "unauthorized",
	"relaying", "relay access", "relay not permitted", "reverse dns", "ptr record", "virus", "too large", "too big",
	"size limit", "exceeds the maximum", "content rejected", "message rejected", "rejected for policy",
	"sender address rejected", "sender rejected", "sender domain", "your ip", "ip address", "dnsbl", "rbl",
	"access denied (in reply to mail from", "refused to talk", "greylist", "try again later", "not compliant",
	"rfc 5322", "rfc5322", "rfc 2822", "5.7.", "rejected by user rules", "message refused",
}

var (
	statusRE = regexp.MustCompile(`\b([245])\.(\d{1,3})\.(\d{1,3})\b`)
	replyRE  = regexp.MustCompile(`(?:^|[\s:;(\["])([245][0-5]\d)(?:[\s\-]|$)`)
)

// FindStatus returns the first enhanced status code in s ("5.1.1"), or "".
func FindStatus(s string) string { return findStatus(s) }

func findStatus(s string) string {
	if m := statusRE.FindString(s); m != "" {
		return m
	}
	return ""
}

// findReply returns the first SMTP reply code in s, or 0.
func findReply(s string) int {
	m := replyRE.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// HardFailure says whether a permanent failure with enhanced status
// ("5.1.1", or ""), reply code (or 0) and diagnostic text means the
// address does not exist (a hard bounce) rather than anything that may
// pass (a soft one): the text first, then the status code. A failure
// that is about the sender or the message, or a full mailbox, is soft
// whatever its code. Provider webhooks that report a relay's answer use
// it too.
func HardFailure(status string, code int, diag string) bool {
	return hardFailure(status, code, diag)
}

func hardFailure(status string, code int, diag string) bool {
	d := " " + strings.Join(strings.Fields(strings.ToLower(diag)), " ") + " "
	if _, rest, _ := strings.Cut(status, "."); rest == "2.0" || rest == "2.2" || rest == "2.3" || strings.HasPrefix(rest, "7.") ||
		rest == "1.7" || rest == "1.8" || strings.HasPrefix(rest, "3.") || strings.HasPrefix(rest, "6.") {
		// the mailbox exists but is full or disabled; the sender, the
		// system or the message is at fault: soft whatever the words
		return false
	}
	for _, p := range fullIndex {
		if strings.Contains(d, p) {
			return false
		}
	}
	if strings.Contains(d, "after mail from") || strings.Contains(d, "in reply to mail from") {
		return false // the relay refused the sender, not the recipient
	}
	gone := false
	for _, p := range goneIndex {
		if strings.Contains(d, p) {
			gone = true
			break
		}
	}
	if !gone {
		for _, p := range gonePairs {
			if i := strings.Index(d, p[0]); i >= 0 && strings.Contains(d[i+len(p[0]):], p[1]) {
				gone = true
				break
			}
		}
	}
	if !gone && strings.HasSuffix(strings.TrimSpace(d), "recipient address rejected.") {
		gone = true // Postfix's reject_unlisted_recipient with its reason cut off
	}
	if !gone && (strings.HasPrefix(status, "5") || code >= 500 || status == "") {
		for _, p := range noMailIndex {
			if strings.Contains(d, p) {
				gone = true
				break
			}
		}
	}
	if gone {
		// a "user unknown" answered to DATA, after the relay accepted the
		// address at RCPT, is a filter's word, not the mailbox's
		return !afterData(d)
	}
	for _, p := range aboutUs {
		if strings.Contains(d, p) {
			return false
		}
	}
	_, rest, _ := strings.Cut(status, ".")
	switch rest {
	case "1.1", "1.2", "1.3", "1.6", "1.10":
		return true
	case "1.0":
		return strings.HasPrefix(status, "5")
	}
	return false
}

// afterData says whether a failure's text shows it was the answer to
// DATA or to the end of the message rather than to RCPT.
func afterData(d string) bool {
	for _, m := range []string{"end of data", ">>> data", "after data", "in reply to data", "after end of data",
		"reply to data command", "after the data command"} {
		if strings.Contains(d, m) {
			return true
		}
	}
	return false
}

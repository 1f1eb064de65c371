// Package inbound reads the mail that comes back about the brief: delivery
// reports (RFC 3464 DSNs and the plain-text reports of qmail, Exim, Gmail
// and others), feedback-loop complaints (RFC 5965 ARF), automatic replies
// (ignored), challenge-response requests (ignored) and unsubscribe
// requests sent to List-Unsubscribe's mailto.
//
// Mail flows in three ways, all into one Processor: an SMTP listener that
// takes mail for the return addresses only (Server, run by serve when
// NEWSBRIEF_INBOUND_ADDR is set), an IMAP mailbox polled on the collect
// schedule (Poller, NEWSBRIEF_BOUNCE_MAILBOX), and `newsbrief bounces
// process` reading one message from a file or standard input (a
// pipe transport of the operator's MTA). Parse says what a message is;
// the Processor maps it to subscribers through the signed tokens of the
// address it came to (VERP), or of the returned message's own headers,
// and hands the outcomes to a Recorder (subscribers.Feedback), which
// applies each once. Nothing is done on a message Parse does not
// understand, nor on an unsubscribe request without a valid token.
package inbound

package main

import (
	"time"
)

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format("2006-01-02 15:04")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func isHelp(s string) bool { return s == "help" || s == "-h" || s == "--help" || s == "-help" }

// Package pipeline is the domain: sources, articles, editions and the
// delivery ledger, in its own SQLite tables.
//
// Articles are stored by the collector (package pipeline/collect), by
// editors and by article files; Editions, the editions service, is the one
// definition of the next edition (selection, grouping, caps) and of every
// use case around it, called alike by the command line, the desk, the API
// and the daemon's schedule (Slots). A new edition is rendered once by a
// Renderer and handed to the delivery engine (package pipeline/deliver),
// whose ledger is this package's store: one row per (edition, subscriber),
// so a send can be resumed after a crash without mailing anyone twice or
// skipping anyone.
//
// The package declares the small interfaces it consumes (SubscriberSource,
// Renderer, ArticleFiles) in the shared leaf types of package brief, and
// imports none of the packages that satisfy them.
package pipeline

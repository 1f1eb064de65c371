// Package pipeline turns sources into delivered editions.
//
// Articles flow in from feeds (Collector), article files and editors, are
// cleaned and stored; the next edition is selected from the articles not yet
// sent; an edition is rendered once by a Renderer and delivered to every
// recipient that a SubscriberSource yields, through a Sender, with one ledger
// row per (edition, subscriber) so that a send can be resumed after a crash
// without mailing anyone twice or skipping anyone.
//
// The package declares the small interfaces it consumes (SubscriberSource,
// Renderer, Sender) and imports none of the packages that satisfy them.
package pipeline

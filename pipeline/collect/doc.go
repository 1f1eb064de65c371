// Package collect brings articles in and cleans them: feeds (RSS
// 0.9x/1.0/2.0, Atom and JSON Feed, fetched with conditional GET, timeouts,
// size and redirect caps, one request at a time per host, Retry-After
// honoured), article files dropped in a folder (Markdown with front matter,
// plain text, HTML) and editors' articles.
//
// Raw items flow through the Cleaner (sanitized HTML, plain text, a lead
// summary, the outlet's closing boilerplate and each source's own rules
// removed, links cleaned of trackers) into the pipeline's Store, which drops
// duplicates by GUID, URL or content. The Collector is what `newsbrief
// collect` and the daemon's collect job run; the Cleaner also satisfies
// pipeline.ArticleFiles for the editions service.
package collect

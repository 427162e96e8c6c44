// Package safe makes text that came from a file, a directory listing or
// the Hub (tensor names, GGUF keys and string values, config values, token
// text, file names, user-given paths) safe to print on a terminal.
//
// The rule of the project (issue #11): such a name is printed with %q in
// error messages and one-line notices, and through Name in tabular output
// (inspect, --dry-run, summaries), where quoting every plain name would
// hurt readability. Name leaves printable text alone and escapes what a
// terminal would act on: C0 controls (including newline and tab), DEL, C1
// controls (U+0080–U+009F, which some terminals take as CSI/OSC when sent
// as UTF-8), the bidirectional overrides and isolates (U+202A–U+202E,
// U+2066–U+2069, which reorder what follows on the line), and invalid
// UTF-8 bytes. The command line also passes its final error message
// through Name, so a name an error forgot to quote still cannot reach the
// terminal raw or split the one-line error.
//
// JSON output (--json) is escaped by encoding/json for C0 controls only;
// JSON escapes the remaining runes above as \uXXXX, which decodes to the
// same string.
//
// Non-goals: Name is for display. Its output is not a round-trippable
// encoding (a backslash in a name is left as is); use %q or --json for
// exact values. Printable but confusable characters (homoglyphs,
// zero-width joiners) are left alone.
package safe

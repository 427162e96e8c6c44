package safe

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// escaped reports whether a terminal could act on r: C0, DEL, C1, and the
// bidirectional overrides and isolates.
func escaped(r rune) bool {
	return r < 0x20 || r >= 0x7f && r < 0xa0 ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// Name returns s with every character a terminal could act on escaped:
// \n, \r, \t, \a, \b, \f, \v for those, \xNN for other C0 controls, DEL
// and invalid UTF-8 bytes, \uNNNN for C1 controls and bidi overrides.
// Printable text (ASCII or not) is returned unchanged, without copying.
func Name(s string) string {
	i := 0
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if escaped(r) || r == utf8.RuneError && n == 1 {
			break
		}
		i += n
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !escaped(r):
			b.WriteString(s[i : i+n])
		default:
			writeEscape(&b, r)
		}
		i += n
	}
	return b.String()
}

// shortEscapes are the C-style escapes Name prefers for control runes.
var shortEscapes = map[rune]string{
	'\n': `\n`, '\r': `\r`, '\t': `\t`,
	'\a': `\a`, '\b': `\b`, '\f': `\f`, '\v': `\v`,
}

// writeEscape writes the escape Name uses for the rune r: a C-style
// escape when there is one, else \xXX for ASCII and \uXXXX beyond.
func writeEscape(b *strings.Builder, r rune) {
	switch e, ok := shortEscapes[r]; {
	case ok:
		b.WriteString(e)
	case r < 0x80:
		fmt.Fprintf(b, `\x%02x`, r)
	default:
		fmt.Fprintf(b, `\u%04x`, r)
	}
}

// JSON returns encoding/json output with the runes it leaves raw and a
// terminal could act on (DEL, C1 controls, bidi overrides and isolates)
// replaced by \uXXXX escapes. Outside strings JSON is ASCII punctuation,
// so every such rune is inside a string, and the result decodes to the
// same value. data is returned as is when nothing needs escaping.
func JSON(data []byte) []byte {
	i := 0
	for i < len(data) {
		r, n := utf8.DecodeRune(data[i:])
		if r >= 0x20 && escaped(r) {
			break
		}
		i += n
	}
	if i == len(data) {
		return data
	}
	out := make([]byte, 0, len(data)+16)
	out = append(out, data[:i]...)
	for i < len(data) {
		r, n := utf8.DecodeRune(data[i:])
		if r >= 0x20 && escaped(r) {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, data[i:i+n]...)
		}
		i += n
	}
	return out
}

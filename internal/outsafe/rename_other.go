//go:build !linux || !(amd64 || arm64)

package outsafe

// renameNoReplaceOS is unavailable here; the caller falls back.
func renameNoReplaceOS(string, string) error { return errUnsupported }

// renameExchangeOS is unavailable here; the caller falls back.
func renameExchangeOS(string, string) error { return errUnsupported }

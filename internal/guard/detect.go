package guard

import (
	"bytes"
	"path"
	"strings"
	"unicode/utf8"
)

// headSize is how many leading bytes the profiler looks at before it
// decides an object's format.
const headSize = 8 << 10

// magic is a file signature at offset 0.
type magic struct {
	prefix string
	format string
}

var magics = []magic{
	{"PAR1", FormatParquet},
	{"\x89PNG\r\n\x1a\n", FormatPNG},
	{"\xff\xd8\xff", FormatJPEG},
	{"GIF87a", FormatGIF},
	{"GIF89a", FormatGIF},
	{"%PDF-", FormatPDF},
	{"\x1f\x8b", FormatGzip},
	{"PK\x03\x04", FormatZip},
	{"PK\x05\x06", FormatZip}, // empty archive
	{"\x28\xb5\x2f\xfd", FormatZstd},
	{"BZh", FormatBzip2},
	{"\xfd7zXZ\x00", FormatXZ},
	{"7z\xbc\xaf\x27\x1c", Format7z},
}

// encryptedMarker is a signature that ransomware and encryption tools put
// at the start of the files they write.
type encryptedMarker struct {
	prefix string
	name   string
}

var encryptedMarkers = []encryptedMarker{
	{"-----BEGIN PGP MESSAGE-----", "-----BEGIN PGP MESSAGE-----"},
	{"age-encryption.org/v1", "age-encryption.org/v1"},
	{"-----BEGIN AGE ENCRYPTED FILE-----", "-----BEGIN AGE ENCRYPTED FILE-----"},
	{"Salted__", "Salted__ (OpenSSL enc)"},
	{"$ANSIBLE_VAULT;", "$ANSIBLE_VAULT"},
	{"LUKS\xba\xbe", "LUKS"},
	{"VimCrypt~", "VimCrypt"},
	{"WANACRY!", "WANACRY!"},
	{"AES\x01\x00", "AES Crypt"},
	{"AES\x02\x00", "AES Crypt"},
}

// findEncryptedMarker returns the name of the marker head starts with
// (after leading white space for the text markers), or "".
func findEncryptedMarker(head []byte) string {
	trimmed := bytes.TrimLeft(head, " \t\r\n")
	for _, m := range encryptedMarkers {
		if bytes.HasPrefix(head, []byte(m.prefix)) || bytes.HasPrefix(trimmed, []byte(m.prefix)) {
			return m.name
		}
	}
	return ""
}

// formatOfName returns the format an object name's extension suggests, or
// "" when it says nothing.
func formatOfName(key string) string {
	ext := strings.ToLower(path.Ext(key))
	switch ext {
	case ".csv":
		return FormatCSV
	case ".tsv", ".tab":
		return FormatTSV
	case ".jsonl", ".ndjson":
		return FormatJSONL
	case ".json":
		return FormatJSON
	case ".parquet", ".pq":
		return FormatParquet
	case ".png":
		return FormatPNG
	case ".jpg", ".jpeg":
		return FormatJPEG
	case ".gif":
		return FormatGIF
	case ".pdf":
		return FormatPDF
	case ".gz", ".tgz":
		return FormatGzip
	case ".zip", ".jar":
		return FormatZip
	case ".zst":
		return FormatZstd
	case ".bz2":
		return FormatBzip2
	case ".xz":
		return FormatXZ
	case ".7z":
		return Format7z
	case ".txt", ".md", ".log", ".yaml", ".yml", ".xml", ".html", ".ini", ".toml":
		return FormatText
	}
	return ""
}

// detect decides an object's format from its first bytes and its name.
// complete says head is the whole object. It returns the format and, when
// the name suggests another one, that one.
func detect(key string, head []byte, complete bool) (format, claimed string) {
	named := formatOfName(key)
	defer func() {
		if named != "" && named != format && !(named == FormatJSON && format == FormatJSONL) {
			claimed = named
		}
	}()
	if len(head) == 0 {
		return FormatUnknown, ""
	}
	if findEncryptedMarker(head) != "" {
		return FormatEncrypted, ""
	}
	for _, m := range magics {
		if bytes.HasPrefix(head, []byte(m.prefix)) {
			return m.format, ""
		}
	}
	if !looksText(head, complete) {
		return FormatBinary, ""
	}
	switch named {
	case FormatCSV, FormatTSV, FormatJSONL:
		return named, ""
	case FormatJSON:
		if looksJSONLines(head) {
			return FormatJSONL, ""
		}
		return FormatJSON, ""
	}
	return sniffText(head), ""
}

// looksText reports whether b is UTF-8 text: no NUL bytes, valid UTF-8
// (a rune cut by the end of the head is fine) and almost no control
// characters.
func looksText(b []byte, complete bool) bool {
	if bytes.IndexByte(b, 0) >= 0 {
		return false
	}
	ctrl := 0
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
				ctrl++
			}
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			if !complete && len(b)-i < utf8.UTFMax && !utf8.FullRune(b[i:]) {
				break
			}
			return false
		}
		i += n
	}
	return ctrl*100 <= len(b)
}

// looksJSONLines reports whether the first line of b is a JSON object on
// its own, as in JSON Lines.
func looksJSONLines(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	if len(b) == 0 || b[0] != '{' {
		return false
	}
	nl := bytes.IndexByte(b, '\n')
	if nl < 0 {
		return false
	}
	line := bytes.TrimRight(b[:nl], " \t\r")
	return len(line) > 1 && line[len(line)-1] == '}' && len(bytes.TrimSpace(b[nl:])) > 0
}

// sniffText tells tables from plain text when the name does not say:
// JSON Lines, or comma or tab separated lines with the same number of
// fields (at least two) on the first lines.
func sniffText(b []byte) string {
	if looksJSONLines(b) {
		return FormatJSONL
	}
	t := bytes.TrimLeft(b, " \t\r\n")
	if len(t) > 0 && t[0] == '[' {
		return FormatJSON
	}
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > 1 {
		lines = lines[:len(lines)-1] // the last may be cut
	}
	if len(lines) > 20 {
		lines = lines[:20]
	}
	for _, delim := range []byte{',', '\t'} {
		fields := -1
		ok := len(lines) >= 2
		for _, l := range lines {
			n := countFields(bytes.TrimRight(l, "\r"), delim)
			if n < 2 || (fields >= 0 && n != fields) {
				ok = false
				break
			}
			fields = n
		}
		if ok {
			if delim == '\t' {
				return FormatTSV
			}
			return FormatCSV
		}
	}
	return FormatText
}

// countFields counts delim-separated fields in a line, honouring quotes.
func countFields(line []byte, delim byte) int {
	n, quoted := 1, false
	for _, c := range line {
		switch {
		case c == '"':
			quoted = !quoted
		case c == delim && !quoted:
			n++
		}
	}
	return n
}

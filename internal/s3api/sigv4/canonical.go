package sigv4

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// queryParam is one decoded query parameter, in the order sent.
type queryParam struct{ key, value string }

type queryParams []queryParam

// parseQuery splits a raw query into decoded parameters. '+' decodes to a
// space, as clients that sign url.Values expect; a parameter without '='
// has an empty value; empty segments are skipped. An invalid escape is
// kept literally, which then cannot match any signature.
func parseQuery(raw string) queryParams {
	var q queryParams
	for part := range strings.SplitSeq(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		q = append(q, queryParam{unescapeQuery(k), unescapeQuery(v)})
	}
	return q
}

func unescapeQuery(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

func (q queryParams) has(key string) bool {
	return slices.ContainsFunc(q, func(p queryParam) bool { return p.key == key })
}

func (q queryParams) values(key string) []string {
	var vs []string
	for _, p := range q {
		if p.key == key {
			vs = append(vs, p.value)
		}
	}
	return vs
}

// canonical returns the canonical query string: every name and value
// URI-encoded, sorted by encoded name then encoded value, joined with '&'.
// Parameters named skip are left out.
func (q queryParams) canonical(skip string) string {
	enc := make([]queryParam, 0, len(q))
	for _, p := range q {
		if skip != "" && p.key == skip {
			continue
		}
		enc = append(enc, queryParam{uriEncode(p.key, true), uriEncode(p.value, true)})
	}
	slices.SortFunc(enc, func(a, b queryParam) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return strings.Compare(a.value, b.value)
	})
	var b strings.Builder
	for i, p := range enc {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.key)
		b.WriteByte('=')
		b.WriteString(p.value)
	}
	return b.String()
}

// uriEncode percent-encodes every byte outside A-Z a-z 0-9 - _ . ~ with
// uppercase hex, and '/' too when slash is true.
func uriEncode(s string, slash bool) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || c == '/' && !slash {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// canonicalURIs returns the canonical URI candidates, most likely first.
// S3 clients sign the path exactly as they send it, already encoded and
// without double encoding: r.URL.EscapedPath() reproduces that form. Some
// clients send a looser encoding than they sign (a raw '+' or UTF-8 byte),
// so the AWS encoding of the decoded path is tried second. Both decode to
// the same object key, so accepting either grants nothing more.
func canonicalURIs(r *http.Request) []string {
	sent := r.URL.EscapedPath()
	if sent == "" {
		sent = "/"
	}
	strict := uriEncode(r.URL.Path, false)
	if strict == "" {
		strict = "/"
	}
	if strict == sent {
		return []string{sent}
	}
	return []string{sent, strict}
}

// canonicalHeaderVariants returns the canonical header block for the
// signed header names: "name:value\n" per name, values trimmed, runs of
// spaces collapsed and repeated headers joined with ','. Clients disagree
// on whether tabs are whitespace to collapse (the Go SDK collapses only
// spaces; botocore all whitespace), so a second variant is returned when
// that makes a difference.
func canonicalHeaderVariants(r *http.Request, names []string) []string {
	spaces := canonicalHeaders(r, names, collapseSpaces)
	if !strings.ContainsFunc(spaces, func(c rune) bool { return c != ' ' && c != '\n' && unicode.IsSpace(c) }) {
		return []string{spaces}
	}
	fields := canonicalHeaders(r, names, func(s string) string { return strings.Join(strings.Fields(s), " ") })
	if fields == spaces {
		return []string{spaces}
	}
	return []string{spaces, fields}
}

func canonicalHeaders(r *http.Request, names []string, clean func(string) string) string {
	var b strings.Builder
	for _, name := range names {
		b.WriteString(name)
		b.WriteByte(':')
		for i, v := range headerValues(r, name) {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(clean(v))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// headerValues returns the values of a signed header, including those
// net/http moves out of r.Header on the server side.
func headerValues(r *http.Request, name string) []string {
	if vals := r.Header.Values(name); len(vals) > 0 && name != "host" {
		return vals
	}
	switch name {
	case "host":
		if r.Host != "" {
			return []string{r.Host}
		}
		return []string{r.URL.Host}
	case "content-length":
		if r.ContentLength >= 0 {
			return []string{strconv.FormatInt(r.ContentLength, 10)}
		}
	case "transfer-encoding":
		if len(r.TransferEncoding) > 0 {
			return []string{strings.Join(r.TransferEncoding, ",")}
		}
	}
	return nil
}

// collapseSpaces trims whitespace at both ends and collapses inner runs of
// spaces to one, as the AWS SDK for Go does.
func collapseSpaces(s string) string {
	s = strings.TrimSpace(s)
	if !strings.Contains(s, "  ") {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

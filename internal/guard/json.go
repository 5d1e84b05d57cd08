package guard

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// The JSON scanner below reads one object's top-level fields without
// building values: it is enough for profiling and much faster than
// encoding/json. It checks the structure (brackets, strings, commas and
// colons) but not every detail of number and escape syntax.

var errJSON = errors.New("invalid JSON")

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// scanString returns the end (index after the closing quote) of the string
// starting at b[i] == '"', and whether it holds escapes.
func scanString(b []byte, i int) (int, bool, error) {
	escaped := false
	i++
	for {
		j := bytes.IndexAny(b[i:], "\"\\")
		if j < 0 {
			return len(b), escaped, errJSON
		}
		i += j
		if b[i] == '"' {
			return i + 1, escaped, nil
		}
		escaped = true
		i += 2
		if i > len(b) {
			return len(b), escaped, errJSON
		}
	}
}

// scanValue returns the end of the value starting at b[i] and its kind.
func scanValue(b []byte, i int, depth int) (int, valueKind, error) {
	if i >= len(b) {
		return i, kindNull, errJSON
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, kindString, err
	case c == '{' || c == '[':
		if depth > 512 {
			return i, kindNested, errJSON
		}
		close := byte('}')
		if c == '[' {
			close = ']'
		}
		j := skipSpace(b, i+1)
		if j < len(b) && b[j] == close {
			return j + 1, kindNested, nil
		}
		for {
			if c == '{' {
				if j >= len(b) || b[j] != '"' {
					return j, kindNested, errJSON
				}
				var err error
				if j, _, err = scanString(b, j); err != nil {
					return j, kindNested, err
				}
				j = skipSpace(b, j)
				if j >= len(b) || b[j] != ':' {
					return j, kindNested, errJSON
				}
				j = skipSpace(b, j+1)
			}
			var err error
			if j, _, err = scanValue(b, j, depth+1); err != nil {
				return j, kindNested, err
			}
			j = skipSpace(b, j)
			if j >= len(b) {
				return j, kindNested, errJSON
			}
			if b[j] == close {
				return j + 1, kindNested, nil
			}
			if b[j] != ',' {
				return j, kindNested, errJSON
			}
			j = skipSpace(b, j+1)
		}
	case c == 't':
		return scanLiteral(b, i, "true", kindBool)
	case c == 'f':
		return scanLiteral(b, i, "false", kindBool)
	case c == 'n':
		return scanLiteral(b, i, "null", kindNull)
	case c == '-' || c >= '0' && c <= '9':
		j := i + 1
		for j < len(b) {
			c := b[j]
			if !(c >= '0' && c <= '9' || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-') {
				break
			}
			j++
		}
		return j, kindNumber, nil
	}
	return i, kindNull, errJSON
}

func scanLiteral(b []byte, i int, lit string, k valueKind) (int, valueKind, error) {
	if !bytes.HasPrefix(b[i:], []byte(lit)) {
		return i, k, errJSON
	}
	return i + len(lit), k, nil
}

// unquote returns the content of a JSON string token (with its quotes).
func unquote(tok []byte, escaped bool) []byte {
	if !escaped {
		return tok[1 : len(tok)-1]
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return tok[1 : len(tok)-1]
	}
	return []byte(s)
}

// scanObject calls visit for each top-level field of the JSON object rec.
func scanObject(rec []byte, visit func(key, val []byte, k valueKind)) error {
	i := skipSpace(rec, 0)
	if i >= len(rec) || rec[i] != '{' {
		return errJSON
	}
	i = skipSpace(rec, i+1)
	if i < len(rec) && rec[i] == '}' {
		return trailing(rec, i+1)
	}
	for {
		if i >= len(rec) || rec[i] != '"' {
			return errJSON
		}
		end, esc, err := scanString(rec, i)
		if err != nil {
			return err
		}
		key := unquote(rec[i:end], esc)
		i = skipSpace(rec, end)
		if i >= len(rec) || rec[i] != ':' {
			return errJSON
		}
		i = skipSpace(rec, i+1)
		vend, k, err := scanValue(rec, i, 1)
		if err != nil {
			return err
		}
		val := rec[i:vend]
		if k == kindString {
			_, esc, _ := scanString(rec, i)
			val = unquote(val, esc)
		}
		visit(key, val, k)
		i = skipSpace(rec, vend)
		if i >= len(rec) {
			return errJSON
		}
		if rec[i] == '}' {
			return trailing(rec, i+1)
		}
		if rec[i] != ',' {
			return errJSON
		}
		i = skipSpace(rec, i+1)
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errJSON
	}
	return nil
}

// jsonField is one top-level field of a JSON record.
type jsonField struct {
	key, val []byte
	kind     valueKind
}

// profileJSON profiles one JSON object as a record whose top-level fields
// are columns; fields it lacks are null. A record that is not a valid
// object is counted as bad and changes nothing else.
func (t *table) profileJSON(rec []byte) {
	t.kv = t.kv[:0]
	if err := scanObject(rec, func(key, val []byte, k valueKind) {
		t.kv = append(t.kv, jsonField{key, val, k})
	}); err != nil {
		t.bad++
		return
	}
	t.beginRow()
	for _, f := range t.kv {
		i, ok := t.byName[string(f.key)]
		if !ok {
			if i = t.column(string(f.key)); i >= 0 {
				c := t.cols[i]
				c.count, c.nulls = t.rows, t.rows // absent from the records before
			}
		}
		if i < 0 {
			continue
		}
		c := t.cols[i]
		if c.seen {
			continue // a repeated key: the first one counts
		}
		c.seen = true
		c.add(f.val, f.kind)
	}
	for _, c := range t.cols {
		if !c.seen {
			c.add(nil, kindNull)
		}
	}
	t.endRow(hashBytes(rec))
}

// jsonParser profiles a JSON document (.json) kept in memory up to
// ProfileOptions.MaxBuffer: an array of objects is a table; anything else
// is only checked to be valid JSON. Larger documents are not parsed.
type jsonParser struct {
	t       *table
	opts    *ProfileOptions
	buf     []byte
	size    int64
	over    bool
	skipped int64 // array elements not profiled
	total   int64 // array elements
}

func (p *jsonParser) write(b []byte) {
	p.size += int64(len(b))
	if p.over {
		return
	}
	if p.size > p.opts.MaxBuffer {
		p.over, p.buf = true, nil
		return
	}
	p.buf = append(p.buf, b...)
}

func (p *jsonParser) finish(prof *Profile) {
	if p.over {
		prof.Parseable = true
		prof.Sampling = fmt.Sprintf("larger than %d bytes: not parsed, size and entropy only", p.opts.MaxBuffer)
		return
	}
	b := p.buf
	i := skipSpace(b, 0)
	if i < len(b) && b[i] == '[' {
		if err := p.records(b, i); err != nil {
			prof.ParseError = err.Error()
			return
		}
		p.t.finish(prof)
		prof.Rows = p.total
		if p.skipped > 0 {
			prof.Sampling = fmt.Sprintf("first %d elements, then every %dth", p.opts.FullRows, jsonEvery)
		}
		prof.Parseable = true
		return
	}
	if end, _, err := scanValue(b, i, 0); err != nil || trailing(b, end) != nil {
		prof.ParseError = "invalid JSON"
		return
	}
	prof.Parseable = true
}

// jsonEvery is the sampling stride of large JSON arrays, in elements.
const jsonEvery = 16

// records profiles the objects of the top-level array that starts at b[i]:
// all of them up to FullRows, then every 16th.
func (p *jsonParser) records(b []byte, i int) error {
	j := skipSpace(b, i+1)
	if j < len(b) && b[j] == ']' {
		return trailing(b, j+1)
	}
	var n int64
	for {
		end, k, err := scanValue(b, j, 1)
		if err != nil {
			return fmt.Errorf("invalid JSON in element %d", n)
		}
		p.total++
		if n < int64(p.opts.FullRows) || n%jsonEvery == 0 {
			if k != kindNested || b[j] != '{' {
				p.t.bad++
			} else {
				p.t.profileJSON(b[j:end])
			}
		} else {
			p.skipped++
		}
		n++
		j = skipSpace(b, end)
		if j >= len(b) {
			return errors.New("unterminated JSON array")
		}
		if b[j] == ']' {
			return trailing(b, j+1)
		}
		if b[j] != ',' {
			return fmt.Errorf("invalid JSON after element %d", n)
		}
		j = skipSpace(b, j+1)
	}
}

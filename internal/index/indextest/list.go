package indextest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rhizome-data/rhizome/internal/index"
)

// model is the reference the listings are checked against: every version of
// one bucket, searched by brute force.
type model struct {
	versions []index.Version // key ascending, newest first within a key
}

func newModel(vs []index.Version) *model {
	m := &model{versions: slices.Clone(vs)}
	slices.SortFunc(m.versions, func(a, b index.Version) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	return m
}

// entry is one listed item: a version or a common prefix.
type entry struct {
	v      index.Version
	prefix string // set for a common prefix
}

func (e entry) name() string {
	if e.prefix != "" {
		return e.prefix
	}
	return e.v.Key
}

func rollup(key, prefix, delim string) string {
	if delim == "" {
		return ""
	}
	if i := strings.Index(key[len(prefix):], delim); i >= 0 {
		return key[:len(prefix)+i+len(delim)]
	}
	return ""
}

func pageLimit(n int) int {
	switch {
	case n <= 0:
		return index.DefaultLimit
	case n > index.MaxLimit:
		return index.MaxLimit
	}
	return n
}

// list is List by brute force.
func (m *model) list(o index.ListOptions) index.ListResult {
	var entries []entry
	for i, v := range m.versions {
		if i > 0 && m.versions[i-1].Key == v.Key {
			continue // one visit per key
		}
		if !strings.HasPrefix(v.Key, o.Prefix) || (o.StartAfter != "" && v.Key <= o.StartAfter) {
			continue
		}
		cur, ok := m.latest(i, o.AsOf)
		if !ok || cur.DeleteMarker {
			continue
		}
		if cp := rollup(v.Key, o.Prefix, o.Delimiter); cp != "" {
			if cp == o.StartAfter || (len(entries) > 0 && entries[len(entries)-1].prefix == cp) {
				continue
			}
			entries = append(entries, entry{prefix: cp})
			continue
		}
		entries = append(entries, entry{v: cur})
	}
	var r index.ListResult
	if n := pageLimit(o.Limit); len(entries) > n {
		entries = entries[:n]
		r.Truncated, r.Next = true, entries[n-1].name()
	}
	for _, e := range entries {
		if e.prefix != "" {
			r.CommonPrefixes = append(r.CommonPrefixes, e.prefix)
		} else {
			r.Versions = append(r.Versions, e.v)
		}
	}
	return r
}

// latest returns the current version, as of asOf, of the key whose first
// (newest) version is m.versions[i].
func (m *model) latest(i int, asOf time.Time) (index.Version, bool) {
	for j := i; j < len(m.versions) && m.versions[j].Key == m.versions[i].Key; j++ {
		v := m.versions[j]
		if !v.Quarantined && (asOf.IsZero() || !v.Time.After(asOf)) {
			return v, true
		}
	}
	return index.Version{}, false
}

// listVersions is ListVersions by brute force.
func (m *model) listVersions(o index.ListVersionsOptions) index.ListVersionsResult {
	var entries []entry
	for _, v := range m.versions {
		if !strings.HasPrefix(v.Key, o.Prefix) || (!o.AsOf.IsZero() && v.Time.After(o.AsOf)) {
			continue
		}
		if o.KeyMarker != "" {
			if v.Key < o.KeyMarker || (v.Key == o.KeyMarker && (o.VersionIDMarker == "" || v.ID >= o.VersionIDMarker)) {
				continue
			}
		}
		if cp := rollup(v.Key, o.Prefix, o.Delimiter); cp != "" {
			if cp == o.KeyMarker || (len(entries) > 0 && entries[len(entries)-1].prefix == cp) {
				continue
			}
			entries = append(entries, entry{prefix: cp})
			continue
		}
		entries = append(entries, entry{v: v})
	}
	var r index.ListVersionsResult
	if n := pageLimit(o.Limit); len(entries) > n {
		entries = entries[:n]
		r.Truncated, r.NextKeyMarker = true, entries[n-1].name()
		if entries[n-1].prefix == "" {
			r.NextVersionIDMarker = entries[n-1].v.ID
		}
	}
	for _, e := range entries {
		if e.prefix != "" {
			r.CommonPrefixes = append(r.CommonPrefixes, e.prefix)
		} else {
			r.Versions = append(r.Versions, e.v)
		}
	}
	return r
}

// stats is Stats by brute force, for one bucket.
func (m *model) stats() index.Stats {
	s := index.Stats{Buckets: 1, ByShards: map[int]int64{}}
	for i, v := range m.versions {
		s.Versions++
		s.LogicalBytes += v.Size
		if v.DeleteMarker {
			s.DeleteMarkers++
		} else {
			s.ByShards[v.Shards]++
		}
		if i > 0 && m.versions[i-1].Key == v.Key {
			continue
		}
		if cur, ok := m.latest(i, time.Time{}); ok && !cur.DeleteMarker {
			s.Keys++
			s.CurrentBytes += cur.Size
		}
	}
	return s
}

// keys returns the distinct keys, in order.
func (m *model) keys() []string {
	var ks []string
	for i, v := range m.versions {
		if i == 0 || m.versions[i-1].Key != v.Key {
			ks = append(ks, v.Key)
		}
	}
	return ks
}

// listData makes the listing fixture: 2,500 keys under nested prefixes, each
// with one to four versions over 100 hours, some deleted (a whole prefix,
// "dead/", among them), some with a quarantined newest version, plus keys
// that stress byte order.
func listData(bucket string) []index.Version {
	rng := rand.New(rand.NewPCG(7, 8))
	var keys []string
	for i := range 1500 {
		keys = append(keys, fmt.Sprintf("d%02d/s%d/f%04d", i%12, i%5, i))
	}
	for i := range 500 {
		keys = append(keys, fmt.Sprintf("d%02d/f%04d", i%12, i))
	}
	for i := range 292 {
		keys = append(keys, fmt.Sprintf("k%04d", i))
	}
	for i := range 100 {
		keys = append(keys, fmt.Sprintf("deep/a/b/c/d/e%02d", i))
	}
	for i := range 80 {
		keys = append(keys, fmt.Sprintf("dead/x%02d", i)) // all deleted at minute 6000
	}
	keys = append(keys,
		"d05", "d05-dash", "d05.dot", "d05/", "d05//double", "d05/s1/", "d05/s1//x",
		"/leading", "a/b", "a/bc", "a/b/c", "s", "ss/s", "ss/ss",
		"é/x", "é/y", "é", "日本/語", "日本/", "😀", "😀/x", "z\U0010ffff", "z\U0010ffff/x", "z\U0010ffff\U0010ffff",
		"~tilde", "\u007f/del", "A/upper", "0/digit",
	)
	if len(keys) != 2500 {
		panic(fmt.Sprintf("listData: %d keys, want 2500", len(keys)))
	}
	var vs []index.Version
	for _, k := range keys {
		n := 1 + rng.IntN(4)
		times := make([]int, n)
		for i := range times {
			times[i] = rng.IntN(6000)
		}
		slices.Sort(times)
		for i, m := range times {
			var v index.Version
			switch {
			case strings.HasPrefix(k, "dead/") && i == n-1:
				v = marker(bucket, k, minute(6000))
			case rng.IntN(8) == 0:
				v = marker(bucket, k, minute(m))
			default:
				v = object(bucket, k, minute(m))
				v.Shards = 4 + rng.IntN(3)
			}
			v.Quarantined = i == n-1 && n > 1 && rng.IntN(10) == 0 && !strings.HasPrefix(k, "dead/")
			vs = append(vs, v)
		}
	}
	return vs
}

// pageCase is one way of listing, paginated until the end or maxPages.
type pageCase struct {
	prefix, delim, start string
	limit                int
	asOf                 time.Time
	maxPages             int
}

func (c pageCase) String() string {
	at := "now"
	if !c.asOf.IsZero() {
		at = c.asOf.Sub(t0).String()
	}
	return fmt.Sprintf("prefix=%q delim=%q start=%q limit=%d asOf=%s", c.prefix, c.delim, c.start, c.limit, at)
}

func testList(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	mustCreateBucket(t, ix, "b")
	mustCreateBucket(t, ix, "other")
	data := listData("b")
	putAll(t, ix, data, 16)
	others := []index.Version{object("other", "d00/s0/f0000", minute(1)), object("other", "zzz", minute(1))}
	mustPut(t, ix, others...)
	m := newModel(data)

	var cases []pageCase
	asOfs := []time.Time{{}, minute(1500), minute(5999), minute(-1)}
	for _, prefix := range []string{"", "d0", "d05/", "d05/s1/", "deep/", "dead/", "é", "z\U0010ffff", "nothing"} {
		for _, delim := range []string{"", "/", "s", "/f"} {
			for _, limit := range []int{0, 1, 3, 250} {
				for _, asOf := range asOfs {
					cases = append(cases, pageCase{prefix: prefix, delim: delim, limit: limit, asOf: asOf, maxPages: 40})
				}
			}
		}
	}
	// StartAfter: a key, a common prefix, keys that do not exist, before
	// and after the prefix.
	for _, start := range []string{"d03/s2/f0500", "d03/", "d03/s2/", "d03", "a", "k0100", "zzz", "d05/s1/f", "dead/"} {
		for _, c := range []pageCase{
			{delim: "/", limit: 5},
			{delim: "", limit: 100},
			{prefix: "d03/", delim: "/", limit: 2},
			{prefix: "d0", delim: "/", limit: 1000},
			{delim: "/", limit: 4, asOf: minute(3000)},
		} {
			c.start, c.maxPages = start, 20
			cases = append(cases, c)
		}
	}
	// Everything, one page.
	cases = append(cases, pageCase{limit: index.MaxLimit, maxPages: 1}, pageCase{limit: 1 << 30, maxPages: 1})

	for _, c := range cases {
		o := index.ListOptions{Bucket: "b", Prefix: c.prefix, Delimiter: c.delim, StartAfter: c.start, Limit: c.limit, AsOf: c.asOf}
		for page := 0; page < c.maxPages; page++ {
			got, err := ix.List(ctxT(t), o)
			if err != nil {
				t.Fatalf("%v page %d: List() = %v", c, page, err)
			}
			want := m.list(o)
			if !checkListPage(t, fmt.Sprintf("%v page %d (StartAfter %q)", c, page, o.StartAfter), got, want) || !got.Truncated {
				break
			}
			o.StartAfter = got.Next
		}
	}

	// A full walk, one key per page across common prefixes, sees every
	// entry once.
	o := index.ListOptions{Bucket: "b", Delimiter: "/", Limit: 1}
	var walked []string
	for range len(data) + 1 {
		res, err := ix.List(ctxT(t), o)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range res.Versions {
			walked = append(walked, v.Key)
		}
		walked = append(walked, res.CommonPrefixes...)
		if !res.Truncated {
			break
		}
		o.StartAfter = res.Next
	}
	all := m.list(index.ListOptions{Delimiter: "/", Limit: index.MaxLimit})
	var want []string
	for _, v := range all.Versions {
		want = append(want, v.Key)
	}
	want = append(want, all.CommonPrefixes...)
	slices.Sort(walked)
	slices.Sort(want)
	if !slices.Equal(walked, want) {
		t.Errorf("walking one entry per page gives %d entries %q; want %d %q", len(walked), walked, len(want), want)
	}
	if slices.Contains(want, "dead/") {
		t.Errorf("fixture broken: dead/ should not be listed now")
	}

	ws := m.stats()
	o2 := newModel(others).stats()
	ws.Buckets += o2.Buckets
	ws.Keys += o2.Keys
	ws.Versions += o2.Versions
	ws.DeleteMarkers += o2.DeleteMarkers
	ws.LogicalBytes += o2.LogicalBytes
	ws.CurrentBytes += o2.CurrentBytes
	for k, n := range o2.ByShards {
		ws.ByShards[k] += n
	}
	checkStats(t, "Stats() over the listing fixture", mustStats(t, ix), ws)
}

func mustStats(t testing.TB, ix index.Index) index.Stats {
	t.Helper()
	s, err := ix.Stats(ctxT(t))
	if err != nil {
		t.Fatalf("Stats() = %v", err)
	}
	return s
}

// checkListPage compares one List page with the model's and reports whether
// they match.
func checkListPage(t testing.TB, what string, got, want index.ListResult) bool {
	t.Helper()
	ok := true
	if !slices.Equal(got.CommonPrefixes, want.CommonPrefixes) {
		t.Errorf("%s: CommonPrefixes = %q; want %q", what, got.CommonPrefixes, want.CommonPrefixes)
		ok = false
	}
	if got.Truncated != want.Truncated || got.Next != want.Next {
		t.Errorf("%s: Truncated, Next = %v, %q; want %v, %q", what, got.Truncated, got.Next, want.Truncated, want.Next)
		ok = false
	}
	if len(got.Versions) != len(want.Versions) {
		t.Errorf("%s: Versions = %v; want %v", what, names(got.Versions), names(want.Versions))
		return false
	}
	for i := range got.Versions {
		if d := diffVersion(got.Versions[i], want.Versions[i]); d != "" {
			t.Errorf("%s: Versions[%d]: %s", what, i, d)
			return false
		}
	}
	return ok
}

// testListEdgeCases: small listings whose answers are written out by hand,
// so that the model above is checked too.
func testListEdgeCases(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	mustCreateBucket(t, ix, "b")
	keys := []string{"a", "a/", "a/1", "a/2", "a/b/1", "ab", "b/1", "b/2", "c", "é/1", "😀"}
	var vs []index.Version
	for _, k := range keys {
		vs = append(vs, object("b", k, minute(1)))
	}
	vs = append(vs, marker("b", "b/1", minute(2)), marker("b", "b/2", minute(2))) // b/ is all deleted
	putAll(t, ix, vs, 4)

	tests := []struct {
		o        index.ListOptions
		keys     []string
		prefixes []string
		next     string // "" unless truncated
	}{
		{index.ListOptions{}, []string{"a", "a/", "a/1", "a/2", "a/b/1", "ab", "c", "é/1", "😀"}, nil, ""},
		{index.ListOptions{Delimiter: "/"}, []string{"a", "ab", "c", "😀"}, []string{"a/", "é/"}, ""},
		{index.ListOptions{Delimiter: "/", AsOf: minute(1)}, []string{"a", "ab", "c", "😀"}, []string{"a/", "b/", "é/"}, ""},
		{index.ListOptions{Delimiter: "/", Limit: 2}, []string{"a"}, []string{"a/"}, "a/"},
		{index.ListOptions{Delimiter: "/", Limit: 2, StartAfter: "a/"}, []string{"ab", "c"}, nil, "c"},
		{index.ListOptions{Delimiter: "/", StartAfter: "a/1"}, []string{"ab", "c", "😀"}, []string{"a/", "é/"}, ""},
		{index.ListOptions{Prefix: "a/", Delimiter: "/"}, []string{"a/", "a/1", "a/2"}, []string{"a/b/"}, ""},
		{index.ListOptions{Prefix: "a", Delimiter: "/"}, []string{"a", "ab"}, []string{"a/"}, ""},
		{index.ListOptions{Prefix: "a", Delimiter: "b"}, []string{"a", "a/", "a/1", "a/2"}, []string{"a/b", "ab"}, ""},
		{index.ListOptions{Delimiter: "a/"}, []string{"a", "ab", "c", "é/1", "😀"}, []string{"a/"}, ""},
		{index.ListOptions{Prefix: "b/"}, nil, nil, ""},
		{index.ListOptions{Prefix: "a/", StartAfter: "a"}, []string{"a/", "a/1", "a/2", "a/b/1"}, nil, ""},
		{index.ListOptions{Prefix: "a/", StartAfter: "b"}, nil, nil, ""},
		{index.ListOptions{StartAfter: "c", Limit: 1}, []string{"é/1"}, nil, "é/1"},
		{index.ListOptions{Delimiter: "/", StartAfter: "é/"}, []string{"😀"}, nil, ""},
	}
	m := newModel(vs)
	for _, tt := range tests {
		tt.o.Bucket = "b"
		want := index.ListResult{CommonPrefixes: tt.prefixes, Truncated: tt.next != "", Next: tt.next}
		for _, k := range tt.keys {
			i := slices.IndexFunc(vs, func(v index.Version) bool { return v.Key == k && !v.DeleteMarker })
			want.Versions = append(want.Versions, vs[i])
		}
		what := fmt.Sprintf("List(prefix=%q delim=%q start=%q limit=%d asOf=%v)", tt.o.Prefix, tt.o.Delimiter, tt.o.StartAfter, tt.o.Limit, tt.o.AsOf)
		checkListPage(t, what+" [model]", m.list(tt.o), want)
		got, err := ix.List(ctxT(t), tt.o)
		if err != nil {
			t.Errorf("%s = %v", what, err)
			continue
		}
		checkListPage(t, what, got, want)
	}
}

func testListVersions(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	mustCreateBucket(t, ix, "b")
	rng := rand.New(rand.NewPCG(9, 10))
	var vs []index.Version
	for i := range 300 {
		key := fmt.Sprintf("p%d/q%d/k%03d", i%4, i%3, i)
		if i%10 == 0 {
			key = fmt.Sprintf("top%03d", i)
		}
		n := 1 + rng.IntN(6)
		for j := range n {
			var v index.Version
			if rng.IntN(4) == 0 {
				v = marker("b", key, minute(j*10+rng.IntN(10)))
			} else {
				v = object("b", key, minute(j*10+rng.IntN(10)))
			}
			v.Quarantined = rng.IntN(12) == 0
			vs = append(vs, v)
		}
	}
	putAll(t, ix, vs, 16)
	m := newModel(vs)
	keys := m.keys()

	type lvCase struct {
		prefix, delim, keyMarker, idMarker string
		limit                              int
		asOf                               time.Time
	}
	var cases []lvCase
	for _, prefix := range []string{"", "p1/", "p2/q0/", "top", "nothing"} {
		for _, delim := range []string{"", "/"} {
			for _, limit := range []int{0, 1, 7, 100} {
				cases = append(cases, lvCase{prefix: prefix, delim: delim, limit: limit})
			}
			// As of a past instant: only older versions, and only the
			// common prefixes that held one then.
			for _, asOf := range []time.Time{minute(0), minute(4), minute(15), minute(35)} {
				cases = append(cases, lvCase{prefix: prefix, delim: delim, limit: 3, asOf: asOf})
			}
		}
	}
	// Markers: a key alone, a key and one of its version IDs (newest,
	// middle, oldest, not one of them), a common prefix, keys that do not
	// exist.
	mid := m.versions[len(m.versions)/2]
	var ofMid []index.Version
	for _, v := range m.versions {
		if v.Key == mid.Key {
			ofMid = append(ofMid, v)
		}
	}
	for _, c := range []lvCase{
		{keyMarker: mid.Key},
		{keyMarker: mid.Key, idMarker: ofMid[0].ID},
		{keyMarker: mid.Key, idMarker: ofMid[len(ofMid)/2].ID},
		{keyMarker: mid.Key, idMarker: ofMid[len(ofMid)-1].ID},
		{keyMarker: mid.Key, idMarker: versionID(minute(5), 1)},
		{keyMarker: mid.Key, idMarker: ofMid[0].ID, delim: "/"},
		{keyMarker: mid.Key, idMarker: ofMid[0].ID, delim: "/", prefix: mid.Key[:3]},
		{keyMarker: "p1/", delim: "/"},
		{keyMarker: "p1/", idMarker: versionID(minute(5), 1), delim: "/"},
		{keyMarker: keys[0]},
		{keyMarker: keys[len(keys)-1]},
		{keyMarker: "a"},
		{keyMarker: "zzz"},
		{keyMarker: "p3/q1/", prefix: "p3/", delim: "/"},
		{keyMarker: mid.Key, idMarker: ofMid[0].ID, asOf: minute(25)},
		{keyMarker: "p1/", delim: "/", asOf: minute(5)},
	} {
		for _, limit := range []int{1, 5, 1000} {
			c.limit = limit
			cases = append(cases, c)
		}
	}
	for _, c := range cases {
		o := index.ListVersionsOptions{Bucket: "b", Prefix: c.prefix, Delimiter: c.delim, KeyMarker: c.keyMarker, VersionIDMarker: c.idMarker, Limit: c.limit, AsOf: c.asOf}
		for page := 0; page < 60; page++ {
			got, err := ix.ListVersions(ctxT(t), o)
			what := fmt.Sprintf("ListVersions(%+v) page %d", o, page)
			if err != nil {
				t.Fatalf("%s = %v", what, err)
			}
			want := m.listVersions(o)
			if !checkListVersionsPage(t, what, got, want) || !got.Truncated {
				break
			}
			o.KeyMarker, o.VersionIDMarker = got.NextKeyMarker, got.NextVersionIDMarker
		}
	}

	// Walking every version one page at a time visits each exactly once.
	o := index.ListVersionsOptions{Bucket: "b", Limit: 1}
	var walked []index.Version
	for range len(vs) + 1 {
		res, err := ix.ListVersions(ctxT(t), o)
		if err != nil {
			t.Fatal(err)
		}
		walked = append(walked, res.Versions...)
		if !res.Truncated {
			break
		}
		o.KeyMarker, o.VersionIDMarker = res.NextKeyMarker, res.NextVersionIDMarker
	}
	checkVersions(t, "ListVersions() one version per page", walked, m.versions)
}

func checkListVersionsPage(t testing.TB, what string, got, want index.ListVersionsResult) bool {
	t.Helper()
	ok := true
	if !slices.Equal(got.CommonPrefixes, want.CommonPrefixes) {
		t.Errorf("%s: CommonPrefixes = %q; want %q", what, got.CommonPrefixes, want.CommonPrefixes)
		ok = false
	}
	if got.Truncated != want.Truncated || got.NextKeyMarker != want.NextKeyMarker || got.NextVersionIDMarker != want.NextVersionIDMarker {
		t.Errorf("%s: Truncated, NextKeyMarker, NextVersionIDMarker = %v, %q, %q; want %v, %q, %q", what,
			got.Truncated, got.NextKeyMarker, got.NextVersionIDMarker, want.Truncated, want.NextKeyMarker, want.NextVersionIDMarker)
		ok = false
	}
	if len(got.Versions) != len(want.Versions) {
		t.Errorf("%s: Versions = %v; want %v", what, names(got.Versions), names(want.Versions))
		return false
	}
	for i := range got.Versions {
		if d := diffVersion(got.Versions[i], want.Versions[i]); d != "" {
			t.Errorf("%s: Versions[%d]: %s", what, i, d)
			return false
		}
	}
	return ok
}

// testRandomHistory applies a random mix of writes, quarantines, approvals and
// permanent deletions, out of time order, and checks every read against the
// model after each burst.
func testRandomHistory(t *testing.T, open func(t *testing.T) index.Index) {
	ix := open(t)
	ctx := ctxT(t)
	mustCreateBucket(t, ix, "b")
	rng := rand.New(rand.NewPCG(11, 12))
	var keys []string
	for i := range 40 {
		keys = append(keys, fmt.Sprintf("%c/%02d", 'a'+i%3, i))
	}
	live := map[string]index.Version{} // by ID
	pick := func() (index.Version, bool) {
		if len(live) == 0 {
			return index.Version{}, false
		}
		ids := make([]string, 0, len(live))
		for id := range live {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		return live[ids[rng.IntN(len(ids))]], true
	}
	for burst := range 12 {
		for range 40 {
			switch op := rng.IntN(10); {
			case op < 6: // a write, at any time (clocks and retries are not ordered)
				k := keys[rng.IntN(len(keys))]
				v := object("b", k, minute(rng.IntN(1000)))
				if rng.IntN(4) == 0 {
					v = marker("b", k, minute(rng.IntN(1000)))
				}
				mustPut(t, ix, v)
				live[v.ID] = v
			case op < 8: // quarantine or approve
				v, ok := pick()
				if !ok {
					continue
				}
				q := !v.Quarantined
				if err := ix.UpdateVersion(ctx, "b", v.Key, v.ID, func(c *index.Version) error { c.Quarantined = q; return nil }); err != nil {
					t.Fatalf("UpdateVersion() = %v", err)
				}
				v.Quarantined = q
				live[v.ID] = v
			default: // permanent deletion
				v, ok := pick()
				if !ok {
					continue
				}
				if err := ix.DeleteVersion(ctx, "b", v.Key, v.ID); err != nil {
					t.Fatalf("DeleteVersion() = %v", err)
				}
				delete(live, v.ID)
			}
		}

		var all []index.Version
		for _, v := range live {
			all = append(all, v)
		}
		m := newModel(all)
		for _, asOf := range []time.Time{{}, minute(500)} {
			for _, o := range []index.ListOptions{{}, {Delimiter: "/"}, {Prefix: "b/"}, {Limit: 7}} {
				o.Bucket, o.AsOf = "b", asOf
				got, err := ix.List(ctx, o)
				if err != nil {
					t.Fatalf("List() = %v", err)
				}
				checkListPage(t, fmt.Sprintf("burst %d: List(%+v)", burst, o), got, m.list(o))
			}
			for _, k := range keys {
				got, err := ix.Latest(ctx, "b", k, asOf)
				i := slices.IndexFunc(m.versions, func(v index.Version) bool { return v.Key == k })
				want, ok := index.Version{}, false
				if i >= 0 {
					want, ok = m.latest(i, asOf)
				}
				switch {
				case !ok:
					checkErr(t, fmt.Sprintf("burst %d: Latest(%s, %v)", burst, k, asOf), err, index.ErrNoSuchKey)
				case err != nil:
					t.Errorf("burst %d: Latest(%s, %v) = %v", burst, k, asOf, err)
				default:
					checkVersion(t, fmt.Sprintf("burst %d: Latest(%s, %v)", burst, k, asOf), got, want)
				}
			}
		}
		lv, err := ix.ListVersions(ctx, index.ListVersionsOptions{Bucket: "b"})
		if err != nil {
			t.Fatal(err)
		}
		checkListVersionsPage(t, fmt.Sprintf("burst %d: ListVersions()", burst), lv, m.listVersions(index.ListVersionsOptions{}))
		checkStats(t, fmt.Sprintf("burst %d: Stats()", burst), mustStats(t, ix), m.stats())
		if t.Failed() {
			return
		}
	}
}

package s3xml_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
)

func marshal(t *testing.T, v any) string {
	t.Helper()
	b, err := s3xml.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%T): %v", v, err)
	}
	return string(b)
}

func TestMarshalShape(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want []string // substrings, in this order
	}{
		{"declaration and namespace", s3xml.InitiateMultipartUploadResult{Bucket: "b", Key: "k", UploadId: "u"}, []string{
			`<?xml version="1.0" encoding="UTF-8"?>`,
			`<InitiateMultipartUploadResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Key>k</Key><UploadId>u</UploadId></InitiateMultipartUploadResult>`,
		}},
		{"time with milliseconds in UTC", s3xml.CopyObjectResult{LastModified: s3xml.Time(t1), ETag: `"e"`}, []string{
			`<LastModified>2026-03-01T12:30:45.123Z</LastModified>`, `<ETag>&#34;e&#34;</ETag>`,
		}},
		{"empty v1 fields S3 always sends", s3xml.ListBucketResult{Name: "b", MaxKeys: 1000}, []string{
			`<Name>b</Name><Prefix></Prefix><Marker></Marker><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>`,
		}},
		{"v2 key count", s3xml.ListBucketV2Result{Name: "b", KeyCount: 0, MaxKeys: 1}, []string{`<KeyCount>0</KeyCount>`}},
		{"common prefixes", s3xml.ListBucketV2Result{CommonPrefixes: []s3xml.CommonPrefix{{"a/"}, {"b/"}}}, []string{
			`<CommonPrefixes><Prefix>a/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>b/</Prefix></CommonPrefixes>`,
		}},
		{"buckets wrapper", s3xml.ListAllMyBucketsResult{Buckets: []s3xml.Bucket{{Name: "x"}}}, []string{`<Buckets><Bucket><Name>x</Name>`}},
		{"location us-east-1", s3xml.LocationConstraint{}, []string{`<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></LocationConstraint>`}},
		{"versioning namespace", s3xml.VersioningConfiguration{Status: "Enabled"}, []string{
			`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>`,
		}},
		{"versioning never enabled", s3xml.VersioningConfiguration{}, []string{`<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></VersioningConfiguration>`}},
		{"error without namespace, extras in order", s3xml.Error{Code: "NoSuchKey", Message: "m <&>", Resource: "/b/k", RequestId: "r",
			Extra: []s3xml.Field{s3xml.NewField("Key", "k"), s3xml.NewField("BucketName", "b")}}, []string{
			`<Error><Code>NoSuchKey</Code><Message>m &lt;&amp;&gt;</Message><Resource>/b/k</Resource><RequestId>r</RequestId><Key>k</Key><BucketName>b</BucketName></Error>`,
		}},
		{"versions interleaved", versionsFixture(), []string{
			`<IsTruncated>true</IsTruncated>`,
			`<DeleteMarker><Key>a</Key><VersionId>v3</VersionId><IsLatest>true</IsLatest>`,
			`<Version><Key>a</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest>`,
			`<Version><Key>b c</Key>`,
			`<DeleteMarker><Key>d</Key>`,
			`<Version><Key>d</Key><VersionId>null</VersionId>`,
			`<CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes></ListVersionsResult>`,
		}},
		{"control characters replaced", s3xml.ListBucketV2Result{Contents: []s3xml.Object{{Key: "a\x01b\tc"}}}, []string{"<Key>a\uFFFDb&#x9;c</Key>"}},
		{"checksums omitted when empty", s3xml.CompleteMultipartUploadResult{ETag: `"e"`}, []string{`<ETag>&#34;e&#34;</ETag></CompleteMultipartUploadResult>`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := marshal(t, tt.v)
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("Marshal = %s\nwant, in order, %q", got, w)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}

func TestListVersionsRoundTrip(t *testing.T) {
	want := versionsFixture()
	var got s3xml.ListVersionsResult
	if err := xml.Unmarshal([]byte(marshal(t, want)), &got); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	got.XMLName, want.XMLName = xml.Name{}, xml.Name{}
	if len(got.Versions) != len(want.Versions) {
		t.Fatalf("%d entries; want %d", len(got.Versions), len(want.Versions))
	}
	for i := range want.Versions {
		g, w := got.Versions[i], want.Versions[i]
		if reflect.TypeOf(g) != reflect.TypeOf(w) {
			t.Fatalf("entry %d is %T; want %T (order lost)", i, g, w)
		}
		// Compare via encoding: times carry millisecond precision only.
		if a, b := marshalEntry(t, g), marshalEntry(t, w); a != b {
			t.Errorf("entry %d = %s; want %s", i, a, b)
		}
	}
	if got.NextVersionIdMarker != "v9" || !got.IsTruncated || len(got.CommonPrefixes) != 1 {
		t.Errorf("header fields = %+v", got)
	}

	// Entries in a prefixed namespace decode too.
	prefixed := `<s3:ListVersionsResult xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Name>b</s3:Name>` +
		`<s3:DeleteMarker><s3:Key>x</s3:Key></s3:DeleteMarker><s3:Version><s3:Key>y</s3:Key><s3:Size>3</s3:Size></s3:Version></s3:ListVersionsResult>`
	var p s3xml.ListVersionsResult
	if err := xml.Unmarshal([]byte(prefixed), &p); err != nil {
		t.Fatalf("Unmarshal(prefixed): %v", err)
	}
	if len(p.Versions) != 2 || p.Versions[0].(*s3xml.DeleteMarker).Key != "x" || p.Versions[1].(*s3xml.Version).Size != 3 {
		t.Errorf("prefixed entries = %+v", p.Versions)
	}
}

func marshalEntry(t *testing.T, v s3xml.VersionEntry) string {
	t.Helper()
	b, err := xml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMarshalNilVersionEntry(t *testing.T) {
	for _, e := range []s3xml.VersionEntry{nil, (*s3xml.Version)(nil), (*s3xml.DeleteMarker)(nil)} {
		if _, err := s3xml.Marshal(s3xml.ListVersionsResult{Versions: []s3xml.VersionEntry{e}}); err == nil {
			t.Errorf("Marshal with entry %#v succeeded; want an error", e)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	const del = `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key></Object></Delete>`
	tests := []struct {
		name  string
		body  string
		limit int64
		want  error
	}{
		{"empty", "", 0, s3xml.ErrMalformedXML},
		{"whitespace only", " \n\t ", 0, s3xml.ErrMalformedXML},
		{"not xml", "Delete me", 0, s3xml.ErrMalformedXML},
		{"unclosed", `<Delete><Object><Key>k</Key></Object>`, 0, s3xml.ErrMalformedXML},
		{"mismatched tags", `<Delete><Object><Key>k</Object></Key></Delete>`, 0, s3xml.ErrMalformedXML},
		{"wrong root", `<Remove><Object><Key>k</Key></Object></Remove>`, 0, s3xml.ErrMalformedXML},
		{"two roots", del + del, 0, s3xml.ErrMalformedXML},
		{"text after root", del + "junk", 0, s3xml.ErrMalformedXML},
		{"doctype", `<!DOCTYPE Delete><Delete><Object><Key>k</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"external entity", `<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><Delete><Object><Key>&x;</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"billion laughs", `<!DOCTYPE d [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"undefined entity", `<Delete><Object><Key>&nbsp;</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"directive inside", `<Delete><!DOCTYPE x><Object><Key>k</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"processing instruction", `<?xml-stylesheet href="x"?>` + del, 0, s3xml.ErrMalformedXML},
		{"foreign encoding", `<?xml version="1.0" encoding="ISO-8859-1"?>` + del, 0, s3xml.ErrMalformedXML},
		{"invalid utf-8", "<Delete><Object><Key>\xff</Key></Object></Delete>", 0, s3xml.ErrMalformedXML},
		{"bad bool", `<Delete><Quiet>maybe</Quiet><Object><Key>k</Key></Object></Delete>`, 0, s3xml.ErrMalformedXML},
		{"too deep", strings.Repeat("<a>", 40) + strings.Repeat("</a>", 40), 0, s3xml.ErrMalformedXML},
		{"over the limit", del, int64(len(del) - 1), s3xml.ErrMaxMessageLengthExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d s3xml.Delete
			err := s3xml.Decode(strings.NewReader(tt.body), tt.limit, &d)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode(%q) = %v; want %v", tt.body, err, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "s3xml: ") {
				t.Errorf("error %q does not start with the package name", err)
			}
		})
	}

	var cmu s3xml.CompleteMultipartUpload
	err := s3xml.Decode(strings.NewReader(`<CompleteMultipartUpload><Part><PartNumber>one</PartNumber></Part></CompleteMultipartUpload>`), 0, &cmu)
	if code, _ := s3xml.Code(err); code != "MalformedXML" {
		t.Errorf("Decode(PartNumber one) = %v (code %q); want MalformedXML", err, code)
	}
	var d s3xml.Delete
	if err := s3xml.Decode(strings.NewReader(del), int64(len(del)), &d); err != nil {
		t.Errorf("Decode at exactly the limit = %v; want success", err)
	}
	if err := s3xml.Decode(iotest.ErrReader(errors.New("connection reset")), 0, &d); err == nil || errors.Is(err, s3xml.ErrMalformedXML) {
		t.Errorf("Decode of a failing reader = %v; want the read error, not MalformedXML", err)
	}
}

func TestDecodeAcceptsNamespaces(t *testing.T) {
	for _, body := range []string{
		`<Delete><Object><Key>k</Key></Object></Delete>`,
		`<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>k</Key></Object></Delete>` + "\n",
		`<s3:Delete xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><s3:Object><s3:Key>k</s3:Key></s3:Object></s3:Delete>`,
		`<!-- comment --><Delete><Object><Key>k</Key><VersionId></VersionId></Object></Delete><!-- trailing -->`,
	} {
		var d s3xml.Delete
		if err := s3xml.Decode(strings.NewReader(body), 0, &d); err != nil || len(d.Objects) != 1 || d.Objects[0].Key != "k" {
			t.Errorf("Decode(%q) = %+v, %v; want one object k", body, d, err)
		}
	}
}

func TestValidate(t *testing.T) {
	objs := func(n int) []s3xml.ObjectToDelete {
		o := make([]s3xml.ObjectToDelete, n)
		for i := range o {
			o[i].Key = "k"
		}
		return o
	}
	for _, tt := range []struct {
		name string
		d    s3xml.Delete
		ok   bool
	}{
		{"one", s3xml.Delete{Objects: objs(1)}, true},
		{"1000", s3xml.Delete{Objects: objs(1000)}, true},
		{"none", s3xml.Delete{}, false},
		{"1001", s3xml.Delete{Objects: objs(1001)}, false},
		{"empty key", s3xml.Delete{Objects: []s3xml.ObjectToDelete{{Key: "a"}, {Key: ""}}}, false},
	} {
		err := tt.d.Validate()
		if (err == nil) != tt.ok || (err != nil && !errors.Is(err, s3xml.ErrMalformedXML)) {
			t.Errorf("Delete %s: Validate = %v; want ok=%v or MalformedXML", tt.name, err, tt.ok)
		}
	}

	part := func(n int) s3xml.CompletedPart { return s3xml.CompletedPart{PartNumber: n, ETag: `"e"`} }
	for _, tt := range []struct {
		name  string
		parts []s3xml.CompletedPart
		want  error
		code  string
	}{
		{"ascending", []s3xml.CompletedPart{part(1), part(3), part(10000)}, nil, ""},
		{"no parts", nil, s3xml.ErrMalformedXML, "MalformedXML"},
		{"zero", []s3xml.CompletedPart{part(0)}, s3xml.ErrInvalidPartNumber, "InvalidArgument"},
		{"10001", []s3xml.CompletedPart{part(10001)}, s3xml.ErrInvalidPartNumber, "InvalidArgument"},
		{"descending", []s3xml.CompletedPart{part(2), part(1)}, s3xml.ErrInvalidPartOrder, "InvalidPartOrder"},
		{"repeated", []s3xml.CompletedPart{part(1), part(1)}, s3xml.ErrInvalidPartOrder, "InvalidPartOrder"},
		{"no etag", []s3xml.CompletedPart{{PartNumber: 1}}, s3xml.ErrMalformedXML, "MalformedXML"},
	} {
		c := s3xml.CompleteMultipartUpload{Parts: tt.parts}
		err := c.Validate()
		if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
			t.Errorf("CompleteMultipartUpload %s: Validate = %v; want %v", tt.name, err, tt.want)
		}
		if code, _ := s3xml.Code(err); code != tt.code {
			t.Errorf("CompleteMultipartUpload %s: Code = %q; want %q", tt.name, code, tt.code)
		}
	}
}

func TestEncodeName(t *testing.T) {
	for in, want := range map[string]string{
		"plain/key.txt": "plain/key.txt",
		"a b+c":         "a%20b%2Bc",
		"ü":             "%C3%BC",
		"~_-.":          "~_-.",
		"%2F&=?#":       "%252F%26%3D%3F%23",
		"\x01\n":        "%01%0A",
	} {
		if got := s3xml.EncodeName(in); got != want {
			t.Errorf("EncodeName(%q) = %q; want %q", in, got, want)
		}
	}
}

func TestCodeOther(t *testing.T) {
	if code, status := s3xml.Code(errors.New("x")); code != "" || status != 0 {
		t.Errorf("Code(other) = %q, %d; want empty", code, status)
	}
	if code, status := s3xml.Code(s3xml.ErrMaxMessageLengthExceeded); code != "MaxMessageLengthExceeded" || status != 400 {
		t.Errorf("Code(ErrMaxMessageLengthExceeded) = %q, %d", code, status)
	}
}

// roundTrip checks that a decoded request re-encodes to the same value.
func roundTrip[T any](t *testing.T, v *T, clearName func(*T)) {
	b, err := xml.Marshal(v)
	if err != nil {
		t.Fatalf("Marshal(%+v): %v", v, err)
	}
	var again T
	if err := s3xml.Decode(bytes.NewReader(b), int64(len(b))+1, &again); err != nil {
		t.Fatalf("re-decoding %q: %v", b, err)
	}
	clearName(v)
	clearName(&again)
	if !reflect.DeepEqual(*v, again) {
		t.Fatalf("round trip changed %+v into %+v", *v, again)
	}
}

func FuzzDecodeDelete(f *testing.F) {
	for _, s := range []string{
		`<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet><Object><Key>a</Key><VersionId>v</VersionId></Object><Object><Key>b&amp;c</Key></Object></Delete>`,
		`<Delete><Object><Key>ünï 😀</Key><ETag>"e"</ETag></Object></Delete>`,
		`<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet></Delete>`,
		`<!DOCTYPE x [<!ENTITY a "b">]><Delete/>`,
		`<Delete><Object><Key>&#x1F600;&#13;</Key></Object></Delete>`,
		`<Delete><Object>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d s3xml.Delete
		if err := s3xml.Decode(bytes.NewReader(body), 1<<16, &d); err != nil {
			if code, _ := s3xml.Code(err); code == "" {
				t.Fatalf("Decode error %v has no S3 code", err)
			}
			return
		}
		d.Validate()
		roundTrip(t, &d, func(d *s3xml.Delete) { d.XMLName = xml.Name{} })
	})
}

func FuzzDecodeCompleteMultipartUpload(f *testing.F) {
	for _, s := range []string{
		`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><ETag>"a"</ETag><PartNumber>1</PartNumber></Part><Part><ETag>"b"</ETag><PartNumber>2</PartNumber><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>-1</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber>99999999999999999999</PartNumber></Part></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload></CompleteMultipartUpload>`,
		`<CompleteMultipartUpload><Part><PartNumber> 7 </PartNumber></Part>`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var c s3xml.CompleteMultipartUpload
		if err := s3xml.Decode(bytes.NewReader(body), 1<<16, &c); err != nil {
			if code, _ := s3xml.Code(err); code == "" {
				t.Fatalf("Decode error %v has no S3 code", err)
			}
			return
		}
		if err := c.Validate(); err == nil {
			for i := 1; i < len(c.Parts); i++ {
				if c.Parts[i].PartNumber <= c.Parts[i-1].PartNumber {
					t.Fatalf("Validate accepted parts out of order: %+v", c.Parts)
				}
			}
		}
		roundTrip(t, &c, func(c *s3xml.CompleteMultipartUpload) { c.XMLName = xml.Name{} })
	})
}

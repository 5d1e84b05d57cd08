package s3xml_test

import (
	"encoding/xml"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/rhizome-data/rhizome/internal/s3api/s3xml"
)

// Versions and delete markers keep their order.
func ExampleListVersionsResult() {
	day := s3xml.Time(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	enc := xml.NewEncoder(os.Stdout)
	enc.Indent("", " ")
	enc.Encode(s3xml.ListVersionsResult{
		Name:    "photos",
		MaxKeys: 1000,
		Versions: []s3xml.VersionEntry{
			&s3xml.DeleteMarker{Key: "cat.jpg", VersionId: "v2", IsLatest: true, LastModified: day},
			&s3xml.Version{Key: "cat.jpg", VersionId: "v1", LastModified: day, ETag: `"3858f62230ac3c915f300c664312c63f"`, Size: 6, StorageClass: "STANDARD"},
		},
	})
	// Output:
	// <ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
	//  <Name>photos</Name>
	//  <Prefix></Prefix>
	//  <KeyMarker></KeyMarker>
	//  <VersionIdMarker></VersionIdMarker>
	//  <MaxKeys>1000</MaxKeys>
	//  <IsTruncated>false</IsTruncated>
	//  <DeleteMarker>
	//   <Key>cat.jpg</Key>
	//   <VersionId>v2</VersionId>
	//   <IsLatest>true</IsLatest>
	//   <LastModified>2026-01-02T03:04:05.000Z</LastModified>
	//  </DeleteMarker>
	//  <Version>
	//   <Key>cat.jpg</Key>
	//   <VersionId>v1</VersionId>
	//   <IsLatest>false</IsLatest>
	//   <LastModified>2026-01-02T03:04:05.000Z</LastModified>
	//   <ETag>&#34;3858f62230ac3c915f300c664312c63f&#34;</ETag>
	//   <Size>6</Size>
	//   <StorageClass>STANDARD</StorageClass>
	//  </Version>
	// </ListVersionsResult>
}

func ExampleDecode() {
	body := `<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>` +
		`<Object><Key>a.txt</Key></Object><Object><Key>b.txt</Key><VersionId>v1</VersionId></Object></Delete>`
	var d s3xml.Delete
	if err := s3xml.Decode(strings.NewReader(body), 0, &d); err != nil {
		fmt.Println(s3xml.Code(err))
		return
	}
	fmt.Println(d.Quiet, d.Objects, d.Validate())

	err := s3xml.Decode(strings.NewReader(`<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><Delete/>`), 0, &d)
	fmt.Println(s3xml.Code(err))
	// Output:
	// true [{a.txt  } {b.txt v1 }] <nil>
	// MalformedXML 400
}

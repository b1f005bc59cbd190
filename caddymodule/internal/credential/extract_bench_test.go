package credential

import (
	"net/http"
	"strings"
	"testing"
)

// BenchmarkExtractLongBearer measures reading an 800-byte bearer token,
// the size of a JWT with a few claims.
func BenchmarkExtractLongBearer(b *testing.B) {
	e := Extractor{APIKeyPrefix: "pcl", MaxLength: 8192}
	r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + strings.Repeat("eyJhbGciOi.", 72) + "sig"}}}
	b.ReportAllocs()
	for b.Loop() {
		if c, err := e.Extract(r); err != nil || c.Value == "" {
			b.Fatal(c, err)
		}
	}
}

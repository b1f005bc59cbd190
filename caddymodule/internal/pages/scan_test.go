package pages

import (
	"slices"
	"testing"
)

func TestStyleSpans(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		doc     string
		want    []string
		wantErr bool
	}{
		{name: "none", doc: "<p>styles</p><styles>x</styles>"},
		{name: "one", doc: "<style>a{}</style>", want: []string{"a{}"}},
		{name: "upper case and attributes", doc: `<STYLE MEDIA="x>y" nonce='a'>a{}</Style >b`, want: []string{"a{}"}},
		{name: "two", doc: "<style>a{}</style><p>x</p><style>\nb{}</style>", want: []string{"a{}", "\nb{}"}},
		{name: "end tag look-alike", doc: "<style>a{}</styles></style>", want: []string{"a{}</styles>"}},
		{name: "empty", doc: "<style></style>", want: []string{""}},
		{name: "unclosed element", doc: "<style>a{}", wantErr: true},
		{name: "unclosed tag", doc: `<style media="x`, wantErr: true},
		{name: "at the end", doc: "<style", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := styleElements(tt.doc)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("styleElements = %q, want %q", got, tt.want)
			}
		})
	}
}

package principal

import "testing"

func TestMethodValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		m    Method
		want bool
	}{
		{name: "api key", m: MethodAPIKey, want: true},
		{name: "jwt", m: MethodJWT, want: true},
		{name: "session", m: MethodSession, want: true},
		{name: "empty", m: "", want: false},
		{name: "unknown", m: "basic", want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.m.Valid(); got != tt.want {
				t.Fatalf("Method(%q).Valid() = %v, want %v", tt.m, got, tt.want)
			}
		})
	}
}

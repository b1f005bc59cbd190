package main

import (
	"testing"
)

// TestAPIKeyID checks the key id taken from pcl_<id>_<secret>.
func TestAPIKeyID(t *testing.T) {
	id, err := apiKeyID("pcl_4fT9kQ2mZx7B_Vb3xx_yy")
	if err != nil || id != "4fT9kQ2mZx7B" {
		t.Fatalf("apiKeyID = %q, %v; want 4fT9kQ2mZx7B", id, err)
	}
	for _, bad := range []string{"", "pcl", "pcl_abc", "pcl__secret", "_id_secret", "pcl_id_"} {
		if _, err := apiKeyID(bad); err == nil {
			t.Errorf("apiKeyID(%q) gave no error", bad)
		}
	}
}

// TestReferenceScenarioFollowsPlain checks where the reference row sits,
// its headers, and that -only selects it.
func TestReferenceScenarioFollowsPlain(t *testing.T) {
	if scenarios[0].name != "plain" || scenarios[1].name != referenceScenario {
		t.Fatalf("scenarios start %s, %s; want plain, %s", scenarios[0].name, scenarios[1].name, referenceScenario)
	}
	env := &benchEnv{apiKeyID: "4fT9kQ2mZx7B"}
	h := scenarios[1].load("http://x/bench", env).headers
	if len(h) != 5 || h["X-Auth-Key-Id"] != "4fT9kQ2mZx7B" || h["X-Auth-Method"] != "api_key" {
		t.Fatalf("reference headers: %v", h)
	}
	if got := choose("apikey"); len(got) != 2 || got[0].name != "plain" || got[1].name != "apikey" {
		t.Fatalf("choose(apikey) = %v", got)
	}
	if got := choose(referenceScenario); len(got) != 2 || got[1].name != referenceScenario {
		t.Fatalf("choose(%s) = %v", referenceScenario, got)
	}
}
